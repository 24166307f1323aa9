"""The client's exceptions, and the one table that maps gRPC status codes onto them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

import grpc
from google.rpc import error_details_pb2, status_pb2

from protos import segmentation_pb2 as pb

_STATUS_DETAILS_KEY = "grpc-status-details-bin"

# Every reason the server's errors carry, read from the one list: the enum ErrorReason of
# protos/segmentation.proto (its value names are the reasons; the numbers never travel).
REASONS: tuple[str, ...] = tuple(value.name for value in pb.ErrorReason.DESCRIPTOR.values if value.number)


class ServiceError(Exception):
    """A call to the segmentation service failed.

    `code` is the gRPC status and `message` the server's words, for people. `reason` is the server's
    machine-readable reason, one of REASONS (the enum ErrorReason of protos/segmentation.proto), ""
    when the status carried none (gRPC's own errors, such as a lost connection); decide on it, not on
    the message. `metadata` holds the reason's details (an INTERNAL
    error's "error_id", say).

    Each class knows its own status (`default_code`), so `Unavailable("...")` reports UNAVAILABLE
    without the caller importing grpc; `code` is given only to say which of a class's codes it was.
    """

    default_code: ClassVar[grpc.StatusCode] = grpc.StatusCode.UNKNOWN

    def __init__(
        self, message: str, code: grpc.StatusCode | None = None, reason: str = "",
        metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = self.default_code if code is None else code
        self.reason = reason
        self.metadata = metadata or {}


class InvalidInput(ServiceError):
    """The server could not use the image or the request (INVALID_ARGUMENT)."""

    default_code = grpc.StatusCode.INVALID_ARGUMENT


class ModelNotFound(ServiceError):
    """No model has that id (NOT_FOUND)."""

    default_code = grpc.StatusCode.NOT_FOUND


class ModelUnavailable(ServiceError):
    """The model is known but cannot run, e.g. its weights are missing (FAILED_PRECONDITION)."""

    default_code = grpc.StatusCode.FAILED_PRECONDITION


class Unavailable(ServiceError):
    """The server cannot be reached, is shutting down, or the model is still loading (UNAVAILABLE)."""

    default_code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceeded(ServiceError):
    """The call took longer than its deadline (DEADLINE_EXCEEDED)."""

    default_code = grpc.StatusCode.DEADLINE_EXCEEDED


class Overloaded(ServiceError):
    """The server is at a limit: concurrency or message size (RESOURCE_EXHAUSTED)."""

    default_code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unauthenticated(ServiceError):
    """The server wants credentials this client did not give (UNAUTHENTICATED, PERMISSION_DENIED)."""

    default_code = grpc.StatusCode.UNAUTHENTICATED


class Cancelled(ServiceError):
    """The call was cancelled (CANCELLED)."""

    default_code = grpc.StatusCode.CANCELLED


# Each class's own code, and the codes that share a class with another.
_BY_CODE: dict[grpc.StatusCode, type[ServiceError]] = {
    **{cls.default_code: cls for cls in (InvalidInput, ModelNotFound, ModelUnavailable, Unavailable, DeadlineExceeded,
                                          Overloaded, Unauthenticated, Cancelled)},
    grpc.StatusCode.OUT_OF_RANGE: InvalidInput,
    grpc.StatusCode.PERMISSION_DENIED: Unauthenticated,
}


def error_for(
    code: grpc.StatusCode, message: str, reason: str = "", metadata: dict[str, str] | None = None
) -> ServiceError:
    """The exception for a status code; codes outside the table give a plain ServiceError."""
    return _BY_CODE.get(code, ServiceError)(message or code.name, code, reason, metadata)


def error_info(trailing_metadata: Iterable[tuple[str, Any]] | None) -> tuple[str, dict[str, str]]:
    """The reason and its metadata from a status's google.rpc.ErrorInfo; ("", {}) when it has none."""
    for key, value in trailing_metadata or ():
        if key != _STATUS_DETAILS_KEY:
            continue
        status = status_pb2.Status.FromString(value)
        for detail in status.details:
            info = error_details_pb2.ErrorInfo()
            if detail.Unpack(info):
                return info.reason, dict(info.metadata)
    return "", {}


def from_rpc_error(exc: grpc.RpcError) -> ServiceError:
    """Translate a grpc.RpcError (sync or asyncio) at the boundary."""
    try:
        reason, metadata = error_info(exc.trailing_metadata())
    except Exception:  # noqa: BLE001 - a malformed detail must not hide the error itself
        reason, metadata = "", {}
    return error_for(exc.code(), exc.details() or "", reason, metadata)


def code_from_value(value: int) -> grpc.StatusCode:
    for code in grpc.StatusCode:
        if code.value[0] == value:
            return code
    return grpc.StatusCode.UNKNOWN
