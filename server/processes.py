"""Running the server: one serving process, or `--processes` of them on one port under a supervisor.

A Python process serves at most one core's worth of Python at a time (the GIL), and grpc.aio's event loop
holds it for much of each call, so the model's threads wait for it. Several processes, each a whole server
(server/app.py) with its own event loop, models and workers, each listening on the same port with
SO_REUSEPORT, as gRPC's own Python multiprocessing example does: the kernel gives each new connection to
one of them, and every call on that connection stays in that process. They are forked before gRPC starts
anywhere (gRPC does not survive a fork once it runs), from a supervisor that:

- reserves the port (and picks it when 0 is asked for) before any process binds it;
- shares one `ServerState` with them: one request limit and one stream limit for the whole server, and
  health SERVING in every process only while every process can serve the default model;
- serves /metrics for all of them (prometheus-client's multiprocess mode, summed over processes);
- passes SIGHUP (re-read the repositories) and SIGTERM/SIGINT (drain within the grace period) to each;
- stops the others and exits non-zero when one process dies, so that whatever restarts it sees a failure.

Each process costs gRPC the same CPU per call, so more processes pay only where one cannot keep the cores
busy; on 2 cores one measured as well or better, hence the default (the README's performance section).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Iterator, Sequence
from multiprocessing.process import BaseProcess
from pathlib import Path

from server.app import DefaultModelUnavailable, create_service
from server.config import ServerSettings
from server.metrics import process_ended, serve_folder, use_multiprocess_folder
from server.shared import ServerState

log = logging.getLogger("server")

_STOP_MARGIN_SECONDS = 15.0  # beyond the grace period: closing the models, the process exiting


def run(settings: ServerSettings) -> int:
    """Serve until SIGTERM or SIGINT; the exit code."""
    processes = settings.processes
    if processes == 1:
        return asyncio.run(serve(settings))
    folder = Path(tempfile.mkdtemp(prefix="segmentation-metrics-"))
    try:
        with _reserve_port(settings.host, settings.port) as port:
            if port is None:
                return 1
            each = settings.model_copy(update={"port": port})
            state = ServerState(processes)
            context = multiprocessing.get_context("fork")
            children = [context.Process(target=_serve_child, args=(each, state, i, folder), name=f"server-{i + 1}")
                        for i in range(processes)]
            for child in children:
                child.start()
            return asyncio.run(_supervise(settings, port, children, state, folder))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def serve(settings: ServerSettings, state: ServerState | None = None, index: int = 0) -> int:
    """One serving process: serve until SIGTERM or SIGINT, re-read the repositories on SIGHUP; the exit code."""
    service = create_service(settings, state, index)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await service.start()
    except DefaultModelUnavailable as exc:
        log.error("%s", exc)
        await service.stop(0)
        return 1
    reloads: set[asyncio.Task] = set()

    def reload() -> None:
        log.info("SIGHUP: re-reading the model repositories")
        task = asyncio.create_task(service.reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, reload)
    await _first(stop.wait(), service.failed.wait())
    if service.failure is not None:
        log.error("cannot serve on: %s; shutting down", service.failure)
    log.info("shutting down; calls in flight have %.1f s to finish", settings.grace_seconds)
    await service.stop()
    log.info("stopped")
    return 0 if service.failure is None else 1


def _serve_child(settings: ServerSettings, state: ServerState, index: int, folder: Path) -> None:
    use_multiprocess_folder(folder)
    raise SystemExit(asyncio.run(serve(settings, state, index)))


@contextlib.contextmanager
def _reserve_port(host: str, port: int) -> Iterator[int | None]:
    """Hold `host:port` (a free port when 0) with SO_REUSEPORT, unlistened, while the processes bind it too;
    None (and the reason logged) when it cannot be had."""
    try:
        family, kind, _, _, address = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", host, port, exc)
        yield None
        return
    with sock:
        yield sock.getsockname()[1]


async def _supervise(settings: ServerSettings, port: int, children: Sequence[BaseProcess], state: ServerState,
                     folder: Path) -> int:
    """Wait for SIGTERM/SIGINT or a process's end, passing SIGHUP on; then stop them all. The exit code."""
    loop = asyncio.get_running_loop()
    stop, ended = asyncio.Event(), asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, _signal_all, children, signal.SIGHUP)
    for child in children:
        loop.add_reader(child.sentinel, _ended, loop, child, ended)
    httpd = None
    if settings.metrics_port is not None:
        try:
            httpd = serve_folder(folder, settings.host, settings.metrics_port)
        except OSError as exc:
            log.error("cannot serve metrics on %s:%d: %s", settings.host, settings.metrics_port, exc)
            await _stop_all(children, settings.grace_seconds + _STOP_MARGIN_SECONDS)
            return 1
        log.info("metrics on http://%s:%d/metrics", settings.host, httpd.server_port)
    try:
        if await _first(_all_ready(state), stop.wait(), ended.wait()) == 0:
            log.info("serving on %s:%d; %d processes", settings.host, port, len(children))
        await _first(stop.wait(), ended.wait())
        failed = ended.is_set() and not stop.is_set()
        if failed:
            log.error("a serving process ended (%s); stopping the others",
                      ", ".join(f"{c.name} exit code {c.exitcode}" for c in children if c.exitcode is not None))
        else:
            log.info("shutting down %d processes; calls in flight have %.1f s to finish", len(children),
                     settings.grace_seconds)
        await _stop_all(children, settings.grace_seconds + _STOP_MARGIN_SECONDS)
    finally:
        for child in children:
            loop.remove_reader(child.sentinel)
            process_ended(folder, child.pid or 0)
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
    log.info("stopped")
    return 1 if failed or any(c.exitcode for c in children) else 0


def _ended(loop: asyncio.AbstractEventLoop, child: BaseProcess, ended: asyncio.Event) -> None:
    loop.remove_reader(child.sentinel)
    ended.set()


async def _all_ready(state: ServerState) -> None:
    while not state.all_ready():
        await asyncio.sleep(0.05)


async def _first(*waits) -> int:
    """Wait for the first of `waits` to finish (the others are cancelled); its position."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    return next(i for i, task in enumerate(tasks) if task in done)


def _signal_all(children: Sequence[BaseProcess], sig: int) -> None:
    for child in children:
        if child.is_alive() and child.pid is not None:
            os.kill(child.pid, sig)


async def _stop_all(children: Sequence[BaseProcess], seconds: float) -> None:
    """SIGTERM to each (each drains on its own), SIGKILL to any still running after `seconds`."""
    _signal_all(children, signal.SIGTERM)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while any(c.is_alive() for c in children) and loop.time() < deadline:
        await asyncio.sleep(0.05)
    for child in children:
        if child.is_alive():
            log.error("%s did not stop in %.0f s; killing it", child.name, seconds)
            child.kill()
        child.join()
