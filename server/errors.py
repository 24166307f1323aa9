"""Domain errors of the segmentation pipeline, their gRPC status codes and their reasons.

The pipeline raises these; only the servicer turns them into gRPC statuses, through the one table
below. Each error also carries a reason: a stable, machine-readable word (documented in
protos/segmentation.proto) that clients decide on, where the message is for people.
"""

from __future__ import annotations

import grpc

DOMAIN = "segmentation.v1"  # the ErrorInfo domain of every reason below


class SegmentationError(Exception):
    """Base class: an error whose message is safe to show to the caller."""

    reason = "INTERNAL"

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class InvalidImage(SegmentationError):
    """The input is not an image this service can read, or is too large.

    Reasons: NO_IMAGE, IMAGE_TOO_LARGE, UNSUPPORTED_FORMAT, CORRUPT_IMAGE, BAD_RAW_IMAGE.
    """

    reason = "CORRUPT_IMAGE"


class UnknownModel(SegmentationError):
    """No model has the requested id."""

    reason = "MODEL_NOT_FOUND"


class ModelUnavailable(SegmentationError):
    """The model is known but cannot run (its folder or weights are wrong)."""

    reason = "MODEL_UNAVAILABLE"


class ModelLoading(SegmentationError):
    """The model is known and still loading; trying again later will work."""

    reason = "MODEL_LOADING"


class DeadlineExpired(SegmentationError):
    """The caller's deadline passed while the request waited; it is dropped before inference."""

    reason = "DEADLINE_EXPIRED"


class Overloaded(SegmentationError):
    """The server is at its concurrency limit."""

    reason = "OVERLOADED"


class NoSoftMask(SegmentationError):
    """A soft mask, or smoothing, which needs one, was asked of a model that gives none."""

    reason = "NO_SOFT_MASK"


class ShuttingDown(SegmentationError):
    """The server is draining and takes no new work."""

    reason = "SHUTTING_DOWN"


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
