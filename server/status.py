"""Domain errors as rich gRPC statuses: the one table from error to code, and the status details.

Every error leaves with its code, its message, and a google.rpc.ErrorInfo with the reason in the status
details (grpc-status-details-bin), as every gRPC library with google.rpc support can read; the code and
message stay what a plain client sees. The servicers are the only callers: the domain (server/errors.py,
the pipeline, imaging) raises plain exceptions and never sees gRPC.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from server.errors import (
    DOMAIN,
    DeadlineExpired,
    InvalidImage,
    ModelLoading,
    ModelUnavailable,
    NoSoftMask,
    Overloaded,
    SegmentationError,
    ShuttingDown,
    UnknownModel,
)

log = logging.getLogger(__name__)

STATUS_CODES: dict[type[SegmentationError], grpc.StatusCode] = {
    InvalidImage: grpc.StatusCode.INVALID_ARGUMENT,
    UnknownModel: grpc.StatusCode.NOT_FOUND,
    ModelUnavailable: grpc.StatusCode.FAILED_PRECONDITION,
    ModelLoading: grpc.StatusCode.UNAVAILABLE,
    Overloaded: grpc.StatusCode.RESOURCE_EXHAUSTED,
    DeadlineExpired: grpc.StatusCode.DEADLINE_EXCEEDED,
    ShuttingDown: grpc.StatusCode.UNAVAILABLE,
    NoSoftMask: grpc.StatusCode.INVALID_ARGUMENT,
}


def status_code(error: SegmentationError) -> grpc.StatusCode:
    """The gRPC status for a domain error (INTERNAL for a subclass missing from the table)."""
    for cls in type(error).__mro__:
        if cls in STATUS_CODES:
            return STATUS_CODES[cls]
    return grpc.StatusCode.INTERNAL


@dataclass(frozen=True)
class Failure:
    """What a caller learns of a failed call or stream frame: code, message, reason and ErrorInfo metadata."""

    code: grpc.StatusCode
    message: str
    reason: str
    metadata: dict[str, str] = field(default_factory=dict)


def failure(exc: BaseException, where: str) -> Failure:
    """A domain error as its status; anything else as INTERNAL with an error id (logged with its traceback)."""
    if isinstance(exc, SegmentationError):
        return Failure(status_code(exc), str(exc), exc.reason)
    message, error_id = internal(where, exc)
    return Failure(grpc.StatusCode.INTERNAL, message, "INTERNAL", {"error_id": error_id})


def error_info(reason: str, metadata: dict[str, str] | None = None) -> error_details_pb2.ErrorInfo:
    return error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN, metadata=metadata or {})


async def abort(
    context: grpc.aio.ServicerContext, code: grpc.StatusCode, message: str, reason: str,
    metadata: dict[str, str] | None = None,
) -> None:
    """End the call with `code` and `message`, and the reason in the status details. Raises."""
    detail = any_pb2.Any()
    detail.Pack(error_info(reason, metadata))
    status = rpc_status.to_status(status_pb2.Status(code=code.value[0], message=message, details=[detail]))
    await context.abort(status.code, status.details, status.trailing_metadata)


async def abort_with(context: grpc.aio.ServicerContext, error: SegmentationError | Failure) -> None:
    """End the call with a domain error's (or a failure's) status. Raises."""
    found = error if isinstance(error, Failure) else failure(error, "")
    await abort(context, found.code, found.message, found.reason, found.metadata)


def internal(method: str, exc: BaseException) -> tuple[str, str]:
    """Log an unexpected exception with its traceback under a new error id; the (message, id) for the caller.

    The caller learns only that it failed and the id; the log line with the same id has the rest.
    """
    error_id = uuid.uuid4().hex[:12]
    log.error("%s failed unexpectedly (error id %s)", method, error_id, exc_info=exc)
    return f"internal error (error id {error_id}); the server's log has the details", error_id
