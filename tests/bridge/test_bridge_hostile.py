"""The bridge on real uvicorn against clients that hold connections without using them: slow headers
(slowloris), a stalled body, idle keep-alive connections, a WebSocket that never reads. Each such
connection is closed after its timeout (short here, through the settings), and everyone else is
answered meanwhile."""

from __future__ import annotations

import base64
import os
import socket
import struct
import time
from urllib.parse import urlsplit

import httpx
import pytest

from rest_bridge import BridgeSettings
from tests.support import SAMPLES, running_bridge

pytestmark = pytest.mark.bridge

HEADER_TIMEOUT = 4.0  # long enough for the other clients to be answered while the slow ones hang on
TIMEOUT = 1.0  # the bridge's other timeouts in these tests
SLOW_CLIENTS = 200
FRAME = (SAMPLES / "traffic_frames" / "0001.bmp").read_bytes()


@pytest.fixture(scope="module")
def bridge(grpc_address):
    settings = BridgeSettings(grpc={"target": grpc_address}, header_timeout_seconds=HEADER_TIMEOUT,
                              body_timeout_seconds=TIMEOUT,
                              keep_alive_timeout_seconds=1, websocket_ping_seconds=TIMEOUT / 2)
    with running_bridge(settings) as url:
        yield urlsplit(url)


def connect(bridge) -> socket.socket:
    sock = socket.create_connection((bridge.hostname, bridge.port), timeout=10)
    return sock


def closed_by_server(sock: socket.socket, within: float) -> bool:
    """Whether the server closes the connection within `within` seconds (whatever it sends first)."""
    sock.settimeout(within)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return True


def segment_time(base: str) -> float:
    start = time.perf_counter()
    response = httpx.post(f"{base}/v1/segment", content=FRAME, headers={"Content-Type": "image/bmp"}, timeout=30)
    assert response.status_code == 200
    return time.perf_counter() - start


def test_slow_headers_are_cut_off_and_the_others_are_answered(bridge):
    base = f"http://{bridge.netloc}"
    alone = min(segment_time(base) for _ in range(3))
    started = time.monotonic()  # the header deadline of the first of them counts from here
    slow = [connect(bridge) for _ in range(SLOW_CLIENTS)]
    for sock in slow:
        sock.sendall(b"POST /v1/segment HTTP/1.1\r\nHost: bridge\r\n")  # ... and the rest never comes
    during = [segment_time(base) for _ in range(3)]
    assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
    # Answered while the slow clients hang on, about as fast as alone (a generous bound: 2 shared cores).
    assert min(during) < 5 * alone + 0.5, (alone, during)
    # The others were answered within the slow clients' header deadline, that is while they held on.
    assert time.monotonic() - started < HEADER_TIMEOUT
    assert all(closed_by_server(sock, HEADER_TIMEOUT + 5) for sock in slow)
    for sock in slow:
        sock.close()


def test_a_connection_that_sends_nothing_is_closed(bridge):
    with connect(bridge) as sock:
        assert closed_by_server(sock, HEADER_TIMEOUT + 5)


def test_a_stalled_body_is_answered_408_and_closed(bridge):
    with connect(bridge) as sock:
        sock.sendall(b"POST /v1/segment HTTP/1.1\r\nHost: bridge\r\nContent-Type: image/bmp\r\n"
                     b"Content-Length: 100000\r\n\r\n" + FRAME[:1000])
        sock.settimeout(TIMEOUT + 5)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ")
    assert b"application/problem+json" in head and b"connection: close" in head.lower()
    assert b'"reason":"BODY_TIMEOUT"' in body


def test_an_idle_keep_alive_connection_is_closed(bridge):
    with connect(bridge) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: bridge\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        started = time.monotonic()
        assert closed_by_server(sock, 10)
        assert time.monotonic() - started < 1 + 2  # keep_alive_timeout_seconds=1, plus scheduling


def masked_frame(opcode: int, payload: bytes) -> bytes:
    """One client-to-server WebSocket frame (RFC 6455: client frames are masked)."""
    mask = os.urandom(4)
    length = len(payload)
    header = bytes([0x80 | opcode])
    if length < 126:
        header += bytes([0x80 | length])
    elif length < 65536:
        header += bytes([0x80 | 126]) + struct.pack("!H", length)
    else:
        header += bytes([0x80 | 127]) + struct.pack("!Q", length)
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def test_a_websocket_that_never_reads_is_closed(bridge, grpc_server):
    key = base64.b64encode(os.urandom(16)).decode()
    with connect(bridge) as sock:
        sock.sendall(f"GET /v1/stream?drop_policy=none HTTP/1.1\r\nHost: bridge\r\nUpgrade: websocket\r\n"
                     f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
        handshake = sock.recv(4096)
        assert handshake.startswith(b"HTTP/1.1 101 ")
        for _ in range(5):
            sock.sendall(masked_frame(0x2, FRAME))
        # Never read: the pings go unanswered, and the bridge closes within interval + timeout.
        time.sleep(TIMEOUT * 3)
        base = f"http://{bridge.netloc}"
        assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
        assert closed_by_server(sock, 10)
