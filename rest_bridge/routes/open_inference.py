"""The Open Inference Protocol's REST API (KServe v2) under /v2, answered by the gRPC server's
inference.GRPCInferenceService through the client library.

Errors are problem+json like the rest of the bridge, with the protocol's own member added: `error`, the
message (what tritonclient shows). An unusable tensor or image is 400, as the protocol asks, where /v1
answers 422.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from rest_bridge import inference_body
from rest_bridge.deps import ClientDep, SettingsDep
from rest_bridge.errors import (
    PROBLEM_JSON,
    BridgeError,
    ErrorBody,
    detail_for,
    error_responses,
    problem,
    reason_for,
    status_for,
    status_headers,
    validation_detail,
)
from segmentation_client import InvalidInput, ServiceError

log = logging.getLogger(__name__)

ModelName = Annotated[str, Path(description="Model id, e.g. deeplabv3-mobilenetv2-pascal.")]


def oip_problem(status: int, detail: str, reason: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """A problem+json answer with the protocol's `error` member."""
    return problem(status, detail, reason, headers, extra={"error": detail})


class OpenInferenceRoute(APIRoute):
    """Maps this router's errors itself: 400 for unusable input, and the `error` member on every problem."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except (ServiceError, BridgeError, inference_body.BadInferBody) as exc:
                status = 400 if isinstance(exc, InvalidInput | inference_body.BadInferBody) else status_for(exc)
                reason = "BAD_TENSOR" if isinstance(exc, inference_body.BadInferBody) else reason_for(exc)
                log.info("%s %s -> %d %s: %s", request.method, request.url.path, status, reason, detail_for(exc))
                return oip_problem(status, detail_for(exc), reason, status_headers(request, status))
            except RequestValidationError as exc:
                return oip_problem(400, validation_detail(exc), "INVALID_PARAMETER")

        return route


class OipErrorBody(ErrorBody):
    error: str = Field(description="The protocol's error member: the same text as `detail`.")


def _responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    responses = error_responses(*[s for s in statuses if s != 400])
    for entry in responses.values():
        entry["model"] = OipErrorBody
        entry["content"][PROBLEM_JSON]["schema"] = {"$ref": "#/components/schemas/OipErrorBody"}
        entry["content"][PROBLEM_JSON]["example"]["error"] = entry["content"][PROBLEM_JSON]["example"]["detail"]
    if 400 in statuses:
        example = {"type": "urn:segmentation:error:BAD_TENSOR", "title": "Bad Request", "status": 400,
                   "detail": "UINT8 IMAGE must have shape [N, H, W, 3] (RGB), got [1, 2]", "reason": "BAD_TENSOR"}
        example["error"] = example["detail"]
        responses[400] = {"model": OipErrorBody, "description": (
            "A tensor or image the server cannot use (BAD_TENSOR, CORRUPT_IMAGE, UNSUPPORTED_FORMAT, "
            "IMAGE_TOO_LARGE, ...), or a body that is not an inference request."),
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/OipErrorBody"}, "example": example}}}
    return responses


class Live(BaseModel):
    live: bool
    error: str | None = None


class Ready(BaseModel):
    ready: bool
    error: str | None = None


class ModelReady(BaseModel):
    name: str
    ready: bool


class TensorMetadata(BaseModel):
    name: str
    datatype: str
    shape: list[int]


class ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]
    properties: dict[str, str] = Field(description="labels (a JSON array), input_width, input_height, ...")


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


def _probe(model: type[BaseModel], description: str) -> dict[int | str, dict[str, Any]]:
    return {503: {"model": model, "description": description}}


health_router = APIRouter(prefix="/v2/health", tags=["open inference protocol"], route_class=OpenInferenceRoute)
router = APIRouter(prefix="/v2", tags=["open inference protocol"], route_class=OpenInferenceRoute)


@health_router.get("/live", summary="Server live", response_model=Live, response_model_exclude_none=True,
                   responses=_probe(Live, "The gRPC server cannot be reached."))
async def server_live(client: ClientDep, settings: SettingsDep) -> Live | JSONResponse:
    """200 while the gRPC server answers its ServerLive call; 503 when it cannot be reached."""
    try:
        return Live(live=await client.inference.server_live(timeout=settings.readiness_timeout_seconds))
    except ServiceError as exc:
        return JSONResponse(Live(live=False, error=exc.message).model_dump(), 503)


@health_router.get("/ready", summary="Server ready", response_model=Ready, response_model_exclude_none=True,
                   responses=_probe(Ready, "The gRPC server is not ready (its health is not SERVING) or unreachable."))
async def server_ready(client: ClientDep, settings: SettingsDep) -> Ready | JSONResponse:
    """200 while the gRPC server is ready (the same answer as its gRPC health check); 503 otherwise."""
    try:
        ready, error = await client.inference.server_ready(timeout=settings.readiness_timeout_seconds), None
    except ServiceError as exc:
        ready, error = False, exc.message
    if ready:
        return Ready(ready=True)
    return JSONResponse(Ready(ready=False, error=error).model_dump(), 503,
                        headers={"Retry-After": str(settings.retry_after_seconds)})


@router.get("", summary="Server metadata", response_model=ServerMetadata,
            responses=_responses(401, 502, 503, 504))
async def server_metadata(client: ClientDep) -> ServerMetadata:
    meta = await client.inference.server_metadata()
    return ServerMetadata(name=meta.name, version=meta.version, extensions=meta.extensions)


@router.get("/models/{name}", summary="Model metadata", response_model=ModelMetadata,
            responses=_responses(401, 404, 502, 503, 504))
async def model_metadata(name: ModelName, client: ClientDep) -> ModelMetadata:
    """The model's tensors (IMAGE in, MASK out), platform and properties; labels are in properties."""
    meta = await client.inference.model_metadata(name)
    return ModelMetadata(
        name=meta.name, versions=meta.versions, platform=meta.platform, properties=meta.properties,
        inputs=[TensorMetadata(**vars(t)) for t in meta.inputs],
        outputs=[TensorMetadata(**vars(t)) for t in meta.outputs],
    )


