"""The synchronous client."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import cached_property
from typing import Any, Self

import grpc
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2

from protos import segmentation_pb2 as pb
from segmentation_client import _convert
from segmentation_client._base import ClientBase
from segmentation_client._convert import ImageInput
from segmentation_client._exceptions import ModelNotFound, from_rpc_error
from segmentation_client._open_inference import OpenInference
from segmentation_client._results import ModelInfo, SegmentResult


class SegmentationClient(ClientBase):
    """A blocking client of the segmentation service; use it as a context manager.

    `target` is "host:port", several of them ("h1:p1,h2:p2" or a list, balanced
    round-robin), or any gRPC target ("dns:///svc:50051"). `timeout` is the
    deadline in seconds of every unary call; streams have `stream_timeout`
    (None: no deadline, as a live video may run for hours). `token` is sent as
    `authorization: Bearer <token>`; `tls` (or any certificate argument) turns
    on TLS, with `root_certificates` to trust a private CA and
    `client_cert`/`client_key` for mutual TLS.
    """

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    @cached_property
    def inference(self) -> OpenInference:
        """The Open Inference Protocol (KServe v2) calls, on this client's channel and settings."""
        return OpenInference(self._channel, self._call)

    def _call(self, method: Callable[..., Any], request: Message, timeout: float | None) -> Any:
        try:
            return method(request, timeout=timeout or self.timeout, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None

    def segment(
        self, image: ImageInput, model: str | None = None, *, bgr: bool = False, mask_encoding: str = "png",
        frame_id: int = 0, timeout: float | None = None, alpha: bool = False, refine_edges: bool = False,
    ) -> SegmentResult:
        """Segment one image (encoded bytes, a path, a PIL image or a numpy array; `bgr` for OpenCV arrays).

        `alpha` asks for the soft mask too (`result.alpha`; InvalidInput with reason NO_SOFT_MASK from a
        model without one, see `ModelInfo.soft_mask`); `refine_edges` moves the edges onto the picture's.
        """
        message = _convert.image_message(image, bgr=bgr, max_raw_bytes=self._max_raw)
        request = _convert.segment_request(message, model, mask_encoding, frame_id, alpha=alpha,
                                           refine_edges=refine_edges)
        return _convert.result_from(self._call(self._stub.Segment, request, timeout))

    def stream(
        self, frames: Iterable[ImageInput | tuple[int, ImageInput]], model: str | None = None, *, drop_policy: str = "latest", max_fps: float = 0.0,
        bgr: bool = False, mask_encoding: str = "png", smoothing: float = 0.0, alpha: bool = False,
        refine_edges: bool = False,
    ) -> Iterator[SegmentResult]:
        """Segment a sequence of frames over one SegmentStream; yields results as they come.

        `frames` yields images or (frame_id, image) pairs and is read from
        gRPC's own thread, so it may block (e.g. on a camera). With
        drop_policy="latest" the server skips frames it cannot keep up with
        and reports the count in `frames_dropped`; with "none" it processes
        every frame. Closing the iterator cancels the stream. `smoothing` (0 off, 0.7-0.9 for live video)
        steadies the soft mask from frame to frame; `alpha` and `refine_edges` are as in `segment`.
        """
        options = _convert.stream_options(drop_policy, max_fps, smoothing)
        requests = _convert.StreamRequests(model, options, mask_encoding, bgr, self._max_raw, alpha=alpha,
                                           refine_edges=refine_edges)
        call = self._stub.SegmentStream(requests.iterate(frames), timeout=self.stream_timeout,
                                        metadata=self._metadata)
        try:
            for response in call:
                yield _convert.result_from(response)
        except grpc.RpcError as exc:
            requests.raise_error()
            raise from_rpc_error(exc) from None
        finally:
            call.cancel()
        requests.raise_error()

    def list_models(self, timeout: float | None = None) -> list[ModelInfo]:
        return _convert.model_infos(self._call(self._stub.ListModels, pb.ListModelsRequest(), timeout))

    def get_model(self, model_id: str | None = None, timeout: float | None = None) -> ModelInfo:
        """One model's info; None or "" is the server's default model."""
        for info in self.list_models(timeout):
            if info.id == model_id or (not model_id and info.is_default):
                return info
        raise ModelNotFound(f"unknown model {model_id!r}")

    def health(self, service: str = "", timeout: float | None = None) -> str:
        """The server's health status name: "SERVING", "NOT_SERVING", ..."""
        response: health_pb2.HealthCheckResponse = self._call(
            self._health.Check, health_pb2.HealthCheckRequest(service=service), timeout)
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))
