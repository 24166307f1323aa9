"""Inference backends: each runs a batch of input tensors through a model file and returns its output tensor.

A backend never sees gRPC, image files, labels or masks: the pipeline prepares the input and reads
the output as the model's config says (server/transforms.py). Backends are picked by the config's
`runtime`, and each runtime's library is imported only when a model needs it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from server.model_config import ModelSpec


@dataclass(frozen=True)
class TensorInfo:
    """What a model file declares of its input; None where it does not say (a dynamic size)."""

    shape: tuple[int | None, ...]
    dtype: str
    zero_point: int | None = None  # quantised uint8 inputs: the value that reads as 0.0


class Backend(Protocol):
    """What the pipeline needs from a model runtime. `run` is called from several threads at once."""

    device: str
    input_info: TensorInfo | None
    """The model file's own input declaration, when the runtime exposes one (checked against the config)."""

    def run(self, batch: np.ndarray) -> np.ndarray:
        """The model's output for a batch (N, ...) prepared as the config says; first axis N."""
        ...

    def close(self) -> None:
        """Release what the backend holds; no `run` follows."""
        ...


@dataclass(frozen=True)
class Resources:
    """How much of the machine one model may use, resolved from its config and the server's settings."""

    instances: int
    threads: int
    device: str  # "cpu", "cuda", "cuda:N", or "auto"
    download: bool  # torchvision: fetch official weights into the torch hub cache when missing


_FACTORIES = {
    "litert": ("server.backends.litert", "LiteRTBackend"),
    "onnx": ("server.backends.onnx", "OnnxBackend"),
    "torch_export": ("server.backends.torch_backends", "TorchExportBackend"),
    "torchscript": ("server.backends.torch_backends", "TorchScriptBackend"),
    "torchvision": ("server.backends.torch_backends", "TorchvisionBackend"),
}


def open_backend(spec: ModelSpec, resources: Resources) -> Backend:
    """Build the backend that the spec's runtime names; a runtime whose library is not installed says so."""
    module, name = _FACTORIES[spec.config.runtime]
    try:
        factory = getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as exc:
        # The lean server image has no torch on purpose (docs/deploy.md): name the image that has it.
        raise RuntimeError(
            f"runtime {spec.config.runtime!r} needs the Python package {exc.name!r}, which this server does not "
            "have (the lean server image has no torch: use segmentation-server-torch or segmentation-server-cuda)"
        ) from None
    return factory(spec, resources)
