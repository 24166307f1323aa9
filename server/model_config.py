"""A model folder's `model.toml`, read and validated into a `ModelSpec`.

This is the one place that knows the config format (docs/model_repository.md describes it). Every
error names the file and the field, with paths relative to the repository, never the server's own.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from server.palette import distinct_palette, pascal_palette

CONFIG_FILE = "model.toml"
MAX_CLASSES = 256  # masks are 8-bit class ids
PASCAL_LABELS = ["background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor"]
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

Byte = Annotated[int, Field(ge=0, le=255)]
Rgb = tuple[Byte, Byte, Byte]
Triple = tuple[float, float, float]


class ConfigError(Exception):
    """A model folder that cannot be served; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _relative_file(value: str | None) -> str | None:
    """A file inside the model's folder: a relative path that does not climb out of it."""
    if value is None:
        return value
    path = PurePosixPath(value)
    if not value or path.is_absolute() or ".." in path.parts:
        raise ValueError(f"must be a file name inside the model's folder, not {value!r}")
    return value


class WeightsConfig(_Strict):
    file: str | None = None
    """The weights file, in the model's folder. torchvision: optional state dict of the builder's model."""
    sha256: str | None = Field(None, pattern=r"^[0-9a-fA-F]{64}$")
    url: str | None = None
    """Where the setup step downloads `file` from when it is missing."""
    builder: str | None = None
    """torchvision only: the builder, e.g. `deeplabv3_resnet101`."""
    name: str | None = None
    """torchvision only: the weights enum member, e.g. `COCO_WITH_VOC_LABELS_V1` (official weights)."""

    _check_file = field_validator("file")(_relative_file)


class InputConfig(_Strict):
    width: int = Field(ge=1, le=8192)
    height: int = Field(ge=1, le=8192)
    layout: Literal["nhwc", "nchw"] | None = None
    """Default: nhwc for litert, nchw for the others."""
    channels: Literal["rgb", "bgr"] = "rgb"
    dtype: Literal["float32", "uint8"] = "float32"
    """uint8 models take the pixels as they are (a quantised model's own scale is in its file)."""
    scale: float = Field(1 / 255, gt=0)
    """float32: pixels (0-255) are multiplied by this, then `(x - mean) / std` per channel."""
    mean: Triple = (0.0, 0.0, 0.0)
    std: tuple[Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0)]] = (
        1.0, 1.0, 1.0)
    resize: Literal["letterbox", "stretch"] = "letterbox"
    pad: Rgb | None = None
    """Letterbox padding colour; default: the colour the model reads as zero."""

    @model_validator(mode="after")
    def _uint8_takes_pixels(self) -> InputConfig:
        given = {"scale", "mean", "std"} & self.model_fields_set
        if self.dtype == "uint8" and given:
            raise ValueError(
                f"{', '.join(sorted(given))} apply to float32 input only; a uint8 model takes the pixels as they are"
            )
        return self


class OutputConfig(_Strict):
    kind: Literal["class_ids", "scores", "probability"]
    """class_ids: one class id a pixel; scores: one score (or logit) a class, argmax taken;
    probability: one channel, the share of the second label, thresholded."""
    threshold: float = Field(0.5, ge=0, le=1)
    name: str | None = None
    """Which output to read when the model has several (ONNX output name, or key of a dict output)."""

    @model_validator(mode="after")
    def _threshold_for_probability(self) -> OutputConfig:
        if "threshold" in self.model_fields_set and self.kind != "probability":
            raise ValueError(f"threshold applies to kind = 'probability' only, not {self.kind!r}")
        return self


class ServingConfig(_Strict):
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$")
    instances: int | None = Field(None, ge=1, le=64)
    """Model instances (LiteRT interpreters); default: the server's --workers."""
    threads: int | None = Field(None, ge=1, le=256)
    """Threads of one instance; default: the server's --threads."""
    max_batch_size: int = Field(1, ge=1, le=256)
    max_queue_delay_ms: float = Field(0.0, ge=0, le=10_000)


class ModelConfig(_Strict):
    """The whole `model.toml`."""

    description: str = ""
    runtime: Literal["litert", "onnx", "torch_export", "torchscript", "torchvision"]
    licence: str = ""
    source: str = ""
    """Where the model comes from: a project page or paper."""
    labels: list[Annotated[str, Field(min_length=1)]] | None = None
    labels_file: str | None = None
    """A text file in the folder, one label a line (index = class id), up to the first blank line."""
    labels_url: str | None = None
    """Where the setup step downloads `labels_file` from when it is missing."""
    palette: Literal["pascal", "distinct"] | list[Rgb] | None = None
    """Colours by class id; default: the PASCAL colours for the PASCAL labels, otherwise distinct colours."""
    weights: WeightsConfig
    input: InputConfig
    output: OutputConfig
    serving: ServingConfig = ServingConfig()

    _check_labels_file = field_validator("labels_file")(_relative_file)

    @model_validator(mode="after")
    def _consistent(self) -> ModelConfig:
        if (self.labels is None) == (self.labels_file is None):
            raise ValueError("give the class names either as `labels = [...]` or as `labels_file = \"...\"`")
        if self.runtime == "torchvision":
            if not self.weights.builder:
                raise ValueError("weights.builder is required for runtime 'torchvision'")
        elif not self.weights.file:
            raise ValueError(f"weights.file is required for runtime {self.runtime!r}")
        elif self.weights.builder or self.weights.name:
            raise ValueError("weights.builder and weights.name apply to runtime 'torchvision' only")
        if self.runtime == "litert" and self.serving.device.startswith("cuda"):
            raise ValueError("serving.device: the litert runtime runs on the CPU only")
        return self


