"""Streams that wait: a paused camera keeps its stream, and shutdown ends streams that never sent a frame.

The keepalive intervals are made short through the settings so the tests are quick; `make soak`
keeps streams idle for minutes at the real defaults.
"""

from __future__ import annotations

import signal
import threading
import time

import grpc
import pytest

from protos import segmentation_pb2_grpc as pb_grpc
from segmentation_client import SegmentationClient, Unavailable
from tests.support import DEFAULT_MODEL, SAMPLES, wait_for_streams

pytestmark = pytest.mark.server

FRAME = SAMPLES / "traffic_frames" / "0001.bmp"
PING_SECONDS = 1.0  # the client's keepalive in these tests: short, but not under a second
IDLE_SECONDS = 5 * PING_SECONDS


def paused_camera(idle: float = IDLE_SECONDS):
    """One frame, a pause of many keepalive intervals, another frame."""
    yield FRAME
    time.sleep(idle)
    yield FRAME


def test_an_idle_stream_is_kept_open(start_server):
    server = start_server("--models", DEFAULT_MODEL, "--keepalive-min-ping-interval-seconds", str(PING_SECONDS / 2))
    with SegmentationClient(server.address, keepalive_seconds=PING_SECONDS) as client:
        results = list(client.stream(paused_camera(), drop_policy="none"))
    server.stop()
    assert [r.frame_id for r in results] == [1, 2] and all(r.ok for r in results)


def test_pinging_more_often_than_the_server_permits_loses_the_stream(start_server):
    # The failure the settings above prevent: the server's permitted interval above the client's keepalive.
    server = start_server("--models", DEFAULT_MODEL, "--keepalive-min-ping-interval-seconds", "60")
    with (SegmentationClient(server.address, keepalive_seconds=PING_SECONDS) as client,
          pytest.raises(Unavailable) as error):
        # A long pause, so the failure (about 3 pings in) comes well before the second frame.
        list(client.stream(paused_camera(30), drop_policy="none"))
    server.stop()
    assert "ping" in error.value.message.lower() or "GOAWAY" in error.value.message


def test_shutdown_ends_streams_that_have_not_sent_a_frame_and_closes_the_models(start_server):
    server = start_server("--models", f"{DEFAULT_MODEL},selfie-segmentation", "--grace-seconds", "30")
    release = threading.Event()

    def nothing():
        release.wait(60)
        return
        yield

    with grpc.insecure_channel(server.address) as channel:
        stub = pb_grpc.SegmenterStub(channel)
        calls = [stub.SegmentStream(nothing(), timeout=60) for _ in range(2)]
        wait_for_streams(server, 2)
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        for call in calls:
            assert list(call) == [] and call.code() == grpc.StatusCode.OK
        release.set()
        assert server.proc.wait(30) == 0
    # Well inside the 30 s grace: the idle streams did not hold the shutdown up.
    assert time.monotonic() - started < 10
    log = server.log()
    assert log.count("stream ended by shutdown before its first frame") == 2
    assert "model deeplabv3-mobilenetv2-pascal: version closed" in log
    assert "model selfie-segmentation: version closed" in log
