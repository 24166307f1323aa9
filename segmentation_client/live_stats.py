"""Counting every frame of a live stream: captured, sent, processed, dropped (by the server and by us), failed."""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass

import numpy as np

from segmentation_client._results import SegmentResult


@dataclass(frozen=True)
class Summary:
    """The numbers of a finished (or running) session."""

    captured: int
    sent: int
    processed: int  # answered with a mask
    errors: int  # answered with a per-frame error
    dropped_by_server: int  # skipped by the server's drop policy (frames_dropped)
    skipped_by_client: int  # never sent because max_in_flight frames were already out
    written: int  # output video frames
    seconds: float  # the whole session, until the last answer
    capture_seconds: float  # first to last captured frame
    latency_p50_ms: float  # capture -> result on screen, over processed frames
    latency_p95_ms: float
    server_p50_ms: float  # the server's own total_ms, for comparison
    classes_seen: dict[str, int]  # label -> number of processed frames it appeared in

    @property
    def unanswered(self) -> int:
        """Frames sent whose answer never came: in flight when the session was stopped or the stream failed."""
        return max(0, self.sent - self.processed - self.errors - self.dropped_by_server)

    @property
    def capture_fps(self) -> float:
        return (self.captured - 1) / self.capture_seconds if self.capture_seconds else 0.0

    @property
    def processed_fps(self) -> float:
        return self.processed / self.seconds if self.seconds else 0.0

    def lines(self) -> list[str]:
        return [
            f"frames captured   {self.captured} ({self.capture_fps:.1f} fps), session {self.seconds:.1f} s",
            f"frames sent       {self.sent}" + (f" ({self.unanswered} unanswered at the end)" * bool(self.unanswered)),
            f"frames processed  {self.processed} ({self.processed_fps:.1f} fps), errors {self.errors}",
            (f"frames dropped    {self.dropped_by_server} by the server, {self.skipped_by_client} skipped by the client"
            " (max in flight)"),
            f"frames written    {self.written}",
            (f"latency           p50 {self.latency_p50_ms:.0f} ms, p95 {self.latency_p95_ms:.0f} ms end to end"
            f" (server p50 {self.server_p50_ms:.0f} ms)"),
            "classes seen      " + (", ".join(f"{label} ({n})" for label, n in self.classes_seen.items()) or "none"),
        ]


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else 0.0


class Stats:
    """Thread-safe counters fed by the capture, sending, results and output threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.captured = self.sent = self.processed = self.errors = 0
        self.dropped_by_server = self.written = 0
        self.latencies_ms: list[float] = []
        self.server_ms: list[float] = []
        self.answered_ids: list[int] = []  # in arrival order; lets tests check ordering
        self.classes_seen: collections.Counter[str] = collections.Counter()
        self._started = time.perf_counter()
        self._first_capture = self._last_capture = 0.0
        self._finished: float | None = None
        self._recent: collections.deque[float] = collections.deque(maxlen=30)  # result arrival times

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def frame_captured(self) -> None:
        now = time.perf_counter()
        with self._lock:
            self.captured += 1
            self._first_capture = self._first_capture or now
            self._last_capture = now

    def result(self, result: SegmentResult, latency_ms: float | None) -> None:
        """Count an answer; `latency_ms` is None for a frame whose capture time is unknown."""
        with self._lock:
            self.answered_ids.append(result.frame_id)
            # frames_dropped is the stream's running total, so keep the largest seen.
            self.dropped_by_server = max(self.dropped_by_server, result.frames_dropped)
            if not result.ok:
                self.errors += 1
                return
            self.processed += 1
            if latency_ms is not None:  # kept pairwise with server_ms: their difference is time outside the server
                self.latencies_ms.append(latency_ms)
                self.server_ms.append(result.timings.total_ms)
            self.classes_seen.update(result.labels)
            self._recent.append(time.perf_counter())

    def finish(self) -> None:
        with self._lock:
            self._finished = self._finished or time.perf_counter()

    def live_fps(self) -> float:
        """Results per second over the last few results, for the on-screen display."""
        with self._lock:
            if len(self._recent) < 2:
                return 0.0
            span = self._recent[-1] - self._recent[0]
            return (len(self._recent) - 1) / span if span > 0 else 0.0

    def live(self) -> tuple[float, float, int, int]:
        """(results per second, last latency ms, dropped by server, skipped by client) for the display.

        Cheap enough to call every frame, unlike `summary`, which sorts every latency.
        """
        fps = self.live_fps()
        with self._lock:
            latency = self.latencies_ms[-1] if self.latencies_ms else 0.0
            return fps, latency, self.dropped_by_server, self.captured - self.sent

    def summary(self) -> Summary:
        with self._lock:
            end = self._finished or time.perf_counter()
            return Summary(
                captured=self.captured, sent=self.sent, processed=self.processed, errors=self.errors,
                # Every captured frame that was not sent was replaced in the
                # one-frame slot while max_in_flight frames were out (or was
                # still waiting when the session stopped).
                dropped_by_server=self.dropped_by_server, skipped_by_client=self.captured - self.sent,
                written=self.written, seconds=end - self._started,
                capture_seconds=self._last_capture - self._first_capture,
                latency_p50_ms=_percentile(self.latencies_ms, 50), latency_p95_ms=_percentile(self.latencies_ms, 95),
                server_p50_ms=_percentile(self.server_ms, 50), classes_seen=dict(self.classes_seen.most_common()),
            )
