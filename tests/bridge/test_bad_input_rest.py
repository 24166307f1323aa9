"""The bad-input corpus of test_bad_input.py through the REST bridge, on real uvicorn and the real server.

Every bad case, as a raw body and as a multipart upload, gets its HTTP status and an RFC 9457 problem;
the odd but valid images are segmented at their own size; requests the bridge refuses itself (content type,
body and header size, malformed or crowded multipart) never reach a 500; the bridge and the gRPC server
serve afterwards. On top, a property: mutated images never get a 5xx.
"""

from __future__ import annotations

import cv2
import grpc
import httpx
import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from protos import segmentation_pb2 as pb
from protos import segmentation_pb2_grpc as pb_grpc
from rest_bridge import BridgeSettings
from rest_bridge.limits import HEADER_LIMIT
from rest_bridge.upload import IMAGE_TYPES
from tests.support import (
    CAT,
    DEFAULT_MODEL,
    SAMPLES,
    SEEDS,
    animated_gif,
    assert_error,
    cat,
    declared_size_jpeg,
    exif_rotated_jpeg,
    first_frame_cat,
    gif,
    jpeg,
    mutated_images,
    noise,
    png_16_bit,
    png_bomb,
    running_bridge,
    save,
    tall_png,
)

pytestmark = pytest.mark.bridge

SMALL_LIMIT = 4096
NOT_AN_IMAGE = "not a JPEG, PNG, BMP or WebP"


def post(http: httpx.Client, data: bytes, content_type: str, multipart: bool = False, **params) -> httpx.Response:
    """POST /v1/segment with the image as the raw body or as the multipart field `file`."""
    if multipart:
        return http.post("/v1/segment", params=params, files={"file": ("image", data, content_type)})
    return http.post("/v1/segment", params=params, content=data, headers={"Content-Type": content_type})




def assert_segmented(response: httpx.Response, size: tuple[int, int], label: str | None = None) -> None:
    """A 200 whose class-id PNG (or overlay) and headers have the input's width and height."""
    assert response.status_code == 200, response.text
    assert (int(response.headers["x-image-width"]), int(response.headers["x-image-height"])) == size
    image = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image is not None and image.shape[:2] == (size[1], size[0])
    if label:
        assert f"{label}:" in response.headers["x-classes"]


UPLOADS = pytest.mark.parametrize("multipart", [False, True], ids=["raw", "multipart"])

# name: (body, the content type it is sent as, the start of the server's reason). All 422: the server read
# the bytes and refused them (INVALID_ARGUMENT). The content type is a claim the server does not trust.
BAD = {
    "zero bytes": (b"", "image/jpeg", "empty"),
    "random bytes": (np.random.default_rng(1).bytes(5000), "image/jpeg", NOT_AN_IMAGE),
    "text": (b"just some text, not a picture", "image/png", NOT_AN_IMAGE),
    "GIF": (gif(), "image/png", NOT_AN_IMAGE),
    "animated GIF": (animated_gif(), "image/webp", NOT_AN_IMAGE),
    "truncated JPEG": (jpeg((640, 480))[:700], "image/jpeg", "could not decode the JPEG"),
    "truncated PNG": (save(noise(64, 48), "PNG")[:4000], "image/png", "could not decode the PNG"),
    # The REST counterpart of raw pixels whose byte count does not match the size: a BMP's header declares
    # 64x48x3 bytes of pixels, the body holds fewer.
    "BMP shorter than its size": (save(noise(64, 48), "BMP")[:4000], "image/bmp", "could not decode the BMP"),
    "PNG bomb": (png_bomb(20000, 20000), "image/png", "20000x20000 = 400000000 pixels"),
    "JPEG header over the limit": (declared_size_jpeg(60000, 60000), "image/jpeg", "60000x60000 = 3600000000 pixels"),
    "side over a million": (tall_png(1, 1_000_001), "image/png", "a side may be at most 1000000 pixels"),
}


@UPLOADS
@pytest.mark.parametrize("case", BAD)
def test_bad_images_are_422_with_the_reason(http, case, multipart):
    data, content_type, reason = BAD[case]
    assert reason in assert_error(post(http, data, content_type, multipart), 422)


