"""The MediaPipe selfie models from the repository, for real: two classes, float input, a probability map."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from segmentation_client import SegmentationClient
from tests.support import DEFAULT_MODEL, SAMPLES, SELFIE, SELFIE_LANDSCAPE

pytestmark = pytest.mark.server

LANDSCAPE = SELFIE_LANDSCAPE
PERSON = 15  # in the PASCAL labels of the default model


@pytest.fixture(scope="module")
def client(selfie_server):
    with SegmentationClient(selfie_server.address) as client:
        yield client


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def landscape_crop() -> np.ndarray:
    """The middle of grace_hopper.bmp (512x600) cut to 16:9, as a landscape video frame shows a person."""
    rgb = np.asarray(Image.open(SAMPLES / "grace_hopper.bmp").convert("RGB"))
    height = rgb.shape[1] * 9 // 16
    top = (rgb.shape[0] - height) // 2
    return np.ascontiguousarray(rgb[top : top + height])


def test_selfie_models_are_listed_with_two_labels(client):
    models = {m.id: m for m in client.list_models()}
    for model_id, size in ((SELFIE, (256, 256)), (LANDSCAPE, (256, 144))):
        info = models[model_id]
        assert info.available and info.runtime == "litert" and info.input_size == size
        assert info.labels == ["background", "person"]
        assert info.palette.shape == (2, 3) and tuple(info.palette[0]) == (0, 0, 0) and info.palette[1].any()
        assert info.licence == "Apache-2.0" and info.source.startswith("https://")


def test_general_model_finds_the_person_where_deeplab_does(client):
    selfie = client.segment(SAMPLES / "grace_hopper.bmp", model=SELFIE)
    deeplab = client.segment(SAMPLES / "grace_hopper.bmp", model=DEFAULT_MODEL)
    assert selfie.mask.shape == deeplab.mask.shape == (600, 512)
    person = selfie.mask == 1
    assert 0.45 <= person.mean() <= 0.70, f"person on {person.mean():.1%} of the pixels"
    assert [c.label for c in selfie.classes] == ["person", "background"]
    assert iou(person, deeplab.mask == PERSON) >= 0.7


def test_landscape_model_finds_the_person_in_a_16_9_frame(client):
    frame = landscape_crop()
    selfie = client.segment(frame, model=LANDSCAPE)
    deeplab = client.segment(frame, model=DEFAULT_MODEL)
    assert selfie.mask.shape == frame.shape[:2] == (288, 512)
    person = selfie.mask == 1
    assert 0.45 <= person.mean() <= 0.70, f"person on {person.mean():.1%} of the pixels"
    assert iou(person, deeplab.mask == PERSON) >= 0.7


def test_a_road_without_people_is_background(client):
    result = client.segment(SAMPLES / "traffic_frames" / "0001.bmp", model=SELFIE)
    assert (result.mask == 1).mean() < 0.2
