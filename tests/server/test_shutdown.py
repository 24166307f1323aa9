"""SIGTERM drains: health turns NOT_SERVING, calls in flight finish, new calls are refused, exit 0."""

from __future__ import annotations

import re
import signal
import threading
import time

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from protos import segmentation_pb2 as pb
from protos import segmentation_pb2_grpc as pb_grpc
from tests.support import wait_for

pytestmark = pytest.mark.server


def test_sigterm_drains_calls_in_flight(start_server, sample_bytes):
    server = start_server("--grace-seconds", "20")
    request = pb.SegmentRequest(image=pb.Image(encoded=sample_bytes("kite_and_cold.jpg")))
    with grpc.insecure_channel(server.address) as channel:
        stub = pb_grpc.SegmenterStub(channel)
        stub.ListModels(pb.ListModelsRequest(), timeout=10)  # connected before the calls go out
        statuses: list[int] = []
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(), timeout=60)
        watcher = threading.Thread(target=_collect, args=(watch, statuses))
        watcher.start()
        calls = [stub.Segment.future(request, timeout=60) for _ in range(4)]
        # All four reached the server (two run, two wait for a worker) before the signal: a call the server
        # has not yet received when it starts draining is refused, which is a different test.
        _wait_until_received(server, 4)
        assert not all(c.done() for c in calls), "the calls must still be in flight at SIGTERM"
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        results = [c.result() for c in calls]  # every call in flight completes
        assert all("person" in [k.label for k in r.classes] for r in results)
        exit_code = server.proc.wait(30)
        watcher.join(10)
    assert exit_code == 0
    assert time.monotonic() - started < 20
    assert statuses[0] == health_pb2.HealthCheckResponse.SERVING
    assert health_pb2.HealthCheckResponse.NOT_SERVING in statuses
    with grpc.insecure_channel(server.address) as channel:
        try:
            pb_grpc.SegmenterStub(channel).Segment(request, timeout=3)
            raise AssertionError("a stopped server answered")
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.UNAVAILABLE
    assert "shutting down" in server.log() and "stopped" in server.log()


def _wait_until_received(server, count: int, timeout: float = 30.0) -> None:
    """Wait until the server has received `count` Segment calls: in flight now, or finished (its metrics)."""
    deadline = time.monotonic() + timeout
    while True:
        text = httpx.get(server.metrics_url, timeout=5).text
        in_flight = re.search(r'^segmentation_requests_in_flight\{method="Segment"\} (\S+)$', text, re.MULTILINE)
        finished = re.findall(r'^segmentation_requests_total\{[^}]*method="Segment"[^}]*\} (\S+)$', text, re.MULTILINE)
        if (float(in_flight.group(1)) if in_flight else 0) + sum(map(float, finished)) >= count:
            return
        assert time.monotonic() < deadline, f"the server did not receive {count} calls:\n{text}"
        time.sleep(0.02)


def _collect(watch, statuses: list[int]) -> None:
    """Record health updates until NOT_SERVING, then hang up so the watch does not hold the drain."""
    try:
        for response in watch:
            statuses.append(response.status)
            if response.status == health_pb2.HealthCheckResponse.NOT_SERVING:
                watch.cancel()
    except grpc.RpcError:
        pass


def test_sigterm_ends_open_streams_cleanly(start_server, sample_bytes):
    server = start_server("--grace-seconds", "20")
    frame = sample_bytes("traffic_frames/0001.bmp")
    stop_sending = threading.Event()

    def frames():
        frame_id = 0
        while not stop_sending.is_set():  # a live source: it never ends by itself
            frame_id += 1
            yield pb.SegmentRequest(image=pb.Image(encoded=frame), frame_id=frame_id)
            time.sleep(0.02)

    with grpc.insecure_channel(server.address) as channel:
        responses = pb_grpc.SegmenterStub(channel).SegmentStream(frames(), timeout=60)
        received = [next(responses).frame_id]
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        received += [r.frame_id for r in responses]  # ends with OK, not an error
        stop_sending.set()
    assert received == sorted(received) and len(received) >= 1
    assert server.proc.wait(30) == 0
    assert time.monotonic() - started < 10, "an open stream must not hold the shutdown for the whole grace period"
    assert "stream ended" in server.log()



