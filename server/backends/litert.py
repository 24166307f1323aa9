"""LiteRT backend for the int8 DeepLabV3 MobileNetV2 models."""

from __future__ import annotations

import queue
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter


class LiteRTBackend:
    """Runs a .tflite segmentation model whose output is argmax class ids.

    An interpreter is not safe to share between threads, so the backend keeps
    one per worker and lends them out; `instances` should equal the number of
    threads that call `predict`.
    """

    device = "cpu"

    def __init__(self, path: Path, instances: int, threads: int) -> None:
        self._pool: queue.SimpleQueue[Interpreter] = queue.SimpleQueue()
        for _ in range(instances):
            interpreter = Interpreter(model_path=str(path), num_threads=threads)
            interpreter.allocate_tensors()
            self._pool.put(interpreter)
        probe = self._pool.get()
        self._pool.put(probe)
        (inp,) = probe.get_input_details()
        (out,) = probe.get_output_details()
        _, height, width, channels = inp["shape"]
        if height != width or channels != 3 or inp["dtype"] != np.uint8:
            raise ValueError(f"{path.name}: expected a square uint8 RGB input, got {inp['shape']} {inp['dtype']}")
        self.input_size = int(height)
        scale, zero_point = inp["quantization"]
        # The quantised input reads zero_point as 0.0, so padding with it adds nothing.
        self.pad_value = (int(zero_point),) * 3 if scale else (128, 128, 128)
        self._input_index = inp["index"]
        self._output_index = out["index"]

    def predict(self, batch: np.ndarray) -> np.ndarray:
        interpreter = self._pool.get()
        try:
            result = np.empty(batch.shape[:3], dtype=np.uint8)
            for i, image in enumerate(batch):
                interpreter.set_tensor(self._input_index, image[np.newaxis])
                interpreter.invoke()
                result[i] = interpreter.get_tensor(self._output_index)[0]
            return result
        finally:
            self._pool.put(interpreter)
