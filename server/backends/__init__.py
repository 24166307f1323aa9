"""Inference backends: each turns a batch of letterboxed RGB images into class ids.

A backend never sees gRPC, image files or masks at the input's resolution; the
pipeline does all of that around it.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Backend(Protocol):
    """What the pipeline needs from a model runtime."""

    input_size: int
    """Side of the square input the model takes."""
    pad_value: tuple[int, int, int]
    """RGB colour of the letterbox padding: the colour the model reads as zero."""
    device: str

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Class ids (N, S, S) uint8 for a batch of (N, S, S, 3) uint8 RGB images, S = input_size."""
        ...
