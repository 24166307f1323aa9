"""Domain errors of the segmentation pipeline and their reasons.

The pipeline raises these; only the servicers turn them into gRPC statuses, through the one table in
server/status.py, so nothing here knows gRPC. Each error also carries a reason: a stable,
machine-readable word (documented in protos/segmentation.proto) that clients decide on, where the
message is for people.
"""

from __future__ import annotations

DOMAIN = "segmentation.v1"  # the ErrorInfo domain of every reason below


class SegmentationError(Exception):
    """Base class: an error whose message is safe to show to the caller."""

    reason = "INTERNAL"

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason

    def __reduce__(self) -> tuple[type[SegmentationError], tuple[str, str]]:
        # Pickled with its reason: a worker process's error reaches the serving process whole.
        return self.__class__, (str(self), self.reason)


class InvalidImage(SegmentationError):
    """The input is not an image this service can read, or is too large; its reason says which."""

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

