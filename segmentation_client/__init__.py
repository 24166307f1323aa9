"""Python client of the segmentation service: the one place that opens gRPC channels.

    from segmentation_client import SegmentationClient
    with SegmentationClient("127.0.0.1:50051") as client:
        result = client.segment("photo.jpg")
        print(result.labels, result.mask.shape)
"""

from segmentation_client import tensors
from segmentation_client._aio import AsyncSegmentationClient
from segmentation_client._client import SegmentationClient
from segmentation_client._exceptions import (
    REASONS,
    Cancelled,
    DeadlineExceeded,
    InvalidInput,
    ModelNotFound,
    ModelUnavailable,
    Overloaded,
    ServiceError,
    Unauthenticated,
    Unavailable,
    error_for,
)
from segmentation_client._open_inference import (
    InferResponse,
    InferTensor,
    ModelMetadata,
    ServerMetadata,
    TensorMetadata,
)
from segmentation_client._results import ClassArea, ModelInfo, SegmentResult, Timings
from segmentation_client._settings import ClientSettings
from segmentation_client.visualize import blur_background, colorize, overlay

__all__ = [
    "REASONS", "AsyncSegmentationClient", "Cancelled", "ClassArea", "ClientSettings", "DeadlineExceeded", "InferResponse",
    "InferTensor", "InvalidInput", "ModelInfo", "ModelMetadata", "ModelNotFound", "ModelUnavailable", "Overloaded",
    "SegmentResult", "SegmentationClient", "ServerMetadata", "ServiceError", "TensorMetadata", "Timings",
    "Unauthenticated", "Unavailable", "blur_background", "colorize", "error_for", "overlay", "tensors",
]
