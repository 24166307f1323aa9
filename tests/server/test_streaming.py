"""SegmentStream through the client library: per-frame errors, cancellation, drop policies, frame-rate limit."""

from __future__ import annotations

import itertools
import re
import threading
import time

import cv2
import grpc
import pytest

from segmentation_client import InvalidInput, SegmentationClient
from tests.support import SAMPLES

pytestmark = pytest.mark.server

_LOG_LINE = re.compile(r"stream (ended|cancelled): (\d+) frames received, (\d+) answered, (\d+) dropped \((\w+)\)")


@pytest.fixture(scope="module")
def jpegs() -> list[bytes]:
    """The three road frames (cars on 7-9% of the pixels) as JPEG, as the webcam client sends them."""
    frames = [cv2.imread(str(p)) for p in sorted((SAMPLES / "traffic_frames").glob("*.bmp"))]
    return [cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes() for f in frames]


@pytest.fixture(scope="module")
def client(grpc_address):
    with SegmentationClient(grpc_address, timeout=30, stream_timeout=60) as client:
        yield client


def test_bad_frame_gets_its_own_error_and_the_stream_goes_on(client, jpegs):
    frames = [(1, jpegs[0]), (2, jpegs[1]), (3, b"not an image"), (4, jpegs[2]), (5, jpegs[0])]
    # "none": with "latest" the server could legitimately skip the bad frame.
    results = list(client.stream(frames, drop_policy="none"))
    assert [r.frame_id for r in results] == [1, 2, 3, 4, 5]
    bad = results[2]
    assert not bad.ok and isinstance(bad.error, InvalidInput)
    assert bad.error.code == grpc.StatusCode.INVALID_ARGUMENT and bad.mask.size == 0
    for result in results[:2] + results[3:]:
        assert result.ok and "car" in result.labels and result.mask.shape == (256, 256)
    assert all(r.frames_dropped == 0 for r in results)


def _stream_log_line(server, offset: int, timeout: float = 10.0) -> re.Match:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if match := _LOG_LINE.search(server.log()[offset:]):
            return match
        time.sleep(0.05)
    raise AssertionError(f"no stream log line:\n{server.log()[offset:]}")


def test_closing_the_stream_cancels_server_work(grpc_server, client, jpegs):
    offset = len(grpc_server.log())
    pulled = 0
    pulls = threading.Condition()

    def endless():  # a live camera at ~100 fps, far faster than the model
        nonlocal pulled
        for i in itertools.count(1):
            with pulls:
                pulled = i
                pulls.notify_all()
            yield i, jpegs[i % 3]
            time.sleep(0.01)

    results = client.stream(endless(), drop_policy="latest")
    got = [next(results) for _ in range(3)]
    results.close()
    pulled_at_close = pulled

    match = _stream_log_line(grpc_server, offset)
    state, received, answered = match.group(1), int(match.group(2)), int(match.group(3))
    print(f"pulled {pulled_at_close}, server: {match.group(0)}")
    assert state == "cancelled"
    assert answered <= len(got) + 2  # at most the frames being processed when we left
    assert received >= answered and pulled_at_close >= 3 * answered  # far more sent than answered
    assert got[-1].frames_dropped > 0  # latest: the fast camera's frames were shed, not queued
    with pulls:  # gRPC stopped reading our endless generator: no frame is pulled past the one in hand
        assert not pulls.wait_for(lambda: pulled > pulled_at_close + 1, timeout=0.3), pulled - pulled_at_close
    assert client.health(timeout=5) == "SERVING"
    assert "car" in client.segment(jpegs[0]).labels  # and the server goes on serving


def test_none_with_slow_consumer_drops_nothing(client, jpegs):
    frames = [(i, jpegs[i % 3]) for i in range(1, 9)]  # all available at once: a fast producer
    results = []
    for result in client.stream(frames, drop_policy="none"):
        results.append(result)
        time.sleep(0.25)  # a slow consumer
    assert [r.frame_id for r in results] == list(range(1, 9))
    assert all(r.ok and r.frames_dropped == 0 for r in results)


def test_max_fps_limits_processed_rate(client, jpegs):
    max_fps, seconds = 2.0, 2.5
    sent = 0

    def camera():  # 30 fps for `seconds`; unlimited, the model would take 5-10 of them a second
        nonlocal sent
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            sent += 1
            yield sent, jpegs[sent % 3]
            time.sleep(1 / 30)

    results = list(client.stream(camera(), drop_policy="latest", max_fps=max_fps))
    ids = [r.frame_id for r in results]
    # Starts at 0, 1/max_fps, ... while frames come, plus the newest frame left waiting at the end.
    assert 2 <= len(results) <= max_fps * seconds + 2, ids
    assert ids == sorted(ids) and ids[-1] == sent  # the newest frame is never the one dropped
    assert len(results) + results[-1].frames_dropped == sent  # every frame answered or counted as dropped
