"""Admission: who may start a call on this server, and how a unary call runs and fails.

One `Admission` is built per server (server/app.py) and given to both services, so the request limit,
the stream limit and draining hold for Segmenter and the Open Inference service together. It also
holds the one path every unary call takes (admitted, counted in the metrics, its errors turned into
statuses) and the one way a failed stream frame is counted and described. With several serving
processes (`--processes`) the counts live in a `ServerState` they all share, so the limits are the
server's, not each process's; draining is each process's own, and every process is told to drain.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import grpc

from server.errors import Overloaded, SegmentationError, ShuttingDown
from server.metrics import Metrics
from server.shared import ServerState
from server.status import Failure, abort_with, failure

log = logging.getLogger(__name__)

R = TypeVar("R")


class Admission:
    """The server's limits of concurrent unary calls and streams, and whether it is draining."""

    def __init__(self, metrics: Metrics, *, max_concurrent_requests: int, max_streams: int,
                 state: ServerState | None = None) -> None:
        self.metrics = metrics
        self.draining = False
        self.active = 0  # calls accepted and not ended in this process (the limits count every process's)
        self._max_requests = max_concurrent_requests
        self._max_streams = max_streams
        # Calls accepted and not ended, in every process of the server.
        self._state = state or ServerState()

    def drain(self) -> None:
        """Refuse every new call from now on."""
        self.draining = True

    def refusal(self, *, stream: bool) -> SegmentationError | None:
        """Why a new call (a stream when `stream`) may not start now; None when it may."""
        if self.draining:
            return ShuttingDown("server is shutting down; send the call to another replica")
        limit = self._max_streams if stream else self._max_requests
        if self._state.in_progress(stream=stream) >= limit:
            return self._overloaded(stream=stream)
        return None

    def _overloaded(self, *, stream: bool) -> Overloaded:
        if stream:
            return Overloaded(f"server is at its limit of {self._max_streams} concurrent streams")
        return Overloaded(f"server is at its limit of {self._max_requests} concurrent requests")

    def _take(self, *, stream: bool) -> SegmentationError | None:
        """Count a new call unless it must be refused (checked and counted in one step); why it is refused."""
        refused = self.refusal(stream=stream)
        if refused is None and not self._state.take(stream=stream,
                                                     limit=self._max_streams if stream else self._max_requests):
            refused = self._overloaded(stream=stream)  # another process took the last one meanwhile
        return refused

    @contextmanager
    def unary_slot(self) -> Iterator[None]:
        """One unary call, of any service: raises ShuttingDown or Overloaded when it may not start."""
        refused = self._take(stream=False)
        if refused is not None:
            raise refused
        self.active += 1
        try:
            yield
        finally:
            self.active -= 1
            self._state.give_back(stream=False)

    @contextmanager
    def stream_slot(self) -> Iterator[SegmentationError | None]:
        """One stream: yields why it is refused (nothing is counted then), else None, and then it is counted
        here and in the metrics until the block ends."""
        refused = self._take(stream=True)
        if refused is not None:
            yield refused
            return
        self.metrics.in_flight.labels("SegmentStream").inc()
        self.active += 1
        try:
            yield None
        finally:
            self.active -= 1
            self._state.give_back(stream=True)
            self.metrics.in_flight.labels("SegmentStream").dec()

    def failed(self, method: str, exc: BaseException, where: str | None = None) -> Failure:
        """Count a failed call or frame under `method`; what its caller is told (`where` names it in the log)."""
        found = failure(exc, where or method)
        self.metrics.requests.labels(method, found.code.name).inc()
        if isinstance(exc, SegmentationError):
            log.log(logging.DEBUG if where else logging.INFO, "%s failed: %s %s: %s", where or method,
                    found.code.name, found.reason, exc)
        return found

    def succeeded(self, method: str) -> None:
        self.metrics.requests.labels(method, "OK").inc()

    async def answer_unary(
        self, method: str, context: grpc.aio.ServicerContext, work: Callable[[float, float | None], Awaitable[R]],
    ) -> R:
        """Run one unary call: admitted through `unary_slot`, counted in the metrics, errors mapped to statuses.

        `work` gets the time the call arrived and its deadline (None without one).
        """
        received_at = time.perf_counter()
        try:
            with self.unary_slot():
                remaining = context.time_remaining()
                deadline = received_at + remaining if remaining is not None else None
                with self.metrics.in_flight.labels(method).track_inprogress():
                    response = await work(received_at, deadline)
        except Exception as exc:  # noqa: BLE001 - a domain error, or a bug: INTERNAL, details in the log
            await abort_with(context, self.failed(method, exc))
        self.succeeded(method)
        return response
