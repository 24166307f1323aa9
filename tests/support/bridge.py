"""The REST bridge for tests: served by real uvicorn on a free port, and the requests tests send it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http import HTTPStatus
from urllib.parse import urlencode

import httpx
import uvicorn
from fastapi import FastAPI
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK
from websockets.sync.client import connect

from rest_bridge import BridgeSettings, create_app
from rest_bridge.serving import uvicorn_config
from tests.support.paths import SAMPLES

CAT = "cat_720p.jpg"  # a sample photo, by its name in SAMPLES


@contextmanager
def running_bridge(settings: BridgeSettings, app: FastAPI | None = None) -> Iterator[str]:
    """Serve the bridge with uvicorn on a free loopback port in a thread; yields its base URL."""
    # The same uvicorn settings as `python -m rest_bridge`, on a free loopback port.
    local = settings.model_copy(update={"host": "127.0.0.1", "port": 0, "log_level": "WARNING"})
    server = uvicorn.Server(uvicorn_config(app or create_app(settings), local))
    thread = threading.Thread(target=server.run, name="bridge", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the bridge did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


@contextmanager
def bridge_client(target: str, **settings) -> Iterator[httpx.Client]:
    """An httpx client of a bridge (`settings` added to its BridgeSettings) in front of the server at `target`."""
    with running_bridge(BridgeSettings(grpc={"target": target}, **settings)) as url, \
            httpx.Client(base_url=url, timeout=60) as http:
        yield http


def post_raw(http: httpx.Client, name: str, content_type: str, **params) -> httpx.Response:
    return http.post("/v1/segment", params=params, content=(SAMPLES / name).read_bytes(),
                     headers={"Content-Type": content_type})


def post_file(http: httpx.Client, name: str, content_type: str, **params) -> httpx.Response:
    return http.post("/v1/segment", params=params, files={"file": (name, (SAMPLES / name).read_bytes(), content_type)})


def ws_url(http_url: str, **params) -> str:
    query = f"?{urlencode(params)}" if params else ""
    return f"{http_url.rstrip('/').replace('http://', 'ws://', 1)}/v1/stream{query}"


def stream_messages(url: str, frames: list[bytes], end: str | None = "done") -> tuple[list[dict], int]:
    """Send the frames (then `end` as a text message, if given); every message until the bridge closes, and
    the close code."""
    messages, code = [], None
    # Leaving `connect` re-raises a close with an error code; the code is what the test wants.
    with suppress(ConnectionClosedError), connect(url) as ws:
        for frame in frames:
            ws.send(frame)
        if end is not None:
            ws.send(end)
        try:
            while True:
                messages.append(json.loads(ws.recv(timeout=60)))
        except (ConnectionClosedOK, ConnectionClosedError) as closed:
            code = closed.rcvd.code
    return messages, code


def assert_error(response: httpx.Response, status: int) -> str:
    """An RFC 9457 problem with this status, a reason and a sentence; returns the sentence."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert set(problem) == {"type", "title", "status", "detail", "reason"}
    assert problem["status"] == status and problem["title"] == HTTPStatus(status).phrase
    assert problem["reason"] and problem["type"] == f"urn:segmentation:error:{problem['reason']}"
    detail = problem["detail"]
    assert isinstance(detail, str) and detail and "Traceback" not in detail
    return detail
