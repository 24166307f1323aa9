"""The Open Inference Protocol (KServe v2) calls, on the client's own channel: `client.inference`.

    with SegmentationClient("127.0.0.1:50051") as client:
        tensor = InferTensor.from_files("IMAGE", [Path("photo.jpg").read_bytes()])
        response = client.inference.infer("deeplabv3-mobilenetv2-pascal", [tensor])
        mask = response.output("MASK").as_numpy()  # (1, height, width) class ids

Tensors travel in their raw form (raw_input_contents, raw_output_contents), as
segmentation_client.tensors frames and parses them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
import numpy as np

from protos import open_inference_pb2 as pb
from protos import open_inference_pb2_grpc as pb_grpc
from segmentation_client._exceptions import InvalidInput
from segmentation_client.tensors import NUMPY_DTYPES, TensorDataError, element_count, pack_bytes, unpack_bytes

Parameter = bool | int | float | str


@dataclass(frozen=True)
class TensorMetadata:
    name: str
    datatype: str
    shape: list[int]  # -1: any size


@dataclass(frozen=True)
class ModelMetadata:
    """A model's tensors; `properties` holds the server's extras (labels as a JSON array, input size, ...)."""

    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]
    properties: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ServerMetadata:
    name: str
    version: str
    extensions: list[str]


@dataclass(frozen=True)
class InferTensor:
    """A tensor in its raw form: `data` is the row-major elements (BYTES: length-prefixed)."""

    name: str
    datatype: str
    shape: list[int]
    data: bytes
    parameters: dict[str, Parameter] = field(default_factory=dict)

    @classmethod
    def from_numpy(cls, name: str, array: np.ndarray) -> InferTensor:
        """A numeric tensor from an array of one of the protocol's types (uint8, float32, ...)."""
        for datatype, dtype in NUMPY_DTYPES.items():
            if array.dtype == dtype:
                return cls(name, datatype, list(array.shape), np.ascontiguousarray(array).tobytes())
        raise InvalidInput(f"no Open Inference data type for numpy {array.dtype}")

    @classmethod
    def from_files(cls, name: str, files: Sequence[bytes]) -> InferTensor:
        """A BYTES tensor of shape [N]: one element per file."""
        return cls(name, "BYTES", [len(files)], pack_bytes(files))

    def as_numpy(self) -> np.ndarray:
        """The elements in the tensor's shape; BYTES gives an object array of bytes."""
        if self.datatype == "BYTES":
            try:
                elements = unpack_bytes(self.data, element_count(self.shape))
            except TensorDataError as exc:
                raise InvalidInput(f"tensor {self.name}: {exc}") from None
            return np.array(elements, dtype=object).reshape(self.shape)
        return np.frombuffer(self.data, dtype=NUMPY_DTYPES[self.datatype]).reshape(self.shape)


@dataclass(frozen=True)
class InferResponse:
    model_name: str
    model_version: str
    id: str
    outputs: list[InferTensor]
    parameters: dict[str, Parameter] = field(default_factory=dict)

    def output(self, name: str) -> InferTensor:
        for tensor in self.outputs:
            if tensor.name == name:
                return tensor
        raise KeyError(f"no output {name!r} in the response; it has {[t.name for t in self.outputs]}")


def _parameter(value: Parameter) -> pb.InferParameter:
    if isinstance(value, bool):
        return pb.InferParameter(bool_param=value)
    if isinstance(value, int):
        return pb.InferParameter(int64_param=value)
    if isinstance(value, float):
        return pb.InferParameter(double_param=value)
    return pb.InferParameter(string_param=str(value))


def _parameters_from(message: Mapping[str, pb.InferParameter]) -> dict[str, Parameter]:
    result: dict[str, Parameter] = {}
    for key, value in message.items():
        choice = value.WhichOneof("parameter_choice")
        if choice is not None:
            result[key] = getattr(value, choice)
    return result


def infer_request(
    model: str, inputs: Sequence[InferTensor], outputs: Sequence[str], request_id: str, version: str,
    parameters: dict[str, Parameter] | None,
) -> pb.ModelInferRequest:
    return pb.ModelInferRequest(
        model_name=model, model_version=version, id=request_id,
        parameters={k: _parameter(v) for k, v in (parameters or {}).items()},
        inputs=[pb.ModelInferRequest.InferInputTensor(
            name=t.name, datatype=t.datatype, shape=t.shape, parameters={k: _parameter(v) for k, v in t.parameters.items()},
        ) for t in inputs],
        outputs=[pb.ModelInferRequest.InferRequestedOutputTensor(name=name) for name in outputs],
        raw_input_contents=[t.data for t in inputs],
    )


