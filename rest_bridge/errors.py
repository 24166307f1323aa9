"""The one table from errors to HTTP statuses, the handlers that apply it, and its OpenAPI description.

The client library already turns gRPC status codes into exceptions (see
segmentation_client._exceptions); the bridge maps those exceptions, plus the
few it finds itself before any call, onto HTTP here and nowhere else.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from segmentation_client import (
    DeadlineExceeded,
    InvalidInput,
    ModelNotFound,
    ModelUnavailable,
    Overloaded,
    ServiceError,
    Unavailable,
)

log = logging.getLogger(__name__)


class BridgeError(Exception):
    """A request the bridge refuses itself, before calling the gRPC server."""


class UnsupportedMediaType(BridgeError):
    """The request body is neither a multipart upload nor an image content type."""


class MissingImage(BridgeError):
    """The request names a valid content type but carries no image."""


class BodyTooLarge(BridgeError):
    """The request body is over the upload limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body is over the limit of {limit} bytes")


class HeadersTooLarge(BridgeError):
    """The request's headers are over the header limit."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"request headers are {size} bytes, over the limit of {limit} bytes")


class Unauthorized(BridgeError):
    """The bridge runs with an auth token and the request did not carry it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ErrorBody(BaseModel):
    """Every error response: one human-readable sentence, the gRPC server's own words where it gave them."""

    detail: str = Field(description="What went wrong.", examples=["unknown model 'nope'"])


# Every error and its HTTP status. Lookup walks the exception's MRO, so subclasses
# not listed fall back to their base; ServiceError catches gRPC codes the client
# has no class for (INTERNAL, UNKNOWN, UNIMPLEMENTED, ...): the upstream failed.
HTTP_STATUS: dict[type[Exception], int] = {
    InvalidInput: 422,
    MissingImage: 422,
    UnsupportedMediaType: 415,
    BodyTooLarge: 413,
    HeadersTooLarge: 431,
    Unauthorized: 401,
    ModelNotFound: 404,
    # FAILED_PRECONDITION: the model exists but cannot run (weights missing). That is a
    # lasting state of the server, not a passing outage, so 409 rather than 503.
    ModelUnavailable: 409,
    Overloaded: 429,
    Unavailable: 503,
    DeadlineExceeded: 504,
    ServiceError: 502,
}
RETRY_STATUSES = frozenset({429, 503})

# Descriptions and example details for /docs, by status.
_DOCS: dict[int, tuple[str, str]] = {
    400: ("Malformed multipart body, or more than one file in it.", "Missing boundary in multipart."),
    401: ("The bridge runs with an auth token: send `Authorization: Bearer <token>`.",
          "missing or wrong bearer token in the Authorization header"),
    404: ("Unknown model id.", "unknown model 'nope'; known models: deeplabv3-mobilenetv2-pascal"),
    409: ("The model is known but cannot run, e.g. its weights are missing (gRPC FAILED_PRECONDITION).",
          "model deeplabv3-resnet50 is unavailable: weights are missing"),
    413: ("The request body is over the configured upload limit; checked before the body is read.",
          "request body is over the limit of 16777216 bytes"),
    415: ("The body is neither multipart/form-data nor image/jpeg, image/png, image/bmp or image/webp.",
          ("unsupported content type 'text/plain'; send multipart/form-data with a field 'file', "
           "or the raw image as image/jpeg, image/png, image/bmp, image/webp")),
    422: ("The image cannot be decoded, is missing or too large in pixels, or a parameter is invalid.",
          "not a JPEG, PNG, BMP or WebP image (starts with b'hello')"),
    429: (("The gRPC server is at a limit (RESOURCE_EXHAUSTED): concurrent calls, or the size of a message; "
           "retry after Retry-After seconds."),
          "server is at its limit of 64 concurrent requests"),
    431: ("The request's headers (names and values together) are over the bridge's limit.",
          "request headers are 70000 bytes, over the limit of 65536 bytes"),
    502: (("The gRPC server failed in an unexpected way (INTERNAL, UNKNOWN, UNIMPLEMENTED, ...) "
           "or refused the bridge's credentials."),
          "Internal error from Core"),
    503: (("The gRPC server is unreachable, shutting down, or the model is still loading; "
           "retry after Retry-After seconds."),
          "failed to connect to all addresses"),
    504: ("The gRPC call took longer than the bridge's deadline.", "Deadline Exceeded"),
}


def status_for(exc: BaseException) -> int:
    """The HTTP status of an error, from the table (500 for anything it does not know)."""
    for cls in type(exc).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return 500


def detail_for(exc: BaseException) -> str:
    return getattr(exc, "message", None) or str(exc) or type(exc).__name__


def _retry_headers(request: Request, status: int) -> dict[str, str]:
    if status == 401:
        return {"WWW-Authenticate": "Bearer"}
    if status not in RETRY_STATUSES:
        return {}
    return {"Retry-After": str(request.app.state.settings.retry_after_seconds)}


async def _known_error(request: Request, exc: Exception) -> JSONResponse:
    status = status_for(exc)
    log.info("%s %s -> %d: %s", request.method, request.url.path, status, detail_for(exc))
    return JSONResponse({"detail": detail_for(exc)}, status, headers=_retry_headers(request, status))


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    # Starlette's own refusals (404 no route, 405 with Allow, 400 malformed multipart) keep their status.
    return JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    # One sentence like every other error, not FastAPI's list of objects.
    parts = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ()))
        parts.append(f"{where}: {error.get('msg', 'invalid')}" if where else error.get("msg", "invalid"))
    return JSONResponse({"detail": "; ".join(parts) or "invalid request"}, 422)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error answering %s %s", request.method, request.url.path)
    return JSONResponse({"detail": "internal error in the REST bridge; see its log"}, 500)


def install_handlers(app: FastAPI) -> None:
    """Register the handlers; `app.state.settings` must hold the BridgeSettings."""
    app.add_exception_handler(ServiceError, _known_error)
    app.add_exception_handler(BridgeError, _known_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the given error statuses, with examples and Retry-After."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        description, example = _DOCS[status]
        entry: dict[str, Any] = {
            "model": ErrorBody,
            "description": description,
            "content": {"application/json": {"example": {"detail": example}}},
        }
        if status in RETRY_STATUSES:
            entry["headers"] = {"Retry-After": {
                "description": "Seconds to wait before trying again.", "required": True,
                "schema": {"type": "string", "pattern": "^[0-9]+$"},
            }}
        responses[status] = entry
    return responses
