"""A server of several processes (`--processes 2`) is still one server: its connections (the bridge's too) are
spread over the processes, and the limits, reload, health, drain and /metrics hold for all of them together."""

from __future__ import annotations

import os
import re
import shutil
import signal
import threading
import time
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from protos import segmentation_pb2 as pb
from protos import segmentation_pb2_grpc as pb_grpc
from rest_bridge.config import BridgeSettings
from tests.support import (
    SAMPLES,
    SELFIE,
    children,
    link_model,
    resident_bytes,
    running_bridge,
    wait_for,
    wait_for_streams,
    worker_processes,
)

pytestmark = pytest.mark.server

CONNECTIONS = 8  # the chance that all land in one of two processes is 1 in 128
MAX_CONNECTIONS = 40  # opened one by one until both processes have answered: 1 in 2^39 that they do not
FRAME = (SAMPLES / "traffic_frames/0001.bmp").read_bytes()


def _start(start_server, repository, *flags: str):
    link_model(repository, SELFIE)
    # Worker processes too: each serving process has its own, and everything below holds with them.
    return start_server("--processes", "2", "--worker-kind", "process", "--model-repository", str(repository), "--default-model", SELFIE,
                        "--log-level", "DEBUG", *flags)


def _channel(address: str) -> grpc.Channel:
    """A connection of its own (gRPC otherwise shares one between channels to the same address)."""
    return grpc.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])


def _serving_processes(server) -> list[int]:
    """The supervisor's children: the serving processes' pids."""
    return children(server.proc.pid)


def _running(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def _health(address: str) -> list[int]:
    """Health as each of CONNECTIONS new connections is told it."""
    statuses = []
    for _ in range(CONNECTIONS):
        with _channel(address) as channel:
            request = health_pb2.HealthCheckRequest()
            statuses.append(health_pb2_grpc.HealthStub(channel).Check(request, timeout=10).status)
    return statuses


def _model_ids(address: str) -> list[set[str]]:
    """The models each of CONNECTIONS new connections is told of."""
    found = []
    for _ in range(CONNECTIONS):
        with _channel(address) as channel:
            models = pb_grpc.SegmenterStub(channel).ListModels(pb.ListModelsRequest(), timeout=10).models
            found.append({m.id for m in models if m.available})
    return found


def test_connections_are_spread_and_metrics_count_every_process(start_server, tmp_path):
    server = _start(start_server, tmp_path)
    assert len(_serving_processes(server)) == 2
    request = pb.SegmentRequest(image=pb.Image(encoded=FRAME))
    calls = 0
    while _answered_by(server) != {"server-1", "server-2"} and calls < MAX_CONNECTIONS:
        with _channel(server.address) as channel:
            assert pb_grpc.SegmenterStub(channel).Segment(request, timeout=30).model == SELFIE
        calls += 1
    assert _answered_by(server) == {"server-1", "server-2"}, "both processes serve"
    text = httpx.get(server.metrics_url, timeout=5).text
    ok = re.search(r'^segmentation_requests_total\{code="OK",method="Segment"\} (\S+)$', text, re.MULTILINE)
    assert ok and float(ok.group(1)) == calls, text
    state = rf'^segmentation_model_state\{{model="{SELFIE}",segmentation_model_state="ready"\}} (\S+)$'
    assert (found := re.search(state, text, re.MULTILINE)) and float(found.group(1)) == 1
    memory = re.search(r"^segmentation_resident_memory_bytes (\S+)$", text, re.MULTILINE)
    resident = resident_bytes([p for s in _serving_processes(server) for p in (s, *worker_processes(s))])
    assert memory and 0.7 * resident <= float(memory.group(1)) <= 1.3 * resident, \
        "the processes' memory (their workers' included), summed"


@pytest.mark.bridge
def test_the_bridge_reaches_every_process(start_server, tmp_path):
    server = _start(start_server, tmp_path)
    settings = BridgeSettings(grpc={"target": server.address}, server_connections=MAX_CONNECTIONS)
    with running_bridge(settings) as url, httpx.Client(base_url=url, timeout=60) as http:
        for _ in range(MAX_CONNECTIONS):  # each call on the bridge's next connection
            response = http.post("/v1/segment", content=FRAME, headers={"Content-Type": "image/bmp"})
            assert response.status_code == 200, response.text
            if _answered_by(server) == {"server-1", "server-2"}:
                break
    assert _answered_by(server) == {"server-1", "server-2"}, "the bridge's calls are spread over both processes"


def _answered_by(server) -> set[str]:
    """The serving processes that have answered a Segment call (the log at DEBUG names them)."""
    return set(re.findall(r"(server-\d) server\.servicer: Segment ok", server.log()))


def test_one_stream_limit_for_the_whole_server(start_server, tmp_path):
    server = _start(start_server, tmp_path, "--max-streams", "2")
    stop = threading.Event()

    def frames():
        yield pb.SegmentRequest(image=pb.Image(encoded=FRAME), frame_id=1)
        stop.wait(60)

    channels = [_channel(server.address) for _ in range(2 + CONNECTIONS)]
    try:
        open_streams = [pb_grpc.SegmenterStub(c).SegmentStream(frames(), timeout=60) for c in channels[:2]]
        assert [next(s).frame_id for s in open_streams] == [1, 1]
        wait_for_streams(server, 2)
        for channel in channels[2:]:  # on new connections, whichever process they land in
            with pytest.raises(grpc.RpcError) as refused:
                next(pb_grpc.SegmenterStub(channel).SegmentStream(frames(), timeout=30))
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "limit of 2 concurrent streams" in (refused.value.details() or "")
    finally:
        stop.set()
        for channel in channels:
            channel.close()


def test_sighup_and_polling_reload_every_process(start_server, tmp_path):
    server = _start(start_server, tmp_path, "--repository-poll-seconds", "0.5")
    added = link_model(tmp_path / "later", "selfie-segmentation-landscape")
    shutil.move(added, tmp_path / "added")  # a new model id in the served repository: the poll finds it
    wait_for(lambda: all("added" in ids for ids in _model_ids(server.address)), "every process to load 'added'",
             timeout=60)
    shutil.rmtree(tmp_path / "added")
    server.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: all("added" not in ids for ids in _model_ids(server.address)), "every process to drop it",
             timeout=60)
    assert server.log().count("SIGHUP: re-reading") == 2  # the supervisor passed it to each process


