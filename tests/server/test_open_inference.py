"""The Open Inference Protocol (KServe v2) with Triton's real client: tritonclient's gRPC client against the
server, its HTTP client against the REST bridge, the real models, and the README's example as written."""

from __future__ import annotations

import base64
import json
import re
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest
import torch
import uvicorn
from grpc_health.v1 import health_pb2, health_pb2_grpc
from PIL import Image
from torchvision.models.segmentation import lraspp_mobilenet_v3_large

from rest_bridge import BridgeSettings, create_app
from rest_bridge.serving import uvicorn_config
from segmentation_client import InferTensor, InvalidInput, ModelNotFound, SegmentationClient
from tests.support import (
    DEFAULT_MODEL,
    REPO,
    SAMPLES,
    SELFIE,
    ServerProcess,
    link_model,
    running_bridge,
    tritonclient_env,
    wait_until_loaded,
)

pytestmark = pytest.mark.server

CAT, PERSON = 8, 15  # PASCAL VOC class ids
CAT_JPEG, GRACE = SAMPLES / "cat_720p.jpg", SAMPLES / "grace_hopper.bmp"
EXAMPLE_MARKER = "<!-- example: tested by tests/server/test_open_inference.py -->"


@pytest.fixture(scope="module")
def bridge(selfie_server) -> Iterator[str]:
    with running_bridge(BridgeSettings(grpc={"target": selfie_server.address})) as url:
        yield url


@pytest.fixture(scope="module")
def targets(selfie_server, bridge) -> dict[str, str]:
    """Where each of tritonclient's clients calls: gRPC the server itself, HTTP the bridge."""
    tritonclient_env.python()  # made once, before the first test's clock starts
    return {"grpc": selfie_server.address, "http": bridge.removeprefix("http://")}


@pytest.fixture(scope="module")
def grace_npy(tmp_path_factory):
    path = tmp_path_factory.mktemp("arrays") / "grace.npy"
    np.save(path, np.asarray(Image.open(GRACE).convert("RGB"))[None])
    return str(path)


def dominant(result: dict) -> int:
    """The class with the most pixels apart from the background."""
    counts = {int(c): n for c, n in result["classes"].items() if c != "0"}
    return max(counts, key=counts.get)


@pytest.mark.bridge
@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_health_metadata_and_infer(protocol, targets, grace_npy):
    live, ready, model_ready, selfie_ready, metadata, jpeg, pixels, selfie = tritonclient_env.calls(
        protocol, targets[protocol],
        {"op": "live"}, {"op": "ready"}, {"op": "model_ready", "model": DEFAULT_MODEL},
        {"op": "model_ready", "model": SELFIE}, {"op": "metadata", "model": DEFAULT_MODEL},
        {"op": "infer", "model": DEFAULT_MODEL, "files": [str(CAT_JPEG)]},
        {"op": "infer", "model": DEFAULT_MODEL, "npy": grace_npy},
        {"op": "infer", "model": SELFIE, "files": [str(GRACE)], "shape": [1, 1]},
    )
    assert live == ready == model_ready == selfie_ready == {"ok": True}
    meta = metadata["ok"]
    assert meta["name"] == DEFAULT_MODEL and meta["platform"] == "litert_tflite"
    assert [(t["name"], t["datatype"]) for t in meta["inputs"]] == [("IMAGE", "BYTES")]
    assert [(t["name"], t["datatype"]) for t in meta["outputs"]] == [("MASK", "UINT8")]
    assert jpeg["ok"]["shape"] == [1, 720, 1280] and jpeg["ok"]["dtype"] == "uint8"
    assert dominant(jpeg["ok"]) == CAT
    assert pixels["ok"]["shape"] == [1, 600, 512] and dominant(pixels["ok"]) == PERSON
    assert selfie["ok"]["shape"] == [1, 600, 512] and set(selfie["ok"]["classes"]) == {"0", "1"}
    assert selfie["ok"]["classes"]["1"] > 0.2 * 600 * 512  # the person fills much of the portrait


