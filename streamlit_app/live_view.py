"""The Live tab: the browser's camera over WebRTC, each frame segmented over one SegmentStream, masks drawn live."""

from __future__ import annotations

import streamlit as st
from streamlit_webrtc import WebRtcMode, webrtc_streamer
from streamlit_webrtc.session_info import get_this_session_info

from segmentation_client import ModelInfo, SegmentationClient
from streamlit_app.config import UISettings
from streamlit_app.imaging import Display
from streamlit_app.live import Controls, LiveNumbers, LiveSegmenter
from streamlit_app.messages import explain
from streamlit_app.summaries import legend_entries, legend_html

SEGMENTER = "live_segmenter"  # session_state key: this session's LiveSegmenter while the camera runs


def open_client(settings: UISettings) -> SegmentationClient:
    """The Live tab's client: a channel of its own per stream, so that reconnecting after the server
    went away never waits out the backoff of the page's shared channel."""
    return settings.grpc.connect()


def show_live_tab(model: ModelInfo, models: list[ModelInfo], display: Display, settings: UISettings) -> None:
    st.caption(
        "Your camera, segmented as you move: frames go to this page's server over WebRTC, then to the "
        "segmentation server over one gRPC stream that skips frames it cannot keep up with. "
        "The model and display options in the sidebar apply at once, without stopping the camera."
    )
    max_fps = st.slider(
        "Frame-rate cap", 0, 30, 0, key="live_max_fps",
        help="Most frames a second sent to the server; 0 sends as many as it can take. The camera itself "
             "keeps its own rate: frames above the cap are shown with the newest mask.",
    )
    if not _browser_session():
        st.info("The live camera needs the page open in a browser (`streamlit run`).", icon=":material/videocam_off:")
        return
    controls = Controls(model.id, display, float(max_fps), palettes={m.id: m.palette for m in models},
                        soft_masks=frozenset(m.id for m in models if m.soft_mask))
    segmenter = _segmenter(settings, controls)
    ctx = webrtc_streamer(
        key="live",
        mode=WebRtcMode.SENDRECV,
        # Empty by default: on loopback and a LAN the browser and this server reach each other directly,
        # and no frame or address is sent to a third party's STUN server.
        rtc_configuration={"iceServers": settings.ice_servers},
        media_stream_constraints={"video": True, "audio": False},
        video_frame_callback=segmenter.on_frame,
        async_processing=True,
        translations={"start": "Start camera", "stop": "Stop camera"},
    )
    if ctx.state.playing:
        _live_numbers(settings)
    else:
        _close_segmenter()
        st.info("Press **Start camera** and allow the browser to use it.", icon=":material/videocam:")


def _browser_session() -> bool:
    """Whether this run serves a real browser session: streamlit-webrtc needs one (Streamlit's AppTest has none)."""
    try:
        return get_this_session_info() is not None
    except AttributeError:  # AppTest's stand-in runtime has no session manager
        return False


def _segmenter(settings: UISettings, controls: Controls) -> LiveSegmenter:
    segmenter = st.session_state.get(SEGMENTER)
    if segmenter is None or segmenter.closed:
        segmenter = st.session_state[SEGMENTER] = LiveSegmenter(lambda: open_client(settings), controls)
    segmenter.configure(controls)
    return segmenter


def _close_segmenter() -> None:
    segmenter = st.session_state.pop(SEGMENTER, None)
    if segmenter is not None:
        segmenter.close()


@st.fragment(run_every=1.0)
def _live_numbers(settings: UISettings) -> None:
    """The numbers and legend, redrawn every second while the camera runs (the picture itself is WebRTC's)."""
    segmenter: LiveSegmenter | None = st.session_state.get(SEGMENTER)
    if segmenter is None:
        return
    numbers = segmenter.numbers()
    if numbers.error is not None:
        st.error(
            f"**No masks right now.** {explain(numbers.error, settings.grpc.target, settings.grpc.timeout_seconds)} "
            "The camera keeps running; the masks come back by themselves once the server answers.",
            icon=":material/error:",
        )
        st.caption(f"Details from gRPC ({numbers.error.code.name}): {numbers.error.message}")
    _show_numbers(numbers, segmenter)


def _show_numbers(numbers: LiveNumbers, segmenter: LiveSegmenter) -> None:
    results, rate, latency, dropped, skipped = st.columns(5)
    results.metric("Results", numbers.processed, help="Frames the server answered with a mask, this camera session.")
    rate.metric("Results per second", f"{numbers.results_per_s:.1f}")
    latency.metric("Latency", f"{numbers.latency_ms:.0f} ms" if numbers.latency_ms else "–",
                   help="From the frame reaching this page's server to its mask coming back.")
    dropped.metric("Dropped by the server", numbers.dropped_by_server,
                   help="Frames the server skipped to stay on the newest one (LATEST policy).")
    skipped.metric("Skipped locally", numbers.skipped_locally,
                   help="Frames never sent: a newer one replaced them while the server was busy, or no server.")
    result = numbers.result
    if result is None:
        st.caption("Classes in view: none yet")
        return
    palette = segmenter.palette(result.model)
    entries = legend_entries(result, palette) if palette is not None else []
    st.caption(f"Classes in view ({result.model})")
    st.markdown(legend_html(entries), unsafe_allow_html=True)
