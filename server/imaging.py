"""Image decoding, letterboxing and mask encoding: pure functions on numpy arrays.

Decoding goes through Pillow so that the header (size, format, EXIF orientation)
is read before any pixel is decoded; resizing and PNG encoding go through
OpenCV, which is the faster of the two for both.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from server.errors import InvalidImage

FORMATS = ("JPEG", "PNG", "BMP", "WEBP")
# libpng refuses to write (or read) a PNG with a side over 1 000 000 pixels, so the mask of a
# longer image could not be sent; such an image (1 x 1 000 001 is a few kB) is refused up front.
MAX_SIDE = 1_000_000
_ORIENTATION_TAG = 0x0112
# Our own header check is the limit; Pillow's bomb check would only fire later
# and with a less helpful message.
Image.MAX_IMAGE_PIXELS = None


@dataclass(frozen=True)
class EncodedImage:
    """The bytes of an image file."""

    data: bytes


@dataclass(frozen=True)
class RawPixels:
    """Row-major 8-bit pixels, 3 channels, no padding."""

    data: bytes
    width: int
    height: int
    bgr: bool = False


@dataclass(frozen=True)
class DecodedImage:
    """RGB pixels plus the size the mask must have.

    `rgb` may be smaller than `width` x `height`: a JPEG is decoded at the
    smallest power-of-two reduction that still covers the model's input, since
    the model would throw the extra pixels away.
    """

    rgb: np.ndarray
    width: int
    height: int


def decode(
    image: EncodedImage | RawPixels, max_pixels: int, target: tuple[int, int] | None = None, stretch: bool = False
) -> DecodedImage:
    """Turn an encoded or raw image into RGB pixels, refusing what is not usable.

    `target` is the model's (height, width); a JPEG is then decoded only as large as resizing to it
    (letterboxed, or stretched when `stretch`) needs.
    """
    if isinstance(image, RawPixels):
        return _from_raw(image, max_pixels)
    return _from_encoded(image.data, max_pixels, target, stretch)


def _check_size(width: int, height: int, max_pixels: int) -> None:
    if width < 1 or height < 1:
        raise InvalidImage(f"image has no pixels ({width}x{height})", "CORRUPT_IMAGE")
    if max(width, height) > MAX_SIDE:
        raise InvalidImage(f"image is {width}x{height}; a side may be at most {MAX_SIDE} pixels", "IMAGE_TOO_LARGE")
    if width * height > max_pixels:
        raise InvalidImage(
            f"image is {width}x{height} = {width * height} pixels, over the limit of {max_pixels} pixels",
            "IMAGE_TOO_LARGE",
        )


def _from_raw(raw: RawPixels, max_pixels: int) -> DecodedImage:
    _check_size(raw.width, raw.height, max_pixels)
    expected = raw.width * raw.height * 3
    if len(raw.data) != expected:
        raise InvalidImage(
            f"raw image of {raw.width}x{raw.height} needs {expected} bytes (3 per pixel), got {len(raw.data)}",
            "BAD_RAW_IMAGE",
        )
    pixels: np.ndarray = np.frombuffer(raw.data, dtype=np.uint8).reshape(raw.height, raw.width, 3)
    if raw.bgr:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
    return DecodedImage(pixels, raw.width, raw.height)


def _from_encoded(data: bytes, max_pixels: int, target: tuple[int, int] | None, stretch: bool) -> DecodedImage:
    if not data:
        raise InvalidImage("image is empty (0 bytes)", "NO_IMAGE")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(io.BytesIO(data), formats=FORMATS)
    except UnidentifiedImageError:
        raise InvalidImage(f"not a JPEG, PNG, BMP or WebP image (starts with {data[:8]!r})",
                           "UNSUPPORTED_FORMAT") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InvalidImage(f"unreadable image header: {exc}") from None
    width, height = img.size
    _check_size(width, height, max_pixels)
    try:
        orientation = img.getexif().get(_ORIENTATION_TAG, 1)
        need = None
        if target and img.format == "JPEG":
            # The model's sides are those of the picture once turned upright.
            turned = orientation in (5, 6, 7, 8)
            need = _needed_size(width, height, (target[1], target[0]) if turned else target, stretch)
        rgb = _jpeg_with_opencv(img, data, need, orientation)
        if rgb is None:
            if need is not None:
                img.draft("RGB", need)
            img.load()
            upright = ImageOps.exif_transpose(img) if orientation != 1 else img
            rgb = _to_rgb(upright)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InvalidImage(f"could not decode the {img.format} image: {exc}") from None
    if orientation in (5, 6, 7, 8):  # these turn the picture by 90 degrees
        width, height = height, width
    return DecodedImage(rgb, width, height)


def _needed_size(width: int, height: int, target: tuple[int, int], stretch: bool) -> tuple[int, int] | None:
    """The smallest (width, height) that resizing to `target` needs, or None when it needs every pixel."""
    if stretch:
        need = (min(width, target[1]), min(height, target[0]))
    else:
        scale = min(target[1] / width, target[0] / height)
        if scale >= 1:
            return None
        need = (math.ceil(width * scale), math.ceil(height * scale))
    return need if need != (width, height) else None


# libjpeg-turbo through OpenCV decodes a JPEG faster than Pillow, most of all at reduced size (`python -m
# bench.choices` measures both), and decoding is the biggest cost of a frame after a fast model. Pillow
# still reads the header first (format, size limit, EXIF).
_REDUCED = {1: cv2.IMREAD_COLOR_RGB, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
            8: cv2.IMREAD_REDUCED_COLOR_8}
# EXIF orientation -> the turn that makes the picture upright, as ImageOps.exif_transpose does it.
_UPRIGHT: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    2: lambda a: cv2.flip(a, 1), 3: lambda a: cv2.rotate(a, cv2.ROTATE_180), 4: lambda a: cv2.flip(a, 0),
    5: cv2.transpose, 6: lambda a: cv2.rotate(a, cv2.ROTATE_90_CLOCKWISE), 7: lambda a: cv2.flip(cv2.transpose(a), -1),
    8: lambda a: cv2.rotate(a, cv2.ROTATE_90_COUNTERCLOCKWISE),
}


def _jpeg_with_opencv(img: Image.Image, data: bytes, need: tuple[int, int] | None, orientation: int) -> np.ndarray | None:
    """An RGB or greyscale JPEG decoded by OpenCV at Pillow's draft scale for `need`; None leaves it to Pillow.

    Pillow keeps what OpenCV would decode silently or differently: CMYK and other modes, and a file
    without its end marker (truncated: Pillow refuses it, OpenCV would fill the rest with grey).
    """
    if img.format != "JPEG" or img.mode not in ("RGB", "L") or not data.endswith(b"\xff\xd9"):
        return None
    scale = 1
    if need is not None:
        fits = min(img.size[0] // need[0], img.size[1] // need[1])
        scale = next(s for s in (8, 4, 2, 1) if fits >= s)  # Pillow's draft: the same DCT scaling
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), _REDUCED[scale] | cv2.IMREAD_IGNORE_ORIENTATION)
    if pixels is None:
        return None
    if scale > 1:  # the reduced modes give BGR only
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
    turn = _UPRIGHT.get(orientation)
    return np.ascontiguousarray(turn(pixels)) if turn else pixels


def _to_rgb(img: Image.Image) -> np.ndarray:
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: Pillow's own conversion clips at 255 instead of scaling.
        gray = (np.asarray(img, dtype=np.uint32) >> 8).clip(0, 255).astype(np.uint8)
        return cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.asarray(img)


def letterbox(
    rgb: np.ndarray, size: int | tuple[int, int], pad_value: tuple[int, int, int]
) -> tuple[np.ndarray, tuple[int, int]]:
    """Scale the picture to fit `size` ((height, width), or a square's side) keeping its aspect, pad the rest
    at the bottom and right; return the canvas and the (height, width) of the picture in it."""
    out_h, out_w = (size, size) if isinstance(size, int) else size
    height, width = rgb.shape[:2]
    scale = min(out_w / width, out_h / height)
    new_w = min(out_w, max(1, round(width * scale)))
    new_h = min(out_h, max(1, round(height * scale)))
    if (new_w, new_h) != (width, height):
        rgb = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    if (new_w, new_h) == (out_w, out_h):
        return np.ascontiguousarray(rgb), (new_h, new_w)
    canvas = cv2.copyMakeBorder(
        rgb, 0, out_h - new_h, 0, out_w - new_w, cv2.BORDER_CONSTANT, value=tuple(int(v) for v in pad_value)
    )
    return canvas, (new_h, new_w)


def stretch(rgb: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int]]:
    """Resize the whole picture to `size` (height, width), aspect not kept; same return as `letterbox`."""
    if rgb.shape[:2] != size:
        rgb = cv2.resize(rgb, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(rgb), size


def restore_mask(
    model_mask: np.ndarray, valid: tuple[int, int], width: int, height: int,
    input_size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Crop the padding off a model-resolution mask and scale it to the input's size.

    `valid` is the picture's (height, width) in the model's input of `input_size` (height, width); a
    model whose output is smaller than its input (say a quarter) has the crop scaled to match.
    """
    if input_size is not None and model_mask.shape[:2] != tuple(input_size):
        valid = (max(1, round(valid[0] * model_mask.shape[0] / input_size[0])),
                 max(1, round(valid[1] * model_mask.shape[1] / input_size[1])))
    crop = model_mask[: valid[0], : valid[1]]
    if crop.shape == (height, width):
        return np.ascontiguousarray(crop)
    return cv2.resize(crop, (width, height), interpolation=cv2.INTER_NEAREST_EXACT)


def encode_png(mask: np.ndarray, compression: int = 1) -> bytes:
    """An 8-bit single-channel PNG of the mask."""
    # No row filter and run-length zlib: masks are flat regions, so filtering buys nothing and costs
    # most of the time, and the file comes out smaller (`python -m bench.choices` measures time and size).
    params = [cv2.IMWRITE_PNG_COMPRESSION, compression, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE,
              cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]
    ok, buf = cv2.imencode(".png", mask, params)
    if not ok:  # pragma: no cover - OpenCV fails only on an invalid array
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()
