"""One live session: capture, stream to the server, draw the results, count everything.

Threads: the capture thread reads the source and never waits for the server
(with the latest policy); gRPC's own thread pulls frames to send from the
Sender; the results thread reads answers into LatestMask; the calling thread
draws frames to the window or the output file.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from segmentation_client import (
    DeadlineExceeded,
    ModelInfo,
    SegmentationClient,
    SegmentResult,
    ServiceError,
    Unavailable,
    View,
)
from segmentation_client.live import Captured, FrameChannel, InFlight, LatestMask, Sender, Stats, Summary, receive
from webcam_client.capture import FrameSource
from webcam_client.config import WebcamSettings
from webcam_client.render import Hud, VideoOutput, compose

log = logging.getLogger(__name__)

_OUTPUT_BUFFER = 32  # frames waiting for the video writer before capture waits for it
_NOTICE_S = 2.0  # how long a message such as "saved screenshot" stays on screen


class StartupError(Exception):
    """Something needed before streaming could not be had; the message is the whole story, in one line."""


def connect(client: SegmentationClient, settings: WebcamSettings) -> ModelInfo:
    """Check the server is up and serving (short deadline), and fetch the model's palette and labels."""
    where = settings.target
    try:
        status = client.health()
        model = client.get_model(settings.model or None)
    except (Unavailable, DeadlineExceeded) as exc:
        if exc.reason == "SHUTTING_DOWN":
            raise StartupError(f"the segmentation server at {where} is shutting down; try again shortly") from None
        raise StartupError(f"cannot reach the segmentation server at {where}: {exc.message}") from None
    except ServiceError as exc:
        raise StartupError(f"server at {where}: {exc.code.name}: {exc.message}") from None
    if status != "SERVING":
        raise StartupError(f"server at {where} is {status}, not SERVING")
    if not model.available:
        raise StartupError(f"server at {where}: model {model.id} is not available: {model.unavailable_reason}")
    return model


def _client(settings: WebcamSettings) -> SegmentationClient:
    try:
        return settings.connect()
    except OSError as exc:  # a certificate or key file
        raise StartupError(f"cannot read {exc.filename}: {exc.strerror}") from None


def run_session(settings: WebcamSettings, window: Display | None = None,
                stop: threading.Event | None = None) -> Session:
    """Open the source and the server, stream until done (or `stop` is set).

    The returned session holds the summary and any stream error.
    """
    if settings.output is not None and not settings.output.absolute().parent.is_dir():
        raise StartupError(f"cannot write {settings.output}: no such folder")
    source = FrameSource.open(settings.source, realtime=settings.realtime)
    try:
        with _client(settings) as client:
            session = Session(settings, client, connect(client, settings), source, window, stop)
            session.run()
    finally:
        source.close()
    return session


class Display(Protocol):
    """What the session needs of a window (webcam_client.window.Window; a fake one in tests)."""

    def show(self, frame: np.ndarray, wait_ms: int = 1) -> int: ...  # the key pressed, or -1

    def closed(self) -> bool: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Shown:
    """A captured frame on its way to the output, with the newest mask there was when it was captured."""

    frame: Captured
    result: SegmentResult | None


