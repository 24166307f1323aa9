"""The bridge's own bearer-token check: off by default, health open, constant-time, WebSocket too."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import websockets

from rest_bridge.config import BridgeSettings
from tests.support import SAMPLES, running_bridge

pytestmark = pytest.mark.bridge

TOKEN = "bridge-test-token"


@pytest.fixture(scope="module")
def bridge(grpc_address):
    with running_bridge(BridgeSettings(grpc={"target": grpc_address}, auth_token=TOKEN)) as url:
        yield url


def test_routes_need_the_token_and_probes_do_not(bridge):
    image = (SAMPLES / "cat_720p.jpg").read_bytes()
    with httpx.Client(base_url=bridge, timeout=60) as http:
        assert http.get("/healthz").status_code == 200
        assert http.get("/readyz").status_code == 200
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            response = http.post("/v1/segment", content=image, headers={"Content-Type": "image/jpeg", **headers})
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == "Bearer"
            assert "bearer token" in response.json()["detail"]
            assert http.get("/v1/models", headers=headers).status_code == 401
        good = {"Authorization": f"Bearer {TOKEN}"}
        response = http.post("/v1/segment", content=image, headers={"Content-Type": "image/jpeg", **good})
        assert response.status_code == 200 and "cat" in response.headers["x-classes"]
        assert http.get("/v1/models", headers=good).status_code == 200
        schema = http.get("/openapi.json").json()
        assert "HTTPBearer" in schema["components"]["securitySchemes"]


def test_websocket_needs_the_token(bridge):
    ws_url = bridge.replace("http", "ws", 1) + "/v1/stream"
    frame = (SAMPLES / "traffic_frames/0001.bmp").read_bytes()

    async def run():
        with pytest.raises(websockets.exceptions.InvalidStatus):
            async with websockets.connect(ws_url) as ws:
                await ws.recv()
        async with websockets.connect(f"{ws_url}?access_token={TOKEN}&drop_policy=none") as ws:
            await ws.send(frame)
            await ws.send("done")
            messages = [message async for message in ws]
        assert len(messages) == 1 and '"car"' in messages[0]
    asyncio.run(run())
