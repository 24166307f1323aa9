"""The Prometheus endpoint: counters move with the calls the server answers."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from segmentation_client import InvalidInput, SegmentationClient
from tests.support import DEFAULT_MODEL, SAMPLES

pytestmark = pytest.mark.server


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    samples = {}
    for family in text_string_to_metric_families(httpx.get(url, timeout=5).text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_counters_move(grpc_server):
    before = scrape(grpc_server.metrics_url)
    with SegmentationClient(grpc_server.address) as client:
        client.segment(SAMPLES / "cat_720p.jpg")
        try:
            client.segment(b"not an image")
        except InvalidInput:
            pass
        list(client.stream([SAMPLES / "traffic_frames/0001.bmp"] * 3, drop_policy="none"))
    after = scrape(grpc_server.metrics_url)
    ok = ("segmentation_requests_total", {"method": "Segment", "code": "OK"})
    bad = ("segmentation_requests_total", {"method": "Segment", "code": "INVALID_ARGUMENT"})
    frames = ("segmentation_requests_total", {"method": "SegmentStream", "code": "OK"})
    assert value(after, ok[0], **ok[1]) - value(before, ok[0], **ok[1]) == 1
    assert value(after, bad[0], **bad[1]) - value(before, bad[0], **bad[1]) == 1
    assert value(after, frames[0], **frames[1]) - value(before, frames[0], **frames[1]) == 3
    count = ("segmentation_stage_seconds_count", {"model": DEFAULT_MODEL, "stage": "inference"})
    assert value(after, *count[:1], **count[1]) - value(before, *count[:1], **count[1]) == 4
    assert value(after, "segmentation_model_state", model=DEFAULT_MODEL, segmentation_model_state="ready") == 1
    assert ("segmentation_requests_in_flight", (("method", "Segment"),)) in after
    assert ("segmentation_frames_dropped_total", ()) in after
