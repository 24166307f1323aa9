"""Reading the image of POST /v1/segment: a multipart upload or a raw image body.

The route declares no FastAPI body parameter: this module reads the body
itself, so the content type is checked (415) before a byte is read, and the
OpenAPI description (both alternatives) is written out in REQUEST_BODY.
The size limit is limits.BodyLimitMiddleware: it refuses a Content-Length
over the limit before reading, and counts a chunked body as it arrives.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from starlette.datastructures import UploadFile

from rest_bridge.errors import MissingImage, UnsupportedMediaType

IMAGE_TYPES = ("image/jpeg", "image/png", "image/bmp", "image/webp")
MULTIPART = "multipart/form-data"
FILE_FIELD = "file"

_BINARY = {"type": "string", "format": "binary"}
REQUEST_BODY = {
    "required": True,
    "description": (
        "The image (JPEG, PNG, BMP or WebP), either as a multipart upload in the field `file` "
        "(`curl -F file=@photo.jpg`) or as the raw body with the image's content type "
        "(`curl --data-binary @photo.jpg -H 'Content-Type: image/jpeg'`)."
    ),
    "content": {
        MULTIPART: {
            "schema": {
                "type": "object",
                "required": [FILE_FIELD],
                "properties": {FILE_FIELD: {**_BINARY, "description": "The image file."}},
            },
            "encoding": {FILE_FIELD: {"contentType": ", ".join(IMAGE_TYPES)}},
        },
        **{media_type: {"schema": _BINARY} for media_type in IMAGE_TYPES},
    },
}


@dataclass(frozen=True)
class Upload:
    """The bytes of the uploaded image, as sent (not decoded)."""

    data: bytes
    content_type: str


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def read_image(request: Request) -> Upload:
    """The uploaded image, or UnsupportedMediaType / MissingImage; over-limit bodies raise 413 while read."""
    kind = media_type(request)
    if kind == MULTIPART:
        data, kind = await _from_form(request)
    elif kind in IMAGE_TYPES:
        data = await request.body()
    else:
        shown = kind or "none"
        raise UnsupportedMediaType(
            f"unsupported content type {shown!r}; send {MULTIPART} with a field {FILE_FIELD!r}, "
            f"or the raw image as {', '.join(IMAGE_TYPES)}"
        )
    if not data:
        raise MissingImage("the image is empty")
    return Upload(data, kind)


async def _from_form(request: Request) -> tuple[bytes, str]:
    # One file is all we use; Starlette answers 400 for more, or for a malformed form. Other
    # (text) fields are ignored, within Starlette's default cap on their number.
    async with request.form(max_files=1) as form:
        upload = form.get(FILE_FIELD)
        if not isinstance(upload, UploadFile):
            raise MissingImage(f"the multipart body has no file field named {FILE_FIELD!r}")
        return await upload.read(), upload.content_type or ""
