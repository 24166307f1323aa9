"""Start the processes under test and wait until they answer."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def process(args: list[str], ready: Callable[[str], bool], timeout: float = 120,
            python: str = sys.executable, leader_first: bool = False) -> Iterator[subprocess.Popen]:
    """Run `python -m ...args` until the block ends; `ready(log_text)` says when it is up.

    `leader_first`: stop the process itself first and give it time to stop its children (and clean up
    after them) before the whole group is signalled.
    """
    with tempfile.TemporaryFile("w+") as log:
        # A session of its own, so stopping it stops the workers it spawned too (LitServe has some).
        proc = subprocess.Popen([python, "-m", *args], stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            deadline = time.monotonic() + timeout
            while True:
                log.seek(0)
                text = log.read()
                if proc.poll() is not None:
                    raise RuntimeError(f"{args[0]} exited with {proc.returncode}:\n{text[-2000:]}")
                if ready(text):
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{args[0]} did not start:\n{text[-2000:]}")
                time.sleep(0.2)
            yield proc
        finally:
            if leader_first and proc.poll() is None:
                proc.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(30)
            _signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
            time.sleep(1)  # let the group's other processes exit before anything is measured next
            _signal_group(proc, signal.SIGKILL)


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


@contextlib.contextmanager
def grpc_server(*flags: str) -> Iterator[tuple[subprocess.Popen, str]]:
    port = free_port()
    found = re.compile(r"serving on ")
    with process(["server", "--port", str(port), "--metrics-port", "0", *flags], lambda t: bool(found.search(t))) as p:
        yield p, f"127.0.0.1:{port}"


TRITON_PYTHON = "bench/.triton-venv/bin/python"  # made by `make bench`


@contextlib.contextmanager
def triton_server(model: str, instances: int, threads: int, batching: bool) -> Iterator[tuple[subprocess.Popen, str]]:
    """NVIDIA Triton serving `model` (bench/triton_peer.py) in its own environment."""
    for attempt in range(3):
        port = free_port()
        args = ["bench.triton_peer", "--model", model, "--grpc-port", str(port), "--instances", str(instances),
                "--threads", str(threads), *(["--batching"] if batching else [])]
        with contextlib.ExitStack() as stack:
            try:
                proc = stack.enter_context(process(args, lambda text: "triton serving" in text, python=TRITON_PYTHON,
                                                   leader_first=True))
            except RuntimeError:
                # On a loaded machine a model instance now and then misses pytriton's handshake at start-up.
                if attempt == 2:
                    raise
                continue
            yield proc, f"127.0.0.1:{port}"
            return


def _http_ready(url: str):
    def ready(_: str) -> bool:
        try:
            return httpx.get(url, timeout=1).status_code < 500
        except httpx.HTTPError:
            return False
    return ready


@contextlib.contextmanager
def http_process(args: list[str], port: int, probe: str) -> Iterator[tuple[subprocess.Popen, str]]:
    base = f"http://127.0.0.1:{port}"
    with process(args, _http_ready(base + probe)) as proc:
        yield proc, base
