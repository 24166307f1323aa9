"""The Live tab end to end, inside a private network namespace: `unshare --net ... python -m tests.live_driver OUT`.

WebRTC will not use loopback (aiortc offers only other host addresses), so this process gives the namespace
a veth pair with private addresses, then starts the real server (selfie models), `streamlit run` and headless
Chromium with a fake camera playing a clip made from a sample photo, and drives the page with Selenium.
No ICE server is configured and the namespace has no route out, so no packet leaves it.
It writes OUT/results.json (what tests/ui/test_ui_live.py asserts on), OUT/live.png and the processes' logs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import cv2

from segmentation_client import SegmentationClient
from tests.support import (
    CHROMEDRIVER,
    CHROMIUM,
    CHROMIUM_FLAGS,
    REPO,
    SAMPLES,
    SELFIE,
    SELFIE_LANDSCAPE,
    ServerProcess,
    free_port,
    wait_until_loaded,
)
from tests.support.live_page import LivePage

VETH = ("10.203.0.1/30", "10.203.0.2/30")  # the namespace's only non-loopback addresses
CLIP_FPS = 30


def setup_network() -> list[str]:
    """Loopback up, and a veth pair with an address on each end; returns the routing table."""
    for command in (
        "ip link set lo up",
        "ip link add v0 type veth peer name v1",
        f"ip addr add {VETH[0]} dev v0",
        f"ip addr add {VETH[1]} dev v1",
        "ip link set v0 up",
        "ip link set v1 up",
    ):
        subprocess.run(command.split(), check=True)
    return subprocess.run(["ip", "route"], check=True, capture_output=True, text=True).stdout.splitlines()


def write_clip(path: Path, frames: int = 4 * CLIP_FPS, size: tuple[int, int] = (480, 360)) -> None:
    """A y4m (4:2:0) clip panning over grace_hopper.bmp and back, so Chromium's looping shows no jump."""
    photo = cv2.imread(str(SAMPLES / "grace_hopper.bmp"))
    height, width = photo.shape[:2]
    crop_h = int(height * 0.8)
    crop_w = int(crop_h * size[0] / size[1])
    crop_w = min(crop_w, width)
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{size[0]} H{size[1]} F{CLIP_FPS}:1 Ip A1:1 C420jpeg\n".encode())
        for i in range(frames):
            phase = 1 - abs(2 * i / frames - 1)  # 0 -> 1 -> 0
            x = int(phase * (width - crop_w))
            y = int(phase * (height - crop_h))
            view = cv2.resize(photo[y:y + crop_h, x:x + crop_w], size, interpolation=cv2.INTER_AREA)
            out.write(b"FRAME\n" + cv2.cvtColor(view, cv2.COLOR_BGR2YUV_I420).tobytes())


def start_server(port: int, out: Path, attempt: int) -> ServerProcess:
    server = ServerProcess("--port", str(port), "--models", f"{SELFIE},{SELFIE_LANDSCAPE}",
                           "--default-model", SELFIE,
                           log_path=out / f"server-{attempt}.log")
    server.wait_ready()
    with SegmentationClient(server.address) as client:
        wait_until_loaded(client)
    return server


def start_streamlit(grpc_target: str, out: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = (out / "streamlit.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app/app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none", "--client.toolbarMode", "minimal"],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "UI_GRPC_TARGET": grpc_target, "UI_ICE_SERVERS": "[]"},
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                if response.read() == b"ok":
                    return proc, f"http://127.0.0.1:{port}/"
        except OSError:
            time.sleep(0.3)
    raise TimeoutError("streamlit did not become healthy")


def start_browser(clip: Path, profile: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={clip}",
        # Real addresses in ICE candidates: an mDNS name could not be resolved in here.
        "--disable-features=WebRtcHideLocalIpsWithMdns",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def main(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    results: dict = {"routes": setup_network()}
    clip = out / "grace_hopper_pan.y4m"
    write_clip(clip)
    port = free_port()
    servers = [start_server(port, out, 1)]
    streamlit, url = start_streamlit(servers[0].address, out)
    browser = start_browser(clip, out / "chromium-profile")
    try:
        LivePage(browser, url).run(servers, lambda: start_server(port, out, 2), results, out)
    except Exception as exc:  # noqa: BLE001 - recorded for the test to show; the finally still cleans up
        results["error"] = f"{type(exc).__name__}: {exc}"
        browser.save_screenshot(str(out / "failure.png"))
    finally:
        browser.quit()
        streamlit.terminate()
        streamlit.wait(15)
        for server in servers:
            server.stop()
        (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
