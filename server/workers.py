"""Where the pixel work and inference of a call run: worker threads (the default), or worker processes
(`--worker-kind`).

A Python process runs one thread's Python at a time (the GIL), and grpc.aio's event loop holds it for much of
each call, so with worker threads the decoding, resizing and mask work wait for gRPC and gRPC waits for them.
Worker processes each have their own interpreter and GIL: the serving process keeps gRPC, admission, the
registry's bookkeeping, health and the metrics, and hands each call's images to a worker. Which is faster
depends on the machine (`make bench BENCH_ARGS="--processes 1:thread,1:process"`; the README's performance
section has the 2-core figures, where threads were as fast and cheaper in memory).

- The workers are started with `spawn`, fresh interpreters that inherit no gRPC state, threads or locks (gRPC
  does not survive a fork once it runs), before the serving process's gRPC server starts.
- Each holds the model versions the serving process's registry has loaded, by a version number: the registry
  loads a version in every worker, and it is READY only once all of them have it; a version the registry
  retires (replaced or removed, after its last call) is closed in every worker. So reload and health stay the
  registry's, as with threads, and each worker holds one copy of each model (`--workers` copies in all, as
  with threads, whose instances are one a worker).
- A call travels pickled over the worker's socket pair: the image bytes and options there; back, the answer the
  caller's `finish` made from the segmentation in the worker (a `Segment` call's response message, PNG masks
  and all), or the masks themselves. A worker runs one call at a time and holds the next one, so it never waits
  for the event loop. A stream's temporal smoothing state travels with its frame (such a stream sends one frame
  at a time, in order) and comes back updated.
- Models whose config asks for dynamic batching are not batched in worker processes (each runs one call at a
  time, so there is nothing to gather); `--worker-kind thread` batches them (a GPU deployment wants that).
- A worker that ends unasked (a runtime crashing, the kernel's OOM killer) fails the call it held (INTERNAL)
  and stops the server: health NOT_SERVING, a drain, exit code 1, so that whatever restarts it sees the failure,
  as when one of `--processes` dies.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import multiprocessing
import os
import pickle
import signal
import socket
import struct
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from multiprocessing.reduction import ForkingPickler
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np

from server import masks
from server.allocator import keep_freed_memory
from server.backends import TensorInfo
from server.config import ServerSettings
from server.errors import SegmentationError
from server.imaging import EncodedImage, RawPixels
from server.loading import LoadedModel, LoadError, load_model
from server.masks import MaskOptions
from server.model_config import ModelSpec
from server.models import ModelRegistry
from server.pipeline import Pipeline, Segmentation
from server.transforms import InputTransform

log = logging.getLogger(__name__)

Image = EncodedImage | RawPixels
T = TypeVar("T")
_STOP_SECONDS = 10.0  # for a worker to end once told to (its call in flight, closing its models)
# Calls a worker holds at once: the one it runs and the next, so that it never waits for the event loop to hand
# it one (a few hundred microseconds when gRPC keeps the loop busy: a tenth of a fast model's call).
_DEPTH = 2
_LENGTH = struct.Struct("!i")  # the length before each message, as multiprocessing.connection writes it


class Workers(Protocol):
    """Runs the pipeline for the servicers, wherever it runs."""

    async def run(self, model_id: str, image: Image, *, want_png: bool, received_at: float,
                  deadline: float | None, options: MaskOptions, finish: Callable[[Segmentation], T]) -> T:
        """`finish(Pipeline.run(...))`, awaited: `finish` makes the caller's answer where the pipeline ran."""
        ...

    async def run_batch(self, model_id: str, images: Sequence[Image], *, received_at: float,
                        deadline: float | None, options: MaskOptions) -> list[Segmentation]:
        """`Pipeline.run_batch`, awaited."""
        ...

    async def close(self) -> None:
        """No calls follow: end the workers."""
        ...


class ThreadWorkers:
    """The pipeline in a pool of `--workers` threads of the serving process."""

    def __init__(self, pipeline: Pipeline, executor: ThreadPoolExecutor) -> None:
        self._pipeline = pipeline
        self._executor = executor

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def run(self, model_id: str, image: Image, *, want_png: bool, received_at: float,
                  deadline: float | None, options: MaskOptions, finish: Callable[[Segmentation], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: finish(self._pipeline.run(
            model_id, image, want_png=want_png, received_at=received_at, deadline=deadline, options=options)))

    async def run_batch(self, model_id: str, images: Sequence[Image], *, received_at: float,
                        deadline: float | None, options: MaskOptions) -> list[Segmentation]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: self._pipeline.run_batch(
            model_id, images, received_at=received_at, deadline=deadline, options=options))


