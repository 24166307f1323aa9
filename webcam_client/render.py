"""Drawing a frame: the mask (overlay, mask only, or none), background blur, legend and live numbers.

Frames stay in OpenCV's BGR order throughout; the palette is flipped to BGR
once instead of converting every frame to RGB and back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from segmentation_client import SegmentResult, blur_background, colorize, overlay

MODES = ("overlay", "mask", "original")
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_LEGEND_ROWS = 8  # the largest classes; more would cover the picture


@dataclass
class View:
    """What the viewer chose with the keys."""

    opacity: float = 0.5
    mode: str = "overlay"
    blur: bool = False

    def next_mode(self) -> None:
        self.mode = MODES[(MODES.index(self.mode) + 1) % len(MODES)]

    def change_opacity(self, delta: float) -> None:
        self.opacity = round(min(1.0, max(0.0, self.opacity + delta)), 2)


@dataclass
class Hud:
    """The live numbers drawn in the corner."""

    fps: float = 0.0
    latency_ms: float = 0.0
    dropped_by_server: int = 0
    skipped_by_client: int = 0
    extra: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [
            f"{self.fps:4.1f} fps segmented, latency {self.latency_ms:.0f} ms",
            f"dropped: server {self.dropped_by_server}, client {self.skipped_by_client}",
            *self.extra,
        ]


def picture(image: np.ndarray, result: SegmentResult | None, palette_bgr: np.ndarray, view: View) -> np.ndarray:
    """The frame with the mask drawn as the view asks; the plain frame until a mask exists."""
    if result is None or result.mask.size == 0:
        return image
    mask = result.mask
    if view.blur:
        image = blur_background(image, mask, alpha=result.alpha)  # soft-edged where the model gives a soft mask
    if view.mode == "overlay":
        return overlay(image, mask, palette_bgr, view.opacity)
    if view.mode == "mask":
        colors = colorize(mask, palette_bgr)
        if colors.shape[:2] != image.shape[:2]:
            colors = cv2.resize(colors, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_NEAREST)
        return colors
    return image


def _text(canvas: np.ndarray, text: str, origin: tuple[int, int], scale: float) -> None:
    # A dark outline under white text stays readable on any picture.
    cv2.putText(canvas, text, origin, _FONT, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(canvas, text, origin, _FONT, scale, (255, 255, 255), 1, cv2.LINE_AA)


def _scale(canvas: np.ndarray) -> float:
    return max(0.35, min(0.7, canvas.shape[0] / 900))


def draw_legend(canvas: np.ndarray, result: SegmentResult | None, palette_bgr: np.ndarray) -> None:
    """Colour swatch, label and share of the picture for the largest classes, top right."""
    if result is None:
        return
    scale = _scale(canvas)
    row = int(28 * scale / 0.6)
    right = canvas.shape[1] - 8
    for i, area in enumerate(result.classes[:_LEGEND_ROWS]):
        y = 8 + i * row
        color = tuple(int(c) for c in palette_bgr[area.class_id % len(palette_bgr)])
        text = f"{area.label} {area.fraction * 100:.0f}%"
        (width, _), _ = cv2.getTextSize(text, _FONT, scale, 1)
        cv2.rectangle(canvas, (right - width - row, y), (right - width - 6, y + row - 6), color, -1)
        _text(canvas, text, (right - width, y + row - 8), scale)


def draw_hud(canvas: np.ndarray, hud: Hud) -> None:
    scale = _scale(canvas)
    row = int(28 * scale / 0.6)
    for i, line in enumerate(hud.lines()):
        _text(canvas, line, (8, row * (i + 1)), scale)


def compose(image: np.ndarray, result: SegmentResult | None, palette_bgr: np.ndarray, view: View,
            hud: Hud) -> np.ndarray:
    """The finished frame: picture, legend and live numbers."""
    canvas = picture(image, result, palette_bgr, view)
    canvas = canvas.copy() if canvas is image else canvas  # never draw on the captured frame
    draw_legend(canvas, result, palette_bgr)
    draw_hud(canvas, hud)
    return canvas


class VideoOutput:
    """An .mp4 (mp4v) writer opened on the first frame, when the size is known."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path = path
        self._fps = fps
        self._writer: cv2.VideoWriter | None = None

    def write(self, frame: np.ndarray) -> None:
        if self._writer is None:
            height, width = frame.shape[:2]
            self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter.fourcc(*"mp4v"), self._fps, (width, height))
            if not self._writer.isOpened():
                raise OSError(f"cannot write video to {self.path}")
        self._writer.write(frame)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
