"""Every row of the bridge's error table, produced for real: bad input, limits, an unavailable model, a
server at its limit, a stopped server, a deadline, a server that wants a token, and a bug; and TLS."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import cv2
import grpc
import httpx
import pytest
from websockets.sync.client import connect

from rest_bridge import BridgeSettings, create_app
from rest_bridge.errors import MissingImage, UnsupportedMediaType, status_for
from segmentation_client import error_for
from tests.support import (
    CAT,
    DEFAULT_MODEL,
    SAMPLES,
    assert_error,
    post_raw,
    running_bridge,
    stream_messages,
    ws_url,
)

pytestmark = pytest.mark.bridge

RESNET = "deeplabv3-resnet50"
SMALL_LIMIT = 1000


@pytest.fixture(scope="module")
def small_limit_url(grpc_address) -> Iterator[str]:
    with running_bridge(BridgeSettings(grpc={"target": grpc_address}, upload_limit_bytes=SMALL_LIMIT)) as url:
        yield url


@pytest.fixture(scope="module")
def frame_jpeg() -> bytes:
    """A road frame as a small JPEG (~15 kB): under the private server's 64 KiB message limit."""
    image = cv2.imread(str(SAMPLES / "traffic_frames" / "0001.bmp"))
    return cv2.imencode(".jpg", image)[1].tobytes()


@pytest.fixture(scope="module")
def limited_server(start_server):
    """A server with an unavailable model (no weights, no downloads), one stream slot and 64 KiB messages."""
    return start_server("--models", f"{DEFAULT_MODEL},{RESNET}", "--no-download", "--max-streams", "1",
                        "--max-message-bytes", "65536")


@pytest.fixture(scope="module")
def limited(limited_server) -> Iterator[httpx.Client]:
    settings = BridgeSettings(grpc={"target": limited_server.address}, retry_after_seconds=3)
    with running_bridge(settings) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client


# ---- the table itself, for every gRPC code the client can raise


@pytest.mark.parametrize(("code", "status"), [
    (grpc.StatusCode.INVALID_ARGUMENT, 422), (grpc.StatusCode.OUT_OF_RANGE, 422), (grpc.StatusCode.NOT_FOUND, 404),
    (grpc.StatusCode.FAILED_PRECONDITION, 409), (grpc.StatusCode.RESOURCE_EXHAUSTED, 429),
    (grpc.StatusCode.UNAVAILABLE, 503), (grpc.StatusCode.DEADLINE_EXCEEDED, 504),
    (grpc.StatusCode.UNAUTHENTICATED, 502), (grpc.StatusCode.PERMISSION_DENIED, 502),
    (grpc.StatusCode.CANCELLED, 502), (grpc.StatusCode.INTERNAL, 502), (grpc.StatusCode.UNKNOWN, 502),
    (grpc.StatusCode.UNIMPLEMENTED, 502),
])
def test_every_grpc_code_has_an_http_status(code, status):
    assert status_for(error_for(code, "message")) == status


def test_the_bridges_own_errors_and_unknown_ones():
    assert status_for(UnsupportedMediaType("x")) == 415
    assert status_for(MissingImage("x")) == 422
    assert status_for(ValueError("x")) == 500


# ---- bad requests


@pytest.mark.parametrize("content_type", ["image/jpeg", "image/png"])
def test_bytes_that_are_no_image_are_422_with_the_servers_message(http, content_type):
    detail = assert_error(http.post("/v1/segment", content=b"definitely not an image",
                                    headers={"Content-Type": content_type}), 422)
    assert "not a JPEG, PNG, BMP or WebP" in detail


def test_a_multipart_upload_of_no_image_is_422(http):
    assert_error(http.post("/v1/segment", files={"file": ("x.jpg", b"\xff\xd8garbage", "image/jpeg")}), 422)
    detail = assert_error(http.post("/v1/segment", files={"photo": ("x.jpg", b"abc", "image/jpeg")}), 422)
    assert "'file'" in detail


