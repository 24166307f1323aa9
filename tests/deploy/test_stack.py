"""The compose stack, started with the README's own commands, checked through its containers only.

`make images` (the session's `images` fixture), then `make stack`: gRPC on 127.0.0.1:50051, REST on
127.0.0.1:8000, the UI on 127.0.0.1:8501 (compose.yaml with compose.expose.yaml). The last test runs
`make stack-down` with calls in flight.
"""

from __future__ import annotations

import datetime
import re
import subprocess
import threading
import time
from collections.abc import Iterator

import cv2
import grpc
import httpx
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from segmentation_client import SegmentationClient, ServiceError
from tests.deploy.browser import legend_of_a_sample
from tests.deploy.engine import ENGINE, ENV, NO_ENGINE, container, engine, inspect, make, stack
from tests.support import REPO, SAMPLES

# The first test to need the images builds them: minutes on a fresh machine.
pytestmark = [pytest.mark.containers, pytest.mark.timeout(1800),
              pytest.mark.skipif(ENGINE is None, reason=NO_ENGINE)]

GRPC, REST, UI = "127.0.0.1:50051", "http://127.0.0.1:8000", "http://127.0.0.1:8501"
SERVICES = ("server", "bridge", "ui")
CAT = 8  # PASCAL VOC class id of the default model


def readme_targets() -> list[str]:
    """The make targets of the README's block that names this file, in order."""
    text = (REPO / "README.md").read_text()
    block = re.search(r"<!-- example: tested by tests/deploy/test_stack.py -->\n```sh\n(.*?)^```", text, re.DOTALL | re.MULTILINE)
    assert block, "README.md has no block marked as tested by tests/deploy/test_stack.py"
    commands = [line.split("#")[0].split() for line in block[1].splitlines() if line.split("#")[0].strip()]
    assert all(command[0] == "make" and len(command) == 2 for command in commands), commands
    return [command[1] for command in commands]


@pytest.fixture(scope="module")
def running_stack(images, tmp_path_factory) -> Iterator[None]:
    assert readme_targets() == ["images", "stack", "stack-down"]
    stack("down")  # a stack left over from an earlier run would hold the ports
    try:
        make("stack", tmp_path_factory.mktemp("stack") / "make-stack.log", timeout=600)
        yield
    finally:
        stopped = stack("down")  # nothing to do after the last test's `make stack-down`
        assert stopped.returncode == 0, f"stack.py down:\n{stopped.stdout}\n{stopped.stderr}"


def test_grpc_health_is_serving(running_stack):
    with grpc.insecure_channel(GRPC) as channel:
        response = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_bridge_is_ready(running_stack):
    response = httpx.get(f"{REST}/readyz", timeout=10)
    assert response.status_code == 200, response.text


def test_grpc_and_rest_segment_a_photo_alike(running_stack):
    photo = (SAMPLES / "cat_720p.jpg").read_bytes()
    with SegmentationClient(GRPC) as client:
        result = client.segment(photo, timeout=30)
    assert "cat" in [c.label for c in result.classes]
    response = httpx.post(f"{REST}/v1/segment", content=photo, headers={"Content-Type": "image/jpeg"}, timeout=30)
    assert response.status_code == 200, response.text
    mask = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_UNCHANGED)
    assert mask.shape == (720, 1280) and (mask == CAT).mean() > 0.05
    assert response.content == result.mask_png  # the bridge passes the server's mask through


def test_ui_page_segments_a_sample_in_chromium(running_stack, tmp_path):
    assert "cat" in legend_of_a_sample(UI, tmp_path / "profile")


def _time(text: str) -> datetime.datetime:
    """A podman/docker timestamp ('2026-12-06T04:40:01.123456789Z' or with an offset) as an aware datetime."""
    text = text.strip().replace("Z", "+00:00")
    head, _, rest = text.partition(".")
    digits = "".join(ch for ch in rest if ch.isdigit())
    zone = rest[len(digits):] if rest else ""
    return datetime.datetime.fromisoformat(f"{head}.{digits[:6] or '0'}{zone}")


def _first_healthy(state: dict) -> datetime.datetime:
    health = state.get("Health") or state.get("Healthcheck") or {}
    passed = [_time(entry["End"]) for entry in health.get("Log") or [] if entry.get("ExitCode") == 0]
    assert passed, f"no passing health check recorded: {health}"
    return min(passed)


