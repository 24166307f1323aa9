"""The client library against real servers: every call, error mapping, round-robin over replicas."""

from __future__ import annotations

import asyncio
import re

import cv2
import grpc
import numpy as np
import pytest
from PIL import Image

from segmentation_client import (
    AsyncSegmentationClient,
    InvalidInput,
    ModelNotFound,
    ModelUnavailable,
    Overloaded,
    SegmentationClient,
    ServiceError,
    Unavailable,
    colorize,
    error_for,
    overlay,
)
from segmentation_client._channels import grpc_target
from tests.support import DEFAULT_MODEL, SAMPLES

CAT_JPG = SAMPLES / "cat_720p.jpg"


@pytest.fixture(scope="module")
def client(grpc_address):
    with SegmentationClient(grpc_address, timeout=30) as client:
        yield client


def test_segment_accepts_every_kind_of_image(client):
    rgb = np.asarray(Image.open(CAT_JPG).convert("RGB"))
    inputs = {
        "path": (CAT_JPG, {}),
        "str path": (str(CAT_JPG), {}),
        "bytes": (CAT_JPG.read_bytes(), {}),
        "PIL": (Image.open(CAT_JPG), {}),
        "numpy RGB": (rgb, {}),
        "numpy BGR": (cv2.imread(str(CAT_JPG)), {"bgr": True}),
    }
    for name, (image, kwargs) in inputs.items():
        result = client.segment(image, **kwargs)
        assert result.mask.shape == (720, 1280), name
        assert result.labels[:2] == ["background", "cat"] or "cat" in result.labels, name
        assert result.model == DEFAULT_MODEL and result.timings.total_ms > 0


def test_result_carries_areas_png_and_boxes(client):
    result = client.segment(CAT_JPG, mask_encoding="png")
    assert result.mask_png and result.mask.dtype == np.uint8
    cat = next(c for c in result.classes if c.label == "cat")
    assert cat.pixel_count == int((result.mask == cat.class_id).sum())
    x0, y0, x1, y1 = result.bounding_box(cat.class_id)
    assert 0 <= x0 < x1 < 1280 and 0 <= y0 < y1 < 720
    assert result.bounding_box(200) is None
    raw = client.segment(CAT_JPG, mask_encoding="raw")
    assert raw.mask_png is None
    np.testing.assert_array_equal(raw.mask, result.mask)


def test_list_models_get_model_and_health(client):
    models = client.list_models()
    default = client.get_model()
    assert default.id == DEFAULT_MODEL and default.is_default and default.available
    assert default.palette.shape == (21, 3) and default.input_size == (513, 513)
    assert {m.id for m in models} >= {DEFAULT_MODEL}
    with pytest.raises(ModelNotFound):
        client.get_model("no-such-model")
    assert client.health() == "SERVING"
    assert client.health("segmentation.v1.Segmenter") == "SERVING"


def test_stream_yields_results_in_order(client):
    frames = [SAMPLES / f"traffic_frames/000{i}.bmp" for i in (1, 2, 3)] * 2
    results = list(client.stream(frames, drop_policy="none"))
    assert [r.frame_id for r in results] == [1, 2, 3, 4, 5, 6]
    assert all(r.ok and "car" in r.labels for r in results)
    given = list(client.stream([(41, frames[0]), (42, b"junk")], drop_policy="none"))
    assert [r.frame_id for r in given] == [41, 42]
    assert isinstance(given[1].error, InvalidInput) and given[1].mask.size == 0


def test_errors_map_to_the_hierarchy_and_keep_the_message(client):
    with pytest.raises(InvalidInput, match="not a JPEG, PNG, BMP or WebP") as info:
        client.segment(b"hello")
    assert info.value.code is grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(ModelNotFound, match="unknown model 'x'"):
        client.segment(CAT_JPG, model="x")
    assert isinstance(error_for(grpc.StatusCode.FAILED_PRECONDITION, "m"), ModelUnavailable)
    assert isinstance(error_for(grpc.StatusCode.RESOURCE_EXHAUSTED, "m"), Overloaded)
    assert type(error_for(grpc.StatusCode.INTERNAL, "m")) is ServiceError
    with pytest.raises(InvalidInput, match="uint8"):
        client.segment(np.zeros((4, 4, 3), np.float32))


def test_unreachable_server_is_unavailable():
    with SegmentationClient("127.0.0.1:1", timeout=2) as client, pytest.raises(Unavailable):
        client.health()


def test_several_addresses_become_one_round_robin_target():
    assert grpc_target("127.0.0.1:5001") == "127.0.0.1:5001"
    assert grpc_target("127.0.0.1:5001,localhost:5002") == "ipv4:127.0.0.1:5001,127.0.0.1:5002"
    assert grpc_target(["127.0.0.1:1", "127.0.0.1:2"]) == "ipv4:127.0.0.1:1,127.0.0.1:2"
    with pytest.raises(ValueError):
        grpc_target("127.0.0.1:1,nohostport")


def test_round_robin_survives_a_replica_stopping(start_server):
    first, second = (start_server("--log-level", "DEBUG") for _ in range(2))
    with SegmentationClient([first.address, second.address], timeout=30) as client:
        for _ in range(6):
            assert "cat" in client.segment(CAT_JPG).labels
        counts = [_served(s.log()) for s in (first, second)]
        assert all(c >= 2 for c in counts), f"calls were not spread over both replicas: {counts}"
        first.stop()
        for _ in range(8):
            assert "cat" in client.segment(CAT_JPG).labels
    second.stop()


def _served(log: str) -> int:
    return len(re.findall(r"Segment ok", log))


def test_async_client_does_every_call(grpc_address):
    async def run():
        async with AsyncSegmentationClient(grpc_address, timeout=30) as client:
            assert await client.health() == "SERVING"
            assert (await client.get_model()).id == DEFAULT_MODEL
            result = await client.segment(CAT_JPG)
            assert "cat" in result.labels
            frames = [SAMPLES / "traffic_frames/0001.bmp"] * 3
            results = [r async for r in client.stream(frames, drop_policy="none")]
            assert [r.frame_id for r in results] == [1, 2, 3]
            with pytest.raises(InvalidInput):
                await client.segment(b"")
    asyncio.run(run())


def test_colorize_and_overlay():
    palette = np.array([(0, 0, 0), (255, 0, 0)], np.uint8)
    mask = np.array([[0, 1], [1, 0]], np.uint8)
    colors = colorize(mask, palette)
    assert colors.shape == (2, 2, 3) and tuple(colors[0, 1]) == (255, 0, 0)
    image = np.full((2, 2, 3), 100, np.uint8)
    blended = overlay(image, mask, palette, opacity=0.5)
    assert tuple(blended[0, 0]) == (100, 100, 100)  # background untouched
    assert tuple(blended[0, 1]) == (178, 50, 50)
    assert overlay(np.zeros((4, 4, 3), np.uint8), mask, palette).shape == (4, 4, 3)  # mask is scaled