@pytest.mark.bridge
@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_batches(protocol, targets):
    frames = [str(p) for p in sorted((SAMPLES / "traffic_frames").glob("*.bmp"))]
    same, mixed = tritonclient_env.calls(
        protocol, targets[protocol],
        {"op": "infer", "model": SELFIE, "files": frames, "shape": [len(frames), 1]},
        {"op": "infer", "model": SELFIE, "files": [frames[0], str(CAT_JPEG)]},
    )
    assert same["ok"]["shape"] == [len(frames), 256, 256]
    assert mixed["error"]["status"] == {"grpc": "StatusCode.INVALID_ARGUMENT", "http": "400"}[protocol]
    assert "one size" in mixed["error"]["message"] and "256x256, 1280x720" in mixed["error"]["message"]


@pytest.mark.bridge
@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_errors_are_clear_and_the_server_goes_on(protocol, targets, tmp_path):
    (tmp_path / "notes.txt").write_bytes(b"hello, not an image")
    unknown, undecodable, unknown_ready, after = tritonclient_env.calls(
        protocol, targets[protocol],
        {"op": "infer", "model": "no-such-model", "files": [str(CAT_JPEG)]},
        {"op": "infer", "model": DEFAULT_MODEL, "files": [str(tmp_path / "notes.txt")]},
        {"op": "model_ready", "model": "no-such-model"},
        {"op": "infer", "model": DEFAULT_MODEL, "files": [str(CAT_JPEG)]},
    )
    not_found = {"grpc": "StatusCode.NOT_FOUND", "http": "404"}[protocol]
    assert unknown["error"]["status"] == not_found
    assert "unknown model 'no-such-model'" in unknown["error"]["message"]
    assert DEFAULT_MODEL in unknown["error"]["message"]  # it names the models there are
    assert undecodable["error"]["status"] == {"grpc": "StatusCode.INVALID_ARGUMENT", "http": "400"}[protocol]
    assert "not a JPEG, PNG, BMP or WebP image" in undecodable["error"]["message"]
    # gRPC: ModelReady of an unknown model is NOT_FOUND; HTTP: tritonclient reads the 404 as "not ready".
    assert unknown_ready == ({"error": {"status": not_found, "message": unknown["error"]["message"]}}
                             if protocol == "grpc" else {"ok": False})
    assert after["ok"]["shape"] == [1, 720, 1280]


@pytest.mark.bridge
def test_json_tensors_over_http(targets, tmp_path):
    """JSON data instead of the binary extension, both ways: UINT8 numbers in, the mask's numbers out."""
    np.save(tmp_path / "tiny.npy", np.zeros((1, 6, 8, 3), np.uint8))
    (result,) = tritonclient_env.calls("http", targets["http"], {
        "op": "infer", "model": SELFIE, "npy": str(tmp_path / "tiny.npy"), "binary": False, "binary_output": False})
    assert result["ok"]["shape"] == [1, 6, 8]


@pytest.mark.bridge
def test_rest_errors_are_problems_with_the_protocols_error_member(bridge):
    with httpx.Client(base_url=bridge, timeout=30) as http:
        bad_shape = http.post(f"/v2/models/{SELFIE}/infer", json={
            "inputs": [{"name": "IMAGE", "datatype": "UINT8", "shape": [1, 2], "data": [1, 2]}]})
        not_json = http.post(f"/v2/models/{SELFIE}/infer", content=b"\x00\x01")
        unknown = http.get("/v2/models/no-such-model")
        base64_jpeg = http.post(f"/v2/models/{SELFIE}/infer", json={"inputs": [{
            "name": "IMAGE", "datatype": "BYTES", "shape": [1],
            "data": [base64.b64encode(GRACE.read_bytes()).decode()]}]})
        ready, live, server = http.get("/v2/health/ready"), http.get("/v2/health/live"), http.get("/v2")
    assert bad_shape.status_code == 400 and bad_shape.headers["content-type"] == "application/problem+json"
    body = bad_shape.json()
    assert body["reason"] == "BAD_TENSOR" and body["error"] == body["detail"]
    assert "[N, H, W, 3]" in body["error"]
    assert not_json.status_code == 400 and not_json.json()["reason"] == "BAD_TENSOR"
    assert unknown.status_code == 404 and unknown.json()["reason"] == "MODEL_NOT_FOUND"
    assert base64_jpeg.status_code == 200
    (output,) = base64_jpeg.json()["outputs"]
    assert output["shape"] == [1, 600, 512] and json.loads(output["parameters"]["labels"]) == ["background", "person"]
    assert ready.json() == {"ready": True} and live.json() == {"live": True}
    assert server.json()["name"] == "segmentation-service"
    openapi = httpx.get(f"{bridge}/openapi.json").json()["paths"]
    assert {"/v2/health/live", "/v2/health/ready", "/v2", "/v2/models/{name}", "/v2/models/{name}/ready",
            "/v2/models/{name}/infer"} <= set(openapi)


