"""Pixels for the page: decoding inputs, drawing results, encoding downloads. No Streamlit here."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from segmentation_client import View, colorize
from segmentation_client import render as draw

IMAGE_TYPES = ("jpg", "jpeg", "png", "bmp", "webp")
OVERLAY, MASK, BLUR = "Overlay", "Mask", "Blur background"


class UnreadableImage(ValueError):
    """The file is not an image this page can show."""


@dataclass(frozen=True)
class Display:
    """How a result is drawn: the view (OVERLAY, MASK or BLUR), the overlay's opacity, class outlines or not."""

    view: str = OVERLAY
    opacity: float = 0.6
    outlines: bool = True

    def as_view(self) -> View:
        """The client library's View of these controls: the page's labels are its modes in words."""
        mode = {OVERLAY: "overlay", MASK: "mask"}.get(self.view, "original")
        return View(mode=mode, opacity=self.opacity, blur=self.view == BLUR, outlines=self.outlines)


@dataclass(frozen=True)
class InputImage:
    """One image to segment: where it came from and its file bytes."""

    name: str
    data: bytes

    @property
    def digest(self) -> str:
        # The cache key of the image: two uploads of the same file share a result.
        return hashlib.sha256(self.data).hexdigest()

    @property
    def stem(self) -> str:
        return Path(self.name).stem or "image"


def decode_rgb(data: bytes) -> np.ndarray:
    """RGB pixels of an image file, turned upright by its EXIF orientation as the server does."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            return np.asarray(ImageOps.exif_transpose(img).convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UnreadableImage(f"not a readable image: {exc}") from None


def render(image: np.ndarray, mask: np.ndarray, palette: np.ndarray, display: Display) -> np.ndarray:
    """The result picture as the page's controls say: the client library's `render` of `display.as_view()`."""
    return draw(image, mask, palette, display.as_view())


def render_png(image: np.ndarray, mask: np.ndarray, palette: np.ndarray, display: Display) -> bytes:
    """`render` of RGB pixels, as a PNG file."""
    return png_bytes(render(image, mask, palette, display))


def coloured_mask_png(mask: np.ndarray, palette: np.ndarray) -> bytes:
    """The class colours alone, without outlines: the plain coloured mask."""
    return png_bytes(colorize(mask, palette))


def png_bytes(pixels: np.ndarray, *, rgb: bool = True) -> bytes:
    """A PNG file of a mask (H, W) or a picture (H, W, 3)."""
    if pixels.ndim == 3 and rgb:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", pixels, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:  # pragma: no cover - OpenCV fails only on an invalid array
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def list_samples(folder: Path) -> list[Path]:
    """The sample photographs in a folder, by name; reference masks are left out (nothing to segment)."""
    if not folder.is_dir():
        return []
    return sorted(
        path for path in folder.iterdir()
        if path.suffix.lower().lstrip(".") in IMAGE_TYPES and not path.stem.endswith("_mask")
    )
