"""Assembles the FastAPI application: routes, error handlers, CORS, the body limit and the gRPC client."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from rest_bridge.auth import require_token
from rest_bridge.config import MIB, BridgeSettings
from rest_bridge.errors import BRIDGE_REASONS, document_problems, install_handlers
from rest_bridge.limits import BodyLimitMiddleware
from rest_bridge.metrics import BridgeMetrics, MetricsMiddleware
from rest_bridge.routes import health, models, open_inference, segment, stream
from rest_bridge.state import Bridge, PaletteCache
from segmentation_client import REASONS

log = logging.getLogger(__name__)

DESCRIPTION = """\
HTTP and WebSocket access to the gRPC semantic segmentation service and the models of its repository.

* `/v2/...` is the Open Inference Protocol (KServe v2) REST API, as Triton's and KServe's clients speak it:
  health, metadata and `POST /v2/models/{name}/infer` (input IMAGE, output MASK; see docs/open_inference.md).
  Its errors add the protocol's `error` member to the problem and answer an unusable tensor or image with 400.
* `POST /v1/segment` takes one image (multipart field `file`, or the raw body with an image content type)
  and answers with a class-id PNG, a coloured PNG, an overlay, JSON, the soft mask (`format=alpha`) or the
  picture with its background transparent (`format=cutout`).
* Errors are RFC 9457 problems (`application/problem+json`): `type`, `title`, `status`, `detail` (for people)
  and `reason` (for programs: decide on it, not on the text). 429 and 503 carry `Retry-After`. The gRPC
  server's reasons: {server_reasons} (INTERNAL with an error id found in the server's log). The bridge's
  own: {bridge_reasons}; and for a failure that carried no reason (a server that cannot be reached, say),
  the gRPC status name (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ...).
* `WS /v1/stream?model=ID&drop_policy=latest|none` (not listed below: OpenAPI has no WebSocket operations)
  takes encoded frames as binary messages and answers one JSON message per frame: `frame_id` (1, 2, ... in
  the order sent), `model`, `width`, `height`, `classes`, `timings`, `frames_dropped`, `mask_png` (base64),
  and `error` (`status`, `code`, `reason`, `detail`) for a frame that failed. A text message ends the stream: frames
  in flight are answered, then the socket closes with 1000. An error of the whole stream is one message
  with `frame_id` null, then close 1013 (retry later) or 1011. A frame over the upload limit closes with 1009.
""".replace("{server_reasons}", ", ".join(REASONS)).replace("{bridge_reasons}", ", ".join(BRIDGE_REASONS))
# Headers a browser script may read on a cross-origin answer.
EXPOSED_HEADERS = ["X-Model", "X-Classes", "X-Timings-Total-Ms", "X-Image-Width", "X-Image-Height",
                   "Server-Timing", "Retry-After"]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Bridge]]:
    """Open the gRPC clients for the app's lifetime; their channels connect lazily, on the first call."""
    settings: BridgeSettings = app.state.settings
    # Room for the largest upload the bridge accepts plus the rest of the message.
    clients = [settings.grpc.connect_async(max_message_bytes=max(16 * MIB, settings.upload_limit_bytes + MIB))
               for _ in range(settings.server_connections)]
    log.info("bridging to gRPC %s (deadline %.1f s)", settings.grpc.target, settings.grpc.timeout_seconds)
    try:
        yield {"bridge": Bridge(settings, clients[0], PaletteCache(clients[0]), tuple(clients))}
    finally:
        for client in clients:
            await client.close()


def create_app(settings: BridgeSettings | None = None) -> FastAPI:
    """The bridge as an ASGI app; nothing connects until its lifespan starts."""
    settings = settings or BridgeSettings()
    app = FastAPI(
        title="Segmentation REST bridge",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_handlers(app)
    app.add_middleware(BodyLimitMiddleware, limit=settings.upload_limit_bytes,
                       body_timeout=settings.body_timeout_seconds)
    metrics = BridgeMetrics()
    app.add_middleware(MetricsMiddleware, metrics=metrics)  # outside the body limit: its 413s count too
    # Open, like health: scrapers carry no token.
    app.add_api_route("/metrics", metrics.endpoint, include_in_schema=False)
    if settings.cors_origins:
        # Added last, so outermost: even the body limit's 413 carries the headers a browser needs to read it.
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
            allow_headers=["*"], expose_headers=EXPOSED_HEADERS,
        )
    # The token check (and its security scheme in /openapi.json) exists only when a token is set,
    # so the published schema says what this instance really requires.
    auth = [Depends(require_token)] if settings.auth_token else []
    for module in (segment, models, open_inference):
        app.include_router(module.router, dependencies=auth)
    app.include_router(open_inference.health_router)  # open, like /readyz: KServe's probes carry no token
    for module in (stream, health):  # the stream checks its token itself; health stays open for probes
        app.include_router(module.router)
    document_problems(app)
    return app
