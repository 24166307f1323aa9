"""Between the client's types and the protobuf messages; shared by both clients."""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from protos import segmentation_pb2 as pb
from segmentation_client._exceptions import InvalidInput, code_from_value, error_for
from segmentation_client._results import ClassArea, ModelInfo, SegmentResult, Timings

ImageInput = bytes | bytearray | memoryview | str | os.PathLike[str] | np.ndarray | Any  # Any: a PIL image
_ENCODINGS = {"png": pb.MASK_ENCODING_PNG, "raw": pb.MASK_ENCODING_RAW}
_POLICIES = {"latest": pb.DROP_POLICY_LATEST, "none": pb.DROP_POLICY_NONE}




def image_message(image: ImageInput, *, bgr: bool = False, max_raw_bytes: int | None = None) -> pb.Image:
    """An Image message: files and bytes go as they are, arrays and PIL images as raw pixels.

    `bgr` says a numpy array is in OpenCV's BGR order. Arrays too big to send
    raw within `max_raw_bytes` are sent as lossless PNG instead.
    """
    if isinstance(image, (bytes, bytearray, memoryview)):
        return pb.Image(encoded=bytes(image))
    if isinstance(image, (str, os.PathLike)):
        return pb.Image(encoded=Path(image).read_bytes())
    if not isinstance(image, np.ndarray):
        if not hasattr(image, "convert"):
            raise TypeError(f"cannot send a {type(image).__name__}: give bytes, a path, a numpy array or a PIL image")
        image, bgr = np.asarray(image.convert("RGB")), False
    if image.dtype != np.uint8:
        raise InvalidInput(f"image array must be uint8, not {image.dtype}", reason="BAD_RAW_IMAGE")
    if image.ndim == 2:
        image = np.repeat(image[:, :, np.newaxis], 3, axis=2)
    elif image.ndim != 3 or image.shape[2] not in (3, 4):
        raise InvalidInput(f"image array must be HxW, HxWx3 or HxWx4, not {image.shape}", reason="BAD_RAW_IMAGE")
    if image.shape[2] == 4:
        image = image[:, :, :3]
    if max_raw_bytes is not None and image.nbytes > max_raw_bytes:
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(image[:, :, ::-1] if bgr else image)).save(buf, "PNG", compress_level=1)
        return pb.Image(encoded=buf.getvalue())
    height, width = image.shape[:2]
    fmt = pb.PIXEL_FORMAT_BGR8 if bgr else pb.PIXEL_FORMAT_RGB8
    return pb.Image(raw=pb.RawImage(data=np.ascontiguousarray(image).tobytes(), width=width, height=height, format=fmt))


def segment_request(
    image: pb.Image, model: str | None, mask_encoding: str, frame_id: int = 0,
    stream_options: pb.StreamOptions | None = None, *, alpha: bool = False, refine_edges: bool = False,
) -> pb.SegmentRequest:
    if mask_encoding not in _ENCODINGS:
        raise ValueError(f"mask_encoding must be one of {sorted(_ENCODINGS)}")
    return pb.SegmentRequest(
        model=model or "", image=image, frame_id=frame_id, mask_encoding=_ENCODINGS[mask_encoding],
        stream_options=stream_options, alpha=alpha, refine_edges=refine_edges,
    )


def stream_options(drop_policy: str, max_fps: float, smoothing: float = 0.0) -> pb.StreamOptions:
    if drop_policy not in _POLICIES:
        raise ValueError(f"drop_policy must be one of {sorted(_POLICIES)}")
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"smoothing must be at least 0 and below 1, got {smoothing}")
    return pb.StreamOptions(drop_policy=_POLICIES[drop_policy], max_fps=max_fps, smoothing=smoothing)


class StreamRequests:
    """Turns a stream's frames into requests: ids count from 1 unless given as (frame_id, image).

    An exception raised while the frames are read or converted (the caller's iterator, an unreadable
    image) ends the requests there and is kept in `error`, so that the stream can raise it in the
    caller once the frames already sent are answered; gRPC alone would report only "Exception
    iterating requests!".
    """

    def __init__(self, model: str | None, options: pb.StreamOptions, mask_encoding: str, bgr: bool, max_raw: int,
                 *, alpha: bool = False, refine_edges: bool = False):
        self._model, self._options, self._encoding = model, options, mask_encoding
        self._bgr, self._max_raw = bgr, max_raw
        self._alpha, self._refine = alpha, refine_edges
        self._count = 0
        self.error: BaseException | None = None

    def iterate(self, frames: Iterable[Any]) -> Iterator[pb.SegmentRequest]:
        try:
            for item in frames:
                yield self.request(item)
        except Exception as exc:  # noqa: BLE001 - handed back to the caller by raise_error
            self.error = exc

    async def aiterate(self, frames: AsyncIterable[Any]) -> AsyncIterator[pb.SegmentRequest]:
        try:
            async for item in frames:
                yield self.request(item)
        except Exception as exc:  # noqa: BLE001 - handed back to the caller by raise_error
            self.error = exc

    def raise_error(self) -> None:
        """Raise, in the caller, what the frames raised (if they did)."""
        if self.error is not None:
            raise self.error

    def request(self, item: Any) -> pb.SegmentRequest:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], int):
            frame_id, image = item
        else:
            frame_id, image = self._count + 1, item
        first = self._count == 0
        self._count += 1
        message = image_message(image, bgr=self._bgr, max_raw_bytes=self._max_raw)
        return segment_request(message, self._model, self._encoding, frame_id, self._options if first else None,
                               alpha=self._alpha, refine_edges=self._refine)


def _raw_mask(mask: pb.Mask) -> np.ndarray | None:  # also the soft mask, which has the same form
    """RAW masks become arrays now; PNG masks are left for SegmentResult to decode when asked."""
    if mask.encoding == pb.MASK_ENCODING_RAW and mask.data:
        return np.frombuffer(mask.data, dtype=np.uint8).reshape(mask.height, mask.width)
    return None if mask.data else np.zeros((0, 0), np.uint8)


def result_from(response: pb.SegmentResponse) -> SegmentResult:
    t = response.timings
    error = None
    if response.HasField("error"):
        error = error_for(code_from_value(response.error.code), response.error.message, response.error.reason)
    return SegmentResult(
        model=response.model,
        mask=_raw_mask(response.mask),
        classes=[ClassArea(c.class_id, c.label, c.fraction, c.pixel_count) for c in response.classes],
        timings=Timings(t.decode_ms, t.preprocess_ms, t.inference_ms, t.postprocess_ms, t.encode_ms,
                        t.total_ms, t.queue_ms),
        frame_id=response.frame_id,
        frames_dropped=response.frames_dropped,
        error=error,
        mask_png=response.mask.data if response.mask.encoding == pb.MASK_ENCODING_PNG else None,
        mask_size=(response.mask.width, response.mask.height) if response.mask.data else None,
        alpha=_raw_mask(response.alpha) if response.alpha.data else None,
        alpha_png=response.alpha.data if response.alpha.encoding == pb.MASK_ENCODING_PNG else None,
    )


def model_infos(response: pb.ListModelsResponse) -> list[ModelInfo]:
    return [
        ModelInfo(
            id=m.id, runtime=m.runtime, labels=list(m.labels), available=m.available,
            unavailable_reason=m.unavailable_reason, input_size=(m.input_width, m.input_height), device=m.device,
            palette=np.array([(c.r, c.g, c.b) for c in m.palette], dtype=np.uint8).reshape(-1, 3),
            description=m.description, is_default=m.is_default, licence=m.licence, source=m.source,
            soft_mask=m.soft_mask,
        )
        for m in response.models
    ]
