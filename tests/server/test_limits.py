"""Limits: over-capacity calls are refused at once; expired or cancelled calls never reach the model."""

from __future__ import annotations

import grpc
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from protos import segmentation_pb2 as pb
from protos import segmentation_pb2_grpc as pb_grpc
from tests.support import DEFAULT_MODEL

pytestmark = pytest.mark.server


def inferences(metrics_url: str) -> float:
    for family in text_string_to_metric_families(httpx.get(metrics_url, timeout=5).text):
        for s in family.samples:
            if s.name == "segmentation_stage_seconds_count" and s.labels == {"model": DEFAULT_MODEL, "stage": "inference"}:
                return s.value
    return 0.0


def test_calls_over_the_limit_are_refused_at_once(start_server, sample_bytes):
    server = start_server("--workers", "1", "--max-concurrent-requests", "2", "--max-streams", "1")
    request = pb.SegmentRequest(image=pb.Image(encoded=sample_bytes("kite_and_cold.jpg")))
    with grpc.insecure_channel(server.address) as channel:
        stub = pb_grpc.SegmenterStub(channel)
        stub.ListModels(pb.ListModelsRequest(), timeout=10)
        calls = [stub.Segment.future(request, timeout=60) for _ in range(6)]
        outcomes = []
        for call in calls:
            try:
                call.result()
                outcomes.append("ok")
            except grpc.RpcError as exc:
                assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert "limit of 2 concurrent requests" in exc.details()
                outcomes.append("refused")
        assert outcomes.count("ok") >= 2 and outcomes.count("refused") >= 1
        assert stub.Segment(request, timeout=60).classes  # and it serves again once below the limit
    server.stop()


def test_expired_calls_are_dropped_before_inference(start_server, sample_bytes):
    server = start_server("--workers", "1")
    request = pb.SegmentRequest(image=pb.Image(encoded=sample_bytes("kite_and_cold.jpg")))
    with grpc.insecure_channel(server.address) as channel:
        stub = pb_grpc.SegmenterStub(channel)
        stub.ListModels(pb.ListModelsRequest(), timeout=10)
        before = inferences(server.metrics_url)
        calls = [stub.Segment.future(request, timeout=0.3) for _ in range(10)]
        codes = []
        for call in calls:
            try:
                call.result()
                codes.append(grpc.StatusCode.OK)
            except grpc.RpcError as exc:
                codes.append(exc.code())
        # With one worker this call runs after every one still queued: once it answers, all have been
        # run or dropped, and it is the one inference more to count.
        assert stub.Segment(request, timeout=60).classes
        ran = inferences(server.metrics_url) - before - 1
        assert codes.count(grpc.StatusCode.DEADLINE_EXCEEDED) >= 5
        assert ran < 10 and ran <= codes.count(grpc.StatusCode.OK) + 2, f"{ran} inferences ran for {codes}"
    server.stop()
