"""The desktop client as a user installs it: its own environment, the GUI OpenCV, a real window under Xvfb.

The environment is made by running the README's install block as written (HOME pointed at a scratch
folder, so `~/.venvs/...` lands there). The window is OpenCV's Qt window on an Xvfb display; keys
go in with xdotool and the display is read back with xwd, as a person would see it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from segmentation_client import SegmentationClient
from tests.support import REPO, SAMPLES, SELFIE

pytestmark = pytest.mark.server

README = REPO / "README.md"
DOCS = REPO / "docs" / "webcam_client.md"
HEAVY = ("torch", "torchvision", "streamlit", "fastapi", "uvicorn", "ai_edge_litert", "onnxruntime")
X_TOOLS = ("Xvfb", "xdotool", "xwd")


def install_block(document: Path) -> str:
    """The first ```bash or ```sh block after the document's live-video heading that runs `pip install`."""
    text = document.read_text()
    heading = "## Live video" if document == README else "### Install it on a desktop"
    section = text[text.index(heading):]
    return next(code for code in re.findall(r"```(?:bash|sh)\n(.*?)```", section, re.DOTALL) if "pip install" in code)


def test_docs_and_readme_install_the_same_way():
    def commands(code: str) -> list[str]:
        lines = [line.strip() for line in code.replace(" && ", "\n").splitlines()]
        return [line for line in lines if line and not line.startswith("#")]
    assert commands(install_block(README)) == commands(install_block(DOCS))


@pytest.fixture(scope="module")
def webcam_env(tmp_path_factory) -> Path:
    """The README's install block, run as written from the checkout; returns the environment's bin folder."""
    home = tmp_path_factory.mktemp("home")
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", install_block(README)], cwd=REPO,
                          env={**os.environ, "HOME": str(home), "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
                          capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "usage: segmentation-webcam" in done.stdout
    return home / ".venvs" / "segmentation-webcam" / "bin"


def test_light_install_has_none_of_the_server_dependencies(webcam_env):
    python = webcam_env / "python"
    for module in HEAVY:
        found = subprocess.run([python, "-c", f"import {module}"], capture_output=True, text=True, check=False)
        assert found.returncode != 0 and "ModuleNotFoundError" in found.stderr, f"{module} is installed"
    gui = subprocess.run([python, "-c", "import cv2; print(cv2.currentUIFramework())"], capture_output=True,
                         text=True, check=True)
    assert gui.stdout.strip(), "the light install has a headless OpenCV: no window could open"
    # The protobuf modules come with the package (committed beside the .proto).
    subprocess.run([python, "-c", "from protos import segmentation_pb2_grpc"], check=True, cwd=webcam_env)


def person_clip(path: Path, seconds: int, fps: int = 10) -> np.ndarray:
    """A still clip of the sample portrait (the selfie model's person); returns its first frame as decoded."""
    frame = cv2.imread(str(SAMPLES / "grace_hopper.bmp"))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, frame.shape[1::-1])
    for _ in range(seconds * fps):
        writer.write(frame)
    writer.release()
    capture = cv2.VideoCapture(str(path))
    ok, first = capture.read()
    capture.release()
    assert ok
    return first


