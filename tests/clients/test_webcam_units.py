"""The webcam client's parts that need no server: settings, hand-over between threads, in-flight accounting, drawing."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from pydantic_settings import CliApp

from segmentation_client import ClassArea, SegmentResult, Timings, View, render
from segmentation_client.live import Captured, FrameChannel, InFlight
from webcam_client.capture import SourceError, open_source, parse_source
from webcam_client.config import WebcamSettings
from webcam_client.render import Hud, compose


def test_flags_and_environment(monkeypatch):
    monkeypatch.setenv("WEBCAM_JPEG_QUALITY", "70")
    settings = CliApp.run(WebcamSettings, cli_args=[
        "--source", "clip.mp4", "--target", "h:1", "--headless", "--output", "o.mp4", "--max-in-flight", "3",
        "--drop-policy", "none", "--no-realtime", "--max-frames", "5",
    ])
    s = settings
    assert (s.source, s.target, s.headless, str(s.output)) == ("clip.mp4", "h:1", True, "o.mp4")
    assert (s.max_in_flight, s.drop_policy, s.realtime, s.max_frames, s.jpeg_quality) == (3, "none", False, 5, 70)
    d = WebcamSettings()
    assert (d.source, d.max_in_flight, d.drop_policy, d.realtime, d.headless) == ("0", 2, "latest", True, False)


def test_source_parsing_and_missing_file():
    assert parse_source("0") == 0 and parse_source("rtsp://cam/1") == "rtsp://cam/1"
    with pytest.raises(SourceError, match="no such file"):
        open_source("/nonexistent.mp4")


def test_latest_slot_keeps_only_the_newest():
    channel = FrameChannel(keep_all=False)
    for i in range(5):
        assert channel.put(i)  # never waits
    channel.close()
    assert channel.get() == 4 and channel.get() is None


def test_fifo_waits_for_room_and_stop_releases_it():
    stop = threading.Event()
    channel = FrameChannel(keep_all=True, capacity=2, stop=stop)
    channel.put(1)
    channel.put(2)
    done = threading.Event()
    threading.Thread(target=lambda: (channel.put(3), done.set()), daemon=True).start()
    assert not done.wait(0.3)  # full: the producer waits
    assert channel.get() == 1
    assert done.wait(1.0)
    stop.set()
    channel.put(4)  # stopping: taken at once, to be drained
    assert [channel.get() for _ in range(4)] == [2, 3, 4, None]


def test_in_flight_settles_frames_the_server_dropped():
    stop = threading.Event()
    in_flight = InFlight(limit=3, stop=stop)
    for i in (1, 2, 3):
        in_flight.sent(Captured(i, np.zeros((1, 1, 3), np.uint8), time.perf_counter()))
    assert in_flight.count == 3
    # Frame 3 answered, frames 1 and 2 reported dropped: nothing is out any more.
    assert in_flight.answered(3, frames_dropped=2) is not None
    assert in_flight.count == 0 and in_flight.wait_for_room()
    stop.set()
    assert not in_flight.wait_for_room()


def _result(mask: np.ndarray) -> SegmentResult:
    classes = [ClassArea(0, "background", 0.75, 48), ClassArea(7, "car", 0.25, 16)]
    return SegmentResult("m", mask, classes, Timings())


def test_drawing_modes():
    image = np.full((8, 8, 3), 100, np.uint8)
    mask = np.zeros((8, 8), np.uint8)
    mask[:2] = 7
    palette = np.zeros((21, 3), np.uint8)
    palette[7] = (0, 0, 255)  # red in BGR
    over = render(image, mask, palette, View(opacity=1.0))
    assert (over[:2] == (0, 0, 255)).all() and (over[2:] == 100).all()  # background left as it was
    assert (render(image, mask, palette, View(mode="mask"))[2:] == 0).all()
    assert render(image, mask, palette, View(mode="original")) is image
    assert render(image, None, palette, View()) is image  # no mask yet
    assert render(image, mask[:4, :4], palette, View(mode="mask")).shape == image.shape  # a camera that resized
    view = View(opacity=0.95)
    view.change_opacity(+0.1)
    view.next_mode()
    assert (view.opacity, view.mode) == (1.0, "mask")


def test_compose_never_draws_on_the_captured_frame():
    image = np.zeros((240, 320, 3), np.uint8)
    result = _result(np.zeros((240, 320), np.uint8))
    canvas = compose(image, result, np.zeros((21, 3), np.uint8), View(), Hud(5, 100, 1, 2))
    assert canvas.shape == image.shape and canvas.any() and not image.any()  # legend and numbers drawn on a copy
