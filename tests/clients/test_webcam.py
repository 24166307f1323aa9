"""The live video client (python -m webcam_client) against the real server, model and a real video file."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from segmentation_client import SegmentationClient, View
from tests.support import REPO, SAMPLES, free_port
from webcam_client.__main__ import main
from webcam_client.config import WebcamSettings
from webcam_client.session import Session, run_session

pytestmark = pytest.mark.server

FPS = 30
SECONDS = 3
# The default model: at 60-150 ms a frame on 2 cores it is slower than 30 fps, so
# frames are offered faster than it can process them (the smaller dm05 model takes
# about 26 ms on a quiet machine and would keep up, dropping nothing).
FAST_MODEL = "deeplabv3-mobilenetv2-pascal"


def traffic_frames() -> list[np.ndarray]:
    return [cv2.imread(str(p)) for p in sorted((SAMPLES / "traffic_frames").glob("*.bmp"))]


@pytest.fixture(scope="module")
def traffic_video(tmp_path_factory) -> Path:
    """3 s of 256x256 road video at 30 fps: each sample frame held for a second, panning 2 px a frame."""
    path = tmp_path_factory.mktemp("video") / "traffic.mp4"
    frames = traffic_frames()
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (256, 256))
    assert writer.isOpened()
    for n in range(FPS * SECONDS):
        writer.write(np.roll(frames[(n // FPS) % len(frames)], (n % FPS) * 2, axis=1))
    writer.release()
    assert count_frames(path) == FPS * SECONDS
    return path


def count_frames(path: Path) -> int:
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    return count


def single_frame_ms(address: str, model: str, calls: int = 4) -> list[float]:
    """Round trips of unary Segment calls with a JPEG traffic frame, after a warm-up call."""
    _, jpeg = cv2.imencode(".jpg", traffic_frames()[0], [cv2.IMWRITE_JPEG_QUALITY, 80])
    times = []
    with SegmentationClient(address) as client:
        client.segment(jpeg.tobytes(), model)
        for _ in range(calls):
            start = time.perf_counter()
            client.segment(jpeg.tobytes(), model)
            times.append((time.perf_counter() - start) * 1000)
    return times


def settings(address: str, video: Path, **overrides) -> WebcamSettings:
    return WebcamSettings(**{"source": str(video), "target": address, "headless": True, **overrides})


def stream_latest(address: str, video: Path, output: Path) -> tuple[list[float], Session]:
    """Single-frame times bracketing a headless LATEST stream of the video: the load the stream met."""
    singles = single_frame_ms(address, FAST_MODEL)
    # One frame in flight: on 2 shared cores two concurrent inferences take about
    # twice as long each (no throughput gained), which would measure the CPU, not
    # the drop policy. The default of 2 is exercised by the CLI test below.
    session = run_session(settings(address, video, model=FAST_MODEL, output=output, max_in_flight=1))
    return singles + single_frame_ms(address, FAST_MODEL), session


def check_live_stream(session: Session, output: Path) -> None:
    """What must hold whatever the load on the machine."""
    s = session.summary
    assert session.error is None
    assert s.captured == FPS * SECONDS and s.written == s.captured
    assert count_frames(output) == s.captured  # one output frame for every captured frame
    # 30 fps in, ~10 fps out: frames must be shed, or latency would grow frame by frame.
    assert s.sent < s.captured and s.dropped_by_server + s.skipped_by_client > 0
    assert s.processed == s.sent - s.dropped_by_server and s.errors == 0
    ids = session.stats.answered_ids
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert s.classes_seen.get("car", 0) >= s.processed // 2
    # A frame spends little time outside the model (capture to send, transport): no queue on our side.
    outside = [e2e - srv for e2e, srv in zip(session.stats.latencies_ms, session.stats.server_ms, strict=True)]
    assert np.percentile(outside, 95) < 1000 / FPS + 100, [round(x) for x in outside]


def test_latest_stays_live_and_writes_every_frame(grpc_address, traffic_video, tmp_path):
    # Latency against the model's single-frame time, measured in this run, not assumed:
    # other tests share these 2 cores. Generous: the yardstick is the slowest single
    # call, plus one frame interval (the sent frame may have been captured up to one
    # interval before the model was free), and a second try when the load spiked
    # during the stream. Meaningful: without shedding frames the ~70 ms model would
    # fall ~35 ms behind per frame, to seconds within the 3 s video.
    for attempt in (1, 2):
        output = tmp_path / f"out{attempt}.mp4"
        singles, session = stream_latest(grpc_address, traffic_video, output)
        s = session.summary
        print(f"single frame: median {statistics.median(singles):.0f} ms, slowest {max(singles):.0f} ms",
              *s.lines(), sep="\n")
        check_live_stream(session, output)
        bound = 2 * max(singles) + 1000 / FPS
        if s.latency_p95_ms <= bound:
            return
    pytest.fail(f"p95 {s.latency_p95_ms:.0f} ms over {bound:.0f} ms twice; single frame {singles}")


def test_none_processes_every_frame_in_order(grpc_server, traffic_video):
    frames = 12
    offset = len(grpc_server.log())
    session = run_session(settings(grpc_server.address, traffic_video, drop_policy="none", realtime=False,
                                   max_frames=frames))
    s = session.summary
    print(*s.lines(), sep="\n")
    assert session.error is None
    assert (s.captured, s.sent, s.processed, s.errors) == (frames, frames, frames, 0)
    assert s.dropped_by_server == 0 and s.skipped_by_client == 0
    assert session.stats.answered_ids == list(range(1, frames + 1))
    assert s.classes_seen.get("car") == frames
    # The server counted the same (it logs the line as the stream ends, just before we see the end).
    deadline = time.monotonic() + 5
    while "stream ended" not in grpc_server.log()[offset:] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert f"stream ended: {frames} frames received, {frames} answered, 0 dropped (none)" in grpc_server.log()[offset:]


class FakeWindow:
    """Stands in for the highgui window (not available with opencv-python-headless); plays back keys."""

    def __init__(self, keys: str) -> None:
        self.keys = list(keys)
        self.shown: list[np.ndarray] = []

    def show(self, frame: np.ndarray, wait_ms: int = 1) -> int:
        self.shown.append(frame)
        return ord(self.keys.pop(0)) if self.keys else -1

    def closed(self) -> bool:
        return False

    def close(self) -> None:
        pass


def test_window_keys_and_quit(grpc_address, traffic_video, tmp_path):
    # Key per shown frame; "." is no key. m cycles overlay -> mask -> original -> overlay.
    window = FakeWindow("m" + "." * 3 + "m" + "mbs++-" + "." * 5 + "q")
    cfg = settings(grpc_address, traffic_video, headless=False, screenshot_dir=tmp_path, opacity=0.5)
    session = run_session(cfg, window=window)
    assert session.error is None
    assert session.view == View(opacity=0.6, mode="overlay", blur=True)
    assert len(list(tmp_path.glob("webcam-*.png"))) == 1
    assert session.summary.captured < FPS * SECONDS  # q quit long before the video's end
    assert all(f.shape == (256, 256, 3) for f in window.shown)


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "webcam_client", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, check=False)


def test_cli_headless_output_as_written(grpc_address, traffic_video, tmp_path):
    output = tmp_path / "out.mp4"
    result = run_cli("--source", str(traffic_video), "--target", grpc_address, "--headless", "--output", str(output),
                     "--max-frames", "12")
    assert result.returncode == 0, result.stderr
    assert "frames captured   12" in result.stdout and "latency" in result.stdout
    assert count_frames(output) == 12


def test_cli_missing_source_is_one_line(grpc_address):
    result = run_cli("--source", "/nonexistent.mp4", "--target", grpc_address, "--headless")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [("webcam_client: error: cannot open video source "
                                                  "'/nonexistent.mp4': no such file")]


def test_cli_unreachable_server_is_one_line(traffic_video):
    target = f"127.0.0.1:{free_port()}"
    result = run_cli("--source", str(traffic_video), "--target", target, "--headless", "--timeout-seconds", "2")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"webcam_client: error: cannot reach the segmentation server at {target}")
    assert result.stdout == ""


def test_window_without_gui_backend_suggests_headless(traffic_video, capsys):
    if cv2.currentUIFramework():
        pytest.skip("this OpenCV has a GUI backend")
    assert main(["--source", str(traffic_video), "--target", "127.0.0.1:1"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--headless" in err[0]


def frame_at(video: Path, index: int) -> np.ndarray:
    capture = cv2.VideoCapture(str(video))
    for _ in range(index + 1):
        ok, frame = capture.read()
        assert ok
    capture.release()
    return frame


def test_selfie_model_blurs_the_background_of_a_live_person(selfie_server, tmp_path):
    # A person panning across the frame, as a video call shows one; the two-class selfie model.
    person = cv2.imread(str(SAMPLES / "grace_hopper.bmp"))[100:460]  # 512x360
    video = tmp_path / "person.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (512, 360))
    for n in range(FPS):
        writer.write(np.roll(person, n * 3, axis=1))
    writer.release()
    server = selfie_server
    outputs = {}
    for blur in (True, False):
        outputs[blur] = tmp_path / f"blur-{blur}.mp4"
        session = run_session(settings(server.address, video, model="selfie-segmentation", blur=blur,
                                       output=outputs[blur], drop_policy="none", realtime=False))
        s = session.summary
        assert session.error is None and s.errors == 0 and s.processed == s.captured == FPS
        assert s.classes_seen.get("person") == FPS and session.view.blur is blur
    with SegmentationClient(server.address) as client:
        # Late in the video, where every written frame carries the newest mask (the first ones have none yet).
        background = client.segment(frame_at(video, FPS - 1), "selfie-segmentation", bgr=True).mask == 0
    assert 0.2 < background.mean() < 0.8

    def detail(frame: np.ndarray) -> float:  # how sharp the background is
        return float(np.abs(cv2.Laplacian(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), cv2.CV_64F))[background].mean())

    # The legend and numbers drawn over the picture and the codec keep some edges in either case.
    assert detail(frame_at(outputs[True], FPS - 1)) < 0.7 * detail(frame_at(outputs[False], FPS - 1))
