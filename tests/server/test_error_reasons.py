"""Machine-readable reasons on every error, through gRPC, the client library and REST; the INTERNAL path.

The server's repository holds, beside the default model, a TorchScript model that raises on a white
frame (a real runtime failing, not a stand-in), a model slow to load, and a broken model folder.
"""

from __future__ import annotations

import asyncio
import json
import threading
import warnings

import cv2
import grpc
import numpy as np
import pytest
import torch
from torchvision.models.segmentation import deeplabv3_mobilenet_v3_large
from websockets.sync.client import connect

from protos import segmentation_pb2 as pb
from protos import segmentation_pb2_grpc as pb_grpc
from segmentation_client import SegmentationClient, ServiceError
from segmentation_client._exceptions import error_info, from_rpc_error
from server.app import create_service
from server.config import ServerSettings
from tests.support import (
    DEFAULT_MODEL,
    SAMPLES,
    bridge_client,
    link_model,
    png_bomb,
    wait_for_streams,
    wait_until_loaded,
)

pytestmark = pytest.mark.bridge

FRAGILE, SLOW, BROKEN = "fragile", "slow", "broken"
WHITE = np.full((64, 64, 3), 255, np.uint8)
GREY = np.full((64, 64, 3), 100, np.uint8)


class Fragile(torch.nn.Module):
    """Two classes by brightness; fails on a white frame, as a model may on input it was not built for."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if bool(x.mean() > 0.99):
            raise RuntimeError("cannot segment a white frame")
        return torch.cat([1 - x[:, :1], x[:, :1]], 1)


FRAGILE_CONFIG = """runtime = "torchscript"
labels = ["dark", "bright"]
[weights]
file = "fragile.ts"
[input]
width = 64
height = 64
[output]
kind = "scores"
"""
SLOW_CONFIG = """runtime = "torchvision"
labels_file = "labels.txt"
[weights]
builder = "deeplabv3_mobilenet_v3_large"
file = "weights.pth"
[input]
width = 1024
height = 1024
[output]
kind = "scores"
"""


def repository(root):
    link_model(root, DEFAULT_MODEL)
    (root / FRAGILE).mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.script is deprecated; its files still load
        torch.jit.script(Fragile()).save(str(root / FRAGILE / "fragile.ts"))
    (root / FRAGILE / "model.toml").write_text(FRAGILE_CONFIG)
    (root / BROKEN).mkdir()
    (root / BROKEN / "model.toml").write_text(FRAGILE_CONFIG.replace("fragile.ts", "missing.ts"))
    # A big input makes this model's warm-up take a while, so that the model after it is still loading.
    (root / SLOW).mkdir()
    torch.save(deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=21).state_dict(),
               root / SLOW / "weights.pth")
    (root / SLOW / "model.toml").write_text(SLOW_CONFIG)
    (root / SLOW / "labels.txt").write_text("\n".join(f"class {i}" for i in range(21)))
    return root


@pytest.fixture(scope="module")
def server(start_server, tmp_path_factory):
    root = repository(tmp_path_factory.mktemp("repository"))
    server = start_server("--model-repository", str(root), "--models", f"{DEFAULT_MODEL},{SLOW},{FRAGILE},{BROKEN}",
                          "--max-streams", "2")
    # Models load one after another after SERVING: the fragile one waits behind the slow one. (A raw stub:
    # the client library retries UNAVAILABLE, which would wait the loading out.)
    with grpc.insecure_channel(server.address) as channel, pytest.raises(grpc.RpcError) as loading:
        pb_grpc.SegmenterStub(channel).Segment(
            pb.SegmentRequest(model=FRAGILE, image=pb.Image(encoded=png(GREY))), timeout=30)
    server.loading_error = from_rpc_error(loading.value)
    with SegmentationClient(server.address) as client:
        wait_until_loaded(client)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(server):
    with SegmentationClient(server.address) as client:
        yield client


@pytest.fixture(scope="module")
def http(server):
    with bridge_client(server.address) as http:
        yield http


def png(pixels: np.ndarray) -> bytes:
    return cv2.imencode(".png", pixels)[1].tobytes()


# case -> (model, image bytes, gRPC code, reason, HTTP status)
CASES = {
    "no image": ("", b"", grpc.StatusCode.INVALID_ARGUMENT, "NO_IMAGE", 422),
    "not an image": ("", b"hello, world", grpc.StatusCode.INVALID_ARGUMENT, "UNSUPPORTED_FORMAT", 422),
    "truncated": ("", (SAMPLES / "cat_720p.jpg").read_bytes()[:2000], grpc.StatusCode.INVALID_ARGUMENT,
                  "CORRUPT_IMAGE", 422),
    "too large": ("", png_bomb(20000, 20000), grpc.StatusCode.INVALID_ARGUMENT, "IMAGE_TOO_LARGE", 422),
    "unknown model": ("nope", png(GREY), grpc.StatusCode.NOT_FOUND, "MODEL_NOT_FOUND", 404),
    "broken model": (BROKEN, png(GREY), grpc.StatusCode.FAILED_PRECONDITION, "MODEL_UNAVAILABLE", 409),
    "model raises": (FRAGILE, png(WHITE), grpc.StatusCode.INTERNAL, "INTERNAL", 502),
}


@pytest.mark.parametrize("case", CASES)
def test_reason_reaches_grpc_the_client_library_and_rest(server, client, http, case):
    model, data, code, reason, status = CASES[case]
    with grpc.insecure_channel(server.address) as channel, pytest.raises(grpc.RpcError) as raw:
        pb_grpc.SegmenterStub(channel).Segment(pb.SegmentRequest(model=model, image=pb.Image(encoded=data)),
                                               timeout=30)
    assert raw.value.code() == code
    assert error_info(raw.value.trailing_metadata())[0] == reason  # google.rpc.ErrorInfo in the status details

    with pytest.raises(ServiceError) as library:
        client.segment(data, model or None)
    assert (library.value.code, library.value.reason) == (code, reason)

    response = http.post("/v1/segment", params={"model": model} if model else {}, content=data,
                         headers={"Content-Type": "image/png"})
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["reason"] == reason and problem["status"] == status
    assert problem["type"] == f"urn:segmentation:error:{reason}" and problem["title"] and problem["detail"]


def test_a_model_still_loading_says_so(server):
    assert (server.loading_error.code, server.loading_error.reason) == (grpc.StatusCode.UNAVAILABLE, "MODEL_LOADING")


def test_unexpected_failure_is_internal_with_an_error_id_in_the_log(server, client):
    with pytest.raises(ServiceError) as error:
        client.segment(WHITE, FRAGILE)
    error_id = error.value.metadata["error_id"]
    assert error.value.code == grpc.StatusCode.INTERNAL and error_id in error.value.message
    assert "white frame" not in error.value.message  # the details stay in the server's log
    log = server.log()
    line = next(line for line in log.splitlines() if error_id in line)
    assert "Segment failed unexpectedly" in line
    assert "RuntimeError: cannot segment a white frame" in log[log.index(line):]
    # The server goes on.
    assert client.segment(GREY, FRAGILE).labels == ["dark"]


def test_a_failing_frame_gets_its_error_and_the_stream_goes_on(client):
    results = list(client.stream([GREY, WHITE, GREY], FRAGILE, drop_policy="none"))
    assert [r.frame_id for r in results] == [1, 2, 3]
    assert results[0].ok and results[2].ok and results[2].labels == ["dark"]
    error = results[1].error
    assert (error.code, error.reason) == (grpc.StatusCode.INTERNAL, "INTERNAL") and "error id" in error.message


def test_websocket_frames_carry_the_reason(http):
    url = str(http.base_url).replace("http", "ws") + f"/v1/stream?model={FRAGILE}&drop_policy=none"
    with connect(url) as socket:
        socket.send(png(WHITE))
        socket.send(png(GREY))
        socket.send("end")
        first, second = (json.loads(socket.recv(timeout=30)) for _ in range(2))
    assert first["error"]["reason"] == "INTERNAL" and first["error"]["status"] == 502
    assert second["error"] is None and second["classes"][0]["label"] == "dark"


def blocking_requests(release: threading.Event):
    """A stream's requests that send nothing until released, then end."""
    release.wait(60)
    return
    yield


