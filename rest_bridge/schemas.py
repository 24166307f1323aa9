"""The JSON the bridge sends: response bodies of the REST routes and messages of the WebSocket."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, Field

Channel = Annotated[int, Field(ge=0, le=255)]
RGB = Annotated[list[Channel], Field(min_length=3, max_length=3, description="[r, g, b], 0..255")]


class OutputFormat(StrEnum):
    """What POST /v1/segment answers with."""

    png = "png"
    color = "color"
    overlay = "overlay"
    json = "json"
    alpha = "alpha"
    cutout = "cutout"


class ImageFormat(StrEnum):
    """Encoding of the `overlay` image."""

    jpeg = "jpeg"
    png = "png"


class DropPolicy(StrEnum):
    """What a stream does with frames that arrive while the model is busy: keep only the newest, or queue all."""

    latest = "latest"
    none = "none"


class BoundingBox(BaseModel):
    """Inclusive pixel bounds of a class in the mask."""

    x_min: int = Field(ge=0)
    y_min: int = Field(ge=0)
    x_max: int = Field(ge=0)
    y_max: int = Field(ge=0)


class ClassArea(BaseModel):
    """A class present in the mask and how much of it it covers."""

    class_id: int = Field(ge=0, le=255)
    label: str
    fraction: float = Field(ge=0, le=1, description="Share of the mask's pixels, 0..1.")
    pixel_count: int = Field(ge=0)


class ClassPresent(ClassArea):
    """A class present in the mask, with its palette colour and where it is."""

    color: RGB
    bbox: BoundingBox


class StageTimings(BaseModel):
    """Milliseconds spent on the gRPC server, stage by stage; `total_ms` runs from receipt to response."""

    decode_ms: float
    preprocess_ms: float
    inference_ms: float
    postprocess_ms: float
    encode_ms: float
    queue_ms: float
    total_ms: float


class SegmentJSON(BaseModel):
    """The `format=json` answer of POST /v1/segment."""

    model: str = Field(description="Id of the model that ran.")
    width: int = Field(ge=0, description="Width of the input image and of the mask.")
    height: int = Field(ge=0, description="Height of the input image and of the mask.")
    classes: list[ClassPresent] = Field(description="Classes present, largest area first.")
    timings: StageTimings
    mask_png: str = Field(description="Base64 of the 8-bit single-channel PNG of class ids (0 = background).")


class ModelOut(BaseModel):
    """A model of the gRPC server's model repositories, available or not."""

    id: str
    runtime: str = Field(description='"litert", "onnx", "torch_export", "torchscript" or "torchvision"; '
                         'empty when the model\'s config could not be read.')
    labels: list[str] = Field(description="Class names; the index is the class id.")
    available: bool
    unavailable_reason: str = Field(description='Why it cannot run, "loading" while it loads; empty when available.')
    input_width: int = Field(ge=0)
    input_height: int = Field(ge=0)
    device: str
    palette: list[RGB] = Field(description="Colour of each class id, as used by format=color and overlay.")
    description: str
    is_default: bool = Field(description="Used when a request names no model.")
    licence: str = Field(description="Licence of the weights, as the model's config says.")
    source: str = Field(description="Where the model comes from (a project page).")
    soft_mask: bool = Field(description="Gives a soft mask: format=alpha works, and format=cutout is soft-edged.")


class ModelList(BaseModel):
    """Every model the gRPC server knows."""

    models: list[ModelOut]
    default_model: str = Field(description="Id of the model used when a request names none.")


class Health(BaseModel):
    """The bridge process answers."""

    status: str = Field(examples=["ok"])


class Readiness(BaseModel):
    """The gRPC server's health as the bridge sees it."""

    status: str = Field(description='The gRPC health status, e.g. "SERVING", "NOT_SERVING", or "UNREACHABLE".',
                        examples=["SERVING"])
    detail: str = Field("", description="Why the bridge is not ready; empty when it is.")


class FrameError(BaseModel):
    """Why one frame of a stream, or the whole stream, failed."""

    status: int = Field(description="The HTTP status the same error gets from POST /v1/segment.")
    code: str = Field(description='The gRPC status name, e.g. "INVALID_ARGUMENT".')
    reason: str = Field(description='Machine-readable reason, e.g. "CORRUPT_IMAGE" (the list: GET /docs, errors).')
    detail: str


class StreamFrame(BaseModel):
    """One WebSocket message: the result of one frame, or the error that ended it (or the stream)."""

    frame_id: int | None = Field(description="1 for the first binary message, 2 for the next...; null for an "
                                             "error that ends the whole stream.")
    model: str = ""
    width: int = 0
    height: int = 0
    classes: list[ClassArea] = []
    timings: StageTimings | None = None
    frames_dropped: int = Field(0, description="Frames of this stream skipped so far by drop_policy=latest.")
    mask_png: str | None = Field(None, description="Base64 of the class-id PNG; null for a failed frame.")
    error: FrameError | None = None
