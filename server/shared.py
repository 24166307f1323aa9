"""What the server's processes share: the counts behind the request and stream limits, and who can serve.

Made once, before the serving processes are forked (server/processes.py), so every process holds the
same shared memory; a single-process server makes its own. The counts are taken and given back under
one lock, so the limits hold for the whole server, not per process.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.sharedctypes import Synchronized, SynchronizedArray


class ServerState:
    """Counts of unary calls and streams in progress, and one "can serve the default model" flag a process."""

    def __init__(self, processes: int = 1) -> None:
        context = multiprocessing.get_context("fork")
        self._lock = context.Lock()
        self._requests: Synchronized[int] = context.Value("i", 0, lock=False)  # type: ignore[assignment]
        self._streams: Synchronized[int] = context.Value("i", 0, lock=False)  # type: ignore[assignment]
        self._ready: SynchronizedArray[int] = context.Array("b", processes, lock=False)  # type: ignore[assignment]
        self.processes = processes

    def take(self, *, stream: bool, limit: int) -> bool:
        """Count one more call (a stream when `stream`) unless `limit` are in progress; whether it was counted."""
        value = self._streams if stream else self._requests
        with self._lock:
            if value.value >= limit:
                return False
            value.value += 1
            return True

    def give_back(self, *, stream: bool) -> None:
        value = self._streams if stream else self._requests
        with self._lock:
            value.value -= 1

    def in_progress(self, *, stream: bool) -> int:
        return (self._streams if stream else self._requests).value

    def set_ready(self, index: int, ready: bool) -> None:
        """Say whether process `index` can serve the default model."""
        self._ready[index] = int(ready)

    def all_ready(self) -> bool:
        """Whether every process can serve the default model: only then is the server SERVING."""
        return all(self._ready[:])