def test_health_is_serving_only_while_every_process_can_serve(start_server, tmp_path):
    server = _start(start_server, tmp_path)
    assert set(_health(server.address)) == {health_pb2.HealthCheckResponse.SERVING}
    first, _ = _serving_processes(server)
    folder = tmp_path / SELFIE
    shutil.move(folder, tmp_path / "away")
    os.kill(first, signal.SIGHUP)  # only the first process loses the default model
    wait_for(lambda: set(_health(server.address)) == {health_pb2.HealthCheckResponse.NOT_SERVING},
             "NOT_SERVING on every connection", timeout=30)
    shutil.move(tmp_path / "away", folder)
    os.kill(first, signal.SIGHUP)
    wait_for(lambda: set(_health(server.address)) == {health_pb2.HealthCheckResponse.SERVING},
             "SERVING again on every connection", timeout=60)


def test_sigterm_drains_every_process(start_server, tmp_path):
    server = _start(start_server, tmp_path, "--grace-seconds", "20")
    processes = _serving_processes(server)
    stop_sending = threading.Event()

    def frames():
        frame_id = 0
        while not stop_sending.is_set():  # live sources: they never end by themselves
            frame_id += 1
            yield pb.SegmentRequest(image=pb.Image(encoded=FRAME), frame_id=frame_id)
            time.sleep(0.02)

    channels = [_channel(server.address) for _ in range(CONNECTIONS)]
    try:
        streams = [pb_grpc.SegmenterStub(c).SegmentStream(frames(), timeout=60) for c in channels]
        received = [[next(s).frame_id] for s in streams]
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        for stream, got in zip(streams, received, strict=True):
            got += [r.frame_id for r in stream]  # each ends with OK, not an error
        stop_sending.set()
        assert server.proc.wait(30) == 0
    finally:
        stop_sending.set()
        for channel in channels:
            channel.close()
    assert time.monotonic() - started < 20
    assert all(got == sorted(got) for got in received)
    assert not any(_running(pid) for pid in processes)
    assert server.log().count("server: stopped") == 3  # both processes and the supervisor


def test_a_dead_process_stops_the_server(start_server, tmp_path):
    server = _start(start_server, tmp_path)
    first, second = _serving_processes(server)
    os.kill(first, signal.SIGKILL)
    assert server.proc.wait(30) == 1, "whatever restarts the server must see that it failed"
    assert not _running(second)
    assert "a serving process ended" in server.log()
