"""Frame scheduling for one video stream: drop policy, frame-rate limit, ordered pipelining.

Pure asyncio; the servicer feeds it requests and turns its results into responses.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class DropPolicy(enum.Enum):
    LATEST = "latest"  # keep only the newest waiting frame
    NONE = "none"  # keep every frame; stop reading when the buffer is full


@dataclass
class Frame(Generic[T]):
    item: T
    received_at: float  # time.perf_counter()


class FrameBuffer(Generic[T]):
    """Frames received and not yet started. Bounded whatever the sender does."""

    def __init__(self, policy: DropPolicy, capacity: int) -> None:
        self.policy = policy
        self.dropped = 0
        self._capacity = capacity
        self._frames: collections.deque[Frame[T]] = collections.deque()
        self._changed = asyncio.Condition()
        self._closed = False
        self._error: BaseException | None = None

    async def put(self, frame: Frame[T]) -> None:
        async with self._changed:
            if self.policy is DropPolicy.LATEST:
                self.dropped += len(self._frames)
                self._frames.clear()
            else:
                # Not reading further is what lets gRPC flow control slow the sender.
                await self._changed.wait_for(lambda: len(self._frames) < self._capacity)
            self._frames.append(frame)
            self._changed.notify_all()

    async def close(self, error: BaseException | None = None) -> None:
        async with self._changed:
            self._closed, self._error = True, error
            self._changed.notify_all()

    async def get(self) -> Frame[T] | None:
        """The next frame to process, or None once the sender is done and the buffer is empty."""
        async with self._changed:
            await self._changed.wait_for(lambda: self._frames or self._closed)
            if self._frames:
                frame = self._frames.popleft()
                self._changed.notify_all()
                return frame
            if self._error is not None:
                raise self._error
            return None


class StreamRunner(Generic[T, R]):
    """Processes a stream's frames, up to `depth` at once, and yields results in arrival order."""

    def __init__(self, policy: DropPolicy, *, depth: int, capacity: int, max_fps: float = 0.0) -> None:
        self.buffer: FrameBuffer[T] = FrameBuffer(policy, capacity)
        self.received = 0
        self.processed = 0
        self._depth = max(1, depth)
        self._interval = 1.0 / max_fps if max_fps > 0 else 0.0
        self._next_start = 0.0
        self._reader: asyncio.Task | None = None

    def stop_reading(self) -> None:
        """Take no more frames; those already received are still answered, then the stream ends."""
        if self._reader is not None:
            self._reader.cancel()

    @property
    def dropped(self) -> int:
        return self.buffer.dropped

    async def _read(self, source: AsyncIterator[T]) -> None:
        try:
            async for item in source:
                self.received += 1
                await self.buffer.put(Frame(item, time.perf_counter()))
        except asyncio.CancelledError:
            await self.buffer.close()
            raise
        except BaseException as exc:  # noqa: BLE001 - the client's stream broke: end ours with its error
            await self.buffer.close(exc)
            return
        await self.buffer.close()

    async def _next_frame(self) -> Frame[T] | None:
        if self._interval:
            delay = self._next_start - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)  # frames arriving meanwhile meet the drop policy
            self._next_start = max(self._next_start, time.perf_counter()) + self._interval
        return await self.buffer.get()

    async def run(
        self, source: AsyncIterator[T], process: Callable[[Frame[T]], Coroutine[Any, Any, R]]
    ) -> AsyncIterator[R]:
        reader = self._reader = asyncio.create_task(self._read(source))
        pending: collections.deque[asyncio.Task[R]] = collections.deque()
        getter: asyncio.Task[Frame[T] | None] | None = None
        finished = False
        try:
            while True:
                if getter is None and not finished and len(pending) < self._depth:
                    getter = asyncio.create_task(self._next_frame())
                waits = [t for t in (getter, pending[0] if pending else None) if t is not None]
                if not waits:
                    return
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                if pending and pending[0].done():
                    self.processed += 1
                    yield pending.popleft().result()
                    continue
                if getter is not None and getter.done():
                    frame = getter.result()
                    getter = None
                    if frame is None:
                        finished = True
                    else:
                        pending.append(asyncio.create_task(process(frame)))
        finally:
            # The client is gone or done: stop reading and abandon work not yet started.
            for task in (reader, getter, *pending):
                if task is not None:
                    task.cancel()
