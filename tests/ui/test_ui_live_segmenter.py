"""The Live tab's engine without a browser: camera frames as av.VideoFrames into LiveSegmenter, the real server."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import av
import cv2
import numpy as np
import pytest

from segmentation_client import SegmentationClient
from streamlit_app.imaging import MASK, Display
from streamlit_app.live import Controls, LiveSegmenter
from tests.support import SAMPLES, SELFIE, SELFIE_LANDSCAPE, ServerProcess

FRAME_S = 1 / 30


@pytest.fixture(scope="module")
def frame() -> av.VideoFrame:
    photo = cv2.resize(cv2.imread(str(SAMPLES / "grace_hopper.bmp")), (320, 376))
    return av.VideoFrame.from_ndarray(photo, format="bgr24")


def _controls(model: str = SELFIE, display: Display | None = None) -> Controls:
    palette = np.array([[0, 0, 0], [255, 0, 0]], np.uint8)
    return Controls(model, display or Display(), palettes={SELFIE: palette, SELFIE_LANDSCAPE: palette})


def _feed(segmenter: LiveSegmenter, frame: av.VideoFrame, until: Callable[[], bool], timeout: float = 30.0) -> float:
    """Play the camera at 30 frames/s until `until()`; returns the slowest frame callback, in seconds."""
    slowest, deadline = 0.0, time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, f"timed out; {segmenter.numbers()}"
        started = time.perf_counter()
        out = segmenter.on_frame(frame)
        slowest = max(slowest, time.perf_counter() - started)
        assert out.width == frame.width and out.height == frame.height
        time.sleep(FRAME_S)
    return slowest


@pytest.mark.server
def test_masks_arrive_and_switching_model_and_view_goes_on(selfie_server, frame) -> None:
    segmenter = LiveSegmenter(lambda: SegmentationClient(selfie_server.address), _controls())
    try:
        _feed(segmenter, frame, lambda: segmenter.numbers().processed >= 20)
        numbers = segmenter.numbers()
        assert "person" in numbers.result.labels and numbers.error is None and numbers.streaming
        assert numbers.results_per_s > 0 and numbers.latency_ms > 0

        segmenter.configure(_controls(SELFIE_LANDSCAPE, Display(view=MASK)))
        _feed(segmenter, frame, lambda: (r := segmenter.numbers().result) is not None and r.model == SELFIE_LANDSCAPE)
        before = segmenter.numbers().processed
        _feed(segmenter, frame, lambda: segmenter.numbers().processed >= before + 10)
        mask_view = segmenter.on_frame(frame).to_ndarray(format="bgr24")
        # The mask view: class colours (the palette turned to BGR) and white outlines, nothing of the photo.
        colours = {tuple(c) for c in np.unique(mask_view.reshape(-1, 3), axis=0).tolist()}
        assert colours <= {(0, 0, 0), (0, 0, 255), (255, 255, 255)} and (0, 0, 255) in colours
    finally:
        segmenter.close()
    assert not segmenter.numbers().streaming


def test_draw_without_a_mask_is_the_plain_frame(frame) -> None:
    image = frame.to_ndarray(format="bgr24")
    assert LiveSegmenter.draw(image, None, _controls()) is image


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.server
def test_server_away_picture_goes_on_then_masks_return(tmp_path, frame) -> None:
    port = _free_port()

    def start(n: int) -> ServerProcess:
        return ServerProcess("--port", str(port), "--models", SELFIE, "--default-model", SELFIE,
                             log_path=tmp_path / f"server-{n}.log").wait_ready()

    server = start(1)
    segmenter = LiveSegmenter(lambda: SegmentationClient(server.address), _controls())
    try:
        _feed(segmenter, frame, lambda: segmenter.numbers().processed >= 10)
        server.stop()
        slowest = _feed(segmenter, frame, lambda: segmenter.numbers().error is not None)
        # The callback never waits for the server: no mask is drawn, the frame goes on.
        slowest = max(slowest, _feed(segmenter, frame, lambda: segmenter.numbers().skipped_locally >= 30))
        assert segmenter.numbers().result is None
        assert slowest < 0.25, f"a frame callback took {slowest:.3f} s"
        server = start(2)
        processed = segmenter.numbers().processed
        _feed(segmenter, frame, lambda: segmenter.numbers().processed >= processed + 10, timeout=60)
        numbers = segmenter.numbers()
        assert numbers.error is None and "person" in numbers.result.labels
    finally:
        segmenter.close()
        server.stop()
