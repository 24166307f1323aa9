"""Turning a SegmentResult into what the bridge sends: images, JSON and headers. Pure functions.

The `png` answer is the server's own PNG, passed through untouched. `color`
adds a palette to that same PNG without touching its pixels. Only `overlay`
draws: it decodes the input once, with OpenCV, and draws in BGR (OpenCV's
order) by reversing the palette, so no image is converted between orders.
"""

from __future__ import annotations

import base64
import struct
import zlib
from urllib.parse import quote

import cv2
import numpy as np

from rest_bridge.schemas import BoundingBox, ClassArea, ClassPresent, ImageFormat, SegmentJSON, StageTimings
from segmentation_client import InvalidInput, SegmentResult, Timings
from segmentation_client.visualize import colorize, overlay, palette_array

PNG_FAST = [cv2.IMWRITE_PNG_COMPRESSION, 1]  # masks compress well even at level 1, and it is several times faster
JPEG_QUALITY = [cv2.IMWRITE_JPEG_QUALITY, 90]
_SERVER_STAGES = ("decode", "preprocess", "inference", "postprocess", "encode", "queue")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_GREY, _INDEXED = 0, 3  # PNG colour types


def _encode(image: np.ndarray, image_format: ImageFormat) -> bytes:
    ext, params = (".png", PNG_FAST) if image_format is ImageFormat.png else (".jpg", JPEG_QUALITY)
    ok, buf = cv2.imencode(ext, image, params)
    if not ok:
        raise RuntimeError(f"OpenCV could not encode a {image.shape} image as {ext}")
    return buf.tobytes()


def mask_png(result: SegmentResult) -> bytes:
    """The class-id PNG: the server's bytes, or encoded here if it sent raw ids."""
    if result.mask_png:
        return result.mask_png
    return _encode(result.mask, ImageFormat.png)


def _png_chunks(png: bytes) -> list[tuple[bytes, bytes]] | None:
    """(type, data) of each chunk, or None when the bytes are not a well-formed PNG."""
    if not png.startswith(_PNG_SIGNATURE):
        return None
    chunks, at = [], len(_PNG_SIGNATURE)
    while at + 12 <= len(png):
        (length,) = struct.unpack_from(">I", png, at)
        kind, data = png[at + 4:at + 8], png[at + 8:at + 8 + length]
        if len(data) != length:
            return None
        chunks.append((kind, data))
        at += 12 + length
    return chunks if chunks and chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND" else None


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def paletted_png(png: bytes, palette: np.ndarray) -> bytes | None:
    """The server's class-id PNG made an indexed-colour PNG in the palette's colours; None if it cannot be.

    An 8-bit greyscale PNG and an 8-bit indexed one store their pixels the same
    way, so setting the colour type in IHDR and adding a PLTE chunk colours the
    mask without decoding or re-encoding a pixel. Ancillary chunks are dropped.
    """
    chunks = _png_chunks(png)
    if chunks is None or len(chunks[0][1]) != 13:
        return None
    header = bytearray(chunks[0][1])
    if header[8] != 8 or header[9] != _GREY:  # bit depth, colour type
        return None
    header[9] = _INDEXED
    # All 256 entries, so any class id is a valid index; ids past the palette draw black.
    parts = [_PNG_SIGNATURE, _chunk(b"IHDR", bytes(header)), _chunk(b"PLTE", palette_array(palette).tobytes())]
    parts += [_chunk(kind, data) for kind, data in chunks if kind == b"IDAT"]
    parts.append(_chunk(b"IEND", b""))
    return b"".join(parts)


def color_png(result: SegmentResult, palette: np.ndarray) -> bytes:
    """The mask in its palette colours, as a PNG: the server's PNG with a palette, else drawn and encoded."""
    if result.mask_png and (png := paletted_png(result.mask_png, palette)) is not None:
        return png
    return _encode(colorize(result.mask, palette[:, ::-1]), ImageFormat.png)


def overlay_image(image: bytes, mask: np.ndarray, palette: np.ndarray, opacity: float,
                  image_format: ImageFormat) -> bytes:
    """The coloured mask blended over the input image (background left as it was)."""
    # IMREAD_COLOR applies the EXIF orientation, as the server's decoder does, so the mask lines up.
    bgr = cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InvalidInput("the server read the image but OpenCV cannot decode it to draw an overlay")
    return _encode(overlay(bgr, mask, palette[:, ::-1], opacity), image_format)