def _is_core_shutdown_race(call: tuple[float, float, grpc.StatusCode, str], sigterm: float, exited: float) -> bool:
    """A call that reached the server the moment it stopped, before any handler took it.

    grpc core answers such a call CANCELLED instead of UNAVAILABLE (grpc/grpc#41785, open in grpc 1.85; fix
    proposed in grpc/grpc#41786); no server code runs for it. It lasts milliseconds and ends at the stop.
    A call the server held and then dropped would have run for a while: that one still fails the test.
    """
    started, ended, code, _ = call
    return code == grpc.StatusCode.CANCELLED and ended - started < 0.25 and sigterm <= ended <= exited + 0.5


def test_sigterm_under_load_every_call_ends_ok_or_unavailable(start_server, sample_bytes):
    """8 clients call Segment in a loop; SIGTERM: every call completes OK or is refused UNAVAILABLE; exit 0."""
    server = start_server("--grace-seconds", "15")
    request = pb.SegmentRequest(image=pb.Image(encoded=sample_bytes("kite_and_cold.jpg")))
    lock = threading.Lock()
    calls: list[tuple[float, float, grpc.StatusCode, str]] = []  # started, ended, code, details
    stop = threading.Event()
    warmed = [threading.Event() for _ in range(8)]

    def client(index: int) -> None:
        with grpc.insecure_channel(server.address) as channel:  # a client each, on its own connection
            stub = pb_grpc.SegmenterStub(channel)
            while not stop.is_set():
                started = time.monotonic()
                try:
                    stub.Segment(request, timeout=30)  # never a hang: every call has a deadline
                    code, details = grpc.StatusCode.OK, ""
                except grpc.RpcError as exc:
                    code, details = exc.code(), exc.details() or ""
                with lock:
                    calls.append((started, time.monotonic(), code, details))
                if code == grpc.StatusCode.OK:
                    warmed[index].set()
                else:
                    time.sleep(0.05)  # refused at once: do not spin

    threads = [threading.Thread(target=client, args=(i,), name=f"client-{i}") for i in range(8)]
    for thread in threads:
        thread.start()
    try:
        for event in warmed:
            assert event.wait(120), "every client gets a call through before SIGTERM"
        sigterm = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        exit_code = server.proc.wait(15 + 10)
        exited = time.monotonic()
        # The clients go on calling the stopped server: wait until its closed port has refused as many calls as there are clients.
        wait_for(lambda: sum(c[0] > exited for c in calls) >= len(threads), "calls to the stopped server")
    finally:
        stop.set()
        for thread in threads:
            thread.join(40)
    assert not any(t.is_alive() for t in threads), "a client hung"
    assert exit_code == 0
    assert exited - sigterm < 15, "the drain must end within the grace period"
    timeline = sorted((round(c[0] - sigterm, 3), round(c[1] - sigterm, 3), c[2].name, c[3]) for c in calls)
    unexpected = [c for c in calls if c[2] not in (grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE)
                  and not _is_core_shutdown_race(c, sigterm, exited)]
    assert not unexpected, (f"calls ended with other codes (times from SIGTERM, exit at +{exited - sigterm:.2f} s): "
                            f"{[t for t in timeline if t[1] > -0.5 and t[2] != 'OK'][:10]}")
    # The calls the server held at SIGTERM were finished, not dropped (one sent in the last moment before
    # it may have been refused: it arrived after the drain began)...
    in_flight = [(sigterm - started, code) for started, ended, code, _ in calls if started < sigterm < ended]
    assert grpc.StatusCode.OK in [code for _, code in in_flight], f"no call in flight at SIGTERM completed: {in_flight}"
    assert all(code == grpc.StatusCode.OK for age, code in in_flight if age > 0.5), in_flight
    # ...and the calls after it were refused, by the draining server or by its closed port.
    assert any(code == grpc.StatusCode.UNAVAILABLE for started, _, code, _ in calls if started > sigterm)
    assert "shutting down" in server.log() and "stopped" in server.log()
