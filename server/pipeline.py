"""decode -> resize and normalise -> infer -> masks at the input's size -> encode, timed stage by stage.

Runs in a worker thread; it knows nothing of gRPC.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from server import imaging, masks
from server.errors import DeadlineExpired
from server.imaging import EncodedImage, RawPixels
from server.loading import LoadedModel
from server.masks import PLAIN, MaskOptions, Placement


@dataclass(frozen=True)
class ClassArea:
    class_id: int
    label: str
    fraction: float
    pixel_count: int


@dataclass
class Timings:
    """Milliseconds per stage."""

    decode_ms: float = 0.0
    preprocess_ms: float = 0.0
    inference_ms: float = 0.0
    postprocess_ms: float = 0.0
    encode_ms: float = 0.0
    total_ms: float = 0.0
    queue_ms: float = 0.0


@dataclass
class Segmentation:
    """The result for one image: class ids at the input's resolution and what they mean."""

    model_id: str
    mask: np.ndarray  # (height, width) uint8 class ids
    classes: list[ClassArea]
    timings: Timings
    png: bytes | None = None  # the mask as PNG, when asked for
    alpha: np.ndarray | None = None  # (height, width) uint8 soft mask, when asked for
    alpha_png: bytes | None = None  # the soft mask as PNG, when asked for with the PNG


# cv2.calcHist counts in float32, exact up to 2**24; it is faster than np.bincount, which first widens
# every pixel to int64 (`python -m bench.choices` measures both).
_EXACT_HISTOGRAM = 2**24


def class_areas(mask: np.ndarray, labels: Sequence[str]) -> list[ClassArea]:
    """Every class present in the mask, largest first."""
    if mask.size < _EXACT_HISTOGRAM and mask.dtype == np.uint8:
        counts = cv2.calcHist([mask], [0], None, [256], [0, 256]).ravel().astype(np.int64)
    else:
        counts = np.bincount(mask.ravel(), minlength=len(labels))
    total = mask.size
    present = np.flatnonzero(counts)
    areas = [
        ClassArea(int(c), labels[int(c)] if c < len(labels) else str(c), float(counts[c] / total), int(counts[c]))
        for c in present
    ]
    return sorted(areas, key=lambda a: a.pixel_count, reverse=True)


class Leases(Protocol):
    """Where the pipeline gets the model version a call runs on: the registry (server/models.py), or a worker
    process's own versions (server/workers.py)."""

    def lease(self, model_id: str) -> AbstractContextManager[LoadedModel]: ...


class Pipeline:
    """Segments one image with a registered model. Thread-safe; call it from worker threads."""

    def __init__(self, registry: Leases, max_image_pixels: int, png_compression: int = 1) -> None:
        self._registry = registry
        self._max_pixels = max_image_pixels
        self._png_compression = png_compression

    def run(
        self, model_id: str, image: EncodedImage | RawPixels, *, want_png: bool = True,
        received_at: float | None = None, deadline: float | None = None, options: MaskOptions = PLAIN,
    ) -> Segmentation:
        """Segment `image`.

        `received_at` (time.perf_counter) lets the queue wait be reported; past
        `deadline` (same clock) the caller has given up, so no inference is run.
        `options` asks for the soft mask, refined edges or smoothing (NoSoftMask when the model has none).
        """
        t0 = time.perf_counter()
        self._check_deadline(t0, received_at, deadline)
        with self._registry.lease(model_id) as model:
            masks.check_options(model.spec, options)
            return self._segment(model, image, want_png, t0, received_at, options)

    def run_batch(
        self, model_id: str, images: Sequence[EncodedImage | RawPixels], *,
        received_at: float | None = None, deadline: float | None = None, options: MaskOptions = PLAIN,
    ) -> list[Segmentation]:
        """Segment several images with one version of the model: a reload meanwhile changes none of them."""
        t0 = time.perf_counter()
        self._check_deadline(t0, received_at, deadline)
        with self._registry.lease(model_id) as model:
            masks.check_options(model.spec, options)
            return [self._segment(model, image, False, time.perf_counter(), received_at, options) for image in images]

    @staticmethod
    def _check_deadline(now: float, received_at: float | None, deadline: float | None) -> None:
        if deadline is not None and now > deadline:
            queued_ms = (now - received_at) * 1000 if received_at else 0.0
            raise DeadlineExpired(f"deadline passed after {queued_ms:.0f} ms in the queue; not processed")

    def _segment(
        self, model: LoadedModel, image: EncodedImage | RawPixels, want_png: bool, t0: float,
        received_at: float | None, options: MaskOptions,
    ) -> Segmentation:
        timings = Timings(queue_ms=(t0 - received_at) * 1000 if received_at else 0.0)
        transform = model.transform
        if options.refine_edges:  # the picture is the guide: decoded as large as refining uses, not the model
            decoded = imaging.decode(image, self._max_pixels, masks.GUIDE_BOX)
        else:
            decoded = imaging.decode(image, self._max_pixels, transform.size, transform.stretch)
        t1 = time.perf_counter()
        tensor, valid = transform(decoded.rgb)
        t2 = time.perf_counter()
        output = model.backend.run(tensor)
        t3 = time.perf_counter()
        where = Placement(valid, transform.size, decoded.width, decoded.height)
        mask, alpha = masks.display_masks(output[0], model.spec, where, options,
                                          decoded.rgb if options.refine_edges else None)
        classes = class_areas(mask, model.spec.labels)
        t4 = time.perf_counter()
        png = imaging.encode_png(mask, self._png_compression) if want_png else None
        alpha_png = imaging.encode_png(alpha, self._png_compression) if want_png and alpha is not None else None
        t5 = time.perf_counter()
        timings.decode_ms = (t1 - t0) * 1000
        timings.preprocess_ms = (t2 - t1) * 1000
        timings.inference_ms = (t3 - t2) * 1000
        timings.postprocess_ms = (t4 - t3) * 1000
        timings.encode_ms = (t5 - t4) * 1000
        timings.total_ms = (t5 - (received_at or t0)) * 1000
        return Segmentation(model.spec.id, mask, classes, timings, png, alpha, alpha_png)
