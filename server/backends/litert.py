"""LiteRT (TensorFlow Lite) backend: .tflite files on the CPU."""

from __future__ import annotations

import queue

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from server.backends import Resources, TensorInfo
from server.model_config import ModelSpec


class LiteRTBackend:
    """Runs a .tflite model, one image at a time (its batch size is fixed in the file).

    An interpreter is not safe to share between threads, so the backend keeps one per worker and
    lends them out; `instances` should equal the number of threads that call `run`.
    """

    device = "cpu"

    def __init__(self, spec: ModelSpec, resources: Resources) -> None:
        self._pool: queue.SimpleQueue[Interpreter] = queue.SimpleQueue()
        for _ in range(resources.instances):
            interpreter = Interpreter(model_path=str(spec.weights_path), num_threads=resources.threads)
            interpreter.allocate_tensors()
            self._pool.put(interpreter)
        probe = self._pool.get()
        self._pool.put(probe)
        inputs, outputs = probe.get_input_details(), probe.get_output_details()
        if len(inputs) != 1:
            raise ValueError(f"the model has {len(inputs)} inputs; one image input is supported")
        (inp,) = inputs
        name = spec.config.output.name
        out = next((o for o in outputs if o["name"] == name), None) if name else outputs[0]
        if out is None:
            raise ValueError(f"output.name {name!r} is not an output of the model: {[o['name'] for o in outputs]}")
        scale, zero_point = inp["quantization"]
        self.input_info = TensorInfo(
            tuple(int(d) for d in inp["shape"]), np.dtype(inp["dtype"]).name, int(zero_point) if scale else None
        )
        self._input_index = inp["index"]
        self._output_index = out["index"]

    def run(self, batch: np.ndarray) -> np.ndarray:
        interpreter = self._pool.get()
        try:
            if len(batch) == 1:  # the usual case: the interpreter's own batch of one, no stacking copy
                interpreter.set_tensor(self._input_index, batch)
                interpreter.invoke()
                return interpreter.get_tensor(self._output_index)
            outputs = []
            for image in batch:
                interpreter.set_tensor(self._input_index, image[np.newaxis])
                interpreter.invoke()
                outputs.append(interpreter.get_tensor(self._output_index)[0])
            return np.stack(outputs)
        finally:
            self._pool.put(interpreter)

    def close(self) -> None:
        while True:
            try:
                self._pool.get_nowait()
            except queue.Empty:
                return