@dataclass(frozen=True)
class ModelSpec:
    """A validated model folder: its config plus what was read from the folder."""

    id: str
    folder: Path
    config: ModelConfig
    labels: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...]

    @property
    def weights_path(self) -> Path | None:
        return self.folder / self.config.weights.file if self.config.weights.file else None

    @property
    def layout(self) -> str:
        return self.config.input.layout or ("nhwc" if self.config.runtime == "litert" else "nchw")

    def input_shape(self, batch: int = 1) -> tuple[int, int, int, int]:
        h, w = self.config.input.height, self.config.input.width
        return (batch, h, w, 3) if self.layout == "nhwc" else (batch, 3, h, w)


def _field(loc: tuple) -> str:
    return ".".join(str(part) for part in loc)


def _explain(exc: ValidationError) -> str:
    reasons = []
    for error in exc.errors():
        where = _field(error["loc"])
        if error["type"] == "extra_forbidden":
            reasons.append(f"unknown key `{where}`")
        elif error["type"] == "missing":
            reasons.append(f"`{where}` is missing")
        else:
            message = error["msg"].removeprefix("Value error, ")
            reasons.append(f"`{where}`: {message}" if where else message)
    return "; ".join(reasons)


def read_labels(path: Path) -> list[str]:
    """Class names, one a line, up to the first blank line (notes may follow it)."""
    labels = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            break
        labels.append(line.strip())
    return labels


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_spec(folder: Path) -> ModelSpec:
    """Read and check `folder/model.toml` and the files it names; raise ConfigError saying what is wrong."""
    model_id = folder.name
    where = f"{model_id}/{CONFIG_FILE}"
    if not _ID.match(model_id):
        raise ConfigError(f"{model_id}: a model id (the folder's name) is letters, digits, '.', '_' and '-'")
    try:
        raw = tomllib.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{where} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where} is unreadable: {exc.__class__.__name__}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where} is not valid TOML: {exc}") from None
    try:
        config = ModelConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{where}: {_explain(exc)}") from None
    labels = _labels(folder, config)
    if not 1 <= len(labels) <= MAX_CLASSES:
        raise ConfigError(f"{where}: `labels` has {len(labels)} names; a model has 1 to {MAX_CLASSES} classes")
    if config.output.kind == "probability" and len(labels) != 2:
        raise ConfigError(f"{where}: kind = 'probability' needs two labels (below and above the threshold), "
                          f"got {len(labels)}")
    palette = _palette(config, labels, where)
    spec = ModelSpec(model_id, folder, config, tuple(labels), tuple(palette))
    _check_weights(spec)
    return spec


def _labels(folder: Path, config: ModelConfig) -> list[str]:
    if config.labels is not None:
        return list(config.labels)
    assert config.labels_file is not None  # the schema asks for labels or labels_file
    path = folder / config.labels_file
    try:
        return read_labels(path)
    except FileNotFoundError:
        hint = f"; labels_url says it comes from {config.labels_url} (`make models` fetches it)" \
            if config.labels_url else ""
        raise ConfigError(f"{folder.name}/{config.labels_file} (labels_file) not found{hint}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{folder.name}/{config.labels_file} (labels_file) is unreadable: "
                          f"{exc.__class__.__name__}") from None


def _palette(config: ModelConfig, labels: list[str], where: str) -> list[tuple[int, int, int]]:
    choice = config.palette
    if isinstance(choice, list):
        if len(choice) != len(labels):
            raise ConfigError(f"{where}: `palette` has {len(choice)} colours for {len(labels)} labels")
        return [(c[0], c[1], c[2]) for c in choice]
    if choice == "pascal" or (choice is None and tuple(labels) == tuple(PASCAL_LABELS)):
        return pascal_palette(len(labels))
    return distinct_palette(len(labels))


def _check_weights(spec: ModelSpec) -> None:
    weights = spec.config.weights
    path = spec.weights_path
    if path is None:
        return
    shown = f"{spec.id}/{weights.file}"
    if not path.is_file():
        hint = f"; weights.url says it comes from {weights.url} (`make models` fetches it)" if weights.url else ""
        raise ConfigError(f"{shown} (weights.file) not found{hint}")
    if weights.sha256:
        try:
            actual = sha256_of(path)
        except OSError as exc:
            raise ConfigError(f"{shown} (weights.file) is unreadable: {exc.__class__.__name__}") from None
        if actual != weights.sha256.lower():
            raise ConfigError(f"{shown}: sha256 is {actual}, but weights.sha256 says {weights.sha256.lower()}")
