"""WS /v1/stream on real uvicorn against the real gRPC server, driven by a real WebSocket client."""

from __future__ import annotations

import base64
import json

import cv2
import httpx
import numpy as np
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from rest_bridge import BridgeSettings
from tests.support import DEFAULT_MODEL, SAMPLES, running_bridge, stream_messages, ws_url

pytestmark = pytest.mark.bridge

CAR_ID = 7
FRAMES = [(SAMPLES / "traffic_frames" / f"000{i}.bmp").read_bytes() for i in (1, 2, 3)]


def test_frames_in_order_with_a_bad_one_in_the_middle(bridge_url):
    sent = [FRAMES[0], FRAMES[1], b"this is not an image", FRAMES[2]]
    # "done" goes right after the frames: those still in flight are answered before the bridge closes.
    messages, code = stream_messages(ws_url(bridge_url, drop_policy="none"), sent)
    assert code == 1000
    assert [m["frame_id"] for m in messages] == [1, 2, 3, 4]
    bad = messages[2]
    assert bad["mask_png"] is None and bad["classes"] == []
    assert bad["error"]["status"] == 422 and bad["error"]["code"] == "INVALID_ARGUMENT" and bad["error"]["detail"]
    for good in (messages[0], messages[1], messages[3]):
        assert good["error"] is None and good["model"] == DEFAULT_MODEL
        assert "car" in [c["label"] for c in good["classes"]]
        assert good["timings"]["inference_ms"] > 0 and good["frames_dropped"] == 0
        mask = cv2.imdecode(np.frombuffer(base64.b64decode(good["mask_png"]), np.uint8), cv2.IMREAD_UNCHANGED)
        assert mask.shape == (256, 256) == (good["height"], good["width"])
        assert (mask == CAR_ID).any()


def test_latest_policy_answers_or_counts_every_frame(bridge_url):
    messages, code = stream_messages(ws_url(bridge_url), FRAMES * 2)
    assert code == 1000 and messages
    ids = [m["frame_id"] for m in messages]
    assert ids == sorted(ids) and ids[-1] == 6  # the newest frame is never the one dropped
    assert len(messages) + messages[-1]["frames_dropped"] == 6


def test_an_unknown_model_fails_each_frame_with_404(bridge_url):
    with connect(ws_url(bridge_url, model="no-such-model")) as ws:
        ws.send(FRAMES[0])
        message = json.loads(ws.recv(timeout=60))
    assert message["frame_id"] == 1 and message["error"]["status"] == 404
    assert "no-such-model" in message["error"]["detail"]


def test_a_browser_that_leaves_mid_stream_does_not_hurt_the_bridge(bridge_url):
    with connect(ws_url(bridge_url, drop_policy="none")) as ws:
        for frame in FRAMES:
            ws.send(frame)
    # Closed without waiting for answers; the next stream and request work as before.
    with connect(ws_url(bridge_url)) as ws:
        ws.send(FRAMES[0])
        assert json.loads(ws.recv(timeout=60))["error"] is None
    assert httpx.get(f"{bridge_url}/healthz").status_code == 200


def test_closing_without_frames_is_clean(bridge_url):
    messages, code = stream_messages(ws_url(bridge_url), [])
    assert messages == [] and code == 1000


def test_an_invalid_drop_policy_is_refused_at_the_handshake(bridge_url):
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url(bridge_url, drop_policy="sometimes"))
    assert refused.value.response.status_code == 403


def test_a_frame_over_the_upload_limit_closes_with_1009(grpc_address):
    with running_bridge(BridgeSettings(grpc={"target": grpc_address}, upload_limit_bytes=1000)) as url:
        messages, code = stream_messages(ws_url(url), [FRAMES[0]], end=None)
    assert messages == [] and code == 1009
