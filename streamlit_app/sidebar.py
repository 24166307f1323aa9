"""The sidebar: server status, model picker, display options."""

from __future__ import annotations

import streamlit as st

from segmentation_client import ModelInfo
from streamlit_app import state
from streamlit_app.config import UISettings
from streamlit_app.imaging import BLUR, CUTOUT, MASK, OVERLAY, Display
from streamlit_app.summaries import describe_model


def pick_model(models: list[ModelInfo], settings: UISettings) -> ModelInfo | None:
    """The model selectbox: only available models can be picked; the rest are listed with their reason."""
    st.badge(f"Connected to {settings.grpc.target}", icon=":material/check_circle:", color="green")
    available = [m for m in models if m.available]
    unavailable = [m for m in models if not m.available]
    chosen = None
    if available:
        default = next((i for i, m in enumerate(available) if m.is_default), 0)
        by_id = {m.id: m for m in available}
        chosen_id = st.selectbox(
            "Model", list(by_id), index=default, key="model",
            help="Models the server can run now; the server's default is picked first.",
        )
        chosen = by_id[chosen_id]
        default_note = " · server default" if chosen.is_default else ""
        summary = describe_model(chosen.labels, chosen.input_size, chosen.runtime, chosen.device)
        st.caption(f"{chosen.description}  \n{summary}{default_note}")
    else:
        st.warning("The server has no model ready to run.")
    if unavailable:
        _list_unavailable(unavailable)
    return chosen


def _list_unavailable(models: list[ModelInfo]) -> None:
    # A selectbox cannot grey out single options, so unavailable models are listed apart, with the reason.
    with st.expander(f"Unavailable models ({len(models)})", icon=":material/block:"):
        for m in models:
            st.markdown(f":gray[~~{m.id}~~]  \n:small[{m.unavailable_reason or 'no reason given'}]")


def display_options() -> Display:
    st.subheader("Display", divider="gray")
    view = st.segmented_control(
        "Result", [OVERLAY, MASK, BLUR, CUTOUT], default=OVERLAY, required=True, key="view",
        help="Overlay: class colours blended over the photo. Mask: the class colours alone. "
             "Blur background: everything but the background class sharp, as in a video call (try a selfie model). "
             "Remove background: the photo with its background transparent, to download as a PNG; soft-edged "
             "with a model that gives a soft mask.",
    )
    opacity = st.slider(
        "Overlay opacity", 0.0, 1.0, 0.6, 0.05, key="opacity", disabled=view != OVERLAY,
        help="Redraws from the cached mask: moving it does not call the server again.",
    )
    outlines = st.toggle("Outline classes", value=True, key="outlines", help="White lines along class boundaries.")
    return Display(view or OVERLAY, opacity, outlines)


def footer() -> None:
    st.divider()
    st.caption(
        f"Server calls this session: **{state.server_calls()}**  \n"
        "Results are cached per image and model, so changing the display redraws without a new call."
    )
