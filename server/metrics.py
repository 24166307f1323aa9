"""Prometheus metrics of the server, in a registry of its own so each server instance counts alone.

With several serving processes (`--processes`), prometheus-client's multiprocess mode: each process
writes its values to files in one folder (`use_multiprocess_folder`, called in each process before its
`Metrics` is made) and the supervisor's /metrics (`serve_folder`) adds them up for the whole server.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Histogram, start_http_server, values
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

# Milliseconds in the pipeline become seconds here, as Prometheus expects.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
STAGES = ("queue", "decode", "preprocess", "inference", "postprocess", "encode", "total")
MODEL_STATES = ("loading", "ready", "unavailable")
_FOLDER = "PROMETHEUS_MULTIPROC_DIR"  # the variable prometheus-client reads


def use_multiprocess_folder(folder: Path) -> None:
    """From now on this process's metrics are written to `folder`, for `serve_folder` to add up."""
    os.environ[_FOLDER] = str(folder)
    # prometheus-client picks how values are kept when it is imported; this process imported it before.
    values.ValueClass = values.MultiProcessValue()


def serve_folder(folder: Path, host: str, port: int) -> WSGIServer:
    """Serve /metrics: the sum of every process's metrics in `folder` (live gauges of live processes only)."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, str(folder))
    httpd, _ = start_http_server(port, addr=host, registry=registry)
    return httpd


def process_ended(folder: Path, pid: int) -> None:
    """Drop a stopped process's live gauges (calls in flight) from the sum."""
    mark_process_dead(pid, str(folder))


class _ModelStates:
    """The state of each model, as prometheus-client's Enum shows it; in multiprocess mode, where Enum does
    not work, a gauge with the same samples, where a state is 1 when every process has the model in it
    (while the processes differ, as during a reload, no state is 1)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._multiprocess = _FOLDER in os.environ
        name, documentation = "segmentation_model_state", "Model state"
        if self._multiprocess:
            self._gauge = Gauge(name, documentation, ["model", name], multiprocess_mode="livemin", registry=registry)
        else:
            self._enum = Enum(name, documentation, ["model"], states=list(MODEL_STATES), registry=registry)

    def set(self, model: str, state: str) -> None:
        if not self._multiprocess:
            self._enum.labels(model).state(state)
            return
        for each in MODEL_STATES:
            self._gauge.labels(model, each).set(int(each == state))

    def remove(self, model: str) -> None:
        if not self._multiprocess:
            self._enum.remove(model)
            return
        for each in MODEL_STATES:
            self._gauge.labels(model, each).set(0)  # the folder keeps a value once written
            self._gauge.remove(model, each)


class StageTimes(Protocol):
    """Milliseconds per stage: the pipeline's `Timings`, or a response's."""

    queue_ms: float
    decode_ms: float
    preprocess_ms: float
    inference_ms: float
    postprocess_ms: float
    encode_ms: float
    total_ms: float


class Metrics:
    """The server's counters, gauges and histograms."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("segmentation_requests", "Finished calls and stream frames by method and status",
                                ["method", "code"], registry=r)
        self.in_flight = Gauge("segmentation_requests_in_flight", "Calls being served, by method", ["method"],
                               multiprocess_mode="livesum", registry=r)
        self.stage_seconds = Histogram("segmentation_stage_seconds", "Time per pipeline stage, by model",
                                       ["model", "stage"], buckets=_BUCKETS, registry=r)
        self.frames_dropped = Counter("segmentation_frames_dropped", "Stream frames skipped by the drop policy",
                                      registry=r)
        self.streams_cancelled = Counter("segmentation_streams_cancelled", "Streams the client abandoned",
                                         registry=r)
        self.frames_abandoned = Counter("segmentation_frames_abandoned",
                                        "Frames received on a cancelled stream and never processed", registry=r)
        self.model_state = _ModelStates(r)
        self.resident_bytes = Gauge("segmentation_resident_memory_bytes",
                                    "Resident memory of the serving processes (models included), summed",
                                    multiprocess_mode="livesum", registry=r)

    def measure_memory(self, workers: Sequence[int] = ()) -> None:
        """Set resident_bytes to the resident memory now of this process and its worker processes (Linux;
        elsewhere it stays 0)."""
        pages = 0
        for pid in ("self", *workers):
            with contextlib.suppress(OSError, IndexError, ValueError):
                pages += int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        self.resident_bytes.set(pages * os.sysconf("SC_PAGE_SIZE"))

    def observe(self, model: str, timings: StageTimes) -> None:
        for stage in STAGES:
            self.stage_seconds.labels(model, stage).observe(getattr(timings, f"{stage}_ms") / 1000)

    def serve(self, host: str, port: int) -> WSGIServer:
        """Serve /metrics over HTTP; returns the HTTP server (its port is `server_port`)."""
        httpd, _ = start_http_server(port, addr=host, registry=self.registry)
        return httpd