# name: (body, content type, (width, height) of the mask, a label the mask must have or None)
VALID = {
    "1x600 JPEG": lambda: (save(noise(1, 600), "JPEG"), "image/jpeg", (1, 600), None),
    "600x1 JPEG": lambda: (save(noise(600, 1), "JPEG"), "image/jpeg", (600, 1), None),
    "1x2000 PNG": lambda: (save(noise(1, 2000), "PNG"), "image/png", (1, 2000), None),
    "2000x1 PNG": lambda: (save(noise(2000, 1), "PNG"), "image/png", (2000, 1), None),
    "600x1 JPEG turned by EXIF": lambda: (exif_rotated_jpeg(600, 1), "image/jpeg", (1, 600), None),
    "CMYK JPEG": lambda: (save(cat().convert("CMYK"), "JPEG", quality=90), "image/jpeg", (1280, 720), "cat"),
    "16-bit RGB PNG": lambda: (png_16_bit(cat((640, 360))), "image/png", (640, 360), "cat"),
    "animated WebP": lambda: (first_frame_cat("WEBP"), "image/webp", (640, 360), "cat"),
}


@UPLOADS
@pytest.mark.parametrize("case", VALID)
def test_valid_but_odd_images_are_segmented(http, case, multipart):
    data, content_type, size, label = VALID[case]()
    assert_segmented(post(http, data, content_type, multipart), size, label)


@pytest.mark.parametrize("case", VALID)
def test_the_overlay_of_an_odd_image_has_its_size(http, case):
    # The overlay is the one format the bridge decodes the input for (with OpenCV, not the server's Pillow).
    data, content_type, size, label = VALID[case]()
    response = post(http, data, content_type, format="overlay", image_format="png")
    assert response.headers.get("content-type") == "image/png", response.text
    assert_segmented(response, size, label)


def test_an_animated_webp_is_the_mask_of_its_first_frame(http):
    still = post(http, save(cat((640, 360)), "WEBP", lossless=True), "image/webp")
    animated = post(http, first_frame_cat("WEBP"), "image/webp")
    assert animated.status_code == still.status_code == 200
    assert animated.content == still.content


def test_a_file_name_with_path_characters_is_only_a_name(http):
    response = http.post("/v1/segment", files={"file": ("../../etc/passwd", jpeg(), "image/jpeg")})
    assert_segmented(response, (64, 48))


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/json", "application/octet-stream",
                                          "image/gif", "multipart/mixed; boundary=x"])
