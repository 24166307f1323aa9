"""Bodies of the Open Inference Protocol's REST inference call: JSON tensors, and the binary data extension.

A request body is a JSON object, or (the binary data extension, which tritonclient's HTTP client uses)
that JSON object followed by the tensors' bytes, the JSON's length in the header
Inference-Header-Content-Length and each binary input's size in its parameter `binary_data_size`.
In JSON, a UINT8 tensor's `data` is its numbers (nested or flat, row-major) and a BYTES tensor's
`data` is base64 strings, one per element (an image file is not text). The answer is JSON with
`data`, or binary in the same way when the request asks for it: the request parameter
`binary_data_output` or the output parameter `binary_data` set to true.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import numpy as np
from pydantic import BaseModel, Field, ValidationError

from segmentation_client import InferResponse, InferTensor
from segmentation_client.tensors import NUMPY_DTYPES, pack_bytes

HEADER_LENGTH = "Inference-Header-Content-Length"
Parameters = dict[str, bool | int | float | str]


class BadInferBody(ValueError):
    """The body is not an inference request this bridge can read (HTTP 400)."""


class RequestInput(BaseModel):
    name: str = Field(description="The input's name: IMAGE.", examples=["IMAGE"])
    shape: list[int] = Field(description="[N] or [N, 1] for BYTES, [N, H, W, 3] for UINT8.", examples=[[1]])
    datatype: str = Field(description="BYTES (encoded image files) or UINT8 (RGB pixels).", examples=["BYTES"])
    parameters: Parameters = Field(default_factory=dict,
                                   description="binary_data_size: the input's bytes follow the JSON.")
    data: list[Any] | None = Field(default=None, description="UINT8: the numbers, nested or flat. BYTES: base64 "
                                   "strings, one per element. Absent when the data is binary.")


class RequestOutput(BaseModel):
    name: str = Field(examples=["MASK"])
    parameters: Parameters = Field(default_factory=dict, description="binary_data: true for a binary answer.")


class InferRequestBody(BaseModel):
    """$inference_request of the Open Inference Protocol's REST API."""

    id: str = ""
    parameters: Parameters = Field(default_factory=dict,
                                   description="binary_data_output: true answers every output in binary.")
    inputs: list[RequestInput]
    outputs: list[RequestOutput] = Field(default_factory=list)


def _bytes_elements(values: list[Any], name: str) -> bytes:
    elements = []
    for value in np.asarray(values, dtype=object).ravel():
        if not isinstance(value, str):
            raise BadInferBody(f"input {name}: a BYTES element in JSON must be a base64 string")
        try:
            elements.append(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            raise BadInferBody(f"input {name}: a BYTES element is not valid base64") from None
    return pack_bytes(elements)


def _json_data(item: RequestInput) -> bytes:
    if item.datatype == "BYTES":
        return _bytes_elements(item.data or [], item.name)
    dtype = NUMPY_DTYPES.get(item.datatype)
    if dtype is None:
        raise BadInferBody(f"input {item.name}: unknown data type {item.datatype!r}")
    try:
        values = np.asarray(item.data, dtype=np.float64 if dtype in (np.float16, np.float32, np.float64) else object)
        if dtype not in (np.float16, np.float32, np.float64, np.bool_):
            info = np.iinfo(dtype)
            if any(not isinstance(v, int) or isinstance(v, bool) or not info.min <= v <= info.max
                   for v in values.ravel()):
                raise BadInferBody(f"input {item.name}: {item.datatype} data must be integers in "
                                   f"[{info.min}, {info.max}]")
        return values.astype(dtype).tobytes()
    except (TypeError, ValueError) as exc:
        if isinstance(exc, BadInferBody):
            raise
        raise BadInferBody(f"input {item.name}: data is not a {item.datatype} array: {exc}") from None


def parse(body: bytes, header_length: str | None) -> tuple[InferRequestBody, list[InferTensor]]:
    """The request and its input tensors in raw form, from a JSON or JSON-plus-binary body."""
    if header_length is not None:
        if not header_length.isdigit() or int(header_length) > len(body):
            raise BadInferBody(f"{HEADER_LENGTH} is {header_length!r}; the body has {len(body)} bytes")
        head, binary = body[:int(header_length)], memoryview(body)[int(header_length):]
    else:
        head, binary = body, memoryview(b"")
    try:
        request = InferRequestBody.model_validate(json.loads(head))
    except (ValueError, ValidationError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise BadInferBody(f"the body is not an inference request: {str(exc).splitlines()[0]}") from None
    tensors, offset = [], 0
    for item in request.inputs:
        size = item.parameters.get("binary_data_size")
        if size is not None:
            if isinstance(size, bool) or not isinstance(size, int) or size < 0 or offset + size > len(binary):
                raise BadInferBody(f"input {item.name}: binary_data_size {size!r} does not fit the "
                                   f"{len(binary)} bytes after the JSON")
            data = bytes(binary[offset:offset + size])
            offset += size
        elif item.data is None:
            raise BadInferBody(f"input {item.name} has neither data nor binary_data_size")
        else:
            data = _json_data(item)
        parameters = {k: v for k, v in item.parameters.items() if k != "binary_data_size"}
        tensors.append(InferTensor(item.name, item.datatype, item.shape, data, parameters))
    if offset != len(binary):
        raise BadInferBody(f"{len(binary) - offset} bytes after the JSON belong to no input")
    return request, tensors


def wants_binary(request: InferRequestBody) -> bool:
    return bool(request.parameters.get("binary_data_output")) or any(
        o.parameters.get("binary_data") for o in request.outputs)


def encode(response: InferResponse, binary: bool) -> tuple[bytes, int | None]:
    """The response body, and the JSON part's length when binary data follows it."""
    outputs, blobs = [], []
    for tensor in response.outputs:
        entry: dict[str, Any] = {"name": tensor.name, "datatype": tensor.datatype, "shape": tensor.shape,
                                 "parameters": dict(tensor.parameters)}
        if binary:
            entry["parameters"]["binary_data_size"] = len(tensor.data)
            blobs.append(tensor.data)
        elif tensor.datatype == "BYTES":
            entry["data"] = [base64.b64encode(e).decode() for e in tensor.as_numpy().ravel()]
        else:
            entry["data"] = tensor.as_numpy().ravel().tolist()
        outputs.append(entry)
    head = {"model_name": response.model_name, "id": response.id, "parameters": response.parameters,
            "outputs": outputs}
    if response.model_version:
        head["model_version"] = response.model_version
    text = json.dumps(head, separators=(",", ":")).encode()
    return (text + b"".join(blobs), len(text)) if binary else (text, None)
