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


def foreground_weight(mask: np.ndarray, alpha: np.ndarray | None = None, feather: int = 0,
                      background: int = 0) -> np.ndarray:
    """How much of each pixel is foreground, float32 0..1: the soft mask `alpha` (0..255) where there is
    one, else the pixels not of class `background`, their edge feathered over about `feather` pixels."""
    cv2 = _cv2()
    if alpha is not None:
        weight: np.ndarray = alpha.astype(np.float32) * np.float32(1 / 255)
    else:
        weight = (mask != background).astype(np.float32)
    if feather > 0:
        weight = cv2.GaussianBlur(weight, (2 * feather + 1, 2 * feather + 1), 0)
    return weight


def _to_size(plane: np.ndarray | None, image: np.ndarray, interpolation: int) -> np.ndarray | None:
    if plane is None or plane.shape[:2] == image.shape[:2]:
        return plane
    resized: np.ndarray = _cv2().resize(plane, (image.shape[1], image.shape[0]), interpolation=interpolation)
    return resized


def overlay(image: np.ndarray, mask: np.ndarray, palette: np.ndarray | ModelInfo, opacity: float = 0.5,
            *, skip_background: bool = True, alpha: np.ndarray | None = None, feather: int = 0) -> np.ndarray:
    """The coloured mask blended over an RGB image; background (class 0) left untouched when asked.

    With a soft mask (`alpha`, 0..255, as `SegmentResult.alpha`) the colour fades in with it, so the edge
    is soft; `feather` (pixels) softens a hard mask's edge instead. The mask (and alpha) is resized when
    the image has another size.
    """
    if not 0.0 <= opacity <= 1.0:
        raise ValueError("opacity must be between 0 and 1")
    cv2 = _cv2()
    mask = _to_size(mask, image, cv2.INTER_NEAREST_EXACT)  # type: ignore[assignment]  # never None here
    alpha = _to_size(alpha, image, cv2.INTER_LINEAR)
    if alpha is not None:
        mask = np.maximum(mask, 1)  # a soft mask is the foreground class's: colour its whole fade with it
    colors = colorize(mask, palette)
    if alpha is None and feather <= 0:
        blended: np.ndarray = cv2.addWeighted(image, 1.0 - opacity, colors, opacity, 0.0)
        if skip_background:
            np.copyto(blended, image, where=(mask == 0)[..., None])
        return blended
    weight = foreground_weight(mask, alpha, feather) if skip_background else np.ones(mask.shape, np.float32)
    weight *= np.float32(opacity)
    soft: np.ndarray = cv2.blendLinear(colors, image, weight, 1.0 - weight)
    return soft


def blur_background(image: np.ndarray, mask: np.ndarray, background: int = 0, ksize: int = 31, *,
                    alpha: np.ndarray | None = None, feather: int = 0) -> np.ndarray:
    """The video-call effect: pixels of the background class blurred, the rest sharp.

    With a soft mask (`alpha`, 0..255) sharp and blurred pictures are mixed pixel by pixel by it, so the
    outline is soft, as a camera's depth of field would make it; `feather` (pixels) softens a hard mask's
    edge instead.
    """
    cv2 = _cv2()
    mask = _to_size(mask, image, cv2.INTER_NEAREST_EXACT)  # type: ignore[assignment]  # never None here
    alpha = _to_size(alpha, image, cv2.INTER_LINEAR)
    blurred = cv2.GaussianBlur(image, (ksize | 1, ksize | 1), 0)
    if alpha is None and feather <= 0:
        out = image.copy()
        out[mask == background] = blurred[mask == background]
        return out
    weight = foreground_weight(mask, alpha, feather, background)
    mixed: np.ndarray = cv2.blendLinear(image, blurred, weight, 1.0 - weight)
    return mixed
