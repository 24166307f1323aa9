"""POST /v1/segment: one image in, a mask (PNG, coloured PNG, overlay or JSON) out."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query, Response
from starlette.concurrency import run_in_threadpool

from rest_bridge import render
from rest_bridge.deps import ClientDep, ImageDep, PalettesDep
from rest_bridge.errors import error_responses
from rest_bridge.schemas import ImageFormat, OutputFormat, SegmentJSON
from rest_bridge.state import PaletteCache
from rest_bridge.upload import REQUEST_BODY, Upload
from segmentation_client import SegmentResult

router = APIRouter(tags=["segmentation"])

_BINARY = {"type": "string", "format": "binary"}


def _header(description: str, pattern: str | None = None) -> dict:
    schema = {"type": "string", **({"pattern": pattern} if pattern else {})}
    return {"description": description, "required": True, "schema": schema}


RESULT_HEADERS = {
    "X-Model": _header("Id of the model that ran."),
    "X-Classes": _header(
        'Classes present as comma-separated "label:fraction" pairs, largest first, fraction 0..1 with 3 decimals, '
        'labels percent-encoded, e.g. "background:0.555,cat:0.445".'),
    "X-Timings-Total-Ms": _header("Milliseconds the gRPC server spent, receipt to response.", r"^[0-9]+\.[0-9]$"),
    "X-Image-Width": _header("Width of the input image and of the mask.", "^[0-9]+$"),
    "X-Image-Height": _header("Height of the input image and of the mask.", "^[0-9]+$"),
    "Server-Timing": _header(
        "W3C Server-Timing: the server's stages (decode, preprocess, inference, postprocess, encode, queue), "
        "its total, the gRPC round trip seen by the bridge (rpc) and the bridge's drawing (render), in ms."),
}
_OK = {
    "description": (
        "`format=png`: 8-bit single-channel PNG of class ids at the input's resolution (image/png). "
        "`format=color`: the mask in palette colours (image/png). `format=overlay`: the coloured mask over "
        "the input (image/jpeg or image/png per `image_format`). `format=json`: application/json."
    ),
    "model": SegmentJSON,
    "content": {"image/png": {"schema": _BINARY}, "image/jpeg": {"schema": _BINARY}},
    "headers": RESULT_HEADERS,
}

ModelQuery = Annotated[str | None, Query(
    max_length=200, description="Model id from GET /v1/models; omitted or empty: the server's default model.",
    examples=["deeplabv3-mobilenetv2-pascal"])]
FormatQuery = Annotated[OutputFormat, Query(description=(
    "png: class-id mask (pixel value = class id, 0 background); color: palette-coloured mask; "
    "overlay: coloured mask blended over the input; json: classes, bounding boxes, timings, base64 mask."))]
OpacityQuery = Annotated[float, Query(ge=0, le=1, description="Weight of the mask colour in `overlay`, 0..1.")]
ImageFormatQuery = Annotated[ImageFormat, Query(description="Encoding of the `overlay` image.")]


@router.post(
    "/v1/segment",
    summary="Segment one image",
    response_class=Response,
    responses={200: _OK, **error_responses(400, 401, 404, 408, 409, 413, 415, 422, 429, 431, 502, 503, 504)},
    openapi_extra={"requestBody": REQUEST_BODY},
)
async def segment(
    image: ImageDep, client: ClientDep, palettes: PalettesDep, model: ModelQuery = None,
    format: FormatQuery = OutputFormat.png, opacity: OpacityQuery = 0.5,
    image_format: ImageFormatQuery = ImageFormat.jpeg,
) -> Response:
    """Segments the uploaded image with a DeepLab model on the gRPC server.

    Every successful answer carries X-Model, X-Classes, X-Timings-Total-Ms, X-Image-Width,
    X-Image-Height and Server-Timing headers, whatever the format.
    """
    started = time.perf_counter()
    result = await client.segment(image.data, model=model or None, mask_encoding="png")
    rpc_done = time.perf_counter()
    body, media_type = await _render(result, image, palettes, format, opacity, image_format)
    rendered = time.perf_counter()
    headers = render.result_headers(result, (rpc_done - started) * 1e3, (rendered - rpc_done) * 1e3)
    return Response(body, media_type=media_type, headers=headers)


async def _render(result: SegmentResult, image: Upload, palettes: PaletteCache, format: OutputFormat,
                  opacity: float, image_format: ImageFormat) -> tuple[bytes, str]:
    if format is OutputFormat.png:
        return render.mask_png(result), "image/png"
    palette = await palettes.get(result.model)
    if format is OutputFormat.color:
        return render.color_png(result, palette), "image/png"
    # Decoding, drawing and encoding take tens of ms of CPU: off the event loop, so streams keep flowing.
    if format is OutputFormat.overlay:
        body = await run_in_threadpool(render.overlay_image, image.data, result.mask, palette, opacity, image_format)
        return body, f"image/{image_format.value}"
    document = await run_in_threadpool(render.segment_json, result, palette)
    return document.model_dump_json().encode(), "application/json"
