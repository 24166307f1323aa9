"""From one model output to the masks a client gets at the input's size: class ids, and the soft mask.

Pure functions on numpy arrays. For `scores` and `probability` outputs the class of a pixel is decided at
the input's size: the model's output is resized bilinearly first and then thresholded (or, for several
classes, the largest score wins), so an edge runs between the model's grid cells instead of around them.
`class_ids` outputs have nothing to interpolate and are resized by nearest neighbour, as before.

Memory stays bounded whatever the image's size and the model's class count: the display-size planes are
made a band of rows at a time (`BAND_PIXELS` float32 pixels, 32 MiB), several classes are reduced to an argmax
one class at a time (a running maximum, so two float planes whatever the count), and the edge refinement
works at no more than `REFINE_PIXELS`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from server import imaging
from server.errors import NoSoftMask
from server.model_config import ModelSpec
from server.smoothing import TemporalSmoother
from server.transforms import channel_axis, class_ids, single_plane

# float32 pixels of one band: 32 MiB a plane. Up to 4K (8.3 M pixels) a frame is one band, resized by
# cv2.resize; bands of a bigger picture go through cv2.warpAffine, which maps any band exactly but is
# several times slower.
BAND_PIXELS = 1 << 23
# The guided filter's cost grows with the pixels it filters (`python -m bench.mask_choices`): past this many it
# works on a smaller copy of the picture, whose result is then resized like the model's output.
REFINE_PIXELS = 1 << 19
# How large a picture refining needs, as a square its long side fits in: the REFINE_PIXELS working size of
# any picture up to 4:1. A JPEG is decoded (reduced in its decoder) no larger than that needs.
_GUIDE_SIDE = 2 * math.isqrt(REFINE_PIXELS)
GUIDE_BOX = (_GUIDE_SIDE, _GUIDE_SIDE)
# Regularisation of the guided filter for a guide in 0..255: edges weaker than about sqrt(EPS) grey levels
# are smoothed over, stronger ones are kept.
REFINE_EPS = (0.04 * 255) ** 2


@dataclass(frozen=True)
class MaskOptions:
    """What one request asks of its masks besides the class ids.

    `alpha`: also the soft mask (foreground probability as 0..255). `refine_edges`: edges refined with the
    picture as guide. `smoother`: the stream's temporal smoothing state, None when off.
    """

    alpha: bool = False
    refine_edges: bool = False
    smoother: TemporalSmoother | None = None


PLAIN = MaskOptions()  # class ids only


@dataclass(frozen=True)
class Placement:
    """Where the picture lies in the model's input, and the size the masks must have."""

    valid: tuple[int, int]  # (height, width) of the picture inside the model's input
    input_size: tuple[int, int]  # the model's input (height, width)
    width: int
    height: int


def has_soft_mask(spec: ModelSpec) -> bool:
    """A model gives a soft mask when its output is one probability, or the scores of two classes."""
    kind = spec.config.output.kind
    return kind == "probability" or (kind == "scores" and len(spec.labels) == 2)


def check_options(spec: ModelSpec, options: MaskOptions) -> None:
    """Refuse, before any work, what this model cannot give."""
    if (options.alpha or options.smoother is not None) and not has_soft_mask(spec):
        asked = "a soft mask (alpha)" if options.alpha else "temporal smoothing, which works on the soft mask,"
        raise NoSoftMask(f"{asked} was asked of model {spec.id}, which has none: its output is "
                         f"{spec.config.output.kind!r} with {len(spec.labels)} classes; soft masks come from "
                         "models with a 'probability' output or 'scores' of two classes")