def test_an_empty_body_is_422(http):
    assert "empty" in assert_error(http.post("/v1/segment", headers={"Content-Type": "image/jpeg"}), 422)


@pytest.mark.parametrize(("params", "where"), [
    ({"opacity": 2}, "query.opacity"), ({"format": "gif"}, "query.format"),
    ({"image_format": "tiff"}, "query.image_format"),
])
def test_invalid_parameters_are_422_in_one_sentence(http, params, where):
    assert where in assert_error(post_raw(http, CAT, "image/jpeg", **params), 422)


def test_a_deadline_too_short_for_the_model_is_504(grpc_address):
    with running_bridge(BridgeSettings(grpc={"target": grpc_address, "timeout_seconds": 0.001})) as url:
        assert_error(httpx.post(f"{url}/v1/segment", content=(SAMPLES / CAT).read_bytes(),
                                headers={"Content-Type": "image/jpeg"}, timeout=60), 504)


# ---- 413: before the body is read (413 for a whole body over the limit: tests/bridge/test_bad_input_rest.py)


def _exchange(url: str, head: str, body: bytes = b"") -> tuple[int, dict]:
    """Send a request head (and maybe part of a body) on a raw socket; read the answer without sending more."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(head.encode() + body)
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        head_bytes, _, rest = data.partition(b"\r\n\r\n")
        lines = head_bytes.decode().split("\r\n")
        headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        while len(rest) < int(headers["content-length"]):
            rest += sock.recv(65536)
    return int(lines[0].split()[1]), json.loads(rest)


def test_a_content_length_over_the_limit_is_refused_before_any_body_byte(small_limit_url):
    head = ("POST /v1/segment HTTP/1.1\r\nHost: bridge\r\nContent-Type: image/jpeg\r\n"
            "Content-Length: 50000000\r\n\r\n")
    status, body = _exchange(small_limit_url, head)  # not one byte of the 50 MB sent
    assert status == 413 and str(SMALL_LIMIT) in body["detail"]


def test_a_chunked_body_is_counted_as_it_arrives(small_limit_url):
    head = "POST /v1/segment HTTP/1.1\r\nHost: bridge\r\nContent-Type: image/jpeg\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = b"x" * (SMALL_LIMIT + 1)
    # One chunk over the limit and no final chunk: the answer comes while the body is still "open".
    status, body = _exchange(small_limit_url, head, f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
    assert status == 413 and str(SMALL_LIMIT) in body["detail"]


def test_a_chunked_body_under_the_limit_is_segmented(http):
    data = (SAMPLES / CAT).read_bytes()
    chunks = (data[i:i + 16384] for i in range(0, len(data), 16384))  # a generator: httpx sends it chunked
    response = http.post("/v1/segment", content=chunks, headers={"Content-Type": "image/jpeg"})
    assert response.status_code == 200 and "cat:" in response.headers["x-classes"]


# ---- a server with an unavailable model, one stream slot and small messages


def test_a_model_that_cannot_run_is_409(limited, frame_jpeg):
    deadline = time.monotonic() + 180
    while (info := limited.get(f"/v1/models/{RESNET}").json())["unavailable_reason"] == "loading":
        assert time.monotonic() < deadline, "the model never finished trying to load"
        time.sleep(0.2)
    assert not info["available"]
    response = limited.post("/v1/segment", params={"model": RESNET}, content=frame_jpeg,
                            headers={"Content-Type": "image/jpeg"})
    assert "unavailable" in assert_error(response, 409)


def test_a_message_over_the_servers_limit_is_429_with_retry_after(limited):
    response = post_raw(limited, CAT, "image/jpeg")  # 104 kB, the server takes 64 KiB
    assert "larger than max" in assert_error(response, 429)
    assert response.headers["retry-after"] == "3"


def test_a_stream_over_the_servers_limit_gets_429_and_close_1013(limited, frame_jpeg):
    url = ws_url(str(limited.base_url))
    with connect(url) as first:
        first.send(frame_jpeg)
        assert json.loads(first.recv(timeout=60))["error"] is None  # the server's one stream slot is taken
        # The refusal comes as the stream opens, before any frame. (A frame written after it can make
        # grpc.aio report INTERNAL instead: grpc/grpc#36066, so this browser sends none.)
        messages, code = stream_messages(url, [], end=None)
    assert len(messages) == 1 and messages[0]["frame_id"] is None
    assert messages[0]["error"]["status"] == 429 and messages[0]["error"]["code"] == "RESOURCE_EXHAUSTED"
    assert code == 1013


# ---- a server that goes away


def test_a_stopped_server_is_503_with_retry_after_and_not_ready(start_server):
    server = start_server("--models", DEFAULT_MODEL)
    settings = BridgeSettings(grpc={"target": server.address}, retry_after_seconds=7)
    with running_bridge(settings) as url, httpx.Client(base_url=url, timeout=60) as client:
        assert client.get("/readyz").status_code == 200
        assert post_raw(client, CAT, "image/jpeg").status_code == 200
        server.stop()
        for response in (post_raw(client, CAT, "image/jpeg"), client.get("/v1/models")):
            assert_error(response, 503)
            assert response.headers["retry-after"] == "7"
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.headers["retry-after"] == "7"
        assert ready.json()["status"] == "UNREACHABLE" and ready.json()["detail"]
        messages, code = stream_messages(ws_url(url), [], end=None)
        assert [m["error"]["status"] for m in messages] == [503] and code == 1013
        assert client.get("/healthz").status_code == 200  # the bridge itself is fine


# ---- a bug


def test_an_unexpected_error_is_a_generic_500_and_logged(grpc_address, caplog):
    app = create_app(BridgeSettings(grpc={"target": grpc_address}))

    @app.get("/boom")
    async def boom():
        raise RuntimeError("secret internals")

    with caplog.at_level(logging.ERROR, logger="rest_bridge.errors"), running_bridge(BridgeSettings(), app) as url:
        response = httpx.get(f"{url}/boom", timeout=30)
    assert response.status_code == 500
    assert assert_error(response, 500) == "internal error in the REST bridge; see its log"
    assert response.json()["reason"] == "INTERNAL"
    assert "secret" not in response.text
    logged = [r for r in caplog.records if r.name == "rest_bridge.errors" and r.exc_info]
    assert logged and "secret internals" in str(logged[0].exc_info[1])



# ---- a server that wants a token, or TLS


def test_a_token_server_is_502_without_the_token_and_fine_with_it(start_server):
    server = start_server("--models", DEFAULT_MODEL, env={"SEGMENTATION_AUTH_TOKEN": "bridge-test-token"})
    with running_bridge(BridgeSettings(grpc={"target": server.address})) as url, httpx.Client(base_url=url) as client:
        assert "bearer token" in assert_error(post_raw(client, CAT, "image/jpeg"), 502)
    settings = BridgeSettings(grpc={"target": server.address, "token": "bridge-test-token"})
    with running_bridge(settings) as url, httpx.Client(base_url=url, timeout=60) as client:
        assert post_raw(client, CAT, "image/jpeg").status_code == 200
    server.stop()


def test_a_tls_server_is_reached_with_its_ca(start_server, certs):
    server = start_server("--models", DEFAULT_MODEL, "--tls-cert", str(certs / "server.pem"),
                          "--tls-key", str(certs / "server.key"), wait=False)
    server.wait_ready(credentials=grpc.ssl_channel_credentials((certs / "ca.pem").read_bytes()))
    settings = BridgeSettings(grpc={"target": server.address, "root_certificates": certs / "ca.pem"})
    with running_bridge(settings) as url, httpx.Client(base_url=url, timeout=60) as client:
        assert client.get("/readyz").status_code == 200
        assert "cat:" in post_raw(client, CAT, "image/jpeg").headers["x-classes"]
    server.stop()
