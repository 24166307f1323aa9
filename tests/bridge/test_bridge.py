"""The REST bridge on real uvicorn (in a thread, on a free loopback port) against the real gRPC server.

`running_bridge` and the `bridge_url` / `http` fixtures live in conftest.py.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from rest_bridge import BridgeSettings, render
from rest_bridge.state import PaletteCache
from segmentation_client import AsyncSegmentationClient, SegmentationClient, SegmentResult, Timings
from segmentation_client.visualize import colorize
from tests.support import DEFAULT_MODEL, REPO, SAMPLES, post_file, post_raw, running_bridge

pytestmark = pytest.mark.bridge

DM05 = "deeplabv3-mobilenetv2-dm05-pascal"
CAT, PERSON, CAT_ID, PERSON_ID = "cat_720p.jpg", "grace_hopper.bmp", 8, 15
SAMPLE_CASES = [(CAT, "image/jpeg", "cat", (720, 1280)), (PERSON, "image/bmp", "person", (600, 512))]
X_CLASSES = re.compile(r"^[^:,]+:[01]\.\d{3}(,[^:,]+:[01]\.\d{3})*$")


@pytest.fixture(scope="module")
def palette(http) -> np.ndarray:
    return np.array(http.get(f"/v1/models/{DEFAULT_MODEL}").json()["palette"], np.uint8)


def decode(data: bytes, flags: int = cv2.IMREAD_UNCHANGED) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    assert image is not None, "not a decodable image"
    return image


# ---- POST /v1/segment, every format on the samples, both upload styles


@pytest.mark.parametrize("upload", [post_raw, post_file], ids=["raw", "multipart"])
@pytest.mark.parametrize(("name", "content_type", "label", "shape"), SAMPLE_CASES, ids=["cat", "person"])
def test_png_is_the_servers_class_id_mask(http, grpc_address, upload, name, content_type, label, shape):
    response = upload(http, name, content_type)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    mask = decode(response.content)
    assert mask.shape == shape and mask.dtype == np.uint8
    class_id = {"cat": CAT_ID, "person": PERSON_ID}[label]
    assert (mask == class_id).mean() > 0.05
    # Passed through, not re-encoded: the very bytes the gRPC server sends.
    with SegmentationClient(grpc_address) as client:
        assert response.content == client.segment(SAMPLES / name).mask_png


@pytest.mark.parametrize(("name", "content_type", "label", "shape"), SAMPLE_CASES, ids=["cat", "person"])
def test_headers_name_model_classes_and_timings(http, name, content_type, label, shape):
    response = post_raw(http, name, content_type)
    headers = response.headers
    assert headers["x-model"] == DEFAULT_MODEL
    assert X_CLASSES.match(headers["x-classes"]), headers["x-classes"]
    fractions = dict(pair.split(":") for pair in headers["x-classes"].split(","))
    assert label in fractions and float(fractions[label]) > 0.05
    assert sum(float(f) for f in fractions.values()) == pytest.approx(1.0, abs=0.01)
    assert float(headers["x-timings-total-ms"]) > 0
    assert (int(headers["x-image-height"]), int(headers["x-image-width"])) == shape
    stages = dict(re.match(r"\s*(\w+);dur=([\d.]+)", part).groups() for part in headers["server-timing"].split(","))
    expected = {"decode", "preprocess", "inference", "postprocess", "encode", "queue", "total", "rpc", "render"}
    assert expected <= set(stages)
    assert float(stages["inference"]) > 0


@pytest.mark.parametrize(("name", "content_type", "label", "shape"), SAMPLE_CASES, ids=["cat", "person"])
def test_color_is_the_mask_in_palette_colours(http, palette, name, content_type, label, shape):
    mask = decode(post_raw(http, name, content_type).content)
    response = post_file(http, name, content_type, format="color")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    rgb = decode(response.content, cv2.IMREAD_COLOR)[:, :, ::-1]
    assert rgb.shape == (*shape, 3)
    np.testing.assert_array_equal(rgb, colorize(mask, palette))


@pytest.mark.parametrize(("image_format", "media_type"), [("jpeg", "image/jpeg"), ("png", "image/png")])
@pytest.mark.parametrize(("name", "content_type", "label", "shape"), SAMPLE_CASES, ids=["cat", "person"])
def test_overlay_has_the_input_size(http, name, content_type, label, shape, image_format, media_type):
    response = post_raw(http, name, content_type, format="overlay", opacity=0.6, image_format=image_format)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == media_type
    assert response.headers["x-classes"]
    overlay = decode(response.content, cv2.IMREAD_COLOR)
    assert overlay.shape == (*shape, 3)
    if image_format == "png":  # lossless: background pixels are the input's, the rest are tinted
        original = decode((SAMPLES / name).read_bytes(), cv2.IMREAD_COLOR)
        mask = decode(post_raw(http, name, content_type).content)
        np.testing.assert_array_equal(overlay[mask == 0], original[mask == 0])
        assert not np.array_equal(overlay[mask != 0], original[mask != 0])


def test_color_png_without_the_servers_png_is_drawn_the_same():
    mask = np.random.default_rng(1).integers(0, 21, (37, 53), dtype=np.uint8)
    palette = np.random.default_rng(2).integers(0, 256, (21, 3), dtype=np.uint8)
    grey_png = cv2.imencode(".png", mask)[1].tobytes()
    result = SegmentResult(model="m", mask=mask, classes=[], timings=Timings(), mask_png=grey_png)
    for png in (render.color_png(result, palette), render.color_png(SegmentResult(model="m", mask=mask), palette)):
        np.testing.assert_array_equal(decode(png, cv2.IMREAD_COLOR)[:, :, ::-1], palette[mask])
    rgb_png = cv2.imencode(".png", cv2.merge([mask, mask, mask]))[1].tobytes()
    assert render.paletted_png(rgb_png, palette) is None and render.paletted_png(b"not a png", palette) is None


def test_overlay_opacity_zero_leaves_the_image_alone(http):
    response = post_raw(http, PERSON, "image/bmp", format="overlay", opacity=0, image_format="png")
    np.testing.assert_array_equal(decode(response.content, cv2.IMREAD_COLOR),
                                  decode((SAMPLES / PERSON).read_bytes(), cv2.IMREAD_COLOR))


@pytest.mark.parametrize(("name", "content_type", "label", "shape"), SAMPLE_CASES, ids=["cat", "person"])
def test_json_describes_classes_boxes_timings_and_mask(http, palette, name, content_type, label, shape):
    response = post_file(http, name, content_type, format="json")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["model"] == DEFAULT_MODEL and (body["height"], body["width"]) == shape
    mask = decode(base64.b64decode(body["mask_png"]))
    np.testing.assert_array_equal(mask, decode(post_raw(http, name, content_type).content))
    assert sum(c["pixel_count"] for c in body["classes"]) == mask.size
    assert sum(c["fraction"] for c in body["classes"]) == pytest.approx(1.0, abs=1e-3)
    by_label = {c["label"]: c for c in body["classes"]}
    found = by_label[label]
    assert found["color"] == palette[found["class_id"]].tolist()
    ys, xs = np.nonzero(mask == found["class_id"])
    assert found["bbox"] == {"x_min": xs.min(), "y_min": ys.min(), "x_max": xs.max(), "y_max": ys.max()}
    assert found["pixel_count"] == len(xs)
    assert set(body["timings"]) == {"decode_ms", "preprocess_ms", "inference_ms", "postprocess_ms", "encode_ms",
                                    "queue_ms", "total_ms"}
    assert body["timings"]["inference_ms"] > 0


@pytest.mark.parametrize(("extension", "content_type"), [(".png", "image/png"), (".webp", "image/webp")])
def test_every_image_content_type_is_accepted(http, extension, content_type):
    _, encoded = cv2.imencode(extension, decode((SAMPLES / CAT).read_bytes(), cv2.IMREAD_COLOR))
    response = http.post("/v1/segment", content=encoded.tobytes(), headers={"Content-Type": content_type})
    assert response.status_code == 200, response.text
    assert "cat:" in response.headers["x-classes"]


def test_model_parameter_picks_the_model(http):
    response = post_raw(http, CAT, "image/jpeg", model=DM05, format="json")
    assert response.status_code == 200
    assert response.headers["x-model"] == DM05 and response.json()["model"] == DM05


# ---- models, health, docs


def test_models_lists_both_with_labels_and_palettes(http):
    body = http.get("/v1/models").json()
    by_id = {m["id"]: m for m in body["models"]}
    assert {DEFAULT_MODEL, DM05} <= set(by_id)
    assert body["default_model"] == DEFAULT_MODEL and by_id[DEFAULT_MODEL]["is_default"]
    model = by_id[DEFAULT_MODEL]
    assert model["available"] and model["labels"][CAT_ID] == "cat" and model["labels"][PERSON_ID] == "person"
    assert len(model["palette"]) == len(model["labels"]) == 21 and model["palette"][0] == [0, 0, 0]
    assert model["input_width"] == model["input_height"] == 513


def test_one_model_and_an_unknown_one(http):
    assert http.get(f"/v1/models/{DM05}").json()["id"] == DM05
    response = http.get("/v1/models/no-such-model")
    assert response.status_code == 404
    assert "no-such-model" in response.json()["detail"] and DEFAULT_MODEL in response.json()["detail"]


def test_palettes_are_fetched_once_then_served_from_the_cache(grpc_address):
    async def fetch_then_close():
        client = AsyncSegmentationClient(grpc_address)
        cache = PaletteCache(client)
        first = await cache.get(DEFAULT_MODEL)
        await client.close()  # from here on any ListModels would fail
        return first, await cache.get(DEFAULT_MODEL), await cache.get(DM05)

    first, again, other = asyncio.run(fetch_then_close())
    assert again is first and first.shape == (21, 3) and other.shape == (21, 3)


def test_health_and_readiness(http):
    assert http.get("/healthz").json() == {"status": "ok"}
    response = http.get("/readyz")
    assert response.status_code == 200 and response.json()["status"] == "SERVING"


def test_docs_page_and_schema_describe_the_api(http):
    docs = http.get("/docs")
    assert docs.status_code == 200 and "swagger-ui" in docs.text.lower()
    spec = http.get("/openapi.json").json()
    assert {"/v1/segment", "/v1/models", "/v1/models/{model_id}", "/healthz", "/readyz"} <= set(spec["paths"])
    segment = spec["paths"]["/v1/segment"]["post"]
    params = {p["name"]: p for p in segment["parameters"]}
    assert set(params) == {"model", "format", "opacity", "image_format", "refine_edges", "classes"}
    assert all(p["description"] for p in params.values())
    body = segment["requestBody"]
    assert body["required"] and body["content"]["multipart/form-data"]["schema"]["required"] == ["file"]
    assert {"image/jpeg", "image/png", "image/bmp", "image/webp"} <= set(body["content"])
    ok = segment["responses"]["200"]
    assert {"image/png", "image/jpeg", "application/json"} <= set(ok["content"])
    assert {"X-Model", "X-Classes", "X-Timings-Total-Ms", "Server-Timing"} <= set(ok["headers"])
    for status in ("400", "404", "409", "413", "415", "422", "429", "502", "503", "504"):
        error = segment["responses"][status]
        assert list(error["content"]) == ["application/problem+json"]
        problem = error["content"]["application/problem+json"]
        assert error["description"] and problem["example"]["detail"] and problem["example"]["reason"]
        assert problem["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
    assert "Retry-After" in segment["responses"]["503"]["headers"]
    assert "503" in spec["paths"]["/readyz"]["get"]["responses"]
    assert "404" in spec["paths"]["/v1/models/{model_id}"]["get"]["responses"]


def test_cors_lets_a_browser_read_the_headers(grpc_address):
    settings = BridgeSettings(grpc={"target": grpc_address}, cors_origins="http://ui.example")
    with running_bridge(settings) as url, httpx.Client(base_url=url, timeout=60) as client:
        preflight = client.options("/v1/segment", headers={
            "Origin": "http://ui.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type"})
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "http://ui.example"
        response = client.post("/v1/segment", content=(SAMPLES / CAT).read_bytes(),
                               headers={"Content-Type": "image/jpeg", "Origin": "http://ui.example"})
        assert "x-classes" in response.headers["access-control-expose-headers"].lower()


def test_python_dash_m_rest_bridge_serves_and_stops_on_sigterm(grpc_address, tmp_path: Path):
    log_path = tmp_path / "bridge.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rest_bridge", "--port", "0", "--grpc.target", grpc_address],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            url = _wait_for_uvicorn(proc, log_path)
            assert httpx.get(f"{url}/readyz", timeout=30).status_code == 200
            response = httpx.post(f"{url}/v1/segment", content=(SAMPLES / CAT).read_bytes(),
                                  headers={"Content-Type": "image/jpeg"}, timeout=60)
            assert response.status_code == 200 and "cat:" in response.headers["x-classes"]
        finally:
            proc.send_signal(signal.SIGTERM)
            returncode = proc.wait(30)
    # uvicorn shuts down gracefully, then re-raises the signal so the exit status says SIGTERM.
    assert returncode in (0, -signal.SIGTERM), log_path.read_text()
    assert "Application shutdown complete" in log_path.read_text()


def _wait_for_uvicorn(proc: subprocess.Popen, log_path: Path, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if match := re.search(r"Uvicorn running on (http://\S+)", log_path.read_text()):
            return match.group(1)
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError(f"python -m rest_bridge did not start:\n{log_path.read_text()}")
