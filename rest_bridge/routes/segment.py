"""POST /v1/segment: one image in, a mask (PNG, coloured PNG, overlay or JSON) out."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query, Response
from starlette.concurrency import run_in_threadpool

from rest_bridge import render
from rest_bridge.deps import ClientDep, ImageDep, PalettesDep
from rest_bridge.errors import UnknownClass, error_responses
from rest_bridge.schemas import ImageFormat, OutputFormat, SegmentJSON
from rest_bridge.state import PaletteCache
from rest_bridge.upload import REQUEST_BODY, Upload
from segmentation_client import ModelInfo, SegmentResult

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
        "the input (image/jpeg or image/png per `image_format`). `format=json`: application/json. "
        "`format=alpha`: the soft mask, 8-bit greyscale PNG, 0 background to 255 foreground (models with a soft "
        "mask only). `format=cutout`: the input as an RGBA PNG, the background transparent."
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
    "overlay: coloured mask blended over the input; json: classes, bounding boxes, timings, base64 mask; "
    "alpha: the soft mask as a greyscale PNG (models with a soft mask; else 422 NO_SOFT_MASK); "
    "cutout: the input as an RGBA PNG with the background transparent, soft-edged where the model gives a soft "
    "mask."))]
RefineQuery = Annotated[bool, Query(description=(
    "Move the mask's edges onto the picture's (a guided filter with the image as guide); costs time."))]
ClassesQuery = Annotated[str | None, Query(max_length=2000, description=(
    "The foreground classes of `format=cutout` (other formats do not use it, as only `overlay` uses `opacity`): "
    "comma-separated labels or class ids; default every class but 0. A class the model does not have: "
    "404 UNKNOWN_CLASS."), examples=["person", "8,12"])]
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
    image_format: ImageFormatQuery = ImageFormat.jpeg, refine_edges: RefineQuery = False,
    classes: ClassesQuery = None,
) -> Response:
    """Segments the uploaded image with a model on the gRPC server.

    Every successful answer carries X-Model, X-Classes, X-Timings-Total-Ms, X-Image-Width,
    X-Image-Height and Server-Timing headers, whatever the format.
    """
    started = time.perf_counter()
    # A cut-out is soft-edged where the model gives a soft mask: whether it does decides what to ask for.
    info = await palettes.info(model) if format is OutputFormat.cutout else None
    if info is not None:
        foreground_classes(classes, info)  # an unknown class is refused before the model runs
    alpha = format is OutputFormat.alpha or (info is not None and info.soft_mask)
    result = await client.segment(image.data, model=model or None, mask_encoding="png", alpha=alpha,
                                  refine_edges=refine_edges)
    rpc_done = time.perf_counter()
    if format is OutputFormat.cutout:
        body, media_type = await _cutout(result, image, palettes, info, classes), "image/png"
    else:
        body, media_type = await _render(result, image, palettes, format, opacity, image_format)
    rendered = time.perf_counter()
    headers = render.result_headers(result, (rpc_done - started) * 1e3, (rendered - rpc_done) * 1e3)
    return Response(body, media_type=media_type, headers=headers)


def foreground_classes(classes: str | None, info: ModelInfo | None) -> frozenset[int]:
    """The class ids `classes=` names (labels or ids, comma-separated); every class but 0 when not given."""
    labels = info.labels if info is not None else []
    if classes is None:
        return frozenset(range(1, len(labels)))
    chosen = set()
    for part in classes.split(","):
        name = part.strip()
        if name in labels:
            chosen.add(labels.index(name))
        elif name.isdigit() and int(name) < len(labels):
            chosen.add(int(name))
        else:
            known = ", ".join(f"{i} {label}" for i, label in enumerate(labels))
            model = info.id if info is not None else "the model"
            raise UnknownClass(f"classes: {name!r} is not a class of {model}; its classes are: {known}")
    return frozenset(chosen)


async def _cutout(result: SegmentResult, image: Upload, palettes: PaletteCache, info: ModelInfo | None,
                  classes: str | None) -> bytes:
    """The RGBA cut-out. The model's info, when the cache had none before the call, is fetched now."""
    info = info or await palettes.info(result.model)
    alpha = render.cutout_alpha(result, foreground_classes(classes, info), info is not None and info.soft_mask)
    # Decoding and encoding the picture take tens of ms of CPU: off the event loop.
    return await run_in_threadpool(render.cutout_png, image.data, alpha)


async def _render(result: SegmentResult, image: Upload, palettes: PaletteCache, format: OutputFormat,
                  opacity: float, image_format: ImageFormat) -> tuple[bytes, str]:
    if format is OutputFormat.png:
        return render.mask_png(result), "image/png"
    if format is OutputFormat.alpha:
        return render.alpha_png(result), "image/png"
    palette = await palettes.get(result.model)
    if format is OutputFormat.color:
        return render.color_png(result, palette), "image/png"
    # Decoding, drawing and encoding take tens of ms of CPU: off the event loop, so streams keep flowing.
    if format is OutputFormat.overlay:
        body = await run_in_threadpool(render.overlay_image, image.data, result.mask, palette, opacity, image_format)
        return body, f"image/{image_format.value}"
    document = await run_in_threadpool(render.segment_json, result, palette)
    return document.model_dump_json().encode(), "application/json"
