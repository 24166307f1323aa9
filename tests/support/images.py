"""Images for tests: odd, hostile and mutated files, made in memory, and a small video of the samples."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
from hypothesis import strategies as st
from PIL import Image

from tests.support.paths import SAMPLES


def png_bomb(width: int, height: int) -> bytes:
    """A valid greyscale PNG of the given size whose zero rows compress to almost nothing."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    compressor = zlib.compressobj(9)
    row = b"\0" * (width + 1)
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def jpeg(size=(64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 10, 10)).save(buf, "JPEG")
    return buf.getvalue()


def gif() -> bytes:
    buf = io.BytesIO()
    Image.new("P", (8, 8)).save(buf, "GIF")
    return buf.getvalue()


def save(img: Image.Image, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **options)
    return buf.getvalue()


def noise(width: int, height: int) -> Image.Image:
    """Incompressible pixels, so that half of the file is half of the picture."""
    return Image.fromarray(np.random.default_rng(2).integers(0, 256, (height, width, 3), dtype=np.uint8))


def animated(fmt: str, frames: list[Image.Image], **options) -> bytes:
    data = save(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0, **options)
    assert Image.open(io.BytesIO(data)).n_frames == len(frames)
    return data


def animated_gif() -> bytes:
    return animated("GIF", [Image.new("RGB", (16, 16), colour) for colour in ("red", "green", "blue")])


def declared_size_jpeg(width: int, height: int) -> bytes:
    """A small JPEG whose frame header (SOF0) claims another size: a lie only the header check sees."""
    data = jpeg()
    at = data.index(b"\xff\xc0")  # marker, length (2), precision (1), height (2), width (2)
    return data[: at + 5] + struct.pack(">HH", height, width) + data[at + 9 :]


def exif_rotated_jpeg(width: int, height: int) -> bytes:
    """A width x height JPEG whose EXIF orientation (6) turns it to height x width for display."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return save(noise(width, height), "JPEG", exif=exif.tobytes())


def cat(size: tuple[int, int] | None = None) -> Image.Image:
    img = Image.open(SAMPLES / "cat_720p.jpg").convert("RGB")
    return img.resize(size) if size else img


def png_16_bit(img: Image.Image, alpha: bool = False) -> bytes:
    """48-bit RGB (or 64-bit RGBA) PNG: every 8-bit value v stored as v * 257."""
    rgb = np.asarray(img, np.uint16) * 257
    channels = [rgb[..., 2], rgb[..., 1], rgb[..., 0]]  # OpenCV writes BGR(A)
    if alpha:
        channels.append(np.full(rgb.shape[:2], 65535, np.uint16))
    ok, buf = cv2.imencode(".png", np.dstack(channels))
    assert ok
    data = buf.tobytes()
    assert data[24:26] == bytes([16, 6 if alpha else 2])  # IHDR: bit depth 16, colour type RGB(A)
    return data


def first_frame_cat(fmt: str) -> bytes:
    """An animated image whose first frame is the cat and whose later frames are flat grey."""
    frames = [cat((640, 360))] + [Image.new("RGB", (640, 360), (grey,) * 3) for grey in (128, 90)]
    return animated(fmt, frames, **({"lossless": True} if fmt == "WEBP" else {}))


def tall_png(width: int, height: int) -> bytes:
    """A flat PNG; very long and thin ones are a few kB."""
    return save(Image.new("RGB", (width, height), (40, 90, 160)), "PNG")


def _seed(fmt: str, mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, (48, 32), (30, 120, 200) if mode == "RGB" else 90).save(buf, fmt)
    return buf.getvalue()


SEEDS = [_seed("JPEG"), _seed("PNG"), _seed("BMP"), _seed("WEBP"), _seed("PNG", "L")]


@st.composite
def mutated_images(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 64))]
    return bytes(data)


def write_traffic_video(path: Path, repeats: int = 2, fps: float = 5.0) -> int:
    """A small MP4 of the sample traffic frames (256x256), each repeated; returns the frame count."""
    frames = [cv2.imread(str(p)) for p in sorted((SAMPLES / "traffic_frames").glob("*.bmp"))] * repeats
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (256, 256))
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()
    return len(frames)
