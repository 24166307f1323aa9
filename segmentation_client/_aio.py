"""The asyncio client: the same calls as SegmentationClient, awaitable."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable, Iterable
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
from segmentation_client._open_inference import AsyncOpenInference
from segmentation_client._results import ModelInfo, SegmentResult


async def _aiter_items(frames: AsyncIterable[Any] | Iterable[Any]) -> AsyncIterator[Any]:
    if hasattr(frames, "__aiter__"):
        async for item in frames:
            yield item
    else:
        for item in frames:
            yield item


class AsyncSegmentationClient(ClientBase):
    """An asyncio client of the segmentation service; use it with `async with`. See SegmentationClient."""

    _grpc = grpc.aio

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._channel.close()

    @cached_property
    def inference(self) -> AsyncOpenInference:
        """The Open Inference Protocol (KServe v2) calls, on this client's channel and settings."""
        return AsyncOpenInference(self._channel, self._call)

    async def _call(self, method: Callable[..., Any], request: Message, timeout: float | None) -> Any:
        try:
            return await method(request, timeout=timeout or self.timeout, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None

    async def segment(
        self, image: ImageInput, model: str | None = None, *, bgr: bool = False, mask_encoding: str = "png",
        frame_id: int = 0, timeout: float | None = None, alpha: bool = False, refine_edges: bool = False,
    ) -> SegmentResult:
        message = _convert.image_message(image, bgr=bgr, max_raw_bytes=self._max_raw)
        request = _convert.segment_request(message, model, mask_encoding, frame_id, alpha=alpha,
                                           refine_edges=refine_edges)
        return _convert.result_from(await self._call(self._stub.Segment, request, timeout))

    async def stream(
        self, frames: AsyncIterable[ImageInput | tuple[int, ImageInput]] | Iterable[ImageInput | tuple[int, ImageInput]], model: str | None = None, *, drop_policy: str = "latest",
        max_fps: float = 0.0, bgr: bool = False, mask_encoding: str = "png", smoothing: float = 0.0,
        alpha: bool = False, refine_edges: bool = False,
    ) -> AsyncGenerator[SegmentResult, None]:
        options = _convert.stream_options(drop_policy, max_fps, smoothing)

        builder = _convert.StreamRequests(model, options, mask_encoding, bgr, self._max_raw, alpha=alpha,
                                          refine_edges=refine_edges)
        requests = builder.aiterate(_aiter_items(frames))
        call = self._stub.SegmentStream(requests, timeout=self.stream_timeout, metadata=self._metadata)
        try:
            async for response in call:
                yield _convert.result_from(response)
        except grpc.RpcError as exc:
            builder.raise_error()
            raise from_rpc_error(exc) from None
        finally:
            call.cancel()
        builder.raise_error()

    async def list_models(self, timeout: float | None = None) -> list[ModelInfo]:
        return _convert.model_infos(await self._call(self._stub.ListModels, pb.ListModelsRequest(), timeout))

    async def get_model(self, model_id: str | None = None, timeout: float | None = None) -> ModelInfo:
        for info in await self.list_models(timeout):
            if info.id == model_id or (not model_id and info.is_default):
                return info
        raise ModelNotFound(f"unknown model {model_id!r}")

    async def health(self, service: str = "", timeout: float | None = None) -> str:
        response: health_pb2.HealthCheckResponse = await self._call(
            self._health.Check, health_pb2.HealthCheckRequest(service=service), timeout)
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))
