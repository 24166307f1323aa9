"""Errors as rich gRPC statuses: code, message, and a google.rpc.ErrorInfo with the reason.

Clients read the reason from the status details (grpc-status-details-bin), as every gRPC library
with google.rpc support can; the code and message stay what a plain client sees.
"""

from __future__ import annotations

import logging
import uuid

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from server.errors import DOMAIN, SegmentationError, status_code

log = logging.getLogger(__name__)


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


async def abort_with(context: grpc.aio.ServicerContext, error: SegmentationError) -> None:
    await abort(context, status_code(error), str(error), error.reason)


def internal(method: str, exc: BaseException) -> tuple[str, str]:
    """Log an unexpected exception with its traceback under a new error id; the (message, id) for the caller.

    The caller learns only that it failed and the id; the log line with the same id has the rest.
    """
    error_id = uuid.uuid4().hex[:12]
    log.error("%s failed unexpectedly (error id %s)", method, error_id, exc_info=exc)
    return f"internal error (error id {error_id}); the server's log has the details", error_id
