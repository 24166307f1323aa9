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
OVERLAY, MASK, BLUR, CUTOUT = "Overlay", "Mask", "Blur background", "Remove background"


class UnreadableImage(ValueError):
    """The file is not an image this page can show."""


@dataclass(frozen=True)
class Display:
    """How a result is drawn: the view (OVERLAY, MASK, BLUR or CUTOUT), the overlay's opacity, class outlines
    or not."""

    view: str = OVERLAY
    opacity: float = 0.6
    outlines: bool = True

    def as_view(self) -> View:
        """The client library's View of these controls: the page's labels are its modes in words."""
        mode = {OVERLAY: "overlay", MASK: "mask", CUTOUT: "cutout"}.get(self.view, "original")
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


def render(image: np.ndarray, mask: np.ndarray, palette: np.ndarray, display: Display,
           alpha: np.ndarray | None = None) -> np.ndarray:
    """The result picture as the page's controls say: the client library's `render` of `display.as_view()`.
    `alpha` is the soft mask, when the model gives one: the blur and the removal then fade along the outline."""
    return draw(image, mask, palette, display.as_view(), alpha)


def cutout(image: np.ndarray, mask: np.ndarray, alpha: np.ndarray | None = None) -> np.ndarray:
    """The picture with its background transparent: (H, W, 4), the soft mask (or every class but 0) as alpha."""
    if alpha is None:
        alpha = np.where(mask != 0, np.uint8(255), np.uint8(0))
    return np.dstack([image, alpha])


def cutout_png(image: np.ndarray, mask: np.ndarray, alpha: np.ndarray | None = None) -> bytes:
    """`cutout` of RGB pixels, as an RGBA PNG file."""
    return png_bytes(cutout(image, mask, alpha))


def render_png(image: np.ndarray, mask: np.ndarray, palette: np.ndarray, display: Display,
               alpha: np.ndarray | None = None) -> bytes:
    """`render` of RGB pixels, as a PNG file (RGBA for the cut-out)."""
    return png_bytes(render(image, mask, palette, display, alpha))


def coloured_mask_png(mask: np.ndarray, palette: np.ndarray) -> bytes:
    """The class colours alone, without outlines: the plain coloured mask."""
    return png_bytes(colorize(mask, palette))


def png_bytes(pixels: np.ndarray, *, rgb: bool = True) -> bytes:
    """A PNG file of a mask (H, W) or a picture (H, W, 3), or (H, W, 4) with alpha."""
    if pixels.ndim == 3 and rgb:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_RGBA2BGRA if pixels.shape[2] == 4 else cv2.COLOR_RGB2BGR)
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