def test_headless_run_from_the_light_install(webcam_env, selfie_server, tmp_path):
    person_clip(tmp_path / "clip.mp4", seconds=2)
    done = subprocess.run([webcam_env / "segmentation-webcam", "--source", "clip.mp4", "--target",
                           selfie_server.address, "--model", SELFIE, "--headless", "--output", "out.mp4"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "frames captured   20" in done.stdout and "errors 0" in done.stdout
    capture = cv2.VideoCapture(str(tmp_path / "out.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 20
    capture.release()


# -- the real window -------------------------------------------------------------------------------------

@pytest.fixture
def display(tmp_path) -> Iterator[str]:
    missing = [tool for tool in X_TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: apt-get install xvfb xdotool x11-apps (.ci/run does)")
    read, write = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
                            pass_fds=(write,), stderr=(tmp_path / "xvfb.log").open("w"))
    os.close(write)
    with os.fdopen(read) as numbers:
        number = numbers.readline().strip()
    assert number, (tmp_path / "xvfb.log").read_text()
    try:
        yield f":{number}"
    finally:
        xvfb.terminate()
        xvfb.wait(10)


def screenshot(display: str) -> np.ndarray:
    """The whole display as RGB, read with xwd (its format: a big-endian header, a colour map, then pixels)."""
    data = subprocess.run(["xwd", "-root", "-silent", "-display", display], capture_output=True, check=True).stdout
    header = np.frombuffer(data[:100], ">u4")
    header_size, width, height = int(header[0]), int(header[4]), int(header[5])
    bits_per_pixel, bytes_per_line, ncolors = int(header[11]), int(header[12]), int(header[19])
    size = bits_per_pixel // 8
    assert size in (3, 4) and int(header[7]) == 0, f"expected 24/32-bit LSB-first pixels, not {list(header)}"
    start = header_size + 12 * ncolors
    pixels = np.frombuffer(data[start:start + height * bytes_per_line], np.uint8).reshape(height, bytes_per_line)
    return pixels[:, :width * size].reshape(height, width, size)[:, :, 2::-1]  # BGR(X) -> RGB


def xdotool(display: str, *args: str) -> str:
    return subprocess.run(["xdotool", *args], env={**os.environ, "DISPLAY": display}, capture_output=True,
                          text=True, check=True, timeout=30).stdout


def until(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"the window never showed {what}"
        time.sleep(0.2)


@pytest.mark.window
def test_real_window_shows_the_overlay_and_answers_its_keys(webcam_env, selfie_server, display, tmp_path):
    frame_bgr = person_clip(tmp_path / "clip.mp4", seconds=90)
    frame = frame_bgr[:, :, ::-1].astype(np.int16)
    with SegmentationClient(selfie_server.address) as client:
        info = client.get_model(SELFIE)
        person = client.segment(frame_bgr, model=SELFIE, bgr=True).mask == 1
    assert 0.3 < person.mean() < 0.8
    palette = np.asarray(info.palette, np.int16)  # RGB, as the screen shows it
    shots = tmp_path / "shots"
    shots.mkdir()
    proc = subprocess.Popen(
        [webcam_env / "segmentation-webcam", "--source", "clip.mp4", "--target", selfie_server.address,
         "--model", SELFIE, "--screenshot-dir", str(shots)],
        cwd=tmp_path, env={**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        window = xdotool(display, "search", "--sync", "--onlyvisible", "--name", "segmentation").split()[0]

        def geometry() -> tuple[int, ...]:
            fields = dict(line.split("=") for line in xdotool(display, "getwindowgeometry", "--shell", window).split())
            return tuple(int(fields[key]) for key in ("X", "Y", "WIDTH", "HEIGHT"))

        # The window appears before the first frame, which sizes it to the frame, pixel for pixel.
        until(lambda: geometry()[2:] == (frame.shape[1], frame.shape[0]), "the frame's size")
        x, y, width, height = geometry()

        def shown() -> np.ndarray:
            return screenshot(display)[y:y + height, x:x + width].astype(np.int16)

        def change() -> tuple[float, float]:
            """Median colour change from the plain frame, over the person and over the background."""
            diff = np.abs(shown() - frame).sum(axis=2)
            return float(np.median(diff[person])), float(np.median(diff[~person]))

        # Overlay: the person tinted with the model's person colour, the background left as it is.
        until(lambda: change()[0] > 40 and change()[1] < 12, "the person tinted and the background untouched")
        overlay_change = change()[0]
        tinted = np.median(shown()[person], axis=0)
        assert np.abs(tinted - (frame[person].mean(axis=0) + palette[1]) / 2).max() < 50

        xdotool(display, "key", "--window", window, "plus")
        until(lambda: change()[0] > overlay_change * 1.1, "a stronger overlay after +")
        for _ in range(2):
            xdotool(display, "key", "--window", window, "minus")
            time.sleep(0.3)
        until(lambda: change()[0] < overlay_change * 0.9, f"a weaker overlay after - - ({change()}, {overlay_change})")
        xdotool(display, "key", "--window", window, "plus")

        # m: the mask alone, in the model's colours.
        xdotool(display, "key", "--window", window, "m")
        until(lambda: np.abs(np.median(shown()[person], axis=0) - palette[1]).max() < 10
              and np.abs(np.median(shown()[~person], axis=0) - palette[0]).max() < 10, "the mask in the palette")
        # m: the original picture.
        xdotool(display, "key", "--window", window, "m")
        until(lambda: max(change()) < 12, "the original picture")
        # m: back to the overlay; b blurs the background and leaves the person sharp.
        xdotool(display, "key", "--window", window, "m")
        until(lambda: change()[0] > 40, "the overlay again")
        blurred = cv2.GaussianBlur(frame_bgr, (31, 31), 0)[:, :, ::-1].astype(np.int16)

        def nearer_blurred() -> bool:
            """The background on screen is nearer the blurred picture than the sharp one."""
            screen = shown()[~person]
            return float(np.abs(screen - blurred[~person]).mean()) < 0.5 * float(np.abs(screen - frame[~person]).mean())

        assert not nearer_blurred()
        xdotool(display, "key", "--window", window, "b")
        until(nearer_blurred, "the background blurred")

        xdotool(display, "key", "--window", window, "s")
        until(lambda: any(shots.glob("webcam-*.png")), "a screenshot file after s")

        xdotool(display, "key", "--window", window, "q")
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    (saved,) = shots.glob("webcam-*.png")
    assert cv2.imread(str(saved)).shape == frame_bgr.shape, "the screenshot is the picture as shown"
    assert "frames captured" in stdout and "frames processed" in stdout and "errors 0" in stdout
