"""The request body and header limits, as ASGI middleware: 413 before a body too large is read, 431 for
headers too large.

FastAPI's own `max_body_size` does the same counting, but answers a
Content-Length over the limit with a text/plain body whatever the handlers
say; every error of this bridge is JSON, so the bridge keeps its own.
"""

from __future__ import annotations

import asyncio

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rest_bridge.errors import BodyTimeout, BodyTooLarge, BridgeError, HeadersTooLarge, problem, status_for

# uvicorn's default HTTP parser (httptools) puts no limit on the size of request headers; h11
# stops at 16 KiB. This leaves room for long tokens and cookies and refuses the absurd.
HEADER_LIMIT = 64 * 1024


class BodyLimitMiddleware:
    """Refuses HTTP request bodies over `limit` bytes, and headers over `header_limit` bytes.

    Headers over their limit (names and values together) are answered 431 at
    once. A Content-Length over the limit is answered at once, before the app
    runs or a body byte is read. A body without one (chunked) is counted as the
    app reads it, and reading raises BodyTooLarge (a 413 in the error table) as
    soon as the count passes the limit. Waiting longer than `body_timeout` for the
    next piece of the body raises BodyTimeout (408, and the connection is closed).
    """

    def __init__(
        self, app: ASGIApp, limit: int, header_limit: int = HEADER_LIMIT, body_timeout: float | None = None
    ) -> None:
        self.app = app
        self.limit = limit
        self.header_limit = header_limit
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header_size = sum(len(name) + len(value) for name, value in scope["headers"])
        length = Headers(scope=scope).get("content-length", "")
        error: BridgeError | None = None
        if header_size > self.header_limit:
            error = HeadersTooLarge(header_size, self.header_limit)
        elif length.isdigit() and int(length) > self.limit:
            error = BodyTooLarge(self.limit)
        if error is not None:
            await problem(status_for(error), str(error), error.reason)(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            try:
                # A client sending its body slowly, or not at all, must not hold the request forever.
                message = await asyncio.wait_for(receive(), self.body_timeout)
            except TimeoutError:
                raise BodyTimeout(self.body_timeout or 0.0) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        await self.app(scope, counted, send)
