"""Masks at the input's size, soft masks, cut-outs, refined edges and smoothing, through the real server
(selfie and DeepLab models), the client library, the Open Inference service and the REST bridge."""

from __future__ import annotations

import io
import itertools

import cv2
import grpc
import httpx
import numpy as np
import pytest
from PIL import Image

from protos import segmentation_pb2 as pb
from protos import segmentation_pb2_grpc as pb_grpc
from segmentation_client import InferTensor, InvalidInput, SegmentationClient
from segmentation_client._exceptions import error_info
from tests.support import DEFAULT_MODEL, SAMPLES, SELFIE, bridge_client

pytestmark = pytest.mark.bridge


@pytest.fixture(scope="module")
def client(selfie_server):
    with SegmentationClient(selfie_server.address) as client:
        yield client


@pytest.fixture(scope="module")
def rest(selfie_server):
    with bridge_client(selfie_server.address) as http:
        yield http


def full_hd_portrait() -> bytes:
    """A 1920x1080 JPEG of a person: grace_hopper.bmp enlarged to 1080 rows, widened by mirroring its sides."""
    portrait = cv2.imread(str(SAMPLES / "grace_hopper.bmp"))
    portrait = cv2.resize(portrait, (921, 1080), interpolation=cv2.INTER_CUBIC)
    wide = cv2.copyMakeBorder(portrait, 0, 0, 499, 500, cv2.BORDER_REFLECT)
    return cv2.imencode(".jpg", wide, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()


PHOTO = full_hd_portrait()


def cells_with_both(mask: np.ndarray, grid: tuple[int, int]) -> int:
    """How many cells of the model's (rows, cols) grid, mapped over the mask as nearest-neighbour resizing
    maps them, hold more than one class."""
    ids = np.arange(grid[0] * grid[1], dtype=np.float32).reshape(grid)
    cell = cv2.resize(ids, mask.shape[::-1], interpolation=cv2.INTER_NEAREST_EXACT).astype(int).ravel()
    lows = np.full(ids.size, 255)
    highs = np.zeros(ids.size, int)
    np.minimum.at(lows, cell, mask.ravel())
    np.maximum.at(highs, cell, mask.ravel())
    return int((lows != highs).sum())


def inside(mask: np.ndarray, pixels: int = 15) -> np.ndarray:
    """The pixels at least `pixels` away from the mask's edge, as a boolean array."""
    return cv2.erode(mask, np.ones((2 * pixels + 1, 2 * pixels + 1), np.uint8)) > 0


def edge_contrast(mask: np.ndarray, photo: bytes) -> float:
    """The picture's mean gradient along the mask's edge: higher when the edge lies on the picture's."""
    grey = cv2.imdecode(np.frombuffer(photo, np.uint8), cv2.IMREAD_GRAYSCALE).astype(np.float32)
    gradient = cv2.magnitude(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))
    edge = cv2.morphologyEx(mask, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    return float(gradient[edge].mean())


def test_a_full_hd_photo_gets_edges_between_the_model_grid_cells(client):
    result = client.segment(PHOTO, SELFIE, mask_encoding="raw")
    assert result.size == (1920, 1080) and result.labels[0] == "person"
    # The selfie model sees 256x256: enlarged by nearest neighbour, each of its cells would be one class.
    assert cells_with_both(result.mask, (256, 256)) > 500


def test_the_soft_mask_has_many_levels_opaque_on_the_person_and_clear_on_the_background(client):
    result = client.segment(PHOTO, SELFIE, alpha=True)
    alpha, mask = result.alpha, result.mask
    assert alpha is not None and alpha.shape == (1080, 1920) and alpha.dtype == np.uint8
    assert len(np.unique(alpha)) > 100
    assert np.mean(alpha[inside(mask)] >= 240) > 0.97
    assert np.mean(alpha[inside(1 - mask)] <= 15) > 0.97
    assert np.array_equal(alpha >= 128, mask == 1)  # one decision, p >= 0.5
    raw = client.segment(PHOTO, SELFIE, alpha=True, mask_encoding="raw")
    assert raw.alpha_png is None and np.array_equal(raw.alpha, alpha)
    assert client.segment(PHOTO, SELFIE).alpha is None  # only when asked for


def test_a_soft_mask_of_a_model_without_one_is_refused_with_its_reason(selfie_server, client, rest):
    with grpc.insecure_channel(selfie_server.address) as channel, pytest.raises(grpc.RpcError) as raw:
        pb_grpc.SegmenterStub(channel).Segment(
            pb.SegmentRequest(model=DEFAULT_MODEL, image=pb.Image(encoded=PHOTO), alpha=True), timeout=30)
    assert raw.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(raw.value.trailing_metadata())[0] == "NO_SOFT_MASK"
    assert DEFAULT_MODEL in raw.value.details() and "class_ids" in raw.value.details()
    with pytest.raises(InvalidInput) as library:
        client.segment(PHOTO, DEFAULT_MODEL, alpha=True)
    assert library.value.reason == "NO_SOFT_MASK"
    response = rest.post("/v1/segment", params={"model": DEFAULT_MODEL, "format": "alpha"}, content=PHOTO,
                         headers={"Content-Type": "image/jpeg"})
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    assert response.json()["reason"] == "NO_SOFT_MASK" and "has none" in response.json()["detail"]
    assert client.segment(PHOTO, DEFAULT_MODEL).ok  # the server goes on
    models = {m.id: m for m in client.list_models()}
    assert models[SELFIE].soft_mask and not models[DEFAULT_MODEL].soft_mask
    listed = {m["id"]: m["soft_mask"] for m in rest.get("/v1/models").json()["models"]}
    assert listed[SELFIE] and not listed[DEFAULT_MODEL]


def post(rest: httpx.Client, photo: bytes, **params: str) -> httpx.Response:
    return rest.post("/v1/segment", params=params, files={"file": ("photo.jpg", photo, "image/jpeg")})


def test_rest_alpha_is_an_8_bit_grey_png(client, rest):
    response = post(rest, PHOTO, model=SELFIE, format="alpha")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert response.headers["X-Image-Width"] == "1920" and response.headers["X-Model"] == SELFIE
    png = Image.open(io.BytesIO(response.content))
    assert png.mode == "L" and png.size == (1920, 1080)
    assert np.array_equal(np.asarray(png), client.segment(PHOTO, SELFIE, alpha=True).alpha)


def test_rest_cutout_keeps_the_person_soft_edged_and_clears_the_background(client, rest):
    response = post(rest, PHOTO, model=SELFIE, format="cutout")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    cut = Image.open(io.BytesIO(response.content))
    assert cut.mode == "RGBA" and cut.size == (1920, 1080)
    rgba = np.asarray(cut)
    expected = client.segment(PHOTO, SELFIE, alpha=True).alpha
    assert np.array_equal(rgba[..., 3], expected)
    assert len(np.unique(rgba[..., 3])) > 100
    picture = cv2.cvtColor(cv2.imdecode(np.frombuffer(PHOTO, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert np.array_equal(rgba[..., :3], picture)  # the picture's own pixels; alpha alone cuts
    person = post(rest, PHOTO, model=SELFIE, format="cutout", classes="person")
    assert person.content == response.content
    background = np.asarray(Image.open(io.BytesIO(post(rest, PHOTO, model=SELFIE, format="cutout",
                                                       classes="background").content)))
    assert np.array_equal(background[..., 3], 255 - expected)


def test_rest_cutout_of_a_class_id_model_is_opaque_on_the_chosen_classes(rest, sample_bytes):
    cat = sample_bytes("cat_720p.jpg")
    response = post(rest, cat, format="cutout")  # the default model: DeepLab, class ids
    alpha = np.asarray(Image.open(io.BytesIO(response.content)))[..., 3]
    mask = cv2.imdecode(np.frombuffer(post(rest, cat, format="png").content, np.uint8), cv2.IMREAD_UNCHANGED)
    assert set(np.unique(alpha)) == {0, 255}
    assert np.array_equal(alpha == 255, mask != 0)
    by_name = np.asarray(Image.open(io.BytesIO(post(rest, cat, format="cutout", classes="cat").content)))
    by_id = np.asarray(Image.open(io.BytesIO(post(rest, cat, format="cutout", classes="8").content)))
    assert np.array_equal(by_name, by_id) and np.array_equal(by_name[..., 3] == 255, mask == 8)


@pytest.mark.parametrize(("params", "status", "reason", "words"), [
    ({"format": "sparkle"}, 422, "INVALID_PARAMETER", "cutout"),
    ({"format": "cutout", "classes": "unicorn"}, 404, "UNKNOWN_CLASS", "'unicorn' is not a class"),
    ({"format": "cutout", "classes": "21"}, 404, "UNKNOWN_CLASS", "0 background"),
    ({"format": "cutout", "classes": "cat,"}, 404, "UNKNOWN_CLASS", "'' is not a class"),
])
def test_rest_bad_format_or_class_is_a_clear_problem(rest, sample_bytes, params, status, reason, words):
    response = post(rest, sample_bytes("cat_720p.jpg"), **params)
    assert response.status_code == status and response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["reason"] == reason and words in problem["detail"], problem


def test_refined_edges_lie_on_the_picture_edges(client, rest):
    plain = client.segment(PHOTO, SELFIE, mask_encoding="raw")
    refined = client.segment(PHOTO, SELFIE, mask_encoding="raw", refine_edges=True, alpha=True)
    changed = plain.mask != refined.mask
    assert 0 < changed.mean() < 0.03  # the edges move, the person stays
    assert edge_contrast(refined.mask, PHOTO) > 1.2 * edge_contrast(plain.mask, PHOTO)
    assert refined.alpha is not None and np.array_equal(refined.alpha >= 128, refined.mask == 1)
    over_rest = post(rest, PHOTO, model=SELFIE, format="png", refine_edges="true")
    assert np.array_equal(cv2.imdecode(np.frombuffer(over_rest.content, np.uint8), cv2.IMREAD_UNCHANGED),
                          refined.mask)


def test_open_inference_alpha_output(client):
    assert [t.name for t in client.inference.model_metadata(SELFIE).outputs] == ["MASK", "ALPHA"]
    assert [t.name for t in client.inference.model_metadata(DEFAULT_MODEL).outputs] == ["MASK"]
    images = [InferTensor.from_files("IMAGE", [PHOTO, PHOTO])]
    response = client.inference.infer(SELFIE, images, ["MASK", "ALPHA"])
    alpha = response.output("ALPHA").as_numpy()
    assert alpha.shape == (2, 1080, 1920)
    assert np.array_equal(alpha[1], client.segment(PHOTO, SELFIE, alpha=True).alpha)
    assert [t.name for t in client.inference.infer(SELFIE, images).outputs] == ["MASK"]  # as before
    with pytest.raises(InvalidInput) as refused:
        client.inference.infer(DEFAULT_MODEL, images, ["ALPHA"])
    assert refused.value.reason == "NO_SOFT_MASK"


def test_open_inference_alpha_over_rest(rest):
    pixels = np.zeros((1, 2, 2, 3), np.uint8)
    body = {"inputs": [{"name": "IMAGE", "datatype": "UINT8", "shape": [1, 2, 2, 3], "data": pixels.ravel().tolist()}],
            "outputs": [{"name": "MASK"}, {"name": "ALPHA"}]}
    answer = rest.post(f"/v2/models/{SELFIE}/infer", json=body)
    assert answer.status_code == 200
    assert [(o["name"], o["shape"]) for o in answer.json()["outputs"]] == [("MASK", [1, 2, 2]), ("ALPHA", [1, 2, 2])]
    refused = rest.post(f"/v2/models/{DEFAULT_MODEL}/infer", json=body)
    assert refused.status_code == 400 and refused.json()["reason"] == "NO_SOFT_MASK"


def noisy_still_clip(frames: int = 20) -> list[np.ndarray]:
    """A still camera: one 640x480 picture of a person, with fresh sensor noise in every frame."""
    still = cv2.resize(cv2.imread(str(SAMPLES / "grace_hopper.bmp")), (640, 480))
    rng = np.random.default_rng(7)
    return [np.clip(still + rng.normal(0, 12, still.shape), 0, 255).astype(np.uint8) for _ in range(frames)]


def flicker(masks: list[np.ndarray]) -> float:
    """The share of foreground pixels that change from one frame to the next, averaged over the clip."""
    return float(np.mean([(a != b).sum() / max(1, (b == 1).sum()) for a, b in itertools.pairwise(masks)]))


def test_smoothing_steadies_a_still_noisy_clip(client):
    clip = noisy_still_clip()
    plain = [r.mask.copy() for r in client.stream(clip, SELFIE, drop_policy="none", bgr=True, mask_encoding="raw")]
    smoothed = [r.mask.copy() for r in client.stream(clip, SELFIE, drop_policy="none", bgr=True,
                                                     mask_encoding="raw", smoothing=0.8)]
    assert len(plain) == len(smoothed) == len(clip)
    assert flicker(smoothed) < 0.6 * flicker(plain)
    assert np.array_equal(plain[0], smoothed[0])  # the first frame has nothing to mix with


def test_smoothing_a_model_without_a_soft_mask_fails_each_frame_with_the_reason(client):
    results = list(client.stream(noisy_still_clip(3), DEFAULT_MODEL, drop_policy="none", bgr=True, smoothing=0.8))
    assert [r.frame_id for r in results] == [1, 2, 3]
    assert all(r.error is not None and r.error.reason == "NO_SOFT_MASK" for r in results)
    with pytest.raises(ValueError, match="smoothing"):
        list(client.stream(noisy_still_clip(1), SELFIE, smoothing=1.0))