def infer_response(message: pb.ModelInferResponse) -> InferResponse:
    raw = list(message.raw_output_contents)
    outputs = []
    for i, out in enumerate(message.outputs):
        if i < len(raw):
            data = raw[i]
        elif out.datatype == "BYTES":
            data = pack_bytes(out.contents.bytes_contents)
        else:  # this server always answers in raw form; another's typed contents are converted here
            typed = [c for c in (out.contents.uint_contents, out.contents.int_contents, out.contents.int64_contents,
                                 out.contents.uint64_contents, out.contents.fp32_contents,
                                 out.contents.fp64_contents, out.contents.bool_contents) if len(c)]
            data = np.asarray(typed[0] if typed else [], dtype=NUMPY_DTYPES[out.datatype]).tobytes()
        outputs.append(InferTensor(out.name, out.datatype, list(out.shape), data, _parameters_from(out.parameters)))
    return InferResponse(message.model_name, message.model_version, message.id, outputs,
                         _parameters_from(message.parameters))


def model_metadata(message: pb.ModelMetadataResponse) -> ModelMetadata:
    def tensors(items: Iterable[pb.ModelMetadataResponse.TensorMetadata]) -> list[TensorMetadata]:
        return [TensorMetadata(t.name, t.datatype, list(t.shape)) for t in items]

    return ModelMetadata(message.name, list(message.versions), message.platform, tensors(message.inputs),
                         tensors(message.outputs), dict(message.properties))


class OpenInference:
    """The Open Inference Protocol calls of a SegmentationClient; errors are the client's exceptions."""

    def __init__(self, channel: grpc.Channel, call: Callable[..., Any]) -> None:
        self._stub = pb_grpc.GRPCInferenceServiceStub(channel)
        self._call = call

    def server_live(self, timeout: float | None = None) -> bool:
        response: pb.ServerLiveResponse = self._call(self._stub.ServerLive, pb.ServerLiveRequest(), timeout)
        return response.live

    def server_ready(self, timeout: float | None = None) -> bool:
        response: pb.ServerReadyResponse = self._call(self._stub.ServerReady, pb.ServerReadyRequest(), timeout)
        return response.ready

    def server_metadata(self, timeout: float | None = None) -> ServerMetadata:
        r = self._call(self._stub.ServerMetadata, pb.ServerMetadataRequest(), timeout)
        return ServerMetadata(r.name, r.version, list(r.extensions))

    def model_ready(self, model: str, version: str = "", timeout: float | None = None) -> bool:
        request = pb.ModelReadyRequest(name=model, version=version)
        response: pb.ModelReadyResponse = self._call(self._stub.ModelReady, request, timeout)
        return response.ready

    def model_metadata(self, model: str, version: str = "", timeout: float | None = None) -> ModelMetadata:
        request = pb.ModelMetadataRequest(name=model, version=version)
        return model_metadata(self._call(self._stub.ModelMetadata, request, timeout))

    def infer(
        self, model: str, inputs: Sequence[InferTensor], outputs: Sequence[str] = (), *, request_id: str = "",
        version: str = "", parameters: dict[str, Parameter] | None = None, timeout: float | None = None,
    ) -> InferResponse:
        request = infer_request(model, inputs, outputs, request_id, version, parameters)
        return infer_response(self._call(self._stub.ModelInfer, request, timeout))


class AsyncOpenInference:
    """The Open Inference Protocol calls of an AsyncSegmentationClient; see OpenInference."""

    def __init__(self, channel: grpc.aio.Channel, call: Callable[..., Awaitable[Any]]) -> None:
        self._stub = pb_grpc.GRPCInferenceServiceStub(channel)
        self._call = call

    async def server_live(self, timeout: float | None = None) -> bool:
        response: pb.ServerLiveResponse = await self._call(self._stub.ServerLive, pb.ServerLiveRequest(), timeout)
        return response.live

    async def server_ready(self, timeout: float | None = None) -> bool:
        response: pb.ServerReadyResponse = await self._call(self._stub.ServerReady, pb.ServerReadyRequest(), timeout)
        return response.ready

    async def server_metadata(self, timeout: float | None = None) -> ServerMetadata:
        r = await self._call(self._stub.ServerMetadata, pb.ServerMetadataRequest(), timeout)
        return ServerMetadata(r.name, r.version, list(r.extensions))

    async def model_ready(self, model: str, version: str = "", timeout: float | None = None) -> bool:
        request = pb.ModelReadyRequest(name=model, version=version)
        response: pb.ModelReadyResponse = await self._call(self._stub.ModelReady, request, timeout)
        return response.ready

    async def model_metadata(self, model: str, version: str = "", timeout: float | None = None) -> ModelMetadata:
        request = pb.ModelMetadataRequest(name=model, version=version)
        return model_metadata(await self._call(self._stub.ModelMetadata, request, timeout))

    async def infer(
        self, model: str, inputs: Sequence[InferTensor], outputs: Sequence[str] = (), *, request_id: str = "",
        version: str = "", parameters: dict[str, Parameter] | None = None, timeout: float | None = None,
    ) -> InferResponse:
        request = infer_request(model, inputs, outputs, request_id, version, parameters)
        return infer_response(await self._call(self._stub.ModelInfer, request, timeout))
