"""The one table from errors to HTTP statuses, the handlers that apply it, and its OpenAPI description.

The client library already turns gRPC status codes into exceptions (see
segmentation_client._exceptions); the bridge maps those exceptions, plus the
few it finds itself before any call, onto HTTP here and nowhere else.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
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

    reason = "INVALID_REQUEST"


class UnsupportedMediaType(BridgeError):
    """The request body is neither a multipart upload nor an image content type."""

    reason = "UNSUPPORTED_MEDIA_TYPE"


class MissingImage(BridgeError):
    """The request names a valid content type but carries no image."""

    reason = "NO_IMAGE"


class BodyTooLarge(BridgeError):
    """The request body is over the upload limit."""

    reason = "BODY_TOO_LARGE"

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body is over the limit of {limit} bytes")


class BodyTimeout(BridgeError):
    """The client stopped sending its request body."""

    reason = "BODY_TIMEOUT"

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no more of the request body arrived within {seconds:g} s")


class HeadersTooLarge(BridgeError):
    """The request's headers are over the header limit."""

    reason = "HEADERS_TOO_LARGE"

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"request headers are {size} bytes, over the limit of {limit} bytes")


class UnknownClass(BridgeError):
    """`classes=` names a class the model does not have: like an unknown model, a name that is not found."""

    reason = "UNKNOWN_CLASS"


class Unauthorized(BridgeError):
    """The bridge runs with an auth token and the request did not carry it."""

    reason = "UNAUTHENTICATED"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


PROBLEM_JSON = "application/problem+json"

# The reasons the bridge gives of its own, beside the gRPC server's (segmentation_client.REASONS) and, for
# a failure that carried no reason, the gRPC status name. tests/server/test_reasons.py checks that the
# bridge uses no other and every one of these.
BRIDGE_REASONS = ("UNSUPPORTED_MEDIA_TYPE", "BODY_TOO_LARGE", "BODY_TIMEOUT", "HEADERS_TOO_LARGE", "INVALID_PARAMETER",
                  "UNKNOWN_CLASS", "INVALID_REQUEST", "NO_ROUTE", "METHOD_NOT_ALLOWED", "INTERNAL")


class ErrorBody(BaseModel):
    """Every error response, as an RFC 9457 problem: the reason to decide on, and a sentence for people."""

    type: str = Field(description='"urn:segmentation:error:<reason>"; "about:blank" when there is no reason.',
                      examples=["urn:segmentation:error:MODEL_NOT_FOUND"])
    title: str = Field(description="The HTTP status's phrase.", examples=["Not Found"])
    status: int = Field(description="The HTTP status.", examples=[404])
    detail: str = Field(description="What went wrong: the gRPC server's own words where it gave them.",
                        examples=["unknown model 'nope'"])
    reason: str = Field(description="Machine-readable reason: the gRPC server's (see the list in the API "
                                    "description) or the bridge's own.", examples=["MODEL_NOT_FOUND"])


