"""What the client returns: plain dataclasses and numpy arrays, no protobuf."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from segmentation_client._exceptions import ServiceError


def _decode_png(data: bytes) -> np.ndarray:
    """A mask PNG as an array: with OpenCV where it is installed (0.6 instead of 0.9 ms for 640x480, and the
    webcam client and the UI decode one a frame), else with Pillow, which the client library alone has."""
    try:
        import cv2
    except ImportError:
        with Image.open(io.BytesIO(data)) as png:
            return np.asarray(png)
    decoded: np.ndarray | None = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    return decoded if decoded is not None else np.zeros((0, 0), np.uint8)


@dataclass(frozen=True)
class ClassArea:
    class_id: int
    label: str
    fraction: float  # share of the mask's pixels, 0..1
    pixel_count: int


@dataclass(frozen=True)
class Timings:
    """Milliseconds spent on the server, stage by stage."""

    decode_ms: float = 0.0
    preprocess_ms: float = 0.0
    inference_ms: float = 0.0
    postprocess_ms: float = 0.0
    encode_ms: float = 0.0
    total_ms: float = 0.0
    queue_ms: float = 0.0


class SegmentResult:
    """One segmented image: class ids at the input's resolution and what they mean.

    `mask` is a (height, width) uint8 array of class ids. When the server sent
    a PNG it is decoded on first use, so a caller that only forwards
    `mask_png` never pays for the decode. `alpha` is the soft mask, (height,
    width) uint8 from 0 (background) to 255 (foreground), when it was asked
    for (else None), decoded the same way from `alpha_png`. In a stream, a
    frame that failed has `error` set and an empty mask.
    """

    def __init__(
        self, model: str, mask: np.ndarray | None = None, classes: list[ClassArea] | None = None,
        timings: Timings | None = None, frame_id: int = 0, frames_dropped: int = 0,
        error: ServiceError | None = None, mask_png: bytes | None = None, mask_size: tuple[int, int] | None = None,
        alpha: np.ndarray | None = None, alpha_png: bytes | None = None,
    ) -> None:
        self.model = model
        self._mask = mask
        self.classes = classes or []
        self.timings = timings or Timings()
        self.frame_id = frame_id
        self.frames_dropped = frames_dropped
        self.error = error
        self.mask_png = mask_png
        self._mask_size = mask_size  # (width, height) as the server said, so `size` needs no decode
        self._alpha = alpha
        self.alpha_png = alpha_png

    def __repr__(self) -> str:
        return (f"SegmentResult(model={self.model!r}, frame_id={self.frame_id}, labels={self.labels}, "
                f"error={self.error!r})")

    @property
    def mask(self) -> np.ndarray:
        if self._mask is None:
            decoded = None
            if self.mask_png:
                decoded = _decode_png(self.mask_png)
            self._mask = decoded if decoded is not None else np.zeros((0, 0), np.uint8)
        return self._mask

    @property
    def alpha(self) -> np.ndarray | None:
        """The soft mask, or None when it was not asked for."""
        if self._alpha is None and self.alpha_png:
            self._alpha = _decode_png(self.alpha_png)
        return self._alpha

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def labels(self) -> list[str]:
        """Labels of the classes present, largest area first."""
        return [c.label for c in self.classes]

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the mask."""
        if self._mask is None and self._mask_size is not None:
            return self._mask_size
        return (int(self.mask.shape[1]), int(self.mask.shape[0])) if self.mask.ndim == 2 else (0, 0)

    def bounding_box(self, class_id: int) -> tuple[int, int, int, int] | None:
        """(x_min, y_min, x_max, y_max) of a class's pixels, inclusive, or None when absent."""
        hit = self.mask == class_id
        rows, cols = np.flatnonzero(hit.any(axis=1)), np.flatnonzero(hit.any(axis=0))
        if rows.size == 0:
            return None
        return int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])


@dataclass(frozen=True)
class ModelInfo:
    """A model the server knows. `palette[i]` is the RGB colour of class i."""

    id: str
    runtime: str  # "litert", "onnx", "torch_export", "torchscript" or "torchvision"
    labels: list[str]
    available: bool
    unavailable_reason: str
    input_size: tuple[int, int]  # (width, height)
    device: str
    palette: np.ndarray = field(repr=False)  # (n_classes, 3) uint8
    description: str = ""
    is_default: bool = False
    licence: str = ""
    source: str = ""  # where the model comes from
    soft_mask: bool = False  # gives a soft mask: `alpha=True` and stream smoothing work with it
