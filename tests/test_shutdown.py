"""SIGTERM drains: health turns NOT_SERVING, calls in flight finish, new calls are refused, exit 0."""

from __future__ import annotations

import signal
import threading
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from protos import segmentation_pb2 as pb
from protos import segmentation_pb2_grpc as pb_grpc


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
        time.sleep(0.3)
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
