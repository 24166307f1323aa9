"""Drawing a frame for the window: the picture (the client library's `render`), legend and live numbers.

Frames stay in OpenCV's BGR order throughout; the palette is flipped to BGR
once instead of converting every frame to RGB and back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from segmentation_client import SegmentResult, View, render

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_LEGEND_ROWS = 8  # the largest classes; more would cover the picture


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
    mask, alpha = (result.mask, result.alpha) if result is not None else (None, None)
    canvas = render(image, mask, palette_bgr, view, alpha)  # the soft mask, where the model gives one, for blur
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
