"""Prometheus metrics of the server, in a registry of its own so each server instance counts alone."""

from __future__ import annotations

from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Histogram, start_http_server

from server.pipeline import Timings

# Milliseconds in the pipeline become seconds here, as Prometheus expects.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
STAGES = ("queue", "decode", "preprocess", "inference", "postprocess", "encode", "total")


class Metrics:
    """The server's counters, gauges and histograms."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("segmentation_requests", "Finished calls and stream frames by method and status",
                                ["method", "code"], registry=r)
        self.in_flight = Gauge("segmentation_requests_in_flight", "Calls being served, by method", ["method"],
                               registry=r)
        self.stage_seconds = Histogram("segmentation_stage_seconds", "Time per pipeline stage, by model",
                                       ["model", "stage"], buckets=_BUCKETS, registry=r)
        self.frames_dropped = Counter("segmentation_frames_dropped", "Stream frames skipped by the drop policy",
                                      registry=r)
        self.streams_cancelled = Counter("segmentation_streams_cancelled", "Streams the client abandoned",
                                         registry=r)
        self.frames_abandoned = Counter("segmentation_frames_abandoned",
                                        "Frames received on a cancelled stream and never processed", registry=r)
        self.model_state = Enum("segmentation_model_state", "Model state", ["model"],
                                states=["loading", "ready", "unavailable"], registry=r)

    def observe(self, model: str, timings: Timings) -> None:
        for stage in STAGES:
            self.stage_seconds.labels(model, stage).observe(getattr(timings, f"{stage}_ms") / 1000)

    def serve(self, host: str, port: int) -> WSGIServer:
        """Serve /metrics over HTTP; returns the HTTP server (its port is `server_port`)."""
        httpd, _ = start_http_server(port, addr=host, registry=self.registry)
        return httpd
