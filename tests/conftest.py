"""Fixtures every test folder shares (the real gRPC server, the bridge, certificates) and the markers.

Helpers live in tests/support; test modules import them from there (`from tests.support import REPO`), never
from this file or from one another.
"""

from __future__ import annotations

import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest

from protos import segmentation_pb2_grpc as pb_grpc
from rest_bridge import BridgeSettings
from segmentation_client import SegmentationClient
from tests.support.bridge import running_bridge
from tests.support.certs import make_certs
from tests.support.paths import (
    DEFAULT_MODEL,
    LITERT_MODELS,
    SAMPLES,
    SELFIE,
    SELFIE_LANDSCAPE,
)
from tests.support.processes import ServerProcess, wait_until_loaded


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


@pytest.fixture
def sample_bytes():
    def read(name: str) -> bytes:
        return (SAMPLES / name).read_bytes()

    return read


@pytest.fixture(scope="session")
def certs(tmp_path_factory) -> Path:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate, all signed by the CA."""
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def bridge_url(grpc_address) -> Iterator[str]:
    with running_bridge(BridgeSettings(grpc={"target": grpc_address})) as url:
        yield url


@pytest.fixture(scope="module")
def http(bridge_url) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=bridge_url, timeout=60) as client:
        yield client


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