@router.get("/models/{name}/ready", summary="Model ready", response_model=ModelReady,
            responses={**_responses(401, 404, 502, 504), **_probe(ModelReady, "The model is loading, unusable, "
                                                                   "or the server is shutting down.")})
async def model_ready(name: ModelName, client: ClientDep) -> ModelReady | JSONResponse:
    """200 when the model can run now, 503 when it cannot (yet), 404 for a model the server does not have."""
    ready = await client.inference.model_ready(name)
    body = ModelReady(name=name, ready=ready)
    return body if ready else JSONResponse(body.model_dump(), 503)


_INFER_BODY = {
    "required": True,
    "description": ("The JSON inference request; or, with the binary data extension (tritonclient's HTTP client "
                    "uses it), that JSON followed by the inputs' bytes, the JSON's length in the header "
                    "Inference-Header-Content-Length and each binary input's size in its parameter "
                    "binary_data_size."),
    "content": {"application/json": {"schema": inference_body.InferRequestBody.model_json_schema(
        ref_template="#/components/schemas/{model}")}},
}


@router.post(
    "/models/{name}/infer", summary="Inference", openapi_extra={"requestBody": _INFER_BODY},
    responses={
        200: {"description": "The MASK tensor, UINT8 [N, H, W]: JSON `data`, or with the binary data extension the "
                             "JSON and then the mask's bytes (length in Inference-Header-Content-Length).",
              "content": {"application/json": {}, "application/octet-stream": {}}},
        **_responses(400, 401, 404, 409, 413, 429, 502, 503, 504),
    },
)
async def infer(name: ModelName, request: Request, client: ClientDep) -> Response:
    """Segment a batch of images: input IMAGE as BYTES (base64 in JSON, or binary) or UINT8 [N, H, W, 3]."""
    body = await request.body()
    try:
        parsed, tensors = inference_body.parse(body, request.headers.get(inference_body.HEADER_LENGTH))
    except inference_body.BadInferBody:
        # An unknown model is the answer before a bad body, as on the gRPC side (404 rather than 400).
        await client.inference.model_metadata(name)
        raise
    result = await client.inference.infer(
        name, tensors, [o.name for o in parsed.outputs], request_id=parsed.id,
        parameters={k: v for k, v in parsed.parameters.items() if k != "binary_data_output"},
    )
    binary = inference_body.wants_binary(parsed)
    content, header_length = inference_body.encode(result, binary)
    if header_length is None:
        return Response(content, media_type="application/json")
    return Response(content, media_type="application/octet-stream",
                    headers={inference_body.HEADER_LENGTH: str(header_length)})
