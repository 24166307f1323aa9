"""The page: `streamlit run streamlit_app/app.py`. Settings come from UI_* environment variables."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

# `streamlit run` puts this file's folder on sys.path, not the repository root;
# add the root so the package imports from a plain checkout too.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import streamlit as st

from segmentation_client import ModelInfo, ServiceError
from streamlit_app import sidebar, state
from streamlit_app.config import UISettings
from streamlit_app.errors import show_service_error
from streamlit_app.image_view import gather_inputs, show_result
from streamlit_app.live_view import show_live_tab
from streamlit_app.style import CSS
from streamlit_app.video_view import show_video_tab


def main() -> None:
    settings = UISettings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    st.set_page_config(page_title="Semantic segmentation", page_icon=":material/layers:", layout="wide")
    # The page is for people judging a model: a bug shows its type, never a stack trace.
    st.set_option("client.showErrorDetails", "type")
    st.html(CSS)
    st.title("Semantic segmentation", anchor=False)
    st.caption(f"See what a model labels in your images and videos, served over gRPC by `{settings.grpc.target}`.")
    models = _models_or_stop(settings)
    with st.sidebar:
        st.header("Segmentation", anchor=False, divider="gray")
        model = sidebar.pick_model(models, settings)
        display = sidebar.display_options()
    if model is None:
        st.warning(f"The server at {settings.grpc.target} has no model ready to run; see the sidebar.")
        st.stop()
    images_tab, video_tab, live_tab = st.tabs(
        [":material/image: Images", ":material/movie: Video", ":material/videocam: Live"]
    )
    with images_tab:
        images = gather_inputs(settings)
        if not images:
            st.info("Upload an image, pick a sample or take a photo to segment it.", icon=":material/touch_app:")
        for item in images:
            show_result(item, model, display, settings)
    with video_tab:
        show_video_tab(model, display, settings)
    with live_tab:
        show_live_tab(model, models, display, settings)
    with st.sidebar:
        sidebar.footer()


def _models_or_stop(settings: UISettings) -> list[ModelInfo]:
    """The server's models; without a server the page explains what to check and stops here."""
    try:
        return state.list_models(settings.grpc.target, settings.grpc.timeout_seconds)
    except ServiceError as exc:
        show_service_error("Loading the model list", exc, settings)
        st.button("Try again", icon=":material/refresh:", key="retry")
        _rerun_when_server_is_back(settings)
        st.stop()


@st.fragment(run_every=3)
def _rerun_when_server_is_back(settings: UISettings) -> None:
    """Poll the server's health while it is down, and reload the page once it serves."""
    try:
        status = state.get_client(settings.grpc.target, settings.grpc.timeout_seconds).health(timeout=2)
    except ServiceError:
        return
    if status == "SERVING":  # the server says SERVING once its default model is ready
        st.rerun()


main()
