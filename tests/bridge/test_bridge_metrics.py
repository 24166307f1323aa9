"""The bridge's Prometheus endpoint: counters move with the requests it answers."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import SAMPLES, bridge_client

pytestmark = pytest.mark.bridge


def samples(http: httpx.Client) -> dict:
    response = http.get("/metrics")
    assert response.status_code == 200
    found = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def test_requests_are_counted_by_route_and_status(grpc_address):
    with bridge_client(grpc_address) as http:
        image = (SAMPLES / "cat_720p.jpg").read_bytes()
        assert http.post("/v1/segment", content=image, headers={"Content-Type": "image/jpeg"}).status_code == 200
        assert http.post("/v1/segment", content=b"junk", headers={"Content-Type": "image/jpeg"}).status_code == 422
        assert http.get("/v1/models/nope").status_code == 404
        found = samples(http)
    ok = ("bridge_requests_total", (("method", "POST"), ("route", "/v1/segment"), ("status", "200")))
    bad = ("bridge_requests_total", (("method", "POST"), ("route", "/v1/segment"), ("status", "422")))
    missing = ("bridge_requests_total", (("method", "GET"), ("route", "/v1/models/{model_id}"), ("status", "404")))
    assert found[ok] == 1 and found[bad] == 1 and found[missing] == 1
    assert found[("bridge_request_seconds_count", (("route", "/v1/segment"),))] == 2
    assert ("bridge_requests_in_flight", ()) in found