def alpha_png(result: SegmentResult) -> bytes:
    """The soft mask as an 8-bit greyscale PNG: the server's bytes, or encoded here if it sent raw ones."""
    if result.alpha_png:
        return result.alpha_png
    if result.alpha is None:
        raise InvalidInput("the server sent no soft mask")
    return _encode(result.alpha, ImageFormat.png)


def cutout_alpha(result: SegmentResult, foreground: frozenset[int], soft: bool) -> np.ndarray:
    """The cut-out's alpha: the soft mask (or its inverse, for class 0) where the model gives one and the
    foreground is one of its two classes; else 255 on the foreground classes' pixels, 0 elsewhere."""
    alpha = result.alpha
    if soft and alpha is not None and foreground and foreground <= {0, 1}:
        if foreground == {1}:
            return alpha
        return 255 - alpha if foreground == {0} else np.full_like(alpha, 255)
    table = np.zeros(256, np.uint8)
    table[sorted(foreground)] = 255
    lut: np.ndarray = cv2.LUT(result.mask, table)
    return lut


def cutout_png(image: bytes, alpha: np.ndarray) -> bytes:
    """The input as an RGBA PNG whose alpha is `alpha`: the background transparent."""
    bgr = cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InvalidInput("the server read the image but OpenCV cannot decode it to cut it out")
    if bgr.shape[:2] != alpha.shape:
        raise InvalidInput(f"the image decodes to {bgr.shape[1]}x{bgr.shape[0]} here but the server's mask is "
                           f"{alpha.shape[1]}x{alpha.shape[0]}")
    return _encode(np.dstack([bgr, alpha]), ImageFormat.png)


def _color(palette: np.ndarray, class_id: int) -> list[int]:
    return [int(c) for c in palette[class_id]] if class_id < len(palette) else [0, 0, 0]


def timings_out(t: Timings) -> StageTimings:
    return StageTimings(decode_ms=t.decode_ms, preprocess_ms=t.preprocess_ms, inference_ms=t.inference_ms,
                        postprocess_ms=t.postprocess_ms, encode_ms=t.encode_ms, queue_ms=t.queue_ms,
                        total_ms=t.total_ms)


def classes_out(result: SegmentResult) -> list[ClassArea]:
    return [ClassArea(class_id=c.class_id, label=c.label, fraction=c.fraction, pixel_count=c.pixel_count)
            for c in result.classes]


def segment_json(result: SegmentResult, palette: np.ndarray) -> SegmentJSON:
    """The `format=json` body: classes with colour and bounding box, timings, the mask as base64 PNG."""
    classes = []
    for c in result.classes:
        box = result.bounding_box(c.class_id) or (0, 0, 0, 0)
        classes.append(ClassPresent(
            class_id=c.class_id, label=c.label, fraction=c.fraction, pixel_count=c.pixel_count,
            color=_color(palette, c.class_id), bbox=BoundingBox(x_min=box[0], y_min=box[1], x_max=box[2], y_max=box[3]),
        ))
    width, height = result.size
    return SegmentJSON(model=result.model, width=width, height=height, classes=classes,
                       timings=timings_out(result.timings), mask_png=base64.b64encode(mask_png(result)).decode())


def classes_header(result: SegmentResult) -> str:
    """X-Classes: "label:fraction" pairs, largest first, e.g. "background:0.555,cat:0.445".

    Labels are percent-encoded so any label fits a header; PASCAL's never need it.
    """
    return ",".join(f"{quote(c.label, safe='')}:{c.fraction:.3f}" for c in result.classes)


def server_timing(t: Timings, rpc_ms: float, render_ms: float) -> str:
    """A standard Server-Timing header: the server's stages, its total, and the bridge's own share."""
    parts = [f"{stage};dur={getattr(t, f'{stage}_ms'):.1f}" for stage in _SERVER_STAGES]
    parts += [f"total;dur={t.total_ms:.1f};desc=\"gRPC server\"", f"rpc;dur={rpc_ms:.1f};desc=\"gRPC round trip\"",
              f"render;dur={render_ms:.1f};desc=\"bridge drawing\""]
    return ", ".join(parts)


def result_headers(result: SegmentResult, rpc_ms: float, render_ms: float) -> dict[str, str]:
    width, height = result.size
    return {
        "X-Model": result.model,
        "X-Classes": classes_header(result),
        "X-Timings-Total-Ms": f"{result.timings.total_ms:.1f}",
        "X-Image-Width": str(width),
        "X-Image-Height": str(height),
        "Server-Timing": server_timing(result.timings, rpc_ms, render_ms),
    }
