"""ONNX Runtime backend: .onnx files on the CPU, or on CUDA when the GPU build and a GPU are there."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from server.backends import Resources, TensorInfo
from server.model_config import ModelSpec

_DTYPES = {"tensor(float)": "float32", "tensor(uint8)": "uint8", "tensor(float16)": "float16"}


def _providers(device: str) -> tuple[list, str]:
    available = ort.get_available_providers()
    wants_cuda = device.startswith("cuda") or (device == "auto" and "CUDAExecutionProvider" in available)
    if not wants_cuda:
        return ["CPUExecutionProvider"], "cpu"
    if "CUDAExecutionProvider" not in available:
        raise ValueError(f"device {device!r} asked for, but this ONNX Runtime has no CUDA provider ({available})")
    index = int(device.split(":")[1]) if ":" in device else 0
    return [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"], f"cuda:{index}"


class OnnxBackend:
    """One InferenceSession; ONNX Runtime lets several threads call `run` on it at once."""

    def __init__(self, spec: ModelSpec, resources: Resources) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = resources.threads
        options.inter_op_num_threads = 1
        providers, self.device = _providers(resources.device)
        self._session = ort.InferenceSession(str(spec.weights_path), options, providers=providers)
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        if len(inputs) != 1:
            raise ValueError(f"the model has {len(inputs)} inputs; one image input is supported")
        names = [o.name for o in outputs]
        self._output = spec.config.output.name or names[0]
        if self._output not in names:
            raise ValueError(f"output.name {self._output!r} is not an output of the model: {names}")
        (inp,) = inputs
        self._input = inp.name
        shape = tuple(d if isinstance(d, int) else None for d in inp.shape)
        self.input_info = TensorInfo(shape, _DTYPES.get(inp.type, inp.type))

    def run(self, batch: np.ndarray) -> np.ndarray:
        return self._session.run([self._output], {self._input: batch})[0]

    def close(self) -> None:
        del self._session
