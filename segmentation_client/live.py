"""Live video through SegmentStream: moving frames between threads without letting a slow server stall the camera.

    capture thread --FrameChannel--> Sender (gRPC's request thread) ==SegmentStream==> receive --> LatestMask
    capture thread --FrameChannel--> output (window, video file, browser), drawn with the LatestMask of that moment

    frames: FrameChannel[Captured] = FrameChannel(keep_all=False, stop=stop)   # the newest frame only
    in_flight, stats, latest = InFlight(2, stop), Stats(), LatestMask()
    results = client.stream(Sender(frames, in_flight, stats, jpeg_quality=80), drop_policy="latest")
    receive(results, in_flight, stats, latest, stop)   # in a thread of its own; latest.result: the newest mask

The webcam client and the UI's Live tab both run on this. Encoding frames needs OpenCV (see visualize).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from segmentation_client._results import SegmentResult
from segmentation_client.live_stats import Stats, Summary
from segmentation_client.visualize import _cv2

__all__ = ["Captured", "FrameChannel", "InFlight", "LatestMask", "Sender", "Stats", "Summary", "encode_jpeg",
           "receive"]

log = logging.getLogger(__name__)

T = TypeVar("T")
_POLL_S = 0.1  # how often blocked threads look at the stop event


@dataclass(frozen=True)
class Captured:
    """A frame as the camera gave it."""

    frame_id: int  # 1, 2, 3, ... in capture order; the frame_id sent to the server
    image: np.ndarray  # BGR, as OpenCV reads it
    captured_at: float  # time.perf_counter() when the frame was read


class FrameChannel(Generic[T]):
    """A bounded hand-over between two threads.

    keep_all=False: a one-item "latest" slot; a newer item replaces the waiting
    one, so the producer never waits.
    keep_all=True: a FIFO of `capacity` items; the producer waits when it is full.
    """

    def __init__(self, *, keep_all: bool, capacity: int = 1, stop: threading.Event | None = None) -> None:
        self._keep_all = keep_all
        self._capacity = max(1, capacity) if keep_all else 1
        self._stop = stop or threading.Event()
        self._items: collections.deque[T] = collections.deque()
        self._changed = threading.Condition()
        self._closed = False

    def put(self, item: T) -> bool:
        """Hand over an item; False (item not taken) once the channel is closed.

        Once the session is stopping a full FIFO takes the item anyway instead of
        waiting: the consumer may be gone, and the item can still be drained.
        """
        with self._changed:
            if self._keep_all:
                while len(self._items) >= self._capacity and not (self._closed or self._stop.is_set()):
                    self._changed.wait(_POLL_S)
            elif self._items:
                self._items.popleft()  # counted as skipped: captured but never sent
            if self._closed:
                return False
            self._items.append(item)
            self._changed.notify_all()
            return True

    def get(self) -> T | None:
        """The next item; None once the channel is empty and closed, or empty and the session is stopping."""
        with self._changed:
            while not self._items and not (self._closed or self._stop.is_set()):
                self._changed.wait(_POLL_S)
            if not self._items:
                return None
            item = self._items.popleft()
            self._changed.notify_all()
            return item

    def close(self, *, discard: bool = False) -> None:
        """No more items; the consumer still gets those already waiting, unless `discard`."""
        with self._changed:
            self._closed = True
            if discard:
                self._items.clear()
            self._changed.notify_all()


class InFlight:
    """Frames sent and not yet answered, and when each was captured.

    The server answers in order, so an answer to frame k settles every earlier
    frame: those without an answer were dropped by the server. Frames the
    server dropped after k are only known from its running `frames_dropped`.
    """

    def __init__(self, limit: int, stop: threading.Event) -> None:
        self._limit = limit
        self._stop = stop
        self._captured_at: dict[int, float] = {}
        self._sent = self._answered = self._dropped = 0
        self._changed = threading.Condition()

    @property
    def count(self) -> int:
        return max(0, self._sent - self._answered - self._dropped)

    def wait_for_room(self) -> bool:
        """Block until fewer than `limit` frames are out; False when the session is stopping."""
        with self._changed:
            while self.count >= self._limit and not self._stop.is_set():
                self._changed.wait(_POLL_S)
            return not self._stop.is_set()

    def sent(self, frame: Captured) -> None:
        with self._changed:
            self._sent += 1
            self._captured_at[frame.frame_id] = frame.captured_at

    def answered(self, frame_id: int, frames_dropped: int) -> float | None:
        """Settle an answer; returns the frame's capture time (None for an id we never sent)."""
        with self._changed:
            self._answered += 1
            self._dropped = max(self._dropped, frames_dropped)
            for earlier in [i for i in self._captured_at if i < frame_id]:
                del self._captured_at[earlier]
            self._changed.notify_all()
            return self._captured_at.pop(frame_id, None)


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    """A BGR frame as a JPEG file; ValueError when OpenCV cannot encode it."""
    cv2 = _cv2()
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"could not encode a {image.shape} frame as JPEG")
    data: bytes = buf.tobytes()
    return data


class Sender:
    """The stream's request iterator; gRPC pulls it from its own thread.

    It waits for room first and takes a frame second, so what goes out is the
    newest frame at the moment the server can take one. Frames are encoded
    here, not in the capture thread, and only those actually sent.
    """

    def __init__(self, frames: FrameChannel[Captured], in_flight: InFlight, stats: Stats, jpeg_quality: int) -> None:
        self._frames = frames
        self._in_flight = in_flight
        self._stats = stats
        self._quality = jpeg_quality

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        while self._in_flight.wait_for_room():
            frame = self._frames.get()
            if frame is None:
                return  # capture ended or we are stopping: half-close, the server finishes what it has
            jpeg = encode_jpeg(frame.image, self._quality)
            self._in_flight.sent(frame)
            self._stats.add("sent")
            yield frame.frame_id, jpeg


class LatestMask:
    """The newest successful result, read by the output loop without waiting.

    A single reference swap is atomic in CPython, and readers only need some
    recent result, so no lock.
    """

    def __init__(self) -> None:
        self.result: SegmentResult | None = None

    def update(self, result: SegmentResult) -> None:
        self.result = result


def receive(results: Iterator[SegmentResult], in_flight: InFlight, stats: Stats, latest: LatestMask,
            stop: threading.Event) -> None:
    """Consume the stream's results until it ends, or until `stop` (then cancel it by closing the iterator)."""
    try:
        for result in results:
            captured_at = in_flight.answered(result.frame_id, result.frames_dropped)
            latency_ms = (time.perf_counter() - captured_at) * 1000 if captured_at is not None else None
            stats.result(result, latency_ms)
            if result.error is None:
                latest.update(result)
            else:
                log.warning("frame %d failed: %s %s: %s", result.frame_id, result.error.code.name, result.error.reason,
                            result.error.message)
            if stop.is_set():
                break
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()  # cancels the stream when we leave early
