"""Prometheus metrics of the bridge: requests by route and status, latency, requests in flight."""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class BridgeMetrics:
    """The bridge's counters, in a registry of its own so that each app instance counts alone."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("bridge_requests", "HTTP requests answered, by method, route and status",
                                ["method", "route", "status"], registry=self.registry)
        self.seconds = Histogram("bridge_request_seconds", "Time to answer an HTTP request, by route",
                                 ["route"], buckets=_BUCKETS, registry=self.registry)
        self.in_flight = Gauge("bridge_requests_in_flight", "HTTP requests being answered",
                               registry=self.registry)
        self.websockets = Gauge("bridge_websockets_open", "WebSocket streams open", registry=self.registry)

    def endpoint(self, request: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class MetricsMiddleware:
    """Counts every HTTP request and WebSocket (pure ASGI, so streaming bodies pass untouched)."""

    def __init__(self, app: ASGIApp, metrics: BridgeMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            with self.metrics.websockets.track_inprogress():
                await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the client sees if the app dies before answering
        started = time.perf_counter()

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            with self.metrics.in_flight.track_inprogress():
                await self.app(scope, receive, send_and_note)
        finally:
            # The route's template, not the raw path, so that ids in URLs cannot grow the label set.
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.seconds.labels(route).observe(time.perf_counter() - started)