def test_a_wrong_content_type_is_415(http, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    response = http.post("/v1/segment", content=jpeg(), headers=headers)
    assert "image/jpeg" in assert_error(response, 415)


@pytest.mark.parametrize("model", ["nope", "../../etc/passwd", "..\\..\\windows\\win.ini", "%2e%2e%2f", "a\nb"])
def test_an_unknown_or_path_like_model_is_404_naming_it(http, model):
    detail = assert_error(post(http, jpeg(), "image/jpeg", model=model), 404)
    assert f"unknown model {model!r}" in detail and DEFAULT_MODEL in detail


def test_a_model_id_too_long_is_422(http):
    assert "query.model" in assert_error(post(http, jpeg(), "image/jpeg", model="x" * 10_000), 422)


@pytest.mark.parametrize("path", ["/v1/models/..%2F..%2Fetc%2Fpasswd", "/v1/models/nope"])
def test_a_path_like_model_in_the_url_is_404(http, path):
    assert_error(http.get(path), 404)


# ---- multipart that is malformed, crowded or bloated: Starlette's 400, as JSON

BOUNDARY = "bad-input-boundary"


def multipart_body(*parts: tuple[str, bytes]) -> bytes:
    """A multipart body from (headers of the part, content) pairs."""
    body = b"".join(f"--{BOUNDARY}\r\n{head}\r\n\r\n".encode() + content + b"\r\n" for head, content in parts)
    return body + f"--{BOUNDARY}--\r\n".encode()


FILE_PART = 'Content-Disposition: form-data; name="file"; filename="a.jpg"\r\nContent-Type: image/jpeg'
MULTIPART = {
    "three files": (multipart_body(*[(FILE_PART, jpeg())] * 3), "Too many files"),
    "1500 fields": (multipart_body((FILE_PART, jpeg()), *[(f'Content-Disposition: form-data; name="f{i}"', b"x")
                                                          for i in range(1500)]), "Too many fields"),
    "a 2 MB text field": (multipart_body((FILE_PART, jpeg()), ('Content-Disposition: form-data; name="note"',
                                                               b"x" * 2_000_000)), "exceeded maximum size"),
    "a 200 kB part header": (multipart_body((FILE_PART + "\r\nX-Junk: " + "a" * 200_000, jpeg())), "multipart"),
    "5000 part headers": (multipart_body((FILE_PART + "".join(f"\r\nX-H{i}: v" for i in range(5000)), jpeg())),
                          "multipart"),
    "binary garbage": (b"\0\xff" * 1000, "multipart"),
}


@pytest.mark.parametrize("case", MULTIPART)
def test_crowded_or_malformed_multipart_is_400(http, case):
    body, reason = MULTIPART[case]
    response = http.post("/v1/segment", content=body,
                         headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    assert reason.lower() in assert_error(response, 400).lower()


def test_multipart_cut_before_its_end_is_422_without_an_image(http):
    # Starlette's parser drops a part cut short instead of failing the form: no file arrives.
    body = multipart_body((FILE_PART, jpeg()))[:-30]
    response = http.post("/v1/segment", content=body,
                         headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    assert "no file field named 'file'" in assert_error(response, 422)


def test_multipart_without_a_boundary_is_400(http):
    response = http.post("/v1/segment", content=b"abc", headers={"Content-Type": "multipart/form-data"})
    assert "boundary" in assert_error(response, 400)


# ---- headers too large: uvicorn's default parser (httptools) takes any size; the bridge answers 431


@pytest.mark.parametrize("headers", [{"X-Big": "a" * 100_000}, {f"X-H{i}": "v" * 30 for i in range(3000)}],
                         ids=["one 100 kB header", "3000 headers"])
def test_headers_too_large_are_refused_and_the_bridge_serves_on(http, headers):
    response = http.post("/v1/segment", content=jpeg(), headers={"Content-Type": "image/jpeg", **headers})
    if response.status_code == 400:  # uvicorn's h11 parser refuses past 16 KiB by itself, in plain text
        assert "json" not in response.headers.get("content-type", "")
    else:
        assert f"limit of {HEADER_LIMIT} bytes" in assert_error(response, 431)
    assert_segmented(post(http, jpeg(), "image/jpeg"), (64, 48))


def test_headers_under_the_limit_are_fine(http):
    response = http.post("/v1/segment", content=jpeg(),
                         headers={"Content-Type": "image/jpeg", "Authorization": "Bearer " + "t" * 8000})
    assert_segmented(response, (64, 48))


# ---- a body over the configured upload limit: 413 before it is read, and the bridge serves on


def test_a_body_over_a_small_limit_is_413_and_the_bridge_serves_on(grpc_address):
    big = (SAMPLES / CAT).read_bytes()
    small = jpeg()
    assert len(small) < SMALL_LIMIT < len(big)
    with (running_bridge(BridgeSettings(grpc={"target": grpc_address}, upload_limit_bytes=SMALL_LIMIT)) as url,
          httpx.Client(base_url=url, timeout=60) as client):
        for multipart in (False, True):
            detail = assert_error(post(client, big, "image/jpeg", multipart), 413)
            assert f"limit of {SMALL_LIMIT} bytes" in detail
        for multipart in (False, True):
            assert_segmented(post(client, small, "image/jpeg", multipart), (64, 48))


# ---- afterwards


def test_the_bridge_and_the_server_still_serve_after_the_corpus(http, grpc_address):
    for data, content_type, _ in BAD.values():
        assert post(http, data, content_type).status_code == 422
    for body, _ in MULTIPART.values():
        http.post("/v1/segment", content=body, headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    http.post("/v1/segment", content=jpeg(), headers={"Content-Type": "image/jpeg", "X-Big": "a" * 100_000})
    assert_segmented(post(http, (SAMPLES / CAT).read_bytes(), "image/jpeg"), (1280, 720), "cat")
    assert http.get("/readyz").status_code == 200
    with grpc.insecure_channel(grpc_address) as channel:
        response = pb_grpc.SegmenterStub(channel).Segment(
            pb.SegmentRequest(image=pb.Image(encoded=(SAMPLES / CAT).read_bytes())), timeout=30)
    assert "cat" in [c.label for c in response.classes]


# ---- the property


@st.composite
def damaged_pixels(draw) -> bytes:
    """A seed image with a few bytes changed past its header: often still decodable, but not as it was."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        data[draw(st.integers(len(data) // 3, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


@settings(max_examples=60, deadline=None)
@given(data=st.one_of(mutated_images(), damaged_pixels()), content_type=st.sampled_from(IMAGE_TYPES),
       multipart=st.booleans(), output=st.sampled_from(["png", "color", "overlay", "json"]))
def test_mutated_images_never_get_a_server_error(http, data, content_type, multipart, output):
    response = post(http, data, content_type, multipart, format=output)
    event(f"HTTP {response.status_code}")  # pytest --hypothesis-show-statistics shows the mix
    assert response.status_code < 500, f"{response.status_code}: {response.text[:300]}"
    if response.status_code == 200:
        assert int(response.headers["x-image-width"]) > 0 and int(response.headers["x-image-height"]) > 0
    else:
        assert_error(response, 422)
