"""PyTorch backends: programs saved with torch.export (.pt2), TorchScript files, and torchvision builders.

All three run on the CPU or on CUDA and return the model's raw output; the pipeline normalises the
input and reads the output as the config says.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import torch

from server.backends import Resources, TensorInfo
from server.model_config import ModelSpec

log = logging.getLogger(__name__)


class WeightsNotFound(Exception):
    """No weights could be found or downloaded; the message says where we looked."""


def _device(wanted: str) -> str:
    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if wanted.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {wanted!r} asked for, but torch sees no CUDA device")
    return wanted


class _TorchBackend:
    """Runs a torch callable in inference mode; picks the configured output when it returns several."""

    input_info: TensorInfo | None = None

    def __init__(self, spec: ModelSpec, resources: Resources) -> None:
        self.device = _device(resources.device)
        if self.device == "cpu":
            torch.set_num_threads(resources.threads)
        self._output_name = spec.config.output.name
        self._module = self._load(spec, resources)

    def _load(self, spec: ModelSpec, resources: Resources):
        raise NotImplementedError

    def _select(self, output):
        if isinstance(output, dict):
            key = self._output_name or ("out" if "out" in output else next(iter(output)))
            if key not in output:
                raise ValueError(f"output.name {key!r} is not an output of the model: {list(output)}")
            return output[key]
        if isinstance(output, (tuple, list)):
            if self._output_name is not None:
                raise ValueError("the model's outputs have no names; leave output.name unset (the first is used)")
            return output[0]
        return output

    @torch.inference_mode()
    def run(self, batch: np.ndarray) -> np.ndarray:
        output = self._select(self._module(torch.from_numpy(batch).to(self.device)))
        return output.cpu().numpy()

    def close(self) -> None:
        del self._module
        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()


class TorchExportBackend(_TorchBackend):
    """A program saved with `torch.export.save` (.pt2), the current PyTorch format."""

    def _load(self, spec: ModelSpec, resources: Resources):
        program = torch.export.load(str(spec.weights_path))
        inputs = program.graph_signature.user_inputs
        if len(inputs) != 1:
            raise ValueError(f"the program takes {len(inputs)} inputs; one image input is supported")
        node = next(n for n in program.graph.nodes if n.op == "placeholder" and n.name == inputs[0])
        if (value := node.meta.get("val")) is not None:
            # Dynamic sizes are symbols, not ints: None, "any size".
            shape = tuple(d if isinstance(d, int) else None for d in value.shape)
            self.input_info = TensorInfo(shape, str(value.dtype).removeprefix("torch."))
        return program.module().to(self.device)


class TorchScriptBackend(_TorchBackend):
    """A TorchScript file (`torch.jit.save`); many trained models still come this way."""

    def _load(self, spec: ModelSpec, resources: Resources):
        return torch.jit.load(str(spec.weights_path), map_location=self.device).eval()


def hub_checkpoint(weights) -> Path:
    """Where torch.hub keeps (or would keep) a downloaded weights file."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(weights.url).path).name


class TorchvisionBackend(_TorchBackend):
    """A torchvision builder with a state dict from the model's folder, or its official weights.

    Official weights come from the torch hub cache, downloaded into it when `download` is on.
    """

    def _load(self, spec: ModelSpec, resources: Resources):
        from torchvision.models import get_model_builder, get_model_weights

        config = spec.config.weights
        try:
            build = get_model_builder(config.builder)
        except ValueError:
            raise ValueError(f"weights.builder {config.builder!r} is not a torchvision model builder") from None
        n_classes = len(spec.labels)
        if config.file:
            assert spec.weights_path is not None  # a weights file is configured
            state = torch.load(spec.weights_path, map_location="cpu", weights_only=True)
            aux = any(key.startswith("aux_classifier.") for key in state)
            model = build(weights=None, weights_backbone=None, num_classes=n_classes, aux_loss=aux or None)
            model.load_state_dict(state)
        else:
            enum = get_model_weights(config.builder)
            try:
                weights = enum[config.name or "DEFAULT"]
            except KeyError:
                raise ValueError(f"weights.name {config.name!r} is not one of {[w.name for w in enum]}") from None
            model = self._official(build, weights, resources.download)
        return model.eval().to(self.device)

    @staticmethod
    def _official(build, weights, download: bool) -> torch.nn.Module:
        cached = hub_checkpoint(weights)
        shown = f"$TORCH_HOME/hub/checkpoints/{cached.name}"
        if not cached.is_file() and not download:
            raise WeightsNotFound(f"{shown} is missing and downloads are off; put a state dict in weights.file")
        try:
            return build(weights=weights)
        except Exception as exc:  # noqa: BLE001 - the download's errors are many (DNS, HTTP, hash)
            raise WeightsNotFound(
                f"{shown} is missing and downloading {weights.url} failed ({exc.__class__.__name__}); "
                "put a state dict in weights.file"
            ) from None
