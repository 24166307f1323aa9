"""Live segmentation of the browser's camera, with the client library's live frames. No Streamlit here.

aiortc's thread --on_frame--> FrameChannel (a latest-only slot) --Sender--> SegmentStream --receive--> LatestMask
on_frame draws each camera frame with the newest mask of that moment, so the picture never waits for the server.

A supervisor thread owns the stream: it opens one SegmentStream with the LATEST policy, opens a new one when
the model or the frame-rate cap changes, reconnects (on a fresh channel) when the server goes away, and ends
when the camera has sent nothing for a while.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import av
import numpy as np

from segmentation_client import SegmentationClient, SegmentResult, ServiceError, Unavailable, render
from segmentation_client.live import Captured, FrameChannel, InFlight, LatestMask, Sender, Stats, receive
from streamlit_app.imaging import Display

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 2  # frames out at once: one being segmented, one waiting, as the webcam client does
JPEG_QUALITY = 80
RETRY_S = 1.0  # between attempts to reach a server that went away
IDLE_S = 5.0  # no camera frame for this long (tab closed, camera stopped): the stream ends
_POLL_S = 0.2


@dataclass(frozen=True)
class Controls:
    """What the page's widgets say; the frame callback and the supervisor read the newest one."""

    model: str
    display: Display
    max_fps: float = 0.0  # 0: as fast as the server answers
    palettes: dict[str, np.ndarray] = field(default_factory=dict, compare=False)  # model id -> RGB palette
    soft_masks: frozenset[str] = frozenset()  # the models that give a soft mask: asked for it, for soft edges


@dataclass(frozen=True)
class LiveNumbers:
    """The live numbers the page shows, over every stream of this camera session."""

    results_per_s: float
    latency_ms: float
    processed: int
    dropped_by_server: int
    skipped_locally: int
    result: SegmentResult | None  # the newest mask, None while there is none (server away)
    error: ServiceError | None  # why there is no mask now; None while masks arrive
    streaming: bool


