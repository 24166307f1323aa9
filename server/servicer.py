"""The Segmenter service: converts protobuf to domain objects and back, and maps errors.

Inference runs in a thread pool, so the event loop keeps answering health checks
and accepting calls while the model works.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Executor
from contextlib import AbstractContextManager, contextmanager
from typing import TypeVar

import grpc
import numpy as np

from protos import segmentation_pb2 as pb
from protos import segmentation_pb2_grpc as pb_grpc
from server.errors import InvalidImage, Overloaded, SegmentationError, ShuttingDown, status_code
from server.imaging import EncodedImage, RawPixels
from server.masks import MaskOptions, has_soft_mask
from server.metrics import Metrics
from server.models import Model, ModelRegistry, State
from server.pipeline import Pipeline, Segmentation
from server.smoothing import TemporalSmoother
from server.status import abort, abort_with, internal
from server.streaming import DropPolicy, Frame, StreamRunner

log = logging.getLogger(__name__)

_DROP_POLICIES = {
    pb.DROP_POLICY_UNSPECIFIED: DropPolicy.LATEST,
    pb.DROP_POLICY_LATEST: DropPolicy.LATEST,
    pb.DROP_POLICY_NONE: DropPolicy.NONE,
}


def image_from_proto(image: pb.Image) -> EncodedImage | RawPixels:
    source = image.WhichOneof("source")
    if source == "encoded":
        return EncodedImage(image.encoded)
    if source == "raw":
        raw = image.raw
        if raw.format not in (pb.PIXEL_FORMAT_RGB8, pb.PIXEL_FORMAT_BGR8):
            raise InvalidImage("raw image needs a pixel format: PIXEL_FORMAT_RGB8 or PIXEL_FORMAT_BGR8",
                               "BAD_RAW_IMAGE")
        return RawPixels(raw.data, raw.width, raw.height, bgr=raw.format == pb.PIXEL_FORMAT_BGR8)
    raise InvalidImage("request has no image: set image.encoded or image.raw", "NO_IMAGE")


def _mask(pixels: np.ndarray, png: bytes | None, encoding: int) -> pb.Mask:
    height, width = pixels.shape
    if encoding == pb.MASK_ENCODING_RAW:
        return pb.Mask(width=width, height=height, encoding=pb.MASK_ENCODING_RAW, data=pixels.tobytes())
    return pb.Mask(width=width, height=height, encoding=pb.MASK_ENCODING_PNG, data=png)


def response_from(result: Segmentation, frame_id: int, encoding: int) -> pb.SegmentResponse:
    t = result.timings
    return pb.SegmentResponse(
        frame_id=frame_id,
        model=result.model_id,
        mask=_mask(result.mask, result.png, encoding),
        alpha=_mask(result.alpha, result.alpha_png, encoding) if result.alpha is not None else None,
        classes=[
            pb.ClassArea(class_id=c.class_id, label=c.label, fraction=c.fraction, pixel_count=c.pixel_count)
            for c in result.classes
        ],
        timings=pb.Timings(
            decode_ms=t.decode_ms, preprocess_ms=t.preprocess_ms, inference_ms=t.inference_ms,
            postprocess_ms=t.postprocess_ms, encode_ms=t.encode_ms, total_ms=t.total_ms, queue_ms=t.queue_ms,
        ),
    )


R = TypeVar("R")


async def answer_unary(
    method: str, context: grpc.aio.ServicerContext, metrics: Metrics, slot: Callable[[], AbstractContextManager[None]],
    work: Callable[[float, float | None], Awaitable[R]],
) -> R:
    """Run one unary call: admitted through `slot`, counted in the metrics, its errors mapped to statuses.

    `work` gets the time the call arrived and its deadline (None without one).
    """
    received_at = time.perf_counter()
    try:
        with slot():
            remaining = context.time_remaining()
            deadline = received_at + remaining if remaining is not None else None
            with metrics.in_flight.labels(method).track_inprogress():
                response = await work(received_at, deadline)
    except SegmentationError as exc:
        code = status_code(exc)
        metrics.requests.labels(method, code.name).inc()
        log.info("%s failed: %s %s: %s", method, code.name, exc.reason, exc)
        await abort_with(context, exc)
    except Exception as exc:  # noqa: BLE001 - a bug or a runtime's failure: INTERNAL, details in the log
        metrics.requests.labels(method, "INTERNAL").inc()
        message, error_id = internal(method, exc)
        await abort(context, grpc.StatusCode.INTERNAL, message, "INTERNAL", {"error_id": error_id})
    metrics.requests.labels(method, "OK").inc()
    return response


class SegmenterServicer(pb_grpc.SegmenterServicer):
    """Serves Segment, SegmentStream and ListModels from a model registry."""

    def __init__(
        self, registry: ModelRegistry, pipeline: Pipeline, executor: Executor, *,
        metrics: Metrics, workers: int, max_concurrent_requests: int, max_streams: int,
    ) -> None:
        self._metrics = metrics
        self._registry = registry
        self._pipeline = pipeline
        self._executor = executor
        self._workers = workers
        self._max_requests = max_concurrent_requests
        self._max_streams = max_streams
        self._requests = 0
        self._streams = 0  # accepted and not ended, counted from the moment they are accepted
        self._runners: set[StreamRunner] = set()
        self._first_reads: set[asyncio.Future] = set()  # streams still waiting for their first frame
        self.draining = False

    def drain(self) -> None:
        """Refuse new calls; open streams answer the frames they hold and then end."""
        self.draining = True
        for runner in self._runners:
            runner.stop_reading()
        for read in self._first_reads:  # a stream that has sent nothing holds nothing: it ends now
            read.cancel()

    async def _segment(
        self, request: pb.SegmentRequest, received_at: float, deadline: float | None = None,
        smoother: TemporalSmoother | None = None,
    ) -> pb.SegmentResponse:
        image = image_from_proto(request.image)
        want_png = request.mask_encoding != pb.MASK_ENCODING_RAW
        options = MaskOptions(alpha=request.alpha, refine_edges=request.refine_edges, smoother=smoother)
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(
            self._executor,
            lambda: self._pipeline.run(
                request.model, image, want_png=want_png, received_at=received_at, deadline=deadline, options=options
            ),
        )
        self._metrics.observe(result.model_id, result.timings)
        return response_from(result, request.frame_id, request.mask_encoding)

    def _admit(self, streams: bool) -> None:
        if self.draining:
            raise ShuttingDown("server is shutting down; send the call to another replica")
        if streams and self._streams >= self._max_streams:
            raise Overloaded(f"server is at its limit of {self._max_streams} concurrent streams")
        if not streams and self._requests >= self._max_requests:
            raise Overloaded(f"server is at its limit of {self._max_requests} concurrent requests")

    @contextmanager
    def unary_slot(self) -> Iterator[None]:
        """One unary call, of any service of this server: refused while draining or at the request limit."""
        self._admit(streams=False)
        self._requests += 1
        try:
            yield
        finally:
            self._requests -= 1

    async def Segment(self, request: pb.SegmentRequest, context: grpc.aio.ServicerContext) -> pb.SegmentResponse:
        response = await answer_unary(
            "Segment", context, self._metrics, self.unary_slot,
            lambda received_at, deadline: self._segment(request, received_at, deadline),
        )
        log.debug("Segment ok: %s %dx%d in %.1f ms", response.model, response.mask.width,
                  response.mask.height, response.timings.total_ms)
        return response

    async def SegmentStream(self, request_iterator, context: grpc.aio.ServicerContext):
        try:
            self._admit(streams=True)
        except SegmentationError as exc:
            log.info("SegmentStream refused: %s %s: %s", status_code(exc).name, exc.reason, exc)
            await abort_with(context, exc)
        self._streams += 1
        self._metrics.in_flight.labels("SegmentStream").inc()
        try:
            first = await self._first_frame(request_iterator)
            if first is not None:
                async for response in self._run_stream(first, request_iterator):
                    yield response
        finally:
            self._streams -= 1
            self._metrics.in_flight.labels("SegmentStream").dec()

    async def _first_frame(self, request_iterator) -> pb.SegmentRequest | None:
        """The stream's first request; None when the client ends without one or the server drains first."""
        read = asyncio.ensure_future(anext(aiter(request_iterator), None))
        self._first_reads.add(read)
        try:
            return await read
        except asyncio.CancelledError:
            if read.cancelled() and self.draining:
                log.info("stream ended by shutdown before its first frame")
                return None
            raise
        finally:
            self._first_reads.discard(read)

    async def _run_stream(self, first: pb.SegmentRequest, request_iterator):
        options = first.stream_options
        policy = _DROP_POLICIES.get(options.drop_policy, DropPolicy.LATEST)
        # NONE is about throughput: keep every worker busy, with a frame more for each waiting while its
        # answer travels back (one frame a worker left them idle for that trip: with a 4 ms model
        # 123-131 instead of 146-150 frames/s). LATEST is about freshness: one frame at a time, each
        # with all the cores, so a frame never waits behind another in the model.
        depth = 2 * self._workers if policy is DropPolicy.NONE else 1
        # Smoothing mixes each frame with the one before: one frame at a time, in order.
        smoothing = min(max(0.0, options.smoothing), 0.99)
        smoother = TemporalSmoother(smoothing) if smoothing > 0 else None
        depth = 1 if smoother is not None else depth
        runner: StreamRunner[pb.SegmentRequest, pb.SegmentResponse] = StreamRunner(
            policy, depth=depth, capacity=self._workers, max_fps=max(0.0, options.max_fps)
        )

        async def frames():
            yield first
            if self.draining:  # drain came while the first frame arrived: answer it, read no more
                return
            async for request in request_iterator:
                yield request

        async def process(frame: Frame[pb.SegmentRequest]) -> pb.SegmentResponse:
            request = frame.item
            try:
                response = await self._segment(request, frame.received_at, smoother=smoother)
            except SegmentationError as exc:
                code = status_code(exc)
                log.debug("frame %d failed: %s", request.frame_id, exc)
                error = pb.FrameError(code=code.value[0], message=str(exc), reason=exc.reason)
            except Exception as exc:  # noqa: BLE001 - this frame fails, the stream goes on
                code = grpc.StatusCode.INTERNAL
                message, _ = internal(f"SegmentStream frame {request.frame_id}", exc)
                error = pb.FrameError(code=code.value[0], message=message, reason="INTERNAL")
            else:
                self._metrics.requests.labels("SegmentStream", "OK").inc()
                return response
            self._metrics.requests.labels("SegmentStream", code.name).inc()
            return pb.SegmentResponse(frame_id=request.frame_id, model=request.model, error=error)

        self._runners.add(runner)
        completed = False
        counted_drops = 0
        try:
            async for response in runner.run(frames(), process):
                response.frames_dropped = runner.dropped
                self._metrics.frames_dropped.inc(runner.dropped - counted_drops)
                counted_drops = runner.dropped
                yield response
            completed = True
        finally:
            self._runners.discard(runner)
            self._metrics.frames_dropped.inc(runner.dropped - counted_drops)
            if not completed:
                self._metrics.streams_cancelled.inc()
                self._metrics.frames_abandoned.inc(max(0, runner.received - runner.processed - runner.dropped))
            log.info(
                "stream %s: %d frames received, %d answered, %d dropped (%s)",
                "ended" if completed else "cancelled", runner.received, runner.processed, runner.dropped,
                policy.value,
            )

    async def ListModels(self, request: pb.ListModelsRequest, context) -> pb.ListModelsResponse:
        return pb.ListModelsResponse(
            models=[_model_info(m, m.id == self._registry.default_id) for m in self._registry.models()],
            default_model=self._registry.default_id,
        )


def _model_info(model: Model, is_default: bool) -> pb.ModelInfo:
    """What a client may know of a model; a model whose config is unreadable shows its id and reason only."""
    # One read of each field: a load in a worker thread may replace them meanwhile.
    loaded, state, reason = model.loaded, model.state, model.reason
    info = pb.ModelInfo(
        id=model.id, available=loaded is not None, is_default=is_default,
        unavailable_reason="" if loaded is not None else {State.LOADING: "loading"}.get(state, reason),
    )
    spec = loaded.spec if loaded is not None else model.spec
    if spec is not None:
        config = spec.config
        info.runtime, info.description = config.runtime, config.description
        info.licence, info.source = config.licence, config.source
        info.input_width, info.input_height = config.input.width, config.input.height
        info.labels.extend(spec.labels)
        info.palette.extend(pb.Color(r=r, g=g, b=b) for r, g, b in spec.palette)
        info.soft_mask = has_soft_mask(spec)
    if loaded is not None:
        info.device = loaded.backend.device
    return info
