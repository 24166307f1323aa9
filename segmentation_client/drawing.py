"""One way to draw a frame with its mask, for every live and still picture: `render(frame, mask, palette, view)`.

Works for RGB or BGR pixels alike, given a palette in the same channel order. Needs OpenCV, like the rest
of the drawing helpers (segmentation_client.visualize).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segmentation_client._results import ModelInfo
from segmentation_client.visualize import _cv2, blur_background, colorize, foreground_weight, overlay

MODES = ("overlay", "mask", "original")  # the modes `View.next_mode` cycles through
CUTOUT = "cutout"  # a mode of its own, outside the cycle: the background removed (black)


@dataclass
class View:
    """How a frame is drawn.

    `mode`: "overlay" (the coloured mask blended over the frame at `opacity`), "mask" (the coloured mask
    alone), "original" (the frame) or "cutout" (the frame with its background, class 0, black). `blur`: the background (class 0) blurred first, as in a video call.
    `outlines`: white lines along the class boundaries. Mutable, so a viewer's keys can change it.
    """

    mode: str = "overlay"
    opacity: float = 0.5
    blur: bool = False
    outlines: bool = False

    def __post_init__(self) -> None:
        if self.mode not in (*MODES, CUTOUT):
            raise ValueError(f"mode must be one of {', '.join((*MODES, CUTOUT))}, not {self.mode!r}")

    def next_mode(self) -> None:
        at = MODES.index(self.mode) if self.mode in MODES else -1
        self.mode = MODES[(at + 1) % len(MODES)]

    def change_opacity(self, delta: float) -> None:
        self.opacity = round(min(1.0, max(0.0, self.opacity + delta)), 2)


def render(frame: np.ndarray, mask: np.ndarray | None, palette: np.ndarray | ModelInfo, view: View,
           alpha: np.ndarray | None = None) -> np.ndarray:
    """The frame drawn as `view` says; the frame itself (not a copy) while there is no mask or nothing to draw.

    `alpha` is the soft mask (0..255, `SegmentResult.alpha`) of a model that gives one: the blur and the
    cut-out then fade along the outline instead of stepping. A mask (or alpha) of another size than the
    frame (a camera that changed resolution) is resized to it: the mask nearest, the alpha linearly.
    """
    if mask is None or mask.size == 0 or (view.mode == "original" and not view.blur and not view.outlines):
        return frame
    cv2 = _cv2()
    if mask.shape[:2] != frame.shape[:2]:
        mask = cv2.resize(mask, (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_NEAREST_EXACT)
    if alpha is not None and alpha.shape[:2] != frame.shape[:2]:
        alpha = cv2.resize(alpha, (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_LINEAR)
    picture = frame
    if view.blur:
        # A kernel that grows with the picture, so the effect looks alike at any resolution.
        picture = blur_background(picture, mask, ksize=max(31, min(mask.shape[:2]) // 12), alpha=alpha)
    if view.mode == CUTOUT:
        weight = foreground_weight(mask, alpha)
        picture = cv2.blendLinear(picture, np.zeros_like(picture), weight, 1.0 - weight)
    elif view.mode == "overlay":
        picture = overlay(picture, mask, palette, view.opacity)
    elif view.mode == "mask":
        picture = colorize(mask, palette)
    return draw_outlines(picture, mask) if view.outlines else picture


def draw_outlines(picture: np.ndarray, mask: np.ndarray, color: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """Lines along the class boundaries, on a copy: dark class colours (PASCAL's cat is 64,0,0) hide a
    region's edge in the overlay, and the edge is what tells a good mask from a poor one."""
    if mask.shape[:2] != picture.shape[:2]:
        return picture
    cv2 = _cv2()
    width = max(3, round(min(mask.shape[:2]) / 240)) | 1  # about 2 px on screen, whatever the image size
    edges = cv2.morphologyEx(mask, cv2.MORPH_GRADIENT, np.ones((width, width), np.uint8)) > 0
    outlined = picture.copy()
    outlined[edges] = color
    return outlined