def test_streams_count_from_the_moment_they_are_accepted(server, client):
    release = threading.Event()
    with grpc.insecure_channel(server.address) as channel:
        stub = pb_grpc.SegmenterStub(channel)
        idle = [stub.SegmentStream(blocking_requests(release), timeout=60) for _ in range(2)]
        try:
            wait_for_streams(server, 2)  # both accepted, neither has sent a frame
            with pytest.raises(ServiceError) as refused:
                list(client.stream(iter([GREY]), FRAGILE))
            assert (refused.value.code, refused.value.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "OVERLOADED")
        finally:
            release.set()
        for call in idle:
            assert list(call) == [] and call.code() == grpc.StatusCode.OK
    assert next(iter(client.stream(iter([GREY]), FRAGILE))).ok  # the slots are free again


def test_request_iterator_errors_reach_the_caller_as_themselves(client):
    class CameraGone(Exception):
        pass

    def frames():
        yield GREY
        raise CameraGone("the camera was unplugged")

    with pytest.raises(CameraGone, match="unplugged"):
        list(client.stream(frames(), FRAGILE, drop_policy="none"))
    with pytest.raises(FileNotFoundError):
        list(client.stream(["/nonexistent/frame.png"], FRAGILE))


def test_shutting_down_is_told_apart_from_loading(tmp_path):
    """The state between SIGTERM and the port closing, held open: new calls get SHUTTING_DOWN."""
    settings = ServerSettings(port=0, metrics_port=None, models=[DEFAULT_MODEL])

    async def scenario() -> ServiceError:
        service = create_service(settings)
        await service.start()
        try:
            service.servicer.drain()
            address = f"127.0.0.1:{service.port}"
            return await asyncio.get_running_loop().run_in_executor(None, call_while_draining, address)
        finally:
            await service.stop(0)

    error = asyncio.run(scenario())
    assert (error.code, error.reason) == (grpc.StatusCode.UNAVAILABLE, "SHUTTING_DOWN")


def call_while_draining(address: str) -> ServiceError:
    with SegmentationClient(address, timeout=10) as client:
        try:
            client.segment(GREY)
        except ServiceError as exc:
            return exc
    raise AssertionError("a draining server answered")
