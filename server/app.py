"""Assembles the gRPC server: Segmenter, health, reflection, model loading and shutdown.

One `Service` is the whole server, or one of its `--processes` serving processes (server/processes.py):
then they share one port, one `ServerState` (limits, who can serve) and one metrics folder, and each
reports SERVING only while every process can serve the default model. Each runs its calls' pixel work and
inference in its own worker processes or threads (`--worker-kind`, server/workers.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from wsgiref.simple_server import WSGIServer

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from protos import open_inference_pb2 as oip_pb
from protos import open_inference_pb2_grpc as oip_grpc
from protos import segmentation_pb2 as pb
from protos import segmentation_pb2_grpc as pb_grpc
from server.admission import Admission
from server.config import ServerSettings
from server.inference_servicer import InferenceServicer
from server.metrics import Metrics
from server.models import ModelRegistry, State
from server.pipeline import Pipeline
from server.security import TokenAuthInterceptor, server_credentials
from server.servicer import SegmenterServicer
from server.shared import ServerState
from server.workers import ProcessWorkers, ThreadWorkers, Workers

log = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Segmenter"].full_name
INFERENCE_SERVICE_NAME = oip_pb.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name


_FLUSH_SECONDS = 0.25  # after the last call in flight ends, before the connections close


class DefaultModelUnavailable(RuntimeError):
    """The default model could not be loaded, so the server cannot serve."""


@dataclass
class Service:
    """A bound, not yet started server and what it serves."""

    settings: ServerSettings
    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer
    servicer: SegmenterServicer
    admission: Admission
    registry: ModelRegistry
    workers: Workers
    metrics: Metrics
    state: ServerState
    index: int = 0  # which of the server's processes this is
    metrics_port: int | None = None
    failure: str | None = None  # why the service cannot go on (a worker process ended), once it cannot
    failed: asyncio.Event = field(default_factory=asyncio.Event)
    _loader: asyncio.Task | None = None
    _health_task: asyncio.Task | None = None
    _metrics_httpd: WSGIServer | None = None
    _poller: asyncio.Task | None = None
    _watcher: asyncio.Task | None = None
    _memory: asyncio.Task | None = None
    _reloading: asyncio.Lock = field(default_factory=asyncio.Lock)
    _ready: bool = False  # this process can serve the default model
    _serving: bool = False  # what health says

    async def _load(self, model_id: str):
        loop = asyncio.get_running_loop()
        model = await loop.run_in_executor(None, self.registry.load, model_id)
        if model is not None:
            self.metrics.model_state.set(model_id, model.state.value)
        return model

    async def _publish(self, serving: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ("", SERVICE_NAME, INFERENCE_SERVICE_NAME):
            await self.health.set(name, status)
        self._serving = serving

    async def _set_ready(self, ready: bool) -> None:
        """Say whether this process can serve the default model; health follows the whole server."""
        self._ready = ready
        self.state.set_ready(self.index, ready)
        await self._report()

    async def _report(self) -> None:
        serving = not self.admission.draining and self.failure is None and self.state.all_ready()
        if serving != self._serving:
            await self._publish(serving)

    async def _watch_other_processes(self, seconds: float = 0.1) -> None:
        """Follow the other processes' readiness in health; stop serving when the supervisor is gone."""
        supervisor = os.getppid()
        while True:
            await asyncio.sleep(seconds)
            if os.getppid() != supervisor:
                log.error("the supervising process is gone; stopping")
                os.kill(os.getpid(), signal.SIGTERM)
                return
            await self._report()

    async def _measure_memory(self, seconds: float = 5.0) -> None:
        while True:
            self.metrics.measure_memory(self.workers.pids() if isinstance(self.workers, ProcessWorkers) else [])
            await asyncio.sleep(seconds)

    def _worker_lost(self, why: str) -> None:
        """A worker process ended unasked: stop serving (health first), so the server drains and exits 1."""
        if self.failure is None:
            self.failure = why
            self._health_task = asyncio.get_running_loop().create_task(self._set_ready(False))  # held: not collected
            self.failed.set()

    async def start(self) -> None:
        """Start answering (health NOT_SERVING), load and warm the default model, then report SERVING."""
        await self._publish(False)
        if isinstance(self.workers, ProcessWorkers):
            await self.workers.start(self._worker_lost)
        for model in self.registry.models():
            self.metrics.model_state.set(model.id, model.state.value)
        if self.state.processes > 1:
            self._watcher = asyncio.create_task(self._watch_other_processes())
        elif self.settings.metrics_port is not None:  # several processes: the supervisor serves /metrics
            self._metrics_httpd = self.metrics.serve(self.settings.host, self.settings.metrics_port)
            self.metrics_port = self._metrics_httpd.server_port
            log.info("metrics on http://%s:%d/metrics", self.settings.host, self.metrics_port)
        await self.server.start()
        default = await self._load(self.registry.default_id)
        if default.state is not State.READY:
            raise DefaultModelUnavailable(f"default model {default.id} is unavailable: {default.reason}")
        await self._set_ready(True)
        self._memory = asyncio.create_task(self._measure_memory())
        self._loader = asyncio.create_task(self._load_all(
            [m.id for m in self.registry.models() if m.state is State.LOADING]))
        if self.settings.repository_poll_seconds:
            self._poller = asyncio.create_task(self._poll(self.settings.repository_poll_seconds))
        models = ", ".join(f"{m.id} ({m.state.value})" for m in self.registry.models())
        where = (f"process {self.index + 1} of {self.state.processes} ready" if self.state.processes > 1
                 else f"serving on {self.settings.host}:{self.port}")
        log.info("%s; default %s on %s; models: %s", where, default.id, default.loaded.backend.device, models)

    async def _load_all(self, ids: list[str]) -> None:
        for model_id in ids:
            try:
                await self._load(model_id)
            except Exception:  # one model's failure must not keep the others from loading
                log.exception("loading model %s failed", model_id)

    async def reload(self) -> None:
        """Re-read the repositories: load added and changed models, drop removed ones.

        Health stays SERVING while the default model can serve (a changed default serves its old version
        while the new one loads); it turns NOT_SERVING when the default is removed or its new version
        fails, and SERVING again once it is back. One reload at a time, in the order asked for.
        """
        async with self._reloading:
            loop = asyncio.get_running_loop()
            changes = await loop.run_in_executor(None, self.registry.rescan)
            for model_id in changes.removed:
                self.metrics.model_state.remove(model_id)
            previous = self._loader
            if previous is not None and not previous.done():
                # One load at a time keeps the cores for the models that serve.
                await asyncio.wait([previous])
            self._loader = asyncio.create_task(self._load_all(changes.to_load))
            await asyncio.wait([self._loader])
            if not self.admission.draining:
                default_ready = any(m.id == self.registry.default_id and m.loaded is not None
                                    for m in self.registry.models())
                if default_ready != self._ready:
                    log.warning("default model %s %s", self.registry.default_id,
                                "is back: SERVING" if default_ready else "cannot serve: NOT_SERVING")
                    await self._set_ready(default_ready)

    async def _poll(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await self.reload()
            except Exception:  # a failed scan is retried at the next poll
                log.exception("re-reading the model repositories failed")

    async def stop(self, grace: float | None = None) -> None:
        """Drain: health NOT_SERVING, refuse new calls, let calls in flight finish within the grace period."""
        grace = self.settings.grace_seconds if grace is None else grace
        self.servicer.drain()
        await self.health.enter_graceful_shutdown()
        for task in (self._loader, self._poller, self._watcher, self._memory):
            if task is not None:
                task.cancel()
        # The calls in flight end by themselves (streams answer what they hold and end); wait for them, then a
        # moment more for their last answers and statuses to reach the clients, before gRPC closes the
        # connections: a connection closed with a status still unsent (or unread by a busy client) ends the
        # client's call with UNAVAILABLE instead of OK.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self.admission.active and loop.time() < deadline:
            await asyncio.sleep(0.02)
        await asyncio.sleep(max(0.0, min(_FLUSH_SECONDS, deadline - loop.time())))
        # server.stop refuses new RPCs at once and cancels any still running after what is left of the grace.
        await self.server.stop(max(0.0, deadline - loop.time()))
        # Each model closes its backend (and batcher) once the calls still holding it are done.
        self.registry.close()
        await self.workers.close()
        if self._metrics_httpd is not None:
            self._metrics_httpd.shutdown()
            self._metrics_httpd.server_close()


def _connection_age_options(age_seconds: float | None) -> list[tuple[str, int]]:
    if age_seconds is None:
        return []
    # A long grace: a live video stream on an old connection runs on; only new calls move.
    return [("grpc.max_connection_age_ms", int(age_seconds * 1000)),
            ("grpc.max_connection_age_grace_ms", 24 * 3600 * 1000)]


def create_service(settings: ServerSettings, state: ServerState | None = None, index: int = 0) -> Service:
    """Build the server and bind its port (port 0 picks a free one); call `start()` to serve.

    `state` and `index`: this is process `index` of a server of `state.processes` processes sharing the port.
    """
    state = state or ServerState()
    workers: Workers
    if settings.worker_kind == "process":
        pool = ProcessWorkers(settings)
        registry = ModelRegistry(settings, loader=pool.load)
        pool.attach(registry)  # started before gRPC is: they are spawned, but nothing is forked after it
        workers = pool
    else:
        registry = ModelRegistry(settings)
        executor = ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="segment")
        workers = ThreadWorkers(Pipeline(registry, settings.max_image_pixels, settings.png_compression), executor)
    metrics = Metrics()
    # One admission for both services: the request limit and draining hold for the whole server.
    admission = Admission(metrics, max_concurrent_requests=settings.max_concurrent_requests,
                          max_streams=settings.max_streams, state=state)
    servicer = SegmenterServicer(registry, workers, admission, metrics=metrics, parallel=settings.workers)
    limit = settings.max_message_bytes
    token = settings.auth_token.get_secret_value() if settings.auth_token else None
    server = grpc.aio.server(
        interceptors=[TokenAuthInterceptor(token)] if token else [],
        options=[
            ("grpc.max_receive_message_length", limit),
            ("grpc.max_send_message_length", limit),
            # Clients keep idle connections (and idle streams) alive with pings, every 30 s for the client
            # library; accept them at up to this rate, with or without calls in progress. gRPC's own
            # default of 5 minutes ends an idle stream at the third ping with GOAWAY "too many pings".
            ("grpc.http2.min_ping_interval_without_data_ms",
             round(settings.keepalive_min_ping_interval_seconds * 1000)),
            ("grpc.keepalive_permit_without_calls", 1),
            *_connection_age_options(settings.max_connection_age_seconds),
            # Several processes listen on one port; the kernel gives each new connection to one of them.
            ("grpc.so_reuseport", int(state.processes > 1)),
        ],
    )
    pb_grpc.add_SegmenterServicer_to_server(servicer, server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    # The Open Inference Protocol (KServe v2) on the same port, over the same models and workers.
    inference = InferenceServicer(registry, workers, health_servicer, admission, metrics=metrics)
    oip_grpc.add_GRPCInferenceServiceServicer_to_server(inference, server)
    if settings.reflection:
        names = (SERVICE_NAME, INFERENCE_SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                 reflection.SERVICE_NAME)
        reflection.enable_server_reflection(names, server)
    address = f"{settings.host}:{settings.port}"
    if settings.tls_cert and settings.tls_key:
        port = server.add_secure_port(
            address, server_credentials(settings.tls_cert, settings.tls_key, settings.tls_client_ca)
        )
    elif settings.tls_cert or settings.tls_key or settings.tls_client_ca:
        raise ValueError("TLS needs both tls_cert and tls_key")
    else:
        port = server.add_insecure_port(address)
    return Service(settings, server, port, health_servicer, servicer, admission, registry, workers, metrics, state,
                   index)
