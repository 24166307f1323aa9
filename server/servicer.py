"""The Segmenter service: converts protobuf to domain objects and back, and maps errors.

The pipeline runs in worker processes or threads (server/workers.py), so the event loop keeps answering
health checks and accepting calls while the model works.
"""

from __future__ import annotations

import asyncio
import functools
import logging

import grpc
import numpy as np

from protos import segmentation_pb2 as pb
from protos import segmentation_pb2_grpc as pb_grpc
from server.admission import Admission
from server.errors import InvalidImage
from server.imaging import EncodedImage, RawPixels
from server.masks import MaskOptions, has_soft_mask
from server.metrics import Metrics
from server.models import Model, ModelRegistry, State
from server.pipeline import Segmentation
from server.smoothing import TemporalSmoother
from server.status import abort_with, status_code
from server.streaming import DropPolicy, Frame, StreamRunner
from server.workers import Workers

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


class SegmenterServicer(pb_grpc.SegmenterServicer):
    """Serves Segment, SegmentStream and ListModels from a model registry."""

    def __init__(
        self, registry: ModelRegistry, workers: Workers, admission: Admission, *, metrics: Metrics, parallel: int,
    ) -> None:
        self._metrics = metrics
        self._registry = registry
        self._workers = workers
        self._admission = admission
        self._parallel = parallel  # calls the workers run at once
        self._runners: set[StreamRunner] = set()
        self._first_reads: set[asyncio.Future] = set()  # streams still waiting for their first frame

    def drain(self) -> None:
        """Refuse new calls (of both services); open streams answer the frames they hold and then end."""
        self._admission.drain()
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
        # The response is made where the pipeline ran (a worker process): only it travels back, not the masks.
        finish = functools.partial(response_from, frame_id=request.frame_id, encoding=request.mask_encoding)
        response = await self._workers.run(request.model, image, want_png=want_png, received_at=received_at,
                                           deadline=deadline, options=options, finish=finish)
        self._metrics.observe(response.model, response.timings)
        return response

    async def Segment(self, request: pb.SegmentRequest, context: grpc.aio.ServicerContext) -> pb.SegmentResponse:
        response = await self._admission.answer_unary(
            "Segment", context, lambda received_at, deadline: self._segment(request, received_at, deadline),
        )
        log.debug("Segment ok: %s %dx%d in %.1f ms", response.model, response.mask.width,
                  response.mask.height, response.timings.total_ms)
        return response

    async def SegmentStream(self, request_iterator, context: grpc.aio.ServicerContext):
        with self._admission.stream_slot() as refused:
            if refused is not None:
                log.info("SegmentStream refused: %s %s: %s", status_code(refused).name, refused.reason, refused)
                await abort_with(context, refused)
            first = await self._first_frame(request_iterator)
            if first is not None:
                async for response in self._run_stream(first, request_iterator):
                    yield response

    async def _first_frame(self, request_iterator) -> pb.SegmentRequest | None:
        """The stream's first request; None when the client ends without one or the server drains first."""
        read = asyncio.ensure_future(anext(aiter(request_iterator), None))
        self._first_reads.add(read)
        try:
            return await read
        except asyncio.CancelledError:
            if read.cancelled() and self._admission.draining:
                log.info("stream ended by shutdown before its first frame")
                return None
            raise
        finally:
            self._first_reads.discard(read)

    async def _run_stream(self, first: pb.SegmentRequest, request_iterator):
        options = first.stream_options
        policy = _DROP_POLICIES.get(options.drop_policy, DropPolicy.LATEST)
        # NONE is about throughput: keep every worker busy, with a frame more for each waiting while its
        # answer travels back (one frame a worker leaves them idle for that trip; `make bench` measures
        # stream frames/s). LATEST is about freshness: one frame at a time, each with all the cores, so a
        # frame never waits behind another in the model.
        depth = 2 * self._parallel if policy is DropPolicy.NONE else 1
        # Smoothing mixes each frame with the one before: one frame at a time, in order.
        smoothing = min(max(0.0, options.smoothing), 0.99)
        smoother = TemporalSmoother(smoothing) if smoothing > 0 else None
        depth = 1 if smoother is not None else depth
        runner: StreamRunner[pb.SegmentRequest, pb.SegmentResponse] = StreamRunner(
            policy, depth=depth, capacity=self._parallel, max_fps=max(0.0, options.max_fps)
        )

        async def frames():
            yield first
            if self._admission.draining:  # drain came while the first frame arrived: answer it, read no more
                return
            async for request in request_iterator:
                yield request

        async def process(frame: Frame[pb.SegmentRequest]) -> pb.SegmentResponse:
            request = frame.item
            try:
                response = await self._segment(request, frame.received_at, smoother=smoother)
            except Exception as exc:  # noqa: BLE001 - this frame fails, the stream goes on
                failed = self._admission.failed("SegmentStream", exc, f"SegmentStream frame {request.frame_id}")
                error = pb.FrameError(code=failed.code.value[0], message=failed.message, reason=failed.reason)
                return pb.SegmentResponse(frame_id=request.frame_id, model=request.model, error=error)
            self._admission.succeeded("SegmentStream")
            return response

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
