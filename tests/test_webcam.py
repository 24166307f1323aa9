"""The live video client (python -m webcam_client) against the real server, model and a real video file."""

from __future__ import annotations

import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from segmentation_client import SegmentationClient
from tests.conftest import REPO, SAMPLES
from webcam_client.__main__ import main
from webcam_client.config import WebcamSettings
from webcam_client.render import View
from webcam_client.session import run_session

FPS = 30
SECONDS = 3


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


def single_frame_ms(address: str, calls: int = 4) -> list[float]:
    """Round trips of unary Segment calls with a JPEG traffic frame, after a warm-up call."""
    ok, jpeg = cv2.imencode(".jpg", traffic_frames()[0], [cv2.IMWRITE_JPEG_QUALITY, 80])
    times = []
    with SegmentationClient(address) as client:
        client.segment(jpeg.tobytes())
        for _ in range(calls):
            start = time.perf_counter()
            client.segment(jpeg.tobytes())
            times.append((time.perf_counter() - start) * 1000)
    return times


def settings(address: str, video: Path, **overrides) -> WebcamSettings:
    return WebcamSettings(**{"source": str(video), "target": address, "headless": True, **overrides})


def test_latest_stays_live_and_writes_every_frame(grpc_address, traffic_video, tmp_path):
    # Measured around the stream, not assumed: other tests share these 2 cores,
    # so the load the stream meets is bracketed by calls before and after it.
    singles = single_frame_ms(grpc_address)
    output = tmp_path / "out.mp4"
    # One frame in flight: on 2 shared cores two concurrent inferences take about
    # twice as long each (no throughput gained), which would measure the CPU, not
    # the drop policy. The default of 2 is exercised by the CLI test below.
    session = run_session(settings(grpc_address, traffic_video, output=output, max_in_flight=1))
    singles += single_frame_ms(grpc_address)
    s = session.summary
    print(f"single frame: median {statistics.median(singles):.0f} ms, slowest {max(singles):.0f} ms",
          *s.lines(), sep="\n")

    assert session.error is None
    assert s.captured == FPS * SECONDS and s.written == s.captured
    assert count_frames(output) == s.captured  # one output frame for every captured frame
    # 30 fps in, ~5-10 fps out: frames must be shed, or latency would grow frame by frame.
    assert s.sent < s.captured and s.dropped_by_server + s.skipped_by_client > 0
    assert s.processed == s.sent - s.dropped_by_server and s.errors == 0
    # Generous: the yardstick is the slowest single call, as p95 is near the slowest of ~15 frames.
    # Meaningful: without shedding frames latency would reach seconds within the 3 s video.
    assert s.latency_p95_ms <= 2 * max(singles), f"p95 {s.latency_p95_ms:.0f} ms vs single frame {singles}"
    # Whatever the load, a frame spends little time outside the model: no queue on our side.
    outside = [e2e - server for e2e, server in zip(session.stats.latencies_ms, session.stats.server_ms)]
    print("outside the server:", [round(x) for x in outside])
    assert np.percentile(outside, 95) < 1000 / FPS + 100, outside
    ids = session.stats.answered_ids
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert s.classes_seen.get("car", 0) >= s.processed // 2


def test_none_processes_every_frame_in_order(grpc_address, traffic_video):
    frames = 12
    session = run_session(settings(grpc_address, traffic_video, drop_policy="none", realtime=False,
                                   max_frames=frames))
    s = session.summary
    print(*s.lines(), sep="\n")
    assert session.error is None
    assert (s.captured, s.sent, s.processed, s.errors) == (frames, frames, frames, 0)
    assert s.dropped_by_server == 0 and s.skipped_by_client == 0
    assert session.stats.answered_ids == list(range(1, frames + 1))
    assert s.classes_seen.get("car") == frames


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


def test_window_keys_and_quit(grpc_address, traffic_video, tmp_path, monkeypatch):
    # Key per shown frame; "." is no key. m cycles overlay -> mask -> original -> overlay.
    window = FakeWindow("m" + "." * 3 + "m" + "mbs++-" + "." * 5 + "q")
    cfg = settings(grpc_address, traffic_video, headless=False, screenshot_dir=tmp_path, opacity=0.5)
    session = run_session(cfg, window=window)
    assert session.error is None
    assert session.view == View(opacity=0.6, mode="overlay", blur=True)
    assert len(list(tmp_path.glob("webcam-*.png"))) == 1
    assert session.summary.captured < FPS * SECONDS  # q quit long before the video's end
    assert all(f.shape == (256, 256, 3) for f in window.shown)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "webcam_client", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


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
    assert result.stderr.strip().splitlines() == ["webcam_client: error: cannot open video source "
                                                  "'/nonexistent.mp4': no such file"]


def test_cli_unreachable_server_is_one_line(traffic_video):
    target = f"127.0.0.1:{free_port()}"
    result = run_cli("--source", str(traffic_video), "--target", target, "--headless", "--health-timeout", "2")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"webcam_client: error: cannot reach the segmentation server at {target}")
    assert result.stdout == ""


def test_window_without_gui_backend_suggests_headless(traffic_video, capsys):
    if cv2.currentUIFramework():
        pytest.skip("this OpenCV has a GUI backend")
    assert main(["--source", str(traffic_video), "--target", "127.0.0.1:1"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--headless" in err[0]
