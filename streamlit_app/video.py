"""Segmenting a video file frame by frame over one SegmentStream. No Streamlit here.

Frames are decoded with OpenCV, sent with drop_policy "none" (every frame gets a
mask), drawn, and written to a browser-playable file as the results arrive, so
memory holds only the frames in flight, never the whole video.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from segmentation_client import SegmentationClient, SegmentResult
from streamlit_app.imaging import Display, render

log = logging.getLogger(__name__)

VIDEO_TYPES = ("mp4", "mov", "avi", "mkv", "webm", "m4v")
# Browser-playable codecs, best first. VP8 is the fast one to encode on a CPU;
# OpenCV's pip wheels usually lack an H.264 encoder, so avc1 comes last.
CODECS = (("VP80", ".webm", "video/webm"), ("VP90", ".webm", "video/webm"), ("avc1", ".mp4", "video/mp4"))
DEFAULT_FPS = 25.0
DEFAULT_DISPLAY = Display()


class VideoError(Exception):
    """A video that cannot be read, or a result that cannot be written."""


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video."""

    frame_count: int
    fps: float
    width: int
    height: int

    @property
    def duration_s(self) -> float:
        return self.frame_count / self.fps if self.fps else 0.0


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    elapsed_s: float

    @property
    def fps(self) -> float:
        return self.done / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclass(frozen=True)
class VideoSummary:
    """How a video run went. Latencies are the server's per-frame total (queue included)."""

    frames: int
    failed: int
    source_frames: int
    source_fps: float
    processing_fps: float
    wall_s: float
    latency_ms: dict[str, float]  # "mean", "p50", "p95", "max"
    class_share: dict[str, float] = field(default_factory=dict)  # label -> share of all pixels, 0..1
    first_error: str = ""  # the server's words on the first frame that failed


@dataclass(frozen=True)
class SegmentedVideo:
    data: bytes
    mime: str
    suffix: str
    summary: VideoSummary


def probe(path: Path) -> VideoInfo:
    """Frame count, FPS and size; raises VideoError when OpenCV cannot open the file."""
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise VideoError("OpenCV cannot open this video (unknown container or codec)")
        return VideoInfo(
            frame_count=int(cap.get(cv2.CAP_PROP_FRAME_COUNT)),
            fps=float(cap.get(cv2.CAP_PROP_FPS)) or DEFAULT_FPS,
            width=int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            height=int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        )
    finally:
        cap.release()


def read_frames(path: Path, limit: int) -> Iterator[np.ndarray]:
    """Up to `limit` BGR frames, in order."""
    cap = cv2.VideoCapture(str(path))
    try:
        for _ in range(limit):
            ok, frame = cap.read()
            if not ok:
                return
            yield frame
    finally:
        cap.release()


def open_writer(stem: Path, fps: float, size: tuple[int, int]) -> tuple[cv2.VideoWriter, Path, str]:
    """A VideoWriter with the first browser-playable codec this OpenCV build can encode."""
    for fourcc, suffix, mime in CODECS:
        path = stem.with_suffix(suffix)
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), fps, size)
        if writer.isOpened():
            log.debug("writing %s with %s", path.name, fourcc)
            return writer, path, mime
        writer.release()
    raise VideoError("this OpenCV build can write none of VP8, VP9 or H.264, so no playable video can be made")


class _Tally:
    """Per-frame numbers gathered while the stream runs."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.pixels: Counter[str] = Counter()
        self.frames = self.failed = 0
        self.first_error = ""

    def add(self, result: SegmentResult) -> None:
        self.frames += 1
        if result.error is not None:
            self.failed += 1
            self.first_error = self.first_error or result.error.message
            return
        self.latencies.append(result.timings.total_ms)
        for area in result.classes:
            self.pixels[area.label] += area.pixel_count

    def summary(self, info: VideoInfo, wall_s: float) -> VideoSummary:
        lat = np.asarray(self.latencies or [0.0])
        total_pixels = sum(self.pixels.values()) or 1
        return VideoSummary(
            frames=self.frames, failed=self.failed, source_frames=info.frame_count, source_fps=info.fps,
            processing_fps=self.frames / wall_s if wall_s > 0 else 0.0, wall_s=wall_s,
            latency_ms={"mean": float(lat.mean()), "p50": float(np.percentile(lat, 50)),
                        "p95": float(np.percentile(lat, 95)), "max": float(lat.max())},
            class_share={label: n / total_pixels for label, n in self.pixels.most_common()},
            first_error=self.first_error,
        )


def segment_video(
    client: SegmentationClient, source: Path, work_dir: Path, *, model: str | None, palette: np.ndarray,
    display: Display = DEFAULT_DISPLAY, max_frames: int = 300, on_progress: Callable[[Progress], None] | None = None,
) -> SegmentedVideo:
    """Segment up to `max_frames` frames of `source` and write the drawn result into `work_dir`.

    Raises the client's ServiceError when the stream fails as a whole; a frame
    that fails alone is written as it came and counted in `failed`.
    """
    info = probe(source)
    total = min(info.frame_count, max_frames) if info.frame_count > 0 else max_frames
    writer, out_path, mime = open_writer(work_dir / "segmented", info.fps, (info.width, info.height))
    # The frames are BGR; drawing them with the palette in BGR order saves two conversions a frame.
    palette_bgr = np.ascontiguousarray(np.asarray(palette)[:, ::-1])
    pending: dict[int, np.ndarray] = {}  # frames sent and not yet answered, by frame id
    tally, started = _Tally(), time.perf_counter()

    def frames() -> Iterator[tuple[int, np.ndarray]]:
        for frame_id, frame in enumerate(read_frames(source, total), start=1):
            pending[frame_id] = frame
            yield frame_id, frame

    try:
        for result in client.stream(frames(), model=model, drop_policy="none", bgr=True):
            frame = pending.pop(result.frame_id)
            writer.write(render(frame, result.mask, palette_bgr, display) if result.ok else frame)
            tally.add(result)
            if on_progress:
                on_progress(Progress(tally.frames, total, time.perf_counter() - started))
    finally:
        writer.release()
    if tally.frames == 0:
        raise VideoError("no frame of this video could be decoded")
    summary = tally.summary(info, time.perf_counter() - started)
    log.info("video: %d frames (%d failed) at %.1f fps", summary.frames, summary.failed, summary.processing_fps)
    return SegmentedVideo(out_path.read_bytes(), mime, out_path.suffix, summary)
