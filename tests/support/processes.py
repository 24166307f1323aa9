"""Real processes for tests: the gRPC server as `python -m server`, free ports, and waits on what it reports."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from segmentation_client import SegmentationClient
from tests.support.paths import MODEL_REPOSITORY, REPO

_LISTENING = re.compile(r"serving on [^ ]+:(\d+);")
_METRICS = re.compile(r"metrics on (http://\S+/metrics)")


class ServerProcess:
    """A `python -m server` child process; `address` is where it listens once `wait_ready` returns."""

    def __init__(
        self, *args: str, log_path: Path, env: dict[str, str] | None = None, command: list[str] | None = None,
        cwd: Path = REPO,
    ) -> None:
        """`args` are added to the test defaults (free ports, the built-in repository); `command` replaces
        the whole command line instead, as a documented example writes it."""
        self.log_path = log_path
        self._log = log_path.open("w")
        # A list flag given twice is one list of both: add the built-in repository only when none is named.
        repository = [] if "--model-repository" in args else ["--model-repository", str(MODEL_REPOSITORY)]
        command = command or [sys.executable, "-m", "server", "--port", "0", "--metrics-port", "0", *repository,
                              *args]
        self.proc = subprocess.Popen(
            command, cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
        )
        self.port = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def metrics_url(self) -> str:
        """The Prometheus endpoint's URL (the server's start-up log names it)."""
        return _METRICS.search(self.log()).group(1)

    def log(self) -> str:
        return self.log_path.read_text()

    def wait_ready(self, timeout: float = 120.0, credentials: grpc.ChannelCredentials | None = None) -> ServerProcess:
        """Wait for the start-up log line, then for health SERVING (over TLS when given credentials)."""
        deadline = time.monotonic() + timeout
        while not self.port:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"server did not start:\n{self.log()}")
            if match := _LISTENING.search(self.log()):
                self.port = int(match.group(1))
            time.sleep(0.1)
        channel = grpc.secure_channel(self.address, credentials) if credentials else grpc.insecure_channel(self.address)
        with channel:
            stub = health_pb2_grpc.HealthStub(channel)
            response = stub.Check(health_pb2.HealthCheckRequest(), timeout=10, wait_for_ready=True)
            assert response.status == health_pb2.HealthCheckResponse.SERVING
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


def free_port() -> int:
    """A loopback port free now, for programs that cannot be told to pick one and report it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_loaded(client, timeout: float = 120.0, connections: int = 8) -> dict:
    """Wait until no model of the server is still loading (others load after SERVING); returns them by id.

    Each serving process of the server loads its own: the client's connection and `connections` new ones
    are asked, so that every process has answered (1 in 2^connections that one of two is missed).
    """
    deadline = time.monotonic() + timeout
    for _ in range(connections):
        with SegmentationClient(client.target, timeout=30) as other:
            _wait_until_loaded(other, deadline)
    return _wait_until_loaded(client, deadline)


def _wait_until_loaded(client, deadline: float) -> dict:
    while True:
        models = {m.id: m for m in client.list_models()}
        if all(m.unavailable_reason != "loading" for m in models.values()):
            return models
        if time.monotonic() > deadline:
            raise TimeoutError(f"models still loading: {[i for i, m in models.items() if not m.available]}")
        time.sleep(0.1)


def wait_for_streams(server: ServerProcess, count: int, timeout: float = 30.0) -> None:
    """Wait until the server counts `count` SegmentStream calls in flight (its metrics say so)."""
    deadline = time.monotonic() + timeout
    pattern = re.compile(r'^segmentation_requests_in_flight\{method="SegmentStream"\} (\S+)$', re.MULTILINE)
    while True:
        match = pattern.search(httpx.get(server.metrics_url, timeout=5).text)
        if match and float(match.group(1)) == count:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the server did not count {count} streams in flight")
        time.sleep(0.05)


def children(pid: int) -> list[int]:
    """A process's child processes (Linux)."""
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def worker_processes(pid: int) -> list[int]:
    """A serving process's worker processes (its spawned children; not multiprocessing's resource tracker)."""
    return [c for c in children(pid) if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def resident_bytes(pids: list[int]) -> int:
    """The processes' resident memory now, summed (Linux)."""
    return sum(int(Path(f"/proc/{pid}/statm").read_text().split()[1]) for pid in pids) * os.sysconf("SC_PAGE_SIZE")