def test_bridge_and_ui_start_after_the_server_is_healthy(running_stack):
    healthy = _first_healthy(inspect(container("server"))["State"])
    for service in ("bridge", "ui"):
        started = _time(inspect(container(service))["State"]["StartedAt"])
        assert started > healthy, f"{service} started at {started}, before the server was healthy at {healthy}"


def test_every_process_in_the_containers_is_not_root(running_stack):
    for service in SERVICES:
        name = container(service)
        # User and group ids of every process, read from the container's own /proc.
        script = "grep -h '^[UG]id:' /proc/[0-9]*/status"
        out = engine("exec", name, "sh", "-c", script).stdout.split("\n")
        ids = {int(value) for line in out if line for value in line.split()[1:]}
        assert ids == {10001}, f"{service}: processes with ids {sorted(ids)}"
        assert inspect(name)["Config"]["User"] == "10001:10001"


def _calls(client: SegmentationClient, photo: bytes, stop: threading.Event, calls: list) -> None:
    """Segment until the server refuses; record (start, end, code) of every call, in wall-clock seconds."""
    while not stop.is_set():
        began = time.time()
        try:
            client.segment(photo, timeout=30)
            calls.append((began, time.time(), grpc.StatusCode.OK))
        except ServiceError as exc:
            calls.append((began, time.time(), exc.code))
            if exc.code == grpc.StatusCode.UNAVAILABLE:
                return


def _sigterm_time(log: str) -> float:
    """When the server logged that it got SIGTERM (the engine's timestamp of its "shutting down" line)."""
    line = next((line for line in log.splitlines() if "shutting down" in line), None)
    assert line, f"the server never logged its shutdown:\n{log[-3000:]}"
    return _time(line.split()[0]).timestamp()


def test_stopping_the_stack_ends_calls_in_flight_cleanly(running_stack, tmp_path):
    """Last in the module: `make stack-down` while four clients keep calling. The calls in flight when the
    server gets SIGTERM complete OK; later ones are refused with UNAVAILABLE; none hangs or fails otherwise
    (the same contract as tests/test_shutdown.py, through the containers)."""
    server = container("server")
    log = tmp_path / "server.log"
    with log.open("w") as out:
        follow = subprocess.Popen([str(ENGINE), "logs", "-f", "-t", server], stdout=out, stderr=subprocess.STDOUT,
                                  env=ENV)
    photo, stop = (SAMPLES / "kite_and_cold.jpg").read_bytes(), threading.Event()
    calls: list[list] = [[] for _ in range(4)]
    clients = [SegmentationClient(GRPC) for _ in calls]
    threads = [threading.Thread(target=_calls, args=(c, photo, stop, k)) for c, k in zip(clients, calls)]
    try:
        for thread in threads:
            thread.start()
        while min(len(k) for k in calls) < 2:  # every client has had calls through
            time.sleep(0.05)
        started = time.monotonic()
        make("stack-down", tmp_path / "make-stack-down.log", timeout=300)
        took = time.monotonic() - started
        stop.set()
        for thread in threads:
            thread.join(60)
    finally:
        stop.set()
        for client in clients:
            client.close()
        follow.wait(30)
    assert not any(t.is_alive() for t in threads), "a client hung"
    text = log.read_text()
    assert "stopped" in text, text[-3000:]
    sigterm = _sigterm_time(text)
    ended = [call for k in calls for call in k]
    assert {code for _, _, code in ended} <= {grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE}, ended
    in_flight = [(sigterm - began, code) for began, end, code in ended if began < sigterm < end]
    assert grpc.StatusCode.OK in [code for _, code in in_flight], f"no call in flight at SIGTERM completed: {in_flight}"
    # A call sent a moment before the signal may reach the server after it began draining, and is refused.
    assert all(code == grpc.StatusCode.OK for age, code in in_flight if age > 0.5), in_flight
    # The server drained within its grace period (10 s), well before the 20 s after which it would be killed.
    assert took < 60, f"stopping took {took:.1f} s"
    assert not engine("ps", "-a", "-q", "--filter", "label=com.docker.compose.project=segmentation").stdout.strip()
