"""The client's exceptions, and the one table that maps gRPC status codes onto them."""

from __future__ import annotations

import grpc


class ServiceError(Exception):
    """A call to the segmentation service failed. `code` is the gRPC status, `message` the server's words."""

    def __init__(self, message: str, code: grpc.StatusCode = grpc.StatusCode.UNKNOWN) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class InvalidInput(ServiceError):
    """The server could not use the image or the request (INVALID_ARGUMENT)."""


class ModelNotFound(ServiceError):
    """No model has that id (NOT_FOUND)."""


class ModelUnavailable(ServiceError):
    """The model is known but cannot run, e.g. its weights are missing (FAILED_PRECONDITION)."""


class Unavailable(ServiceError):
    """The server cannot be reached, is shutting down, or the model is still loading (UNAVAILABLE)."""


class DeadlineExceeded(ServiceError):
    """The call took longer than its deadline (DEADLINE_EXCEEDED)."""


class Overloaded(ServiceError):
    """The server is at a limit: concurrency or message size (RESOURCE_EXHAUSTED)."""


class Unauthenticated(ServiceError):
    """The server wants credentials this client did not give (UNAUTHENTICATED, PERMISSION_DENIED)."""


class Cancelled(ServiceError):
    """The call was cancelled (CANCELLED)."""


_BY_CODE: dict[grpc.StatusCode, type[ServiceError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidInput,
    grpc.StatusCode.OUT_OF_RANGE: InvalidInput,
    grpc.StatusCode.NOT_FOUND: ModelNotFound,
    grpc.StatusCode.FAILED_PRECONDITION: ModelUnavailable,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.RESOURCE_EXHAUSTED: Overloaded,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: Unauthenticated,
    grpc.StatusCode.CANCELLED: Cancelled,
}


def error_for(code: grpc.StatusCode, message: str) -> ServiceError:
    """The exception for a status code; codes outside the table give a plain ServiceError."""
    return _BY_CODE.get(code, ServiceError)(message or code.name, code)


def from_rpc_error(exc: grpc.RpcError) -> ServiceError:
    """Translate a grpc.RpcError (sync or asyncio) at the boundary."""
    return error_for(exc.code(), exc.details() or "")


def code_from_value(value: int) -> grpc.StatusCode:
    for code in grpc.StatusCode:
        if code.value[0] == value:
            return code
    return grpc.StatusCode.UNKNOWN
