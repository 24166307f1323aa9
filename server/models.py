"""The models the server knows, and the registry that loads them and tracks their state."""

from __future__ import annotations

import enum
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from server.backends import Backend
from server.config import ServerSettings
from server.errors import ModelLoading, ModelUnavailable, UnknownModel
from server.palette import pascal_palette

log = logging.getLogger(__name__)

LABELS_FILE = "pascal_voc_segmentation_labels.txt"


@dataclass(frozen=True)
class ModelSpec:
    """A model the server can serve: a stable id and where its weights come from."""

    id: str
    backend: str  # "litert" or "torchvision"
    source: str  # .tflite file name, or torchvision builder name
    description: str


CATALOG: tuple[ModelSpec, ...] = (
    ModelSpec("deeplabv3-mobilenetv2-pascal", "litert", "deeplabv3_mnv2_pascal_quant.tflite",
              "DeepLabV3, MobileNetV2 backbone, int8, PASCAL VOC 2012 (21 classes)"),
    ModelSpec("deeplabv3-mobilenetv2-dm05-pascal", "litert", "deeplabv3_mnv2_dm05_pascal_quant.tflite",
              "DeepLabV3, MobileNetV2 depth 0.5, int8, PASCAL VOC 2012: faster, less accurate"),
    ModelSpec("deeplabv3-resnet101", "torchvision", "deeplabv3_resnet101",
              "torchvision DeepLabV3, ResNet-101 backbone, COCO subset with VOC labels"),
    ModelSpec("deeplabv3-resnet50", "torchvision", "deeplabv3_resnet50",
              "torchvision DeepLabV3, ResNet-50 backbone, COCO subset with VOC labels"),
    ModelSpec("deeplabv3-mobilenetv3-large", "torchvision", "deeplabv3_mobilenet_v3_large",
              "torchvision DeepLabV3, MobileNetV3-Large backbone, COCO subset with VOC labels"),
    ModelSpec("lraspp-mobilenetv3-large", "torchvision", "lraspp_mobilenet_v3_large",
              "torchvision LR-ASPP, MobileNetV3-Large backbone, COCO subset with VOC labels"),
)
SPECS = {spec.id: spec for spec in CATALOG}


class State(enum.Enum):
    LOADING = "loading"
    READY = "ready"
    UNAVAILABLE = "unavailable"


@dataclass
class Model:
    """A catalogued model with its state; `backend` is set once it is READY."""

    spec: ModelSpec
    state: State = State.LOADING
    reason: str = ""
    backend: Backend | None = None
    labels: list[str] = field(default_factory=list)

    @property
    def palette(self) -> list[tuple[int, int, int]]:
        return pascal_palette(len(self.labels))


def read_labels(path: Path) -> list[str]:
    """Class names, one a line, up to the first blank line (notes may follow it)."""
    labels = []
    for line in path.read_text().splitlines():
        if not line.strip():
            break
        labels.append(line.strip())
    return labels


class ModelRegistry:
    """Loads the selected models and answers which one serves a request."""

    def __init__(self, settings: ServerSettings) -> None:
        self._settings = settings
        ids = settings.models or [spec.id for spec in CATALOG]
        if settings.default_model not in ids:
            ids = [settings.default_model, *ids]
        unknown = [i for i in ids if i not in SPECS]
        if unknown:
            raise ValueError(f"unknown model id(s) {unknown}; known: {sorted(SPECS)}")
        self._models = {i: Model(SPECS[i]) for i in ids}
        self._lock = threading.Lock()

    @property
    def default_id(self) -> str:
        return self._settings.default_model

    def models(self) -> list[Model]:
        return list(self._models.values())

    def get(self, model_id: str) -> Model:
        """The READY model for an id ("" is the default); raises the domain error otherwise."""
        model = self._models.get(model_id or self.default_id)
        if model is None:
            # The id is the caller's text: cut it short so the status message stays small.
            shown = model_id if len(model_id) <= 100 else model_id[:100] + "..."
            raise UnknownModel(f"unknown model {shown!r}; known models: {', '.join(self._models)}")
        if model.state is State.LOADING:
            raise ModelLoading(f"model {model.spec.id} is still loading; try again shortly")
        if model.state is State.UNAVAILABLE:
            raise ModelUnavailable(f"model {model.spec.id} is unavailable: {model.reason}")
        return model

    def load(self, model_id: str) -> Model:
        """Build and warm up one model (blocking); on failure mark it unavailable with the reason."""
        model = self._models[model_id]
        try:
            backend, labels = self._build(model.spec)
            # The first inference allocates and plans; do it before any caller waits on it.
            backend.predict(np.zeros((1, backend.input_size, backend.input_size, 3), np.uint8))
        except Exception as exc:
            with self._lock:
                model.state, model.reason = State.UNAVAILABLE, str(exc)
            log.warning("model %s unavailable: %s", model_id, exc)
            return model
        with self._lock:
            model.backend, model.labels, model.state = backend, labels, State.READY
        log.info("model %s ready on %s (input %d)", model_id, backend.device, backend.input_size)
        return model

    def _build(self, spec: ModelSpec) -> tuple[Backend, list[str]]:
        s = self._settings
        if spec.backend == "litert":
            from server.backends.litert import LiteRTBackend

            path = s.model_dir / spec.source
            labels_path = s.model_dir / LABELS_FILE
            for needed in (path, labels_path):
                if not needed.is_file():
                    raise FileNotFoundError(f"{needed.resolve()} not found; run `make models` to fetch it")
            return LiteRTBackend(path, instances=s.workers, threads=s.threads), read_labels(labels_path)
        from server.backends.torchvision_backend import TorchvisionBackend

        backend = TorchvisionBackend(
            spec.source, "COCO_WITH_VOC_LABELS_V1", weights_file=s.weights.get(spec.id),
            download=s.download, device=s.device, threads=s.threads,
        )
        if s.max_batch_size > 1 and s.max_queue_delay_ms > 0:
            from server.backends.batching import DynamicBatcher

            return DynamicBatcher(backend, s.max_batch_size, s.max_queue_delay_ms / 1000), backend.labels
        return backend, backend.labels
