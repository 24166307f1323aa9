"""torchvision backend: DeepLabV3 (ResNet-50/101, MobileNetV3) and LR-ASPP on CPU or CUDA."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import torch
from torchvision.models import get_model_builder, get_model_weights

log = logging.getLogger(__name__)


class WeightsNotFound(Exception):
    """No weights could be found or downloaded; the message says where we looked."""


def hub_checkpoint(weights) -> Path:
    """Where torch.hub keeps (or would keep) a downloaded weights file."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(weights.url).path).name


class TorchvisionBackend:
    """A torchvision segmentation model with its official weights' preprocessing and labels.

    Weights come from `weights_file` when given (a state dict), else from the
    torch hub cache, downloading into it when `download` is true.
    """

    def __init__(
        self, builder: str, weights_name: str, *, weights_file: Path | None, download: bool, device: str, threads: int
    ) -> None:
        self.weights = get_model_weights(builder)[weights_name]
        self.labels: list[str] = list(self.weights.meta["categories"])
        transforms = self.weights.transforms()
        self.input_size = int(transforms.resize_size[0])
        self._mean = torch.tensor(transforms.mean).view(1, 3, 1, 1)
        self._std = torch.tensor(transforms.std).view(1, 3, 1, 1)
        # Padding with the mean colour is zero after normalisation.
        self.pad_value = tuple(round(m * 255) for m in transforms.mean)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if self.device == "cpu":
            torch.set_num_threads(threads)
        model = self._build(get_model_builder(builder), weights_file, download)
        self._model = model.eval().to(self.device)
        self._mean = self._mean.to(self.device)
        self._std = self._std.to(self.device)

    def _build(self, build, weights_file: Path | None, download: bool) -> torch.nn.Module:
        if weights_file is not None:
            if not weights_file.is_file():
                raise WeightsNotFound(f"weights file {weights_file} does not exist")
            state = torch.load(weights_file, map_location="cpu", weights_only=True)
            aux = any(key.startswith("aux_classifier.") for key in state)
            model = build(weights=None, weights_backbone=None, num_classes=len(self.labels), aux_loss=aux or None)
            model.load_state_dict(state)
            return model
        cached = hub_checkpoint(self.weights)
        if not cached.is_file() and not download:
            raise WeightsNotFound(f"{cached} is missing and downloads are off; name a weights file instead")
        try:
            return build(weights=self.weights)
        except Exception as exc:  # the download's errors are many (DNS, HTTP, hash)
            raise WeightsNotFound(
                f"{cached} is missing and downloading {self.weights.url} failed: {exc}; "
                "name a weights file instead"
            ) from None

    @torch.inference_mode()
    def predict(self, batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(batch).to(self.device).permute(0, 3, 1, 2).float().div_(255)
        x = (x - self._mean) / self._std
        logits = self._model(x)["out"]
        return logits.argmax(1).to(torch.uint8).cpu().numpy()
