"""Dynamic batching: concurrent single-image runs go to the model as one batch."""

from __future__ import annotations

import collections
import queue
import threading
import time
from concurrent.futures import Future

import numpy as np

from server.backends import Backend


class DynamicBatcher:
    """Wraps a backend. Each `run` call waits at most `max_delay_s` for others to join it,
    then all of them (up to `max_batch` images) run as one batch.

    Worth it where one batch of N costs less than N single runs, as on a GPU. The callers must be
    different threads (the server's workers), so set the worker count to at least `max_batch`.
    """

    def __init__(self, backend: Backend, max_batch: int, max_delay_s: float) -> None:
        self._backend = backend
        self.device = backend.device
        self.input_info = backend.input_info
        self._max_batch = max_batch
        self._max_delay = max_delay_s
        self._queue: queue.SimpleQueue[tuple[np.ndarray, Future] | None] = queue.SimpleQueue()
        self.batch_sizes: collections.Counter[int] = collections.Counter()
        self._thread = threading.Thread(target=self._run, name="batcher", daemon=True)
        self._thread.start()

    def run(self, batch: np.ndarray) -> np.ndarray:
        future: Future[np.ndarray] = Future()
        self._queue.put((batch, future))
        return future.result()

    def close(self) -> None:
        """Finish the batches queued so far, stop the thread, then close the wrapped backend."""
        self._queue.put(None)
        self._thread.join()
        self._backend.close()

    def _collect(self, first: tuple[np.ndarray, Future]) -> list[tuple[np.ndarray, Future]]:
        items, size = [first], len(first[0])
        deadline = time.perf_counter() + self._max_delay
        while size < self._max_batch:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                break
            try:
                item = self._queue.get(timeout=remaining)
            except queue.Empty:
                break
            if item is None:
                self._queue.put(None)  # seen again by _run, after this batch
                break
            items.append(item)
            size += len(item[0])
        return items

    def _run(self) -> None:
        while (first := self._queue.get()) is not None:
            items = self._collect(first)
            try:
                output = self._backend.run(np.concatenate([batch for batch, _ in items]))
            except Exception as exc:  # noqa: BLE001 - every caller of this batch gets the error
                for _, future in items:
                    future.set_exception(exc)
                continue
            self.batch_sizes[len(output)] += 1
            start = 0
            for batch, future in items:
                future.set_result(output[start : start + len(batch)])
                start += len(batch)