class WorkerLost(RuntimeError):
    """A worker process ended while it held a call (a bug or a crash: the call fails as INTERNAL)."""


@dataclass
class _Job:
    """One call for a worker: `version` names the model version, as the registry loaded it in every worker;
    `finish` (a module-level function, or a partial of one: it is pickled by name) makes the answer from the
    segmentation, there, so only what the answer needs comes back."""

    version: int
    images: list[Image]
    batch: bool
    want_png: bool
    received_at: float
    deadline: float | None
    options: MaskOptions
    finish: Callable[[Segmentation], Any] | None


@dataclass(frozen=True)
class _Loaded:
    """A worker's answer to a load: what the serving process needs of the model without running it."""

    spec: ModelSpec
    device: str
    input_info: TensorInfo | None


class _RemoteBackend:
    """The serving process's handle on a model version held by every worker: it never runs the model itself;
    closing it closes the version in the workers."""

    def __init__(self, pool: ProcessWorkers, version: int, loaded: _Loaded) -> None:
        self.version = version
        self.device = loaded.device
        self.input_info = loaded.input_info
        self._pool = pool

    def run(self, batch: np.ndarray) -> np.ndarray:
        raise RuntimeError("a model version in worker processes runs there, through ProcessWorkers")

    def close(self) -> None:
        self._pool.retire(self.version)


class _Worker:
    """One worker process and the serving process's two connections to it: calls (from the event loop) and
    control (loads from a loading thread, retirements from anywhere)."""

    def __init__(self, process: BaseProcess, calls: Connection, control: Connection) -> None:
        self.process, self.calls, self.control = process, calls, control
        self.name = process.name
        self.pid = process.pid or 0
        self.alive = True
        self.sending = threading.Lock()  # control messages come from several threads
        self.answers: collections.deque[asyncio.Future[tuple[bool, Any]]] = collections.deque()  # calls it holds
        # The calls connection as an asyncio stream: a call is written without blocking the event loop (a
        # worker busy with one call reads the next only when done, while its answer may wait for us to read).
        self.writer: asyncio.StreamWriter | None = None
        self.reading: asyncio.Task[None] | None = None


