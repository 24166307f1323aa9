"""Domain errors of the segmentation pipeline and their gRPC status codes.

The pipeline raises these; only the servicer turns them into gRPC statuses,
through the one table below.
"""

from __future__ import annotations

import grpc


class SegmentationError(Exception):
    """Base class: an error whose message is safe to show to the caller."""


class InvalidImage(SegmentationError):
    """The input is not an image this service can read, or is too large."""


class UnknownModel(SegmentationError):
    """No model has the requested id."""


class ModelUnavailable(SegmentationError):
    """The model is known but cannot run (its weights could not be had)."""


class ModelLoading(SegmentationError):
    """The model is known and still loading; trying again later will work."""


class DeadlineExpired(SegmentationError):
    """The caller's deadline passed while the request waited; it is dropped before inference."""


class Overloaded(SegmentationError):
    """The server is at its concurrency limit."""


class ShuttingDown(SegmentationError):
    """The server is draining and takes no new work."""


STATUS_CODES: dict[type[SegmentationError], grpc.StatusCode] = {
    InvalidImage: grpc.StatusCode.INVALID_ARGUMENT,
    UnknownModel: grpc.StatusCode.NOT_FOUND,
    ModelUnavailable: grpc.StatusCode.FAILED_PRECONDITION,
    ModelLoading: grpc.StatusCode.UNAVAILABLE,
    Overloaded: grpc.StatusCode.RESOURCE_EXHAUSTED,
    DeadlineExpired: grpc.StatusCode.DEADLINE_EXCEEDED,
    ShuttingDown: grpc.StatusCode.UNAVAILABLE,
}


def status_code(error: SegmentationError) -> grpc.StatusCode:
    """The gRPC status for a domain error (INTERNAL for a subclass missing from the table)."""
    for cls in type(error).__mro__:
        if cls in STATUS_CODES:
            return STATUS_CODES[cls]
    return grpc.StatusCode.INTERNAL
