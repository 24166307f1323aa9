"""Pure functions of the pipeline: decoding, letterboxing, mask restore and encoding, error mapping."""

from __future__ import annotations

import io

import cv2
import grpc
import numpy as np
import pytest
from PIL import Image

from server import errors, imaging, status
from server.errors import InvalidImage
from server.imaging import EncodedImage, RawPixels
from server.palette import pascal_palette
from server.pipeline import class_areas


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def gradient(width: int, height: int) -> np.ndarray:
    x = np.linspace(0, 255, width, dtype=np.uint8)
    return np.stack([np.tile(x, (height, 1))] * 3, axis=-1)


def test_letterbox_keeps_aspect_and_pads_bottom_right():
    canvas, valid = imaging.letterbox(np.full((100, 200, 3), 7, np.uint8), 64, (1, 2, 3))
    assert canvas.shape == (64, 64, 3)
    assert valid == (32, 64)
    assert (canvas[:32] == 7).all()
    assert (canvas[32:] == (1, 2, 3)).all()


def test_restore_mask_maps_back_to_input_resolution():
    model_mask = np.zeros((64, 64), np.uint8)
    model_mask[:32, 32:] = 5  # right half of the picture area
    model_mask[32:] = 9  # padding, must be cut off
    mask = imaging.restore_mask(model_mask, (32, 64), width=200, height=100)
    assert mask.shape == (100, 200)
    assert set(np.unique(mask)) == {0, 5}
    assert (mask[:, 100:] == 5).all() and (mask[:, :100] == 0).all()


def test_png_mask_round_trips_class_ids():
    mask = np.random.default_rng(0).integers(0, 21, (37, 53), dtype=np.uint8)
    decoded = cv2.imdecode(np.frombuffer(imaging.encode_png(mask), np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded.dtype == np.uint8 and decoded.ndim == 2
    np.testing.assert_array_equal(decoded, mask)


def test_class_areas_are_sorted_and_sum_to_one():
    mask = np.zeros((10, 10), np.uint8)
    mask[:3] = 8
    mask[3:4] = 15
    areas = class_areas(mask, ["background"] + [f"c{i}" for i in range(1, 21)])
    assert [a.class_id for a in areas] == [0, 8, 15]
    assert [a.pixel_count for a in areas] == [60, 30, 10]
    assert sum(a.fraction for a in areas) == pytest.approx(1.0)


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "RGB"])
def test_png_modes_decode_to_rgb(mode):
    img = Image.fromarray(gradient(40, 30)).convert(mode)
    decoded = imaging.decode(EncodedImage(encode(img, "PNG")), 10**6)
    assert decoded.rgb.shape == (30, 40, 3) and decoded.rgb.dtype == np.uint8
    assert (decoded.width, decoded.height) == (40, 30)


def test_16_bit_png_is_scaled_not_clipped():
    values = np.linspace(0, 65535, 64, dtype=np.uint16).reshape(8, 8)
    decoded = imaging.decode(EncodedImage(encode(Image.fromarray(values), "PNG")), 10**6)
    assert decoded.rgb.max() == 255 and decoded.rgb.min() == 0
    assert len(np.unique(decoded.rgb)) > 32  # a clip at 255 would leave almost every pixel white


def test_exif_orientation_is_applied():
    img = Image.fromarray(gradient(40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    decoded = imaging.decode(EncodedImage(encode(img, "JPEG", exif=exif.tobytes())), 10**6)
    assert (decoded.width, decoded.height) == (20, 40)
    assert decoded.rgb.shape[:2] == (40, 20)


def test_cmyk_jpeg_and_webp_decode():
    img = Image.fromarray(gradient(32, 16))
    for data in (encode(img.convert("CMYK"), "JPEG"), encode(img, "WEBP")):
        assert imaging.decode(EncodedImage(data), 10**6).rgb.shape == (16, 32, 3)


def test_large_jpeg_is_decoded_reduced_but_reports_full_size():
    data = encode(Image.fromarray(gradient(2048, 1024)), "JPEG")
    decoded = imaging.decode(EncodedImage(data), 10**7, target=(513, 513))
    assert (decoded.width, decoded.height) == (2048, 1024)
    assert 513 <= decoded.rgb.shape[1] < 2048


def test_raw_bgr_is_converted():
    bgr = np.zeros((2, 3, 3), np.uint8)
    bgr[..., 0] = 255  # blue
    decoded = imaging.decode(RawPixels(bgr.tobytes(), 3, 2, bgr=True), 100)
    assert (decoded.rgb[..., 2] == 255).all() and (decoded.rgb[..., 0] == 0).all()


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (EncodedImage(b""), "empty"),
        (EncodedImage(b"hello, this is text"), "not a JPEG, PNG, BMP or WebP"),
        (RawPixels(b"\0" * 10, 2, 2), "needs 12 bytes"),
        (RawPixels(b"", 0, 0), "no pixels"),
    ],
)
def test_bad_input_is_refused_with_a_reason(image, message):
    with pytest.raises(InvalidImage, match=message):
        imaging.decode(image, 10**6)


def test_pixel_limit_is_checked_from_the_header():
    data = encode(Image.new("L", (4000, 3000)), "PNG")
    with pytest.raises(InvalidImage, match="4000x3000 = 12000000 pixels, over the limit of 1000000"):
        imaging.decode(EncodedImage(data), 10**6)


def test_truncated_files_are_refused():
    for fmt in ("JPEG", "PNG"):
        data = encode(Image.fromarray(gradient(64, 64)), fmt)
        with pytest.raises(InvalidImage, match="could not decode|unreadable"):
            imaging.decode(EncodedImage(data[: len(data) // 2]), 10**6)


def test_error_table_maps_every_domain_error():
    assert status.status_code(errors.InvalidImage("x")) is grpc.StatusCode.INVALID_ARGUMENT
    assert status.status_code(errors.UnknownModel("x")) is grpc.StatusCode.NOT_FOUND
    assert status.status_code(errors.ModelUnavailable("x")) is grpc.StatusCode.FAILED_PRECONDITION
    assert status.status_code(errors.Overloaded("x")) is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert status.status_code(errors.ShuttingDown("x")) is grpc.StatusCode.UNAVAILABLE


def test_palette_is_the_pascal_colour_map():
    palette = pascal_palette(21)
    assert palette[0] == (0, 0, 0) and palette[1] == (128, 0, 0) and palette[15] == (192, 128, 128)
    assert len(set(palette)) == 21