class LiveSegmenter:
    """Segments a live camera; `on_frame` is streamlit-webrtc's video_frame_callback and never blocks.

    `open_client` makes a new client for each stream, so a reconnect never waits out the backoff of a
    channel that saw the server go away. `configure` may be called at any time from the page's thread.
    """

    def __init__(self, open_client: Callable[[], SegmentationClient], controls: Controls) -> None:
        self._open_client = open_client
        self._controls = controls
        self._lock = threading.Lock()
        self._supervisor: threading.Thread | None = None
        self._closed = threading.Event()
        self._restart = threading.Event()
        self._frames: FrameChannel[Captured] | None = None  # the current stream's slot
        self._stats = Stats()
        self._earlier = (0, 0, 0)  # processed, dropped, skipped in streams that ended
        self._latest = LatestMask()
        self._ids = itertools.count(1)
        self._last_frame = 0.0
        self.error: ServiceError | None = None

    def configure(self, controls: Controls) -> None:
        old, self._controls = self._controls, controls
        if (old.model, old.max_fps) != (controls.model, controls.max_fps):
            self._restart.set()  # the model and the cap are stream options: open a new stream

    def on_frame(self, frame: av.VideoFrame) -> av.VideoFrame:
        image = frame.to_ndarray(format="bgr24")
        self._last_frame = time.monotonic()
        self._ensure_running()
        stats, frames = self._stats, self._frames
        stats.frame_captured()
        if frames is not None:  # with none (between streams) the frame is never sent: skipped locally
            frames.put(Captured(next(self._ids), image, time.perf_counter()))
        out = self.draw(image, self._latest.result, self._controls)
        new = av.VideoFrame.from_ndarray(out, format="bgr24")
        if frame.time_base is not None:  # aiortc's frames carry their timing on to the browser
            new.pts, new.time_base = frame.pts, frame.time_base
        return new

    @staticmethod
    def draw(image: np.ndarray, result: SegmentResult | None, controls: Controls) -> np.ndarray:
        """The BGR frame with the mask drawn as the controls say; the plain frame while there is no mask."""
        palette = controls.palettes.get(result.model) if result is not None else None
        if result is None or palette is None:
            return image
        # render resizes the mask (and the soft mask) when WebRTC changed the resolution mid-stream.
        return render(image, result.mask, np.ascontiguousarray(palette[:, ::-1]), controls.display.as_view(),
                      result.alpha)

    def numbers(self) -> LiveNumbers:
        fps, latency, dropped, skipped = self._stats.live()
        processed, dropped_before, skipped_before = self._earlier
        supervisor = self._supervisor
        return LiveNumbers(
            fps, latency, processed + self._stats.processed, dropped_before + dropped, skipped_before + skipped,
            self._latest.result, self.error, supervisor is not None and supervisor.is_alive(),
        )

    def palette(self, model: str) -> np.ndarray | None:
        """The RGB palette of a model the page knows."""
        return self._controls.palettes.get(model)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self) -> None:
        """End the stream (the camera stopped or the session ended); waits for the supervisor briefly."""
        self._closed.set()
        supervisor = self._supervisor
        if supervisor is not None and supervisor is not threading.current_thread():
            supervisor.join(5)

    def _ensure_running(self) -> None:
        with self._lock:
            if self._closed.is_set() or (self._supervisor is not None and self._supervisor.is_alive()):
                return
            self._supervisor = threading.Thread(target=self._supervise, name="live-supervisor", daemon=True)
            self._supervisor.start()

    def _idle(self) -> bool:
        return time.monotonic() - self._last_frame > IDLE_S

    def _supervise(self) -> None:
        log.info("live session started")
        while not (self._closed.is_set() or self._idle()):
            self._restart.clear()
            failed = self._one_stream()
            if failed:
                self._closed.wait(RETRY_S)
        self._frames = None
        log.info("live session ended: %d results", self.numbers().processed)

    def _one_stream(self) -> bool:
        """Run one stream until it ends, fails, or must be replaced; True when it failed."""
        controls = self._controls
        stop = threading.Event()
        frames: FrameChannel[Captured] = FrameChannel(keep_all=False, stop=stop)
        worker = threading.Thread(target=self._stream, args=(controls, frames, self._stats, stop),
                                  name="live-stream", daemon=True)
        self._frames = frames
        worker.start()
        while worker.is_alive() and not (self._closed.is_set() or self._restart.is_set() or self._idle()):
            worker.join(_POLL_S)
        # The Sender half-closes at once; the server answers the frames in flight and ends the stream.
        stop.set()
        frames.close(discard=True)
        worker.join(10)
        self._end_stream_stats()
        return self.error is not None

    def _stream(self, controls: Controls, frames: FrameChannel[Captured], stats: Stats, stop: threading.Event) -> None:
        in_flight = InFlight(MAX_IN_FLIGHT, stop)
        watched = _ClearErrorOnFirst(self._latest, self)
        try:
            with self._open_client() as client:
                results = client.stream(Sender(frames, in_flight, stats, JPEG_QUALITY), controls.model,
                                        drop_policy="latest", max_fps=controls.max_fps,
                                        alpha=controls.model in controls.soft_masks)
                receive(results, in_flight, stats, watched, stop)
            if not stop.is_set():  # the server ended the stream (e.g. it is shutting down)
                raise Unavailable("the server ended the stream", reason="SHUTTING_DOWN")
        except ServiceError as exc:
            log.warning("live stream failed: %s %s", exc.code.name, exc.message)
            self.error = exc
            self._latest.result = None  # no stale mask over a live picture
        except Exception as exc:  # a bug, not the network: the picture goes on without masks
            log.exception("live stream failed")
            self.error = Unavailable(f"live stream failed: {exc}")
            self._latest.result = None

    def _end_stream_stats(self) -> None:
        """Fold the ended stream's numbers into the session's; frames captured from now on count afresh."""
        _, _, dropped, skipped = self._stats.live()
        processed, dropped_before, skipped_before = self._earlier
        self._earlier = (processed + self._stats.processed, dropped_before + dropped, skipped_before + skipped)
        self._stats = Stats()


class _ClearErrorOnFirst(LatestMask):
    """The LatestMask `receive` fills, which also clears the segmenter's error once masks come back."""

    def __init__(self, latest: LatestMask, segmenter: LiveSegmenter) -> None:
        super().__init__()
        self._latest, self._segmenter = latest, segmenter

    def update(self, result: SegmentResult) -> None:
        self._latest.update(result)
        self._segmenter.error = None
