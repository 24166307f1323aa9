"""Temporal smoothing of a stream's soft masks, after MediaPipe's SegmentationSmoothingCalculator.

Each frame's foreground probability p (at the model's size) is mixed with the previous frame's result:

    smoothed = p + (previous - p) * ratio * uncertainty(p)

uncertainty is 1 where the model is unsure (p near 0.5) and falls to 0 where it is sure (p near 0 or
1), so confident pixels follow the new frame at once (a moving person is not trailed by a ghost) while
the unsure ones, where a still picture's mask flickers from frame to frame, are steadied. It is
1 - (1 - H(p))^2 with H the binary entropy in bits, the form MediaPipe approximates with a polynomial.
"""

from __future__ import annotations

import threading

import numpy as np

_TINY = np.float32(1e-6)


def uncertainty(p: np.ndarray) -> np.ndarray:
    """1 at p = 0.5, 0 at p = 0 or 1, float32."""
    q = np.clip(p, _TINY, 1 - _TINY)
    entropy = -(q * np.log2(q) + (1 - q) * np.log2(1 - q))
    confidence = 1 - entropy
    return (1 - confidence * confidence).astype(np.float32, copy=False)


class TemporalSmoother:
    """The smoothing state of one stream: the last smoothed probability.

    `ratio` in [0, 1): how much of the previous frame an unsure pixel keeps (0 would be no smoothing).
    Frames must come in order; a frame of another size (the source changed) starts afresh.
    """

    def __init__(self, ratio: float) -> None:
        if not 0.0 < ratio < 1.0:
            raise ValueError(f"smoothing ratio must be in (0, 1), got {ratio}")
        self.ratio = np.float32(ratio)
        self._previous: np.ndarray | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, object]:
        # What a worker process needs (server/workers.py): the ratio and the last frame, not the lock.
        return {"ratio": self.ratio, "previous": self._previous}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.ratio = state["ratio"]  # type: ignore[assignment]
        self._previous = state["previous"]  # type: ignore[assignment]
        self._lock = threading.Lock()

    def follow(self, other: TemporalSmoother) -> None:
        """Carry on from `other`: this stream's state after a frame another process smoothed."""
        with self._lock:
            self._previous = other._previous

    def __call__(self, probability: np.ndarray) -> np.ndarray:
        p = np.asarray(probability, np.float32)
        with self._lock:
            previous = self._previous
            smoothed: np.ndarray
            if previous is None or previous.shape != p.shape:
                smoothed = p.copy()
            else:
                smoothed = p + (previous - p) * (self.ratio * uncertainty(p))
            self._previous = smoothed
        return smoothed
