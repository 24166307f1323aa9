"""Running the bridge on uvicorn with timeouts for clients that hold connections without using them.

uvicorn closes idle keep-alive connections (`timeout_keep_alive`) and WebSockets whose peer stops
answering pings (`ws_ping_interval` + `ws_ping_timeout`), but it sets no deadline on reading a
request's headers, so a client that opens connections and sends their headers a byte at a time
(slowloris) keeps each one open for as long as it likes. `TimedHttpProtocol` adds that deadline;
the body deadline is `BodyLimitMiddleware`'s (rest_bridge/limits.py).
"""

from __future__ import annotations

import asyncio
import logging

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from rest_bridge.config import BridgeSettings

log = logging.getLogger(__name__)


def timed_protocol(header_timeout: float) -> type[HttpToolsProtocol]:
    """uvicorn's HTTP/1.1 protocol, closing a connection whose request headers are not all in within
    `header_timeout` seconds of the connection opening (its first request) or of the request's first byte
    (later requests on a kept-alive connection)."""

    class TimedHttpProtocol(HttpToolsProtocol):
        _header_timer: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(header_timeout, self._headers_too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            peer = f"{self.client[0]}:{self.client[1]}" if self.client else "?"
            log.info("closing a connection from %s: no complete request headers within %.0f s", peer, header_timeout)
            self.transport.close()

        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()  # a connection that sends nothing at all is held to the same deadline

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return TimedHttpProtocol


def uvicorn_config(app: FastAPI, settings: BridgeSettings) -> uvicorn.Config:
    """The uvicorn settings the bridge runs with, from `python -m rest_bridge` and in the tests alike."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        http=timed_protocol(settings.header_timeout_seconds),
        timeout_keep_alive=settings.keep_alive_timeout_seconds,
        # A peer that stops reading stops answering pings too: it is closed within interval + timeout.
        ws_ping_interval=settings.websocket_ping_seconds,
        ws_ping_timeout=settings.websocket_ping_seconds,
        # A WebSocket frame is an upload too; uvicorn closes with 1009 past this.
        ws_max_size=settings.upload_limit_bytes,
    )
