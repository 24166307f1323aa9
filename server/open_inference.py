"""The models as Open Inference Protocol (KServe v2) models: their tensors, and images in, masks out.

Plain Python and numpy: the gRPC adapter (server/inference_servicer.py) turns messages into
`Tensor`s and the results back; nothing here knows protobuf.

Every model takes one input, IMAGE, and gives the output MASK, plus ALPHA when a request names it:
  IMAGE  BYTES [N] or [N, 1] (as tritonclient batches), each element an encoded image file;
         or UINT8 [N, H, W, 3], RGB pixels.
  MASK   UINT8 [N, H, W], class ids at the size of the input images.
  ALPHA  UINT8 [N, H, W], the soft mask (0 background .. 255 foreground); models with a soft mask only,
         and only when asked for, so that a client that asks for no output gets MASK as before.
A batch's masks form one tensor, so its images must all have one size; a batch of encoded images of
different sizes is refused with INVALID_ARGUMENT (send them in separate requests).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from segmentation_client import ModelMetadata, TensorMetadata
from segmentation_client.tensors import TensorDataError, unpack_bytes
from server.errors import InvalidImage, UnknownModel
from server.imaging import EncodedImage, RawPixels
from server.masks import has_soft_mask
from server.models import Model
from server.pipeline import Segmentation

INPUT, OUTPUT, ALPHA = "IMAGE", "MASK", "ALPHA"
PLATFORMS = {"litert": "litert_tflite", "onnx": "onnxruntime_onnx", "torch_export": "pytorch_export",
             "torchscript": "pytorch_torchscript", "torchvision": "pytorch_torchvision"}


class BadTensor(InvalidImage):
    """A request tensor this server cannot use: wrong name, data type, shape or length (INVALID_ARGUMENT)."""

    reason = "BAD_TENSOR"


@dataclass(frozen=True)
class Tensor:
    """A request input: BYTES elements as a list of bytes, any other type as its raw little-endian bytes."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    data: bytes | list[bytes]


def model_metadata(model: Model, is_default: bool) -> ModelMetadata:
    """What ModelMetadata answers, as the client library reads it (shape -1: any size); needs model.spec set."""
    spec = model.loaded.spec if model.loaded is not None else model.spec
    # One entry per input name, as clients expect: IMAGE as encoded files; the UINT8 form is a property.
    properties = {"default": "true" if is_default else "false", "IMAGE_UINT8_shape": "[-1, -1, -1, 3]"}
    platform = ""
    if spec is not None:
        config = spec.config
        platform = PLATFORMS.get(config.runtime, config.runtime)
        properties.update(labels=json.dumps(list(spec.labels)), input_width=str(config.input.width),
                          input_height=str(config.input.height), description=config.description)
    outputs = [TensorMetadata(OUTPUT, "UINT8", [-1, -1, -1])]
    if spec is not None and has_soft_mask(spec):
        outputs.append(TensorMetadata(ALPHA, "UINT8", [-1, -1, -1]))
    return ModelMetadata(
        name=model.id, versions=[], platform=platform,
        inputs=[TensorMetadata(INPUT, "BYTES", [-1])],
        outputs=outputs,
        properties=properties,
    )


def check_version(model_id: str, version: str) -> None:
    if version not in ("", "1"):
        raise UnknownModel(f"model {model_id!r} has no version {version!r}: each model has one version, "
                           "leave the version empty", "MODEL_NOT_FOUND")


def check_outputs(names: list[str]) -> list[str]:
    """The outputs to send, in the order asked; MASK when none is named."""
    unknown = [n for n in names if n not in (OUTPUT, ALPHA)]
    if unknown:
        raise BadTensor(f"unknown output(s) {unknown}: the outputs are {OUTPUT} and {ALPHA}")
    return list(dict.fromkeys(names)) or [OUTPUT]


def split_bytes(raw: bytes, count: int) -> list[bytes]:
    """The `count` elements of a BYTES tensor in its raw form, parsed by the client library's codec."""
    try:
        return unpack_bytes(raw, count)
    except TensorDataError as exc:
        raise BadTensor(str(exc)) from None


def images_from(inputs: list[Tensor]) -> list[EncodedImage | RawPixels]:
    """The images of a request's one IMAGE input, in batch order."""
    if len(inputs) != 1 or inputs[0].name != INPUT:
        raise BadTensor(f"expected one input named {INPUT}, got {[t.name for t in inputs] or 'none'}")
    tensor = inputs[0]
    shape = tensor.shape
    if any(d < 0 for d in shape):
        raise BadTensor(f"{INPUT} has a negative dimension in its shape {list(shape)}")
    if tensor.datatype == "BYTES":
        if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1) or shape[0] < 1:
            raise BadTensor(f"BYTES {INPUT} must have shape [N] or [N, 1] with N >= 1, got {list(shape)}")
        if not isinstance(tensor.data, list) or len(tensor.data) != shape[0]:
            count = len(tensor.data) if isinstance(tensor.data, list) else "raw"
            raise BadTensor(f"BYTES {INPUT} of shape {list(shape)} needs {shape[0]} element(s), got {count}")
        return [EncodedImage(bytes(e)) for e in tensor.data]
    if tensor.datatype == "UINT8":
        if len(shape) != 4 or shape[3] != 3 or min(shape) < 1:
            raise BadTensor(f"UINT8 {INPUT} must have shape [N, H, W, 3] (RGB), got {list(shape)}")
        n, height, width, _ = shape
        if not isinstance(tensor.data, bytes | bytearray | memoryview):
            raise BadTensor(f"UINT8 {INPUT} needs its data as raw bytes")
        size = height * width * 3
        if len(tensor.data) != n * size:
            raise BadTensor(f"UINT8 {INPUT} of shape {list(shape)} needs {n * size} bytes, got {len(tensor.data)}")
        data = memoryview(tensor.data)
        return [RawPixels(bytes(data[i * size:(i + 1) * size]), width, height) for i in range(n)]
    raise BadTensor(f"{INPUT} must be BYTES (encoded images) or UINT8 (RGB pixels), got {tensor.datatype!r}")


def stack_masks(results: list[Segmentation], name: str = OUTPUT) -> np.ndarray:
    """The batch's masks (or soft masks, for ALPHA) as one UINT8 [N, H, W] tensor; images of different
    sizes cannot form one."""
    sizes = [r.mask.shape for r in results]
    if len(set(sizes)) > 1:
        shown = ", ".join(f"{w}x{h}" for h, w in sizes)
        raise BadTensor(f"the images of one request must have one size, as {name} is one [N, H, W] tensor; "
                        f"got {shown}: send them in separate requests")
    planes = [r.mask if name == OUTPUT or r.alpha is None else r.alpha for r in results]
    return np.ascontiguousarray(np.stack(planes).astype(np.uint8, copy=False))