def test_client_library_and_health_agree(selfie_server):
    """The client library's own OIP part; ServerReady says what the standard health service says."""
    with SegmentationClient(selfie_server.address) as client, grpc.insecure_channel(selfie_server.address) as ch:
        health = health_pb2_grpc.HealthStub(ch)
        for service in ("", "inference.GRPCInferenceService"):
            status = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status
            assert status == health_pb2.HealthCheckResponse.SERVING
        assert client.inference.server_ready() is True and client.inference.server_live() is True
        meta = client.inference.model_metadata(SELFIE)
        assert json.loads(meta.properties["labels"]) == ["background", "person"]
        pixels = np.asarray(Image.open(GRACE).convert("RGB"))[None]
        response = client.inference.infer(DEFAULT_MODEL, [InferTensor.from_numpy("IMAGE", pixels)],
                                          request_id="r-1")
        mask = response.output("MASK").as_numpy()
        assert response.id == "r-1" and mask.shape == (1, 600, 512) and (mask == PERSON).mean() > 0.2
        with pytest.raises(ModelNotFound):
            client.inference.model_metadata("no-such-model")
        with pytest.raises(InvalidInput, match="IMAGE must be BYTES"):
            client.inference.infer(SELFIE, [InferTensor.from_numpy("IMAGE", np.zeros((1, 2, 2, 3), np.float32))])
        with pytest.raises(ModelNotFound, match="has no version '7'"):
            client.inference.model_ready(SELFIE, version="7")


@pytest.fixture(scope="module")
def every_model_server(start_server, tmp_path_factory) -> ServerProcess:
    """Every model of the repository. The torchvision ones have no weights offline (--no-download and an empty
    hub cache), except LR-ASPP, which gets a state dict of its own: so each runtime family is called."""
    folder = tmp_path_factory.mktemp("every")
    repository = folder / "repository"
    ids = sorted(p.parent.name for p in (REPO / "model_repository").glob("*/model.toml"))
    for model_id in ids:
        link_model(repository, model_id)
    lraspp = repository / "lraspp-mobilenetv3-large"
    config = (lraspp / "model.toml").read_text()
    (lraspp / "model.toml").unlink()
    (lraspp / "model.toml").write_text(config.replace('name = "COCO_WITH_VOC_LABELS_V1"', 'file = "lraspp.pth"'))
    torch.manual_seed(0)
    torch.save(lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=21).state_dict(),
               lraspp / "lraspp.pth")
    server = start_server("--model-repository", str(repository), "--no-download",
                          env={"TORCH_HOME": str(folder / "torch")})
    with SegmentationClient(server.address) as client:
        wait_until_loaded(client)
    return server