class Session:
    """Runs until the source ends, max_frames are captured, or the viewer quits; `run` returns the summary."""

    def __init__(self, settings: WebcamSettings, client: SegmentationClient, model: ModelInfo,
                 source: FrameSource, window: Display | None = None, stop: threading.Event | None = None) -> None:
        self.settings = settings
        self.error: ServiceError | None = None  # set when the stream itself failed
        self.summary: Summary | None = None  # set when run returns
        self.stats = Stats()
        self.view = View(opacity=settings.opacity, blur=settings.blur)
        self.stop = stop or threading.Event()  # set by q, Ctrl-C, a failed stream, or the caller
        self._client, self._source, self._window = client, source, window
        self._palette_bgr = np.ascontiguousarray(model.palette[:, ::-1])
        self._soft_mask = model.soft_mask
        self._latest = LatestMask()
        self._in_flight = InFlight(settings.max_in_flight, self.stop)
        # With "none" every frame must reach the server, so capture waits for
        # room; with "latest" a newer frame replaces the one waiting.
        self._to_server: FrameChannel[Captured] = FrameChannel(
            keep_all=settings.drop_policy == "none", capacity=settings.max_in_flight, stop=self.stop)
        # The video file gets every frame; a window only ever needs the newest.
        self._to_output: FrameChannel[Shown] = FrameChannel(
            keep_all=settings.output is not None, capacity=_OUTPUT_BUFFER, stop=self.stop)
        self._video = VideoOutput(settings.output, source.fps) if settings.output else None
        self._notice = ("", 0.0)

    @property
    def _outputs(self) -> bool:
        return self._window is not None or self._video is not None

    def run(self) -> Summary:
        receiver = threading.Thread(target=self._receive, name="results", daemon=True)
        capturer = threading.Thread(target=self._capture, name="capture", daemon=True)
        receiver.start()
        capturer.start()
        try:
            if self._outputs:
                self._output_loop()
            else:
                while capturer.is_alive():
                    capturer.join(0.2)  # in slices, so Ctrl-C gets through
        except KeyboardInterrupt:
            self.stop.set()  # Ctrl-C is a quit like q: summary, no traceback
        except BaseException:
            self.stop.set()  # e.g. the output file cannot be written: stop the other threads too
            self._video = None  # and do not flush into an output that just failed
            raise
        finally:
            self._finish(capturer, receiver)
        self.summary = self.stats.summary()
        return self.summary

    def _finish(self, capturer: threading.Thread, receiver: threading.Thread) -> None:
        """Write what was captured, let the answers to frames in flight arrive (up to drain_timeout), stop."""
        capturer.join()
        self._flush_output()
        # After a quit this returns at the next answer: stop makes the results thread cancel the stream.
        receiver.join(self.settings.drain_timeout)
        self.stop.set()
        receiver.join(1.0)
        if receiver.is_alive():
            log.warning("the server did not answer the last frames within %.1f s", self.settings.drain_timeout)
        if self._video:
            self._video.close()
        self.stats.finish()

    def _capture(self) -> None:
        max_frames = self.settings.max_frames
        try:
            while not self.stop.is_set() and not (max_frames and self.stats.captured >= max_frames):
                frame = self._source.read()
                if frame is None:
                    break
                self.stats.frame_captured()
                self._to_server.put(frame)
                if self._outputs:
                    self._to_output.put(Shown(frame, self._latest.result))
        finally:
            # With "latest" a frame still waiting for room when the source ends would go
            # out late and its mask would be drawn on no frame: skip it like the others.
            self._to_server.close(discard=self.settings.drop_policy == "latest")
            self._to_output.close()

    def _receive(self) -> None:
        s = self.settings
        sender = Sender(self._to_server, self._in_flight, self.stats, s.jpeg_quality)
        results = self._client.stream(sender, s.model or None, drop_policy=s.drop_policy, max_fps=s.max_fps,
                                      alpha=self._soft_mask)
        try:
            receive(results, self._in_flight, self.stats, self._latest, self.stop)
        except ServiceError as exc:
            if not self.stop.is_set():  # a cancel of our own making is no error
                self.error = exc
                log.debug("stream failed: %s", exc)
            self.stop.set()
        except Exception as exc:  # a bug, not the network; still end the session cleanly
            log.exception("results thread failed")
            self.error = Unavailable(f"results thread failed: {exc}")
            self.stop.set()

    def _output_loop(self) -> None:
        while (shown := self._to_output.get()) is not None:
            canvas = self._draw(shown)
            if self._video:
                self._write(self._video, canvas)
            # After a quit, frames already captured still go to the file, but no longer on screen.
            if self._window and not self.stop.is_set() and not self._show(self._window, canvas):
                self.stop.set()

    def _flush_output(self) -> None:
        """After Ctrl-C or an error the output loop is gone: write the frames still waiting for it."""
        while self._video and (shown := self._to_output.get()) is not None:
            self._write(self._video, self._draw(shown))

    def _draw(self, shown: Shown) -> np.ndarray:
        return compose(shown.frame.image, shown.result, self._palette_bgr, self.view, self._hud())

    def _write(self, video: VideoOutput, canvas: np.ndarray) -> None:
        video.write(canvas)
        self.stats.add("written")

    def _hud(self) -> Hud:
        fps, latency, dropped, skipped = self.stats.live()
        text, until = self._notice
        return Hud(fps, latency, dropped, skipped, [text] if text and time.monotonic() < until else [])

    def _show(self, window: Display, canvas: np.ndarray) -> bool:
        """Show a frame and act on the key pressed; False when the viewer wants to quit."""
        key = window.show(canvas)
        if key in (ord("q"), 27) or window.closed():
            return False
        if key == ord("m"):
            self.view.next_mode()
        elif key in (ord("+"), ord("=")):
            self.view.change_opacity(+0.1)
        elif key in (ord("-"), ord("_")):
            self.view.change_opacity(-0.1)
        elif key == ord("b"):
            self.view.blur = not self.view.blur
        elif key == ord("s"):
            self._screenshot(canvas)
        return True

    def _screenshot(self, canvas: np.ndarray) -> None:
        path = Path(self.settings.screenshot_dir) / time.strftime("webcam-%Y%m%d-%H%M%S.png")
        ok = cv2.imwrite(str(path), canvas)
        self._notice = (f"saved {path}" if ok else f"could not save {path}", time.monotonic() + _NOTICE_S)
        log.info("screenshot %s: %s", "saved" if ok else "failed", path)
