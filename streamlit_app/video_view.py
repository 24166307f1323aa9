"""The Video tab: upload a short video, stream its frames through the server, play the result."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from segmentation_client import ModelInfo, ServiceError
from streamlit_app import state
from streamlit_app.config import UISettings
from streamlit_app.errors import show_service_error
from streamlit_app.imaging import Display
from streamlit_app.summaries import format_ms
from streamlit_app.video import (
    VIDEO_TYPES,
    Progress,
    SegmentedVideo,
    VideoError,
    VideoInfo,
    VideoSummary,
    segment_video,
)

RESULT = "video_result"  # session_state key: (key of the run, SegmentedVideo)


def show_video_tab(model: ModelInfo, display: Display, settings: UISettings) -> None:
    upload = st.file_uploader(
        "Upload a short video", type=list(VIDEO_TYPES), key="video_upload",
        help=f"MP4, MOV, AVI, MKV or WebM. The first {settings.max_video_frames} frames are segmented "
             "(UI_MAX_VIDEO_FRAMES), every one of them: none is dropped.",
    )
    if upload is None:
        st.info("Upload a video to segment it frame by frame over one gRPC stream.", icon=":material/movie:")
        return
    suffix = Path(upload.name).suffix.lower()
    try:
        info = state.probe_video(upload.file_id, suffix, upload.getvalue())
    except VideoError as exc:
        st.error(f"**{upload.name}** cannot be read: {exc}.", icon=":material/error:")
        return
    _describe(upload.name, info, settings.max_video_frames)
    # The upload's id stands for its bytes: a new upload is a new id, and hashing a video on every rerun is slow.
    run_key = (upload.file_id, model.id, display)
    if st.button("Segment video", type="primary", icon=":material/play_arrow:", key="run_video"):
        with tempfile.TemporaryDirectory(prefix="segment-video-") as tmp:
            source = Path(tmp) / f"input{suffix}"
            source.write_bytes(upload.getvalue())
            _run(source, Path(tmp), run_key=run_key, model=model, display=display, settings=settings)
    _show_last_result(run_key, upload.name)


def _describe(name: str, info: VideoInfo, max_frames: int) -> None:
    note = f" Only the first {max_frames} will be segmented." if info.frame_count > max_frames else ""
    st.caption(
        f"**{name}**: {info.width}×{info.height} px · {info.fps:.1f} fps · "
        f"{info.frame_count} frames ({info.duration_s:.1f} s).{note}"
    )


def _run(source: Path, work_dir: Path, *, run_key: tuple, model: ModelInfo, display: Display,
         settings: UISettings) -> None:
    bar = st.progress(0.0, text="Starting the stream…")

    def report(p: Progress) -> None:
        bar.progress(min(1.0, p.done / max(p.total, 1)), text=f"Frame {p.done} of {p.total} · {p.fps:.1f} frames/s")

    client = state.get_client(settings.grpc.target, settings.grpc.timeout_seconds)
    try:
        video = segment_video(
            client, source, work_dir, model=model.id, palette=model.palette, display=display,
            max_frames=settings.max_video_frames, on_progress=report,
        )
    except ServiceError as exc:
        bar.empty()
        show_service_error("Segmenting the video", exc, settings)
        return
    except VideoError as exc:
        bar.empty()
        st.error(f"**Segmenting the video failed.** {exc}", icon=":material/error:")
        return
    state.count_server_call()  # one SegmentStream call
    bar.progress(1.0, text=f"Done: {video.summary.frames} frames at {video.summary.processing_fps:.1f} frames/s")
    st.session_state[RESULT] = (run_key, video)


def _show_last_result(run_key: tuple, name: str) -> None:
    stored = st.session_state.get(RESULT)
    if stored is None:
        return
    key, video = stored
    if key != run_key:
        st.caption("The result below was made with other settings or another file; run again to update it.")
    _show_video(video, Path(name).stem)


def _show_video(video: SegmentedVideo, stem: str) -> None:
    s = video.summary
    with st.container(border=True):
        st.markdown("#### Segmented video")
        player, facts = st.columns([3, 2], gap="large")
        player.video(video.data, format=video.mime, loop=True)
        with facts:
            _summary(s)
            st.download_button(
                "Download segmented video", video.data, file_name=f"{stem}_segmented{video.suffix}",
                mime=video.mime, on_click="ignore", icon=":material/download:", key="dl-video",
            )
        if s.failed:
            st.warning(
                f"{s.failed} of {s.frames} frames failed on the server and are shown unsegmented. "
                f"First error: {s.first_error}", icon=":material/warning:",
            )


def _summary(s: VideoSummary) -> None:
    top, bottom = st.columns(3), st.columns(3)
    top[0].metric("Frames", f"{s.frames}", help=f"{s.failed} failed; the source has {s.source_frames}.")
    top[1].metric("Source FPS", f"{s.source_fps:.1f}")
    top[2].metric("Processing FPS", f"{s.processing_fps:.1f}", help=f"{s.frames} frames in {s.wall_s:.1f} s.")
    latency = {name: format_ms(value) for name, value in s.latency_ms.items()}
    bottom[0].metric("Latency p50", latency["p50"], help="Server time per frame, queue included.")
    bottom[1].metric("Latency p95", latency["p95"])
    bottom[2].metric("Latency max", latency["max"])
    if s.class_share:
        shares = pd.DataFrame({"Class": list(s.class_share), "Share": [v * 100 for v in s.class_share.values()]})
        st.dataframe(shares, hide_index=True, width="stretch", column_config={
            "Share": st.column_config.ProgressColumn("Share of all pixels", format="%.1f%%", max_value=100),
        })
