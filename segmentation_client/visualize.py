"""Drawing masks: written once here for the bridge, the UI and the webcam client.

These need OpenCV, which the client library alone does not install: either build does, the GUI one
(`pip install '.[webcam]'`) or the headless one (`'.[service]'`). The rest of the library runs without it.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

from segmentation_client._results import ModelInfo


def _cv2() -> ModuleType:
    try:
        import cv2
    except ImportError:
        raise ImportError("drawing masks needs OpenCV: pip install opencv-python (or the headless build)") from None
    return cv2


def palette_array(palette: np.ndarray | ModelInfo) -> np.ndarray:
    """A (256, 3) uint8 lookup table; ids beyond the palette draw black."""
    colors = palette.palette if isinstance(palette, ModelInfo) else np.asarray(palette, dtype=np.uint8)
    table = np.zeros((256, 3), np.uint8)
    table[: len(colors)] = colors[:256]
    return table


def colorize(mask: np.ndarray, palette: np.ndarray | ModelInfo) -> np.ndarray:
    """The mask drawn in the model's class colours: (H, W, 3) uint8 RGB."""
    # A user colour map is a plain lookup table, an order of magnitude faster than numpy indexing.
    colors: np.ndarray = _cv2().applyColorMap(mask, palette_array(palette).reshape(256, 1, 3))
    return colors


def overlay(image: np.ndarray, mask: np.ndarray, palette: np.ndarray | ModelInfo, opacity: float = 0.5,
            *, skip_background: bool = True) -> np.ndarray:
    """The coloured mask blended over an RGB image; background (class 0) left untouched when asked.

    The mask is resized (nearest) when the image has another size.
    """
    if not 0.0 <= opacity <= 1.0:
        raise ValueError("opacity must be between 0 and 1")
    cv2 = _cv2()
    if mask.shape[:2] != image.shape[:2]:
        mask = cv2.resize(mask, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_NEAREST_EXACT)
    colors = colorize(mask, palette)
    blended: np.ndarray = cv2.addWeighted(image, 1.0 - opacity, colors, opacity, 0.0)
    if skip_background:
        np.copyto(blended, image, where=(mask == 0)[..., None])
    return blended


def blur_background(image: np.ndarray, mask: np.ndarray, background: int = 0, ksize: int = 31) -> np.ndarray:
    """The video-call effect: pixels of the background class blurred, the rest sharp."""
    cv2 = _cv2()
    if mask.shape[:2] != image.shape[:2]:
        mask = cv2.resize(mask, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_NEAREST_EXACT)
    blurred = cv2.GaussianBlur(image, (ksize | 1, ksize | 1), 0)
    out = image.copy()
    out[mask == background] = blurred[mask == background]
    return out