# Every error and its HTTP status. Lookup walks the exception's MRO, so subclasses
# not listed fall back to their base; ServiceError catches gRPC codes the client
# has no class for (INTERNAL, UNKNOWN, UNIMPLEMENTED, ...): the upstream failed.
HTTP_STATUS: dict[type[Exception], int] = {
    InvalidInput: 422,
    MissingImage: 422,
    UnknownClass: 404,
    UnsupportedMediaType: 415,
    BodyTooLarge: 413,
    BodyTimeout: 408,
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
_DOCS: dict[int, tuple[str, tuple[str, str]]] = {
    400: ("Malformed multipart body, or more than one file in it.",
          ("INVALID_REQUEST", "Missing boundary in multipart.")),
    401: ("The bridge runs with an auth token: send `Authorization: Bearer <token>`.",
          ("UNAUTHENTICATED", "missing or wrong bearer token in the Authorization header")),
    404: (("Unknown model id (reason MODEL_NOT_FOUND), or a class in `classes` that the model does not have "
          "(UNKNOWN_CLASS)."),
          ("MODEL_NOT_FOUND", "unknown model 'nope'; known models: deeplabv3-mobilenetv2-pascal")),
    409: (("The model is known but cannot run: its folder or weights are wrong (gRPC FAILED_PRECONDITION, "
          "reason MODEL_UNAVAILABLE)."),
          ("MODEL_UNAVAILABLE", "model my-model is unavailable: my-model/model.onnx (weights.file) not found")),
    408: (("The request body stopped arriving: no more of it within the bridge's body timeout. The connection "
          "is closed."), ("BODY_TIMEOUT", "no more of the request body arrived within 30 s")),
    413: ("The request body is over the configured upload limit; checked before the body is read.",
          ("BODY_TOO_LARGE", "request body is over the limit of 16777216 bytes")),
    415: ("The body is neither multipart/form-data nor image/jpeg, image/png, image/bmp or image/webp.",
          ("UNSUPPORTED_MEDIA_TYPE", ("unsupported content type 'text/plain'; send multipart/form-data with a "
           "field 'file', or the raw image as image/jpeg, image/png, image/bmp, image/webp"))),
    422: (("The image cannot be decoded (CORRUPT_IMAGE, UNSUPPORTED_FORMAT), is missing (NO_IMAGE) or too large "
          "in pixels (IMAGE_TOO_LARGE), a parameter is invalid (INVALID_PARAMETER), or a soft mask was asked of a "
          "model that has none (NO_SOFT_MASK)."),
          ("UNSUPPORTED_FORMAT", "not a JPEG, PNG, BMP or WebP image (starts with b'hello')")),
    429: (("The gRPC server is at a limit: concurrent calls or streams (OVERLOADED), or the size of a message "
           "(RESOURCE_EXHAUSTED); retry after Retry-After seconds."),
          ("OVERLOADED", "server is at its limit of 64 concurrent requests")),
    431: ("The request's headers (names and values together) are over the bridge's limit.",
          ("HEADERS_TOO_LARGE", "request headers are 70000 bytes, over the limit of 65536 bytes")),
    502: (("The gRPC server failed in an unexpected way (INTERNAL, with an error id found in its log; UNKNOWN, "
           "UNIMPLEMENTED, ...) or refused the bridge's credentials."),
          ("INTERNAL", "internal error (error id 3f9c2a1b7d4e); the server's log has the details")),
    503: (("The gRPC server is unreachable (UNAVAILABLE), shutting down (SHUTTING_DOWN), or the model is still "
           "loading (MODEL_LOADING); retry after Retry-After seconds."),
          ("MODEL_LOADING", "model selfie-segmentation is still loading; try again shortly")),
    504: (("The gRPC call took longer than the bridge's deadline (DEADLINE_EXCEEDED), or waited past it in the "
          "server's queue (DEADLINE_EXPIRED)."), ("DEADLINE_EXCEEDED", "Deadline Exceeded")),
}


def status_for(exc: BaseException) -> int:
    """The HTTP status of an error, from the table (500 for anything it does not know)."""
    for cls in type(exc).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return 500


def detail_for(exc: BaseException) -> str:
    return getattr(exc, "message", None) or str(exc) or type(exc).__name__


def reason_for(exc: BaseException) -> str:
    """The server's reason; for a status that carried none (gRPC's own), the status name."""
    if isinstance(exc, ServiceError):
        return exc.reason or exc.code.name
    return getattr(exc, "reason", "INTERNAL")


def problem(
    status: int, detail: str, reason: str, headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JSONResponse:
    """An RFC 9457 problem+json response; `extra` adds extension members (RFC 9457 allows them)."""
    body = {"type": f"urn:segmentation:error:{reason}" if reason else "about:blank",
            "title": HTTPStatus(status).phrase, "status": status, "detail": detail, "reason": reason, **(extra or {})}
    return JSONResponse(body, status, headers=headers, media_type=PROBLEM_JSON)


def status_headers(request: Request, status: int) -> dict[str, str]:
    """The headers that go with a status: how to authenticate, when to retry, that the connection closes."""
    if status == 401:
        return {"WWW-Authenticate": "Bearer"}
    if status == 408:
        return {"Connection": "close"}  # the rest of the body may still come: do not read it as a request
    if status not in RETRY_STATUSES:
        return {}
    return {"Retry-After": str(request.app.state.settings.retry_after_seconds)}


async def _known_error(request: Request, exc: Exception) -> JSONResponse:
    status = status_for(exc)
    log.info("%s %s -> %d %s: %s", request.method, request.url.path, status, reason_for(exc), detail_for(exc))
    return problem(status, detail_for(exc), reason_for(exc), status_headers(request, status))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)  # registered for it; Starlette types every handler for Exception
    # Starlette's own refusals (404 no route, 405 with Allow, 400 malformed multipart) keep their status.
    reason = {404: "NO_ROUTE", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "INVALID_REQUEST")
    return problem(exc.status_code, str(exc.detail), reason, exc.headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # registered for it
    return problem(422, validation_detail(exc), "INVALID_PARAMETER")


def validation_detail(exc: RequestValidationError) -> str:
    """One sentence like every other error, not FastAPI's list of objects."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ()))
        parts.append(f"{where}: {error.get('msg', 'invalid')}" if where else error.get("msg", "invalid"))
    return "; ".join(parts) or "invalid request"


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error answering %s %s", request.method, request.url.path)
    return problem(500, "internal error in the REST bridge; see its log", "INTERNAL")


def install_handlers(app: FastAPI) -> None:
    """Register the handlers; `app.state.settings` must hold the BridgeSettings."""
    app.add_exception_handler(ServiceError, _known_error)
    app.add_exception_handler(BridgeError, _known_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)


def document_problems(app: FastAPI) -> None:
    """Errors are sent as application/problem+json only: drop the application/json entry that FastAPI adds
    beside it in the published schema."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    for response in operation.get("responses", {}).values():
                        content = response.get("content", {})
                        if PROBLEM_JSON in content:
                            content.pop("application/json", None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the schema


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the given error statuses, with examples and Retry-After."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        description, (reason, example) = _DOCS[status]
        body = {"type": f"urn:segmentation:error:{reason}", "title": HTTPStatus(status).phrase, "status": status,
                "detail": example, "reason": reason}
        entry: dict[str, Any] = {
            "model": ErrorBody,
            "description": description,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ErrorBody"}, "example": body}},
        }
        if status in RETRY_STATUSES:
            entry["headers"] = {"Retry-After": {
                "description": "Seconds to wait before trying again.", "required": True,
                "schema": {"type": "string", "pattern": "^[0-9]+$"},
            }}
        responses[status] = entry
    return responses
