"""What a model config asks for around any backend: the input tensor from RGB pixels, class ids from the output.

Pure functions on arrays, the same for every runtime; backends see only the tensors these make.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from server import imaging
from server.model_config import ModelSpec


@dataclass(frozen=True)
class InputTransform:
    """Resize, channel order, dtype, scaling and layout of one model's input."""

    size: tuple[int, int]  # (height, width)
    stretch: bool
    bgr: bool
    nchw: bool
    pad: tuple[int, int, int]
    # float32 models: x * gain + offset per channel (scale, mean and std folded into one step)
    gain: np.ndarray | None
    offset: np.ndarray | None
    # float32 models: every uint8 level of every channel already scaled, so that normalising is one table
    # look-up (cv2.LUT) instead of numpy's per-channel broadcasts, which cost most of the preprocessing
    # (`python -m bench.choices` measures both). Same float32 arithmetic, same values.
    _lut: np.ndarray | None = field(init=False, default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.gain is not None:
            levels = np.arange(256, dtype=np.float32)[:, np.newaxis]
            lut = levels * np.asarray(self.gain, np.float32) + np.asarray(self.offset, np.float32)
            object.__setattr__(self, "_lut", np.ascontiguousarray(lut.reshape(1, 256, 3), dtype=np.float32))

    @classmethod
    def for_spec(cls, spec: ModelSpec, zero_point: int | None = None) -> InputTransform:
        """`zero_point`: a quantised uint8 input's zero point read from the model file, the default padding."""
        inp = spec.config.input
        gain = offset = None
        if inp.dtype == "float32":
            std = np.asarray(inp.std, np.float32)
            mean = np.asarray(inp.mean, np.float32)
            gain = np.float32(inp.scale) / std
            offset = -mean / std
        pad: tuple[int, ...]
        if inp.pad is not None:
            pad = tuple(inp.pad)
        elif inp.dtype == "float32":
            # The colour that becomes zero after normalisation, so padding adds nothing.
            # mean is in the model's channel order, the padding colour in RGB.
            pad = tuple(int(np.clip(round(m / inp.scale), 0, 255)) for m in inp.mean)
            pad = pad[::-1] if inp.channels == "bgr" else pad
        else:
            pad = (zero_point or 0,) * 3
        return cls((inp.height, inp.width), inp.resize == "stretch", inp.channels == "bgr", spec.layout == "nchw",
                   (pad[0], pad[1], pad[2]), gain, offset)

    def __call__(self, rgb: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        """A batch of one (1, ...) in the model's layout, and the picture's (height, width) inside it."""
        if self.stretch:
            pixels, valid = imaging.stretch(rgb, self.size)
        else:
            pixels, valid = imaging.letterbox(rgb, self.size, self.pad)
        if self.bgr:
            pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
        if self._lut is not None:
            pixels = cv2.LUT(pixels, self._lut)
        if self.nchw:
            pixels = pixels.transpose(2, 0, 1)
        return np.ascontiguousarray(pixels)[np.newaxis], valid


def class_ids(output: np.ndarray, kind: str, n_classes: int, threshold: float = 0.5) -> np.ndarray:
    """One image's model output (no batch axis) as a (height, width) uint8 mask of class ids."""
    if kind == "scores":
        if output.ndim != 3:
            raise ValueError(f"scores output must be (classes, H, W) or (H, W, classes), got {output.shape}")
        axis = channel_axis(output.shape, n_classes)
        return output.argmax(axis=axis).astype(np.uint8)
    plane = single_plane(output)
    if kind == "probability":
        return (plane >= threshold).view(np.uint8)
    if plane.dtype != np.uint8:
        plane = plane.astype(np.uint8)
    return plane


def channel_axis(shape: tuple[int, ...], n_classes: int) -> int:
    """Which axis of a (C, H, W) or (H, W, C) output holds the classes."""
    if shape[0] == n_classes:
        return 0
    if shape[-1] == n_classes:
        return 2
    raise ValueError(f"output {tuple(shape)} has no axis of {n_classes} classes (one a label)")


def single_plane(output: np.ndarray) -> np.ndarray:
    """(H, W) from (H, W), (1, H, W) or (H, W, 1)."""
    if output.ndim == 2:
        return output
    if output.ndim == 3 and output.shape[0] == 1:
        return output[0]
    if output.ndim == 3 and output.shape[-1] == 1:
        return output[..., 0]
    raise ValueError(f"expected one channel, (H, W), (1, H, W) or (H, W, 1), got {tuple(output.shape)}")
