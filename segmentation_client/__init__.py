"""Python client of the segmentation service: the one place that opens gRPC channels.

    from segmentation_client import SegmentationClient
    with SegmentationClient("127.0.0.1:50051") as client:
        result = client.segment("photo.jpg")
        print(result.labels, result.mask.shape)

Drawing a frame with its mask: `render(frame, mask, palette, View(...))`. Live video (send the newest
frame, keep N in flight, the latest mask, live numbers): `segmentation_client.live`. Open Inference
tensors in their raw form: `segmentation_client.tensors`.
"""

from segmentation_client import live, tensors
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
from segmentation_client.drawing import View, draw_outlines, render
from segmentation_client.visualize import blur_background, colorize, overlay

__all__ = [
    "REASONS", "AsyncSegmentationClient", "Cancelled", "ClassArea", "ClientSettings", "DeadlineExceeded", "InferResponse",
    "InferTensor", "InvalidInput", "ModelInfo", "ModelMetadata", "ModelNotFound", "ModelUnavailable", "Overloaded",
    "SegmentResult", "SegmentationClient", "ServerMetadata", "ServiceError", "TensorMetadata", "Timings",
    "Unauthenticated", "Unavailable", "View", "blur_background", "colorize", "draw_outlines", "error_for", "live",
    "overlay", "render", "tensors",
]
