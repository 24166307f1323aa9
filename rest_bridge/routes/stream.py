"""WS /v1/stream: encoded frames in as binary messages, one JSON message out per frame.

Bridged onto one SegmentStream call through the client's `stream()`. The
browser ends the stream with a text message (results of frames in flight
still arrive, then the bridge closes with 1000) or by closing the socket.
A frame that fails gets a message with `error` set and the stream goes on; an
error of the whole stream (server unreachable, at its stream limit) gets one
message with `frame_id` null, then the socket closes with 1013 (try again
later) or 1011.
"""

from __future__ import annotations

import base64
import logging
from contextlib import aclosing
from typing import Annotated

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect

from rest_bridge import render
from rest_bridge.auth import websocket_token_ok
from rest_bridge.deps import ClientDep, SettingsDep
from rest_bridge.errors import RETRY_STATUSES, detail_for, reason_for, status_for
from rest_bridge.schemas import DropPolicy, FrameError, StreamFrame
from segmentation_client import SegmentResult, ServiceError

log = logging.getLogger(__name__)
router = APIRouter(tags=["segmentation"])

CLOSE_NORMAL, CLOSE_POLICY, CLOSE_TOO_BIG, CLOSE_INTERNAL, CLOSE_TRY_AGAIN = 1000, 1008, 1009, 1011, 1013


class _Inbox:
    """The browser's binary messages as (frame_id, bytes); a text message, a close or an oversized frame ends them."""

    def __init__(self, websocket: WebSocket, limit: int) -> None:
        self._websocket = websocket
        self._limit = limit
        self.received = 0
        self.disconnected = False
        self.close_code, self.close_reason = CLOSE_NORMAL, ""

    async def frames(self):
        while True:
            message = await self._websocket.receive()
            if message["type"] == "websocket.disconnect":
                self.disconnected = True
                return
            data = message.get("bytes")
            if data is None:
                return
            if len(data) > self._limit:
                self.close_code = CLOSE_TOO_BIG
                self.close_reason = f"frame {self.received + 1} is over the limit of {self._limit} bytes"
                return
            self.received += 1
            yield self.received, data


def _error(exc: ServiceError) -> FrameError:
    return FrameError(status=status_for(exc), code=exc.code.name, reason=reason_for(exc), detail=detail_for(exc))


def frame_message(result: SegmentResult) -> StreamFrame:
    if result.error is not None:
        return StreamFrame(frame_id=result.frame_id, model=result.model, frames_dropped=result.frames_dropped,
                           error=_error(result.error))
    width, height = result.size
    return StreamFrame(
        frame_id=result.frame_id, model=result.model, width=width, height=height,
        classes=render.classes_out(result), timings=render.timings_out(result.timings),
        frames_dropped=result.frames_dropped, mask_png=base64.b64encode(render.mask_png(result)).decode(),
    )


@router.websocket("/v1/stream")
async def stream(
    websocket: WebSocket, client: ClientDep, settings: SettingsDep,
    model: Annotated[str | None, Query(max_length=200)] = None,
    drop_policy: Annotated[DropPolicy, Query()] = DropPolicy.latest,
) -> None:
    """Segment a live sequence of frames; see the module docstring for the protocol."""
    if not websocket_token_ok(websocket):
        # Refused before the handshake completes: the browser sees the close code, nothing is streamed.
        await websocket.close(code=CLOSE_POLICY, reason="missing or wrong token (Authorization or access_token)")
        return
    await websocket.accept()
    inbox = _Inbox(websocket, settings.upload_limit_bytes)
    answered = failed = 0
    try:
        results = client.stream(inbox.frames(), model=model or None, drop_policy=drop_policy.value)
        async with aclosing(results):
            async for result in results:
                if inbox.disconnected:
                    break
                await websocket.send_text(frame_message(result).model_dump_json())
                answered += 1
                failed += result.error is not None
    except ServiceError as exc:
        log.info("stream failed after %d frames: %s", inbox.received, detail_for(exc))
        await _end_with_error(websocket, exc)
        return
    except WebSocketDisconnect:
        inbox.disconnected = True
    finally:
        log.info("stream ended: %d frames received, %d answered, %d failed", inbox.received, answered, failed)
    if not inbox.disconnected:
        await websocket.close(inbox.close_code, inbox.close_reason)


async def _end_with_error(websocket: WebSocket, exc: ServiceError) -> None:
    error = _error(exc)
    try:
        await websocket.send_text(StreamFrame(frame_id=None, error=error).model_dump_json())
        await websocket.close(CLOSE_TRY_AGAIN if error.status in RETRY_STATUSES else CLOSE_INTERNAL,
                              error.detail.encode()[:120].decode(errors="ignore"))  # reasons max 123 bytes
    except (WebSocketDisconnect, RuntimeError):
        pass  # the browser has gone already; nothing left to tell it