@pytest.mark.bridge
def test_every_model_of_the_repository(every_model_server, tmp_path):
    ids = sorted(p.parent.name for p in (REPO / "model_repository").glob("*/model.toml"))
    np.save(tmp_path / "small.npy", np.asarray(Image.open(GRACE).convert("RGB").resize((96, 112)))[None])
    with SegmentationClient(every_model_server.address) as client:
        available = {m.id: m.available for m in client.list_models()}
    assert set(available) == set(ids) and available["lraspp-mobilenetv3-large"]
    with running_bridge(BridgeSettings(grpc={"target": every_model_server.address})) as url:
        targets = {"grpc": every_model_server.address, "http": url.removeprefix("http://")}
        for protocol, target in targets.items():
            calls = []
            for model_id in ids:
                calls += [{"op": "model_ready", "model": model_id}, {"op": "metadata", "model": model_id},
                          {"op": "infer", "model": model_id, "npy": str(tmp_path / "small.npy")}]
            results = tritonclient_env.calls(protocol, target, *calls)
            for i, model_id in enumerate(ids):
                ready, meta, infer = results[3 * i:3 * i + 3]
                assert ready == {"ok": available[model_id]}, (protocol, model_id)
                assert meta["ok"]["name"] == model_id
                if available[model_id]:
                    assert infer["ok"]["shape"] == [1, 112, 96], (protocol, model_id, infer)
                else:  # a clear refusal: FAILED_PRECONDITION over gRPC, 409 over HTTP, saying why
                    assert infer["error"]["status"] in ("StatusCode.FAILED_PRECONDITION", "409"), infer
                    assert f"model {model_id} is unavailable" in infer["error"]["message"]


@contextmanager
def bridge_on_port(settings: BridgeSettings, port: int) -> Iterator[None]:
    """The bridge on a fixed loopback port, as the README's example expects it (running_bridge picks a free one)."""
    server = uvicorn.Server(uvicorn_config(create_app(settings), settings.model_copy(
        update={"host": "127.0.0.1", "port": port, "log_level": "WARNING"})))
    thread = threading.Thread(target=server.run, name="bridge-8000", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the bridge did not start"
        time.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(30)


@contextmanager
def server_on_50051(tmp_path: Path) -> Iterator[ServerProcess]:
    """The default and the selfie model on the documented port, as the examples expect it, all loaded."""
    server = ServerProcess(log_path=tmp_path / "server.log", command=[
        sys.executable, "-m", "server", "--port", "50051", "--metrics-port", "0", "--models",
        f"{DEFAULT_MODEL},{SELFIE}"])
    try:
        server.wait_ready()
        with SegmentationClient(server.address) as client:
            wait_until_loaded(client)
        yield server
    finally:
        assert server.stop() == 0


def readme_example() -> str:
    text = (REPO / "README.md").read_text()
    start = text.index(EXAMPLE_MARKER) + len(EXAMPLE_MARKER)
    return re.match(r"\s*```python\n(.*?)```", text[start:], flags=re.DOTALL).group(1)


@pytest.mark.server
@pytest.mark.bridge
def test_readme_tritonclient_example_as_written(tmp_path):
    """The README's block, unchanged, from the repository root: the server on 50051 and the bridge on 8000."""
    block = readme_example()
    assert "127.0.0.1:50051" in block and "127.0.0.1:8000" in block
    with server_on_50051(tmp_path) as server, bridge_on_port(BridgeSettings(grpc={"target": server.address}), 8000):
        done = tritonclient_env.run_script(block, cwd=REPO)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:2] == ["True True", "(1, 720, 1280) ['background', 'cat']"], done.stdout
    assert re.fullmatch(r"\(1, 600, 512\) person \d+% of the pixels", lines[2]), done.stdout
    # The README says what it prints; the person's share included.
    said = " ".join((REPO / "README.md").read_text().split(EXAMPLE_MARKER)[1].split("```")[2].split())
    assert all(f"`{line}`" in said for line in lines), (lines, said)


def docs_uint8_example() -> str:
    text = (REPO / "docs" / "open_inference.md").read_text()
    start = text.index(EXAMPLE_MARKER) + len(EXAMPLE_MARKER)
    return re.match(r"\s*```python\n(.*?)```", text[start:], flags=re.DOTALL).group(1)


@pytest.mark.server
def test_docs_uint8_example_as_written(tmp_path):
    """docs/open_inference.md's UINT8 batch through tritonclient, unchanged, from the repository root."""
    block = docs_uint8_example()
    assert "127.0.0.1:50051" in block
    with server_on_50051(tmp_path):
        done = tritonclient_env.run_script(block, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"\(600, 512\) person on \d+% of the pixels\n", done.stdout), done.stdout