def display_masks(
    output: np.ndarray, spec: ModelSpec, where: Placement, options: MaskOptions, guide: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """One image's output (no batch axis) as (class ids, soft mask or None), both (height, width) uint8.

    `guide`: the picture as RGB, needed when `options.refine_edges`: at the display size, or smaller (as
    decoded for GUIDE_BOX); refining works at its size, up to REFINE_PIXELS.
    """
    out = spec.config.output
    if options.refine_edges and guide is None:
        raise ValueError("refine_edges needs the picture as guide")
    grey = cv2.cvtColor(guide, cv2.COLOR_RGB2GRAY) if options.refine_edges and guide is not None else None
    if has_soft_mask(spec):
        plane = foreground_probability(output, out.kind, len(spec.labels))
        if options.smoother is not None:
            plane = options.smoother(plane)
        threshold = out.threshold if out.kind == "probability" else 0.5
        return _soft(_crop(plane, where), threshold, where, options.alpha, grey)
    if out.kind == "scores":
        axis = channel_axis(output.shape, len(spec.labels))
        scores = output if axis == 0 else output.transpose(2, 0, 1)
        ids = _crop(scores.argmax(axis=0).astype(np.uint8), where)
        planes = [(c, _crop(scores[c], where).astype(np.float32, copy=False)) for c in np.unique(ids)]
        return _argmax(planes, where, grey), None
    model_ids = class_ids(output, out.kind, len(spec.labels), out.threshold)
    if grey is None:
        return imaging.restore_mask(model_ids, where.valid, where.width, where.height, where.input_size), None
    ids = _crop(model_ids, where)
    return _argmax([(c, (ids == c).astype(np.float32)) for c in np.unique(ids)], where, grey), None


def foreground_probability(output: np.ndarray, kind: str, n_classes: int) -> np.ndarray:
    """The foreground's probability at the model's size, float32: the probability output itself, or the
    softmax of two classes' scores (read as logits)."""
    if kind == "probability":
        return single_plane(output).astype(np.float32, copy=False)
    axis = channel_axis(output.shape, n_classes)
    difference = (np.take(output, 0, axis) - np.take(output, 1, axis)).astype(np.float32, copy=False)
    # Clipped so that exp stays finite in float32; past 60 the probability is 0 or 1 to float32 precision.
    return (1.0 / (1.0 + np.exp(np.clip(difference, -60.0, 60.0)))).astype(np.float32, copy=False)


def _crop(plane: np.ndarray, where: Placement) -> np.ndarray:
    """The picture's part of a model-size plane: letterbox padding cut off, at the output's own scale."""
    valid = where.valid
    if plane.shape[:2] != tuple(where.input_size):
        valid = (max(1, round(valid[0] * plane.shape[0] / where.input_size[0])),
                 max(1, round(valid[1] * plane.shape[1] / where.input_size[1])))
    return plane[: valid[0], : valid[1]]


def _bands(height: int, width: int) -> Iterator[tuple[int, int]]:
    rows = max(1, BAND_PIXELS // max(1, width))
    for top in range(0, height, rows):
        yield top, min(height, top + rows)


def upscale(plane: np.ndarray, width: int, height: int, top: int = 0, bottom: int | None = None) -> np.ndarray:
    """Rows top..bottom of `plane` resized bilinearly to width x height (as cv2.resize maps pixel centres)."""
    bottom = height if bottom is None else bottom
    plane = np.ascontiguousarray(plane, dtype=np.float32)
    if top == 0 and bottom == height:
        if plane.shape == (height, width):
            return plane.copy()
        return cv2.resize(plane, (width, height), interpolation=cv2.INTER_LINEAR)
    sx, sy = plane.shape[1] / width, plane.shape[0] / height
    to_source = np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, (top + 0.5) * sy - 0.5]], np.float32)
    return cv2.warpAffine(plane, to_source, (width, bottom - top), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


def refine(plane: np.ndarray, grey: np.ndarray, cell: float) -> np.ndarray:
    """`plane` (a probability at the model's size) at the guide's size, its edges moved onto the picture's.

    A guided filter (He et al.) with the picture's luma as guide, from OpenCV's contrib build; its
    radius is two of the model's grid cells at the guide's scale, so it spans the band where the model's
    edge may be wrong. Past REFINE_PIXELS it works on a smaller copy of the guide.
    """
    height, width = grey.shape
    scale = min(1.0, (REFINE_PIXELS / (height * width)) ** 0.5)
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    up = upscale(plane, grey.shape[1], grey.shape[0])
    radius = max(2, round(2 * cell * scale))
    filtered: np.ndarray = cv2.ximgproc.guidedFilter(grey, up, radius, REFINE_EPS)
    return filtered


def _at_guide(plane: np.ndarray, where: Placement, grey: np.ndarray | None) -> np.ndarray:
    """The plane to resize to the display: the model's own, or refined with the guide."""
    return plane if grey is None else refine(plane, grey, where.width / plane.shape[1])


def _soft(plane: np.ndarray, threshold: float, where: Placement, want_alpha: bool,
          grey: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    mask = np.empty((where.height, where.width), np.uint8)
    alpha = np.empty_like(mask) if want_alpha else None
    source = _at_guide(plane, where, grey)
    for top, bottom in _bands(where.height, where.width):
        band = upscale(source, where.width, where.height, top, bottom)
        np.greater_equal(band, threshold, out=mask[top:bottom].view(bool))
        if alpha is not None:
            np.clip(band, 0.0, 1.0, out=band)
            alpha[top:bottom] = cv2.convertScaleAbs(band, alpha=255.0)  # rounds and saturates
    return mask, alpha


def _argmax(planes: list[tuple[int, np.ndarray]], where: Placement, grey: np.ndarray | None) -> np.ndarray:
    """Class ids at the display size: each class's plane resized, the largest winning, one class at a time.

    Only the classes that win somewhere at the model's size compete (a class that wins nowhere there can
    win only in a thin saddle between others). Refined planes are kept at the guide's working size
    (REFINE_PIXELS each) for the bands to share.
    """
    mask = np.full((where.height, where.width), planes[0][0], np.uint8)
    if len(planes) == 1:
        return mask
    sources = [(class_id, _at_guide(plane, where, grey)) for class_id, plane in planes]
    for top, bottom in _bands(where.height, where.width):
        best = upscale(sources[0][1], where.width, where.height, top, bottom)
        ids = mask[top:bottom]
        for class_id, source in sources[1:]:
            band = upscale(source, where.width, where.height, top, bottom)
            ids[band > best] = class_id
            np.maximum(best, band, out=best)
    return mask
