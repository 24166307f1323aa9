"""The page's caches and session state: one client per target, results per (image, model).

Errors are never cached: Streamlit does not store a call that raised, so the next
rerun asks the server again and the page recovers by itself once the server is back.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from segmentation_client import ModelInfo, SegmentationClient, SegmentResult
from streamlit_app import imaging, video
from streamlit_app.config import UISettings

log = logging.getLogger(__name__)

SERVER_CALLS = "server_calls"  # session_state key: Segment calls made for this session


@dataclass(frozen=True)
class Segmented:
    """A result and the round trip it took, as seen from the UI."""

    result: SegmentResult
    round_trip_ms: float


@st.cache_resource(show_spinner=False, on_release=SegmentationClient.close)
def get_client(target: str, deadline_s: float) -> SegmentationClient:
    # One channel per target for every session: channels are thread-safe and costly to open.
    # Credentials come from the environment, like every other setting of the UI.
    return UISettings().grpc.model_copy(update={"target": target}).connect(timeout=deadline_s)


def forget_client(target: str, deadline_s: float) -> None:
    """Drop the cached channel, so the next call connects afresh instead of waiting out gRPC's backoff."""
    get_client.clear(target, deadline_s)


@st.cache_data(ttl=15, show_spinner=False)
def list_models(target: str, deadline_s: float) -> list[ModelInfo]:
    # A short TTL: a restarted server may bring other models, and listing is cheap.
    return get_client(target, deadline_s).list_models()


@st.cache_data(max_entries=64, show_spinner=False)
def segment(target: str, deadline_s: float, model: str, digest: str, _data: bytes, alpha: bool = False) -> Segmented:
    """Segment image bytes; `digest` stands for `_data` in the cache key, so the bytes are not hashed twice.

    `alpha`: ask for the soft mask too (models that give one)."""
    started = time.perf_counter()
    result = get_client(target, deadline_s).segment(_data, model=model, alpha=alpha)
    round_trip_ms = (time.perf_counter() - started) * 1000
    # Runs on cache misses only, so this counts real server calls (tests read it).
    count_server_call()
    log.info("segmented %s with %s in %.0f ms", digest[:12], model, round_trip_ms)
    return Segmented(result, round_trip_ms)


@st.cache_data(max_entries=16, show_spinner=False)
def decode(digest: str, _data: bytes) -> np.ndarray:
    return imaging.decode_rgb(_data)


@st.cache_data(max_entries=8, show_spinner=False)
def probe_video(file_id: str, suffix: str, _data: bytes) -> video.VideoInfo:
    """A video's frame count, FPS and size, read once per upload (OpenCV needs a file to read from)."""
    with tempfile.TemporaryDirectory(prefix="probe-video-") as tmp:
        path = Path(tmp) / f"input{suffix}"
        path.write_bytes(_data)
        return video.probe(path)


def count_server_call(n: int = 1) -> None:
    st.session_state[SERVER_CALLS] = st.session_state.get(SERVER_CALLS, 0) + n


def server_calls() -> int:
    return st.session_state.get(SERVER_CALLS, 0)