class ProcessWorkers:
    """The pipeline in `--workers` worker processes; see the module's docstring."""

    def __init__(self, settings: ServerSettings) -> None:
        self._settings = settings
        self._versions = itertools.count(1)
        self._loading = threading.Lock()  # one load at a time: each worker answers loads in order
        self._closing = False
        self._lost: Callable[[str], None] = lambda why: None
        self._slots: asyncio.Semaphore | None = None  # calls handed to the workers and not yet answered
        self._workers: list[_Worker] = []
        self._lease: Callable[[str], contextlib.AbstractContextManager[LoadedModel]] | None = None

    def attach(self, registry: ModelRegistry) -> None:
        """Start the worker processes, for the versions of `registry` (which loads through `load`)."""
        self._lease = registry.lease
        context = multiprocessing.get_context("spawn")
        for index in range(self._settings.workers):
            calls, their_calls = context.Pipe()
            control, their_control = context.Pipe()
            process = context.Process(target=_work, args=(self._settings, their_calls, their_control),
                                      name=f"worker-{index + 1}", daemon=True)
            process.start()
            their_calls.close()
            their_control.close()
            self._workers.append(_Worker(process, calls, control))

    def pids(self) -> list[int]:
        return [w.pid for w in self._workers if w.alive]

    async def start(self, lost: Callable[[str], None]) -> None:
        """Begin taking calls from this event loop; `lost(why)` is called once if a worker ends unasked."""
        loop = asyncio.get_running_loop()
        self._lost = lost
        self._slots = asyncio.Semaphore(len(self._workers) * _DEPTH)
        for worker in self._workers:
            sock = socket.socket(fileno=os.dup(worker.calls.fileno()))
            worker.calls.close()  # from here on the stream has the connection
            reader, worker.writer = await asyncio.open_connection(sock=sock)
            worker.reading = asyncio.create_task(self._read_answers(worker, reader))
            loop.add_reader(worker.process.sentinel, self._ended, worker)

    # Loading and retiring versions: from the registry, in its loading thread or wherever a version is retired.

    def load(self, folder: Path) -> LoadedModel:
        """Load `folder` in every worker (blocking); LoadError when any of them cannot."""
        version = next(self._versions)
        with self._loading:
            answers: list[_Loaded | LoadError] = []
            for worker in self._workers:
                self._control(worker, ("load", version, folder))
            for worker in self._workers:
                try:
                    answers.append(worker.control.recv())
                except (EOFError, OSError):
                    answers.append(LoadError(f"{folder.name}: worker process {worker.name} ended while loading it"))
        failures = [a for a in answers if isinstance(a, LoadError)]
        loaded = [a for a in answers if isinstance(a, _Loaded)]
        if failures:
            if loaded:
                self.retire(version)
            raise failures[0]
        first = loaded[0]
        transform = InputTransform.for_spec(first.spec, first.input_info.zero_point if first.input_info else None)
        return LoadedModel(first.spec, _RemoteBackend(self, version, first), transform)

    def retire(self, version: int) -> None:
        """Close a version in every worker (once its last call is done: the registry retires it then)."""
        for worker in self._workers:
            self._control(worker, ("retire", version, None))

    def _control(self, worker: _Worker, message: tuple[str, int, Path | None]) -> None:
        with worker.sending:
            if worker.alive and not self._closing:
                with contextlib.suppress(OSError):
                    worker.control.send(message)

    # Calls: from the event loop.

    async def run(self, model_id: str, image: Image, *, want_png: bool, received_at: float,
                  deadline: float | None, options: MaskOptions, finish: Callable[[Segmentation], T]) -> T:
        job = _Job(0, [image], False, want_png, received_at, deadline, options, finish)
        return await self._call(model_id, job)  # type: ignore[no-any-return]

    async def run_batch(self, model_id: str, images: Sequence[Image], *, received_at: float,
                        deadline: float | None, options: MaskOptions) -> list[Segmentation]:
        job = _Job(0, list(images), True, False, received_at, deadline, options, None)
        return await self._call(model_id, job)  # type: ignore[no-any-return]

    async def _call(self, model_id: str, job: _Job) -> Any:
        assert self._slots is not None and self._lease is not None, "attach() and start() first"
        with self._lease(model_id) as model:
            masks.check_options(model.spec, job.options)  # refused here, before a worker is asked
            backend = model.backend
            assert isinstance(backend, _RemoteBackend)
            job.version = backend.version
            await self._slots.acquire()
            # The worker with the fewest calls: an idle one, else one whose next call this is.
            worker = min((w for w in self._workers if w.alive), key=lambda w: len(w.answers), default=None)
            if worker is None:
                self._slots.release()
                raise WorkerLost("no worker process is running")
            payload = ForkingPickler.dumps(job)
            assert worker.writer is not None
            if worker.writer.is_closing():
                self._slots.release()
                raise WorkerLost(f"worker process {worker.name} cannot take calls")
            answer: asyncio.Future[tuple[bool, Any]] = asyncio.get_running_loop().create_future()
            worker.answers.append(answer)
            # As multiprocessing's Connection frames a message, which the worker reads with one: length, then bytes.
            worker.writer.write(_LENGTH.pack(len(payload)) + payload)
            ok, value = await answer
        if not ok:
            raise value
        result, smoother = value
        if job.options.smoother is not None and smoother is not None:
            job.options.smoother.follow(smoother)
        return result

    async def _read_answers(self, worker: _Worker, reader: asyncio.StreamReader) -> None:
        """Each answer of a worker, to the call it belongs to (answers come in the order of the calls), even when
        that caller has stopped waiting: so no answer is ever read as another call's."""
        assert self._slots is not None
        try:
            while True:
                size, = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
                reply = pickle.loads(await reader.readexactly(size))
                answer = worker.answers.popleft()
                self._slots.release()
                if not answer.done():
                    answer.set_result(reply)
        except (asyncio.IncompleteReadError, OSError):
            self._fail(worker, f"worker process {worker.name} ended during the call")

    def _fail(self, worker: _Worker, why: str) -> None:
        """Fail the calls a worker held; it takes no more."""
        worker.alive = False
        if worker.writer is not None:
            worker.writer.close()
        while worker.answers:
            answer = worker.answers.popleft()
            if self._slots is not None:
                self._slots.release()
            if not answer.done():
                answer.set_result((False, WorkerLost(why)))

    def _ended(self, worker: _Worker) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(worker.process.sentinel)
        self._fail(worker, f"worker process {worker.name} ended during the call")
        if not self._closing:
            worker.process.join(1)  # the sentinel can fire before the exit code can be read
            why = f"worker process {worker.name} (pid {worker.pid}) ended, exit code {worker.process.exitcode}"
            log.error("%s", why)
            self._lost(why)

    async def close(self) -> None:
        """Tell every worker to end (each closes its models first: the end of its calls connection says it), wait
        for them, and kill one still running after a while. After the last call."""
        self._closing = True
        for worker in self._workers:
            if worker.writer is not None:
                worker.writer.close()
            else:
                worker.calls.close()  # never started
        await asyncio.get_running_loop().run_in_executor(None, self._join)
        for worker in self._workers:
            if worker.reading is not None:
                worker.reading.cancel()

    def _join(self) -> None:
        for worker in self._workers:
            worker.process.join(_STOP_SECONDS)
            if worker.process.is_alive():
                log.error("worker process %s did not stop in %.0f s; killing it", worker.name, _STOP_SECONDS)
                worker.process.kill()
                worker.process.join()
            worker.control.close()


