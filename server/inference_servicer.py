"""inference.GRPCInferenceService (the Open Inference Protocol) over the same registry and pipeline as Segmenter.

Converts protobuf to the plain tensors of server/open_inference.py and back, and maps errors with
the same table as the Segmenter service. Readiness is the standard health service's own answer.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging

import numpy as np
from grpc_health.v1 import health, health_pb2

from protos import open_inference_pb2 as pb
from protos import open_inference_pb2_grpc as pb_grpc
from segmentation_client.tensors import element_count
from server import open_inference as oip
from server.admission import Admission
from server.errors import SegmentationError, UnknownModel
from server.masks import PLAIN, MaskOptions
from server.metrics import Metrics
from server.models import Model, ModelRegistry
from server.status import abort_with
from server.workers import Workers

log = logging.getLogger(__name__)

SERVER_NAME = "segmentation-service"


def _server_version() -> str:
    try:
        return importlib.metadata.version(SERVER_NAME)
    except importlib.metadata.PackageNotFoundError:
        return "0"


def tensor_from(message: pb.ModelInferRequest.InferInputTensor, raw: bytes | None) -> oip.Tensor:
    """An input tensor, from raw_input_contents when the request has them, else from its typed contents."""
    shape = tuple(message.shape)
    if message.datatype == "BYTES":
        data: list[bytes] | bytes = (oip.split_bytes(raw, element_count(shape)) if raw is not None
                                     else list(message.contents.bytes_contents))
    elif raw is not None:
        data = raw
    elif message.datatype == "UINT8":
        # One pass in numpy, not a Python loop over every pixel.
        contents = np.asarray(message.contents.uint_contents, dtype=np.uint32)
        if contents.size and int(contents.max()) > 255:
            raise oip.BadTensor(f"UINT8 {message.name} holds values over 255")
        data = contents.astype(np.uint8).tobytes()
    else:
        data = b""
    return oip.Tensor(message.name, message.datatype, shape, data)


def inputs_from(request: pb.ModelInferRequest) -> list[oip.Tensor]:
    raw = list(request.raw_input_contents)
    if raw and len(raw) != len(request.inputs):
        raise oip.BadTensor(f"raw_input_contents has {len(raw)} entries for {len(request.inputs)} input(s)")
    return [tensor_from(message, raw[i] if raw else None) for i, message in enumerate(request.inputs)]


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    """Serves every model of the registry under the Open Inference Protocol; see protos/open_inference.proto."""

    def __init__(
        self, registry: ModelRegistry, workers: Workers, health_servicer: health.aio.HealthServicer,
        admission: Admission, *, metrics: Metrics,
    ) -> None:
        self._registry = registry
        self._workers = workers
        self._health = health_servicer
        self._metrics = metrics
        self._admission = admission  # the Segmenter's too: one request limit for the whole server

    async def _ready(self, context) -> bool:
        # The health service's answer itself, so the two can never disagree.
        response = await self._health.Check(health_pb2.HealthCheckRequest(service=""), context)
        return response.status == health_pb2.HealthCheckResponse.SERVING

    def _model(self, name: str, version: str) -> Model:
        oip.check_version(name, version)
        models = self._registry.models()
        for model in models:
            if model.id == name:
                return model
        shown = name if len(name) <= 100 else name[:100] + "..."  # the caller's text: keep the status small
        raise UnknownModel(f"unknown model {shown!r}; known models: {', '.join(m.id for m in models)}")

    async def ServerLive(self, request, context) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(self, request, context) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=await self._ready(context))

    async def ServerMetadata(self, request, context) -> pb.ServerMetadataResponse:
        return pb.ServerMetadataResponse(name=SERVER_NAME, version=_server_version(), extensions=[])

    async def ModelReady(self, request: pb.ModelReadyRequest, context) -> pb.ModelReadyResponse:
        try:
            model = self._model(request.name, request.version)
        except SegmentationError as exc:
            await abort_with(context, exc)
        return pb.ModelReadyResponse(ready=model.loaded is not None and not self._admission.draining)

    async def ModelMetadata(self, request: pb.ModelMetadataRequest, context) -> pb.ModelMetadataResponse:
        try:
            model = self._model(request.name, request.version)
        except SegmentationError as exc:
            await abort_with(context, exc)
        meta = oip.model_metadata(model, model.id == self._registry.default_id)
        return pb.ModelMetadataResponse(
            name=meta.name, versions=meta.versions, platform=meta.platform, properties=meta.properties,
            inputs=[pb.ModelMetadataResponse.TensorMetadata(name=t.name, datatype=t.datatype, shape=t.shape)
                    for t in meta.inputs],
            outputs=[pb.ModelMetadataResponse.TensorMetadata(name=t.name, datatype=t.datatype, shape=t.shape)
                     for t in meta.outputs],
        )

    async def ModelInfer(self, request: pb.ModelInferRequest, context) -> pb.ModelInferResponse:
        return await self._admission.answer_unary(
            "ModelInfer", context, lambda received_at, deadline: self._infer(request, received_at, deadline),
        )

    async def _infer(
        self, request: pb.ModelInferRequest, received_at: float, deadline: float | None
    ) -> pb.ModelInferResponse:
        model = self._model(request.model_name, request.model_version)
        names = oip.check_outputs([o.name for o in request.outputs])
        images = oip.images_from(inputs_from(request))
        options = MaskOptions(alpha=True) if oip.ALPHA in names else PLAIN
        results = await self._workers.run_batch(model.id, images, received_at=received_at, deadline=deadline,
                                                options=options)
        for result in results:
            self._metrics.observe(result.model_id, result.timings)
        tensors = [oip.stack_masks(results, name) for name in names]
        spec = model.spec
        labels = spec.labels if spec is not None else ()
        outputs = [
            pb.ModelInferResponse.InferOutputTensor(
                name=name, datatype="UINT8", shape=tensor.shape,
                parameters={"labels": pb.InferParameter(string_param=json.dumps(list(labels)))} if name == oip.OUTPUT
                else {},
            )
            for name, tensor in zip(names, tensors, strict=True)
        ]
        log.debug("ModelInfer ok: %s %s", model.id, list(tensors[0].shape))
        return pb.ModelInferResponse(
            model_name=model.id, id=request.id, outputs=outputs, raw_output_contents=[t.tobytes() for t in tensors],
        )
