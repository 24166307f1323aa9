"""Video sources: a camera index, a video file or a stream URL, read frame by frame."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path

import cv2

from segmentation_client.live import Captured

log = logging.getLogger(__name__)

_DEFAULT_FPS = 30.0


class SourceError(Exception):
    """The video source could not be opened."""


def parse_source(source: str) -> int | str:
    """A camera index for "0", "1", ...; anything else is a file or URL."""
    return int(source) if source.strip().isdigit() else source


def _is_url(source: str) -> bool:
    return "://" in source


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence fd 2 while OpenCV probes a source.

    A failed open makes OpenCV and FFmpeg print several warnings straight to the
    process's stderr (not through Python), which would bury our one-line error.
    Only used before any other thread runs, so nothing else is lost.
    """
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def open_source(source: str) -> cv2.VideoCapture:
    """An opened VideoCapture, or SourceError with a one-line reason."""
    parsed = parse_source(source)
    if isinstance(parsed, str) and not _is_url(parsed) and not Path(parsed).exists():
        raise SourceError(f"cannot open video source {source!r}: no such file")
    with _quiet_stderr():
        capture = cv2.VideoCapture(parsed)
    if not capture.isOpened():
        what = f"camera {parsed}" if isinstance(parsed, int) else f"video source {source!r}"
        raise SourceError(f"cannot open {what}")
    return capture


class FrameSource:
    """Reads frames from an opened capture; paces video files at their own frame rate when asked.

    Cameras and streams deliver frames in real time by themselves; a file would
    be read as fast as the disk allows, which is not what a live test of the
    service should see, hence the pacing.
    """

    def __init__(self, capture: cv2.VideoCapture, *, is_file: bool, realtime: bool = True) -> None:
        self._capture = capture
        fps = capture.get(cv2.CAP_PROP_FPS)
        self.fps = fps if fps and math.isfinite(fps) and 0 < fps < 1000 else _DEFAULT_FPS
        self._pace = is_file and realtime
        self._count = 0
        self._started = 0.0

    @classmethod
    def open(cls, source: str, *, realtime: bool = True) -> FrameSource:
        parsed = parse_source(source)
        is_file = isinstance(parsed, str) and not _is_url(parsed)
        return cls(open_source(source), is_file=is_file, realtime=realtime)

    def read(self) -> Captured | None:
        """The next frame, or None at the end of the source (or when the camera fails)."""
        if self._pace:
            self._wait_for_frame_time()
        ok, image = self._capture.read()
        if not ok or image is None:
            return None
        self._count += 1
        return Captured(self._count, image, time.perf_counter())

    def _wait_for_frame_time(self) -> None:
        now = time.perf_counter()
        if self._count == 0:
            self._started = now
            return
        due = self._started + self._count / self.fps
        if due > now:
            time.sleep(due - now)

    def close(self) -> None:
        self._capture.release()