# The worker process's side.


class _Versions:
    """A worker's model versions, by the number the serving process gave each."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[int, LoadedModel] = {}

    def add(self, version: int, model: LoadedModel) -> None:
        with self._lock:
            self._held[version] = model

    def retire(self, version: int) -> None:
        with self._lock:
            model = self._held.pop(version, None)
        if model is not None:
            model.retire()

    def retire_all(self) -> None:
        with self._lock:
            held, self._held = list(self._held.values()), {}
        for model in held:
            model.retire()

    @contextlib.contextmanager
    def lease(self, model_id: str) -> Iterator[LoadedModel]:
        with self._lock:
            model = self._held[int(model_id)]
            model.acquire()
        try:
            yield model
        finally:
            model.release()


def _work(settings: ServerSettings, calls: Connection, control: Connection) -> None:
    """A worker process: load and retire versions as told on `control`, answer calls on `calls` until told
    to stop or the serving process is gone."""
    # Signals are the serving process's to act on: it drains, then tells its workers to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    keep_freed_memory()
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s")
    versions = _Versions()
    pipeline = Pipeline(versions, settings.max_image_pixels, settings.png_compression)
    threading.Thread(target=_take_control, args=(settings, control, versions), name="control", daemon=True).start()
    log.debug("worker process %d ready", os.getpid())
    while True:
        try:
            job = calls.recv()
        except (EOFError, OSError):
            break  # told to stop (the serving process closed the connection), or the serving process is gone
        try:
            reply: tuple[bool, Any] = (True, (_run(pipeline, job), job.options.smoother))
        except SegmentationError as exc:
            reply = (False, exc)
        except Exception as exc:  # a bug: the call fails as INTERNAL, the worker serves on
            log.exception("call failed in worker process %d", os.getpid())
            reply = (False, RuntimeError(f"in worker process {os.getpid()}: {exc!r}"))
        try:
            calls.send(reply)
        except (OSError, ValueError):
            break
    versions.retire_all()


def _run(pipeline: Pipeline, job: _Job) -> Any:
    version = str(job.version)
    if job.batch:
        return pipeline.run_batch(version, job.images, received_at=job.received_at, deadline=job.deadline,
                                  options=job.options)
    result = pipeline.run(version, job.images[0], want_png=job.want_png, received_at=job.received_at,
                          deadline=job.deadline, options=job.options)
    return job.finish(result) if job.finish is not None else result


def _take_control(settings: ServerSettings, control: Connection, versions: _Versions) -> None:
    """Loads and retirements, in the order they were sent, beside the calls (one instance of each model: calls
    come one at a time)."""
    while True:
        try:
            kind, version, folder = control.recv()
        except (EOFError, OSError):
            return
        if kind == "retire":
            versions.retire(version)
            continue
        try:
            model = load_model(folder, settings, one_call_at_a_time=True)
        except LoadError as exc:
            answer: _Loaded | LoadError = exc
        except Exception as exc:  # load_model wraps what it expects; say anything else
            log.exception("loading %s failed", folder)
            answer = LoadError(f"{folder.name}: {exc!r}")
        else:
            versions.add(version, model)
            answer = _Loaded(model.spec, model.backend.device, model.backend.input_info)
        try:
            control.send(answer)
        except (OSError, ValueError):
            return
