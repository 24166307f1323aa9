"""Shared fixtures: the real gRPC server, started as `python -m server` on a free loopback port."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from grpc_health.v1 import health_pb2, health_pb2_grpc

from protos import segmentation_pb2_grpc as pb_grpc
from rest_bridge import BridgeSettings, create_app
from rest_bridge.serving import uvicorn_config
from segmentation_client import SegmentationClient

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
SAMPLES = SHARED / "samples"
MODEL_REPOSITORY = REPO / "model_repository"
DEFAULT_MODEL = "deeplabv3-mobilenetv2-pascal"
LITERT_MODELS = f"{DEFAULT_MODEL},deeplabv3-mobilenetv2-dm05-pascal"
SELFIE, SELFIE_LANDSCAPE = "selfie-segmentation", "selfie-segmentation-landscape"
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


@pytest.fixture(scope="session")
def start_server(tmp_path_factory) -> Iterator:
    """Factory: start_server(*flags) -> a ready ServerProcess, stopped at the end of the session."""
    started: list[ServerProcess] = []

    def start(*args: str, env: dict[str, str] | None = None, wait: bool = True) -> ServerProcess:
        log_path = tmp_path_factory.mktemp("server") / "server.log"
        server = ServerProcess(*args, log_path=log_path, env=env)
        started.append(server)
        return server.wait_ready() if wait else server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def grpc_server(start_server) -> ServerProcess:
    """The server with both LiteRT models, shared by the tests that do not stop it."""
    return start_server("--models", LITERT_MODELS)


@pytest.fixture(scope="session")
def selfie_server(start_server) -> ServerProcess:
    """The server with the default model and both selfie models, all loaded; shared like grpc_server."""
    server = start_server("--models", f"{DEFAULT_MODEL},{SELFIE},{SELFIE_LANDSCAPE}")
    with SegmentationClient(server.address) as client:
        wait_until_loaded(client)
    return server


@pytest.fixture(scope="session")
def grpc_address(grpc_server) -> str:
    return grpc_server.address


@pytest.fixture(scope="module")
def channel(grpc_address) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(grpc_address) as channel:
        yield channel


@pytest.fixture(scope="module")
def stub(channel) -> pb_grpc.SegmenterStub:
    """A raw Segmenter stub, for tests of what the wire allows that the client library would refuse to send."""
    return pb_grpc.SegmenterStub(channel)


def free_port() -> int:
    """A loopback port free now, for programs that cannot be told to pick one and report it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def sample_bytes():
    def read(name: str) -> bytes:
        return (SAMPLES / name).read_bytes()

    return read


@contextmanager
def running_bridge(settings: BridgeSettings, app: FastAPI | None = None) -> Iterator[str]:
    """Serve the bridge with uvicorn on a free loopback port in a thread; yields its base URL."""
    # The same uvicorn settings as `python -m rest_bridge`, on a free loopback port.
    local = settings.model_copy(update={"host": "127.0.0.1", "port": 0, "log_level": "WARNING"})
    server = uvicorn.Server(uvicorn_config(app or create_app(settings), local))
    thread = threading.Thread(target=server.run, name="bridge", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the bridge did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture(scope="module")
def bridge_url(grpc_address) -> Iterator[str]:
    with running_bridge(BridgeSettings(grpc={"target": grpc_address})) as url:
        yield url


@pytest.fixture(scope="module")
def http(bridge_url) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=bridge_url, timeout=60) as client:
        yield client


def wait_until_loaded(client, timeout: float = 120.0) -> dict:
    """Wait until no model of the server is still loading (others load after SERVING); returns them by id."""
    deadline = time.monotonic() + timeout
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


# -- markers: what a test starts -----------------------------------------------------------------------
# `make test-fast` runs `-m pure`: the tests that start nothing. A test gets the mark of what it starts
# from the fixtures it uses (below) or from its module's `pytestmark`; a test with none is pure, and a
# pure test that starts a process or opens a network connection fails, so the mark cannot lie.
KINDS = ("server", "bridge", "browser", "window", "deploy", "containers")
FIXTURE_KINDS = {
    "server": {"start_server", "grpc_server", "selfie_server", "grpc_address", "channel", "stub"},
    "bridge": {"bridge_url", "http"},
}


_MODULE_KIND = re.compile(rf"^pytestmark = .*pytest\.mark\.({'|'.join(KINDS)})\b", re.MULTILINE)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """With `-m pure`, a module whose `pytestmark` names what it starts is not even imported: importing
    the modules that start servers (torch, FastAPI, Streamlit) is most of what collecting them costs."""
    if config.getoption("markexpr") == "pure" and collection_path.name.startswith("test_") \
            and collection_path.suffix == ".py" and _MODULE_KIND.search(collection_path.read_text()):
        return True
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        kinds = {mark.name for mark in item.iter_markers() if mark.name in KINDS}
        for kind, fixtures in FIXTURE_KINDS.items():
            if kind not in kinds and fixtures & set(getattr(item, "fixturenames", ())):
                item.add_marker(kind)
                kinds.add(kind)
        if not kinds:
            item.add_marker("pure")


class StartedSomething(AssertionError):
    """A test marked pure started a process or used the network: give it the marker of what it starts."""


@pytest.fixture(autouse=True)
def _pure_tests_start_nothing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("pure") is None:
        return

    def refuse(what: str):
        def refused(*args, **kwargs):
            raise StartedSomething(f"a pure test {what}: mark it with what it starts ({', '.join(KINDS)})")
        return refused

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse("started a process"))
    monkeypatch.setattr(socket.socket, "connect", refuse("opened a connection"))
    monkeypatch.setattr(socket.socket, "listen", refuse("listened on a socket"))
