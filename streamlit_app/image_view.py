"""The Images tab: inputs (upload, camera, samples) and one result card per image."""

from __future__ import annotations

import functools
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from segmentation_client import ModelInfo, SegmentResult, ServiceError
from streamlit_app import state
from streamlit_app.config import UISettings
from streamlit_app.errors import show_service_error
from streamlit_app.imaging import (
    BLUR,
    CUTOUT,
    IMAGE_TYPES,
    MASK,
    OVERLAY,
    Display,
    InputImage,
    UnreadableImage,
    coloured_mask_png,
    cutout,
    cutout_png,
    list_samples,
    png_bytes,
    render,
    render_png,
)
from streamlit_app.summaries import class_table, legend_entries, legend_html, timing_rows


def gather_inputs(settings: UISettings) -> list[InputImage]:
    """The images picked on this run: uploads, then samples, then a camera photo; each file once."""
    left, right = st.columns([3, 2], gap="large")
    with left:
        uploads = st.file_uploader(
            "Upload images", type=list(IMAGE_TYPES), accept_multiple_files=True, key="uploads",
            help="JPEG, PNG, BMP or WebP. Each image is segmented and shown next to its original.",
        )
    with right:
        samples = _pick_samples(settings)
        photo = st.camera_input("Camera photo", key="camera") if st.toggle("Take a photo", key="camera_on") else None
    images = [InputImage(f.name, f.getvalue()) for f in uploads or []]
    images += [InputImage(path.name, path.read_bytes()) for path in samples]
    if photo is not None:
        images.append(InputImage("camera.jpg", photo.getvalue()))
    # The same file picked twice would give two cards with clashing widget keys.
    unique: dict[str, InputImage] = {}
    for image in images:
        unique.setdefault(image.digest, image)
    return list(unique.values())


def _pick_samples(settings: UISettings) -> list[Path]:
    paths = {path.name: path for path in list_samples(settings.samples_dir)}
    if not paths:
        return []
    picked = st.pills(
        "Or try a sample", list(paths), selection_mode="multi", key="samples", wrap=True,
        format_func=lambda name: Path(name).stem.replace("_", " "),
    )
    return [paths[name] for name in picked or []]


def show_result(item: InputImage, model: ModelInfo, display: Display, settings: UISettings) -> None:
    """One card: original and result side by side with a legend, class table and chart, timings, downloads."""
    with st.container(border=True):
        try:
            rgb = state.decode(item.digest, item.data)
        except UnreadableImage as exc:
            st.error(f"**{item.name}** cannot be shown: {exc}.", icon=":material/broken_image:")
            return
        try:
            with st.spinner(f"Segmenting {item.name} with {model.id}…"):
                seg = state.segment(settings.grpc.target, settings.grpc.timeout_seconds, model.id, item.digest,
                                    item.data, alpha=model.soft_mask)
        except ServiceError as exc:
            show_service_error(f"Segmenting {item.name}", exc, settings)
            return
        result = seg.result
        st.markdown(f"#### {item.name}")
        st.caption(f"{rgb.shape[1]}×{rgb.shape[0]} px · {result.model} · {len(result.classes)} classes found")
        _pictures(rgb, result, model.palette, display)
        _classes(result, model.palette)
        _timings_and_downloads(item, rgb, seg, model.palette, display)


def _pictures(rgb: np.ndarray, result: SegmentResult, palette: np.ndarray, display: Display) -> None:
    # The cut-out keeps its transparency on the page; `render` draws it on black, for video frames.
    if display.view == CUTOUT:
        picture = cutout(rgb, result.mask, result.alpha)
    else:
        picture = render(rgb, result.mask, palette, display, result.alpha)
    caption = {MASK: "Class mask", BLUR: "Background blurred", CUTOUT: "Background removed"}.get(
        display.view, f"Overlay at {display.opacity:.0%} opacity")
    left, right = st.columns(2)
    left.image(rgb, caption="Original", width="stretch")
    right.image(picture, caption=caption, width="stretch")
    st.markdown(legend_html(legend_entries(result, palette)), unsafe_allow_html=True)


def _classes(result: SegmentResult, palette: np.ndarray) -> None:
    table = class_table(legend_entries(result, palette))
    left, right = st.columns(2, gap="medium")
    left.dataframe(
        table.drop(columns="Colour"), hide_index=True, width="stretch",
        column_config={
            "Class": st.column_config.TextColumn("Class"),
            "ID": st.column_config.NumberColumn("ID", width="small"),
            "Share": st.column_config.ProgressColumn("Share of pixels", format="%.1f%%", min_value=0, max_value=100),
            "Pixels": st.column_config.NumberColumn("Pixels", format="localized"),
        },
    )
    # An explicit height: with "content" the chart is squeezed to its axes when it has few bars.
    right.altair_chart(_share_chart(table), width="stretch", height=60 + 32 * len(table))


def _share_chart(table: pd.DataFrame) -> alt.Chart:
    # Each bar in its class's own colour, so the chart reads like the legend.
    return (
        alt.Chart(table)
        .mark_bar(cornerRadiusEnd=3, stroke="#9e9e9e", strokeWidth=0.6)
        .encode(
            x=alt.X("Share:Q", title="% of pixels", scale=alt.Scale(domain=[0, 100])),
            y=alt.Y("Class:N", sort="-x", title=None),
            color=alt.Color("Colour:N", scale=None),
            tooltip=["Class", "ID", alt.Tooltip("Share:Q", format=".2f"), alt.Tooltip("Pixels:Q", format=",")],
        )
    )


def _timings_and_downloads(item: InputImage, rgb: np.ndarray, seg: state.Segmented, palette: np.ndarray,
                           display: Display) -> None:
    t = seg.result.timings
    with st.container(horizontal=True, vertical_alignment="bottom", gap="medium"):
        st.metric("Server time", f"{t.total_ms:.0f} ms", help="From receipt of the request to the response.",
                  width="content")
        st.metric("Inference", f"{t.inference_ms:.0f} ms", width="content")
        st.metric("Round trip", f"{seg.round_trip_ms:.0f} ms", help="As the UI measured it, network included.",
                  width="content")
        st.space("stretch")
        _downloads(item, rgb, seg.result, palette, display)
    stages = " · ".join(f"{row.Stage} {row.ms:.0f}" for row in timing_rows(t).itertuples())
    st.caption(f"Server stages (ms): {stages}")


def _downloads(item: InputImage, rgb: np.ndarray, result: SegmentResult, palette: np.ndarray,
               display: Display) -> None:
    # The files are made only when a button is clicked (callables), and a click does not rerun the page.
    overlay = Display(OVERLAY, display.opacity, display.outlines)
    files = (
        ("Class-index PNG", "classes", result.mask_png or functools.partial(png_bytes, result.mask),
         "8-bit PNG whose pixel values are class ids, as the server sent it."),
        ("Coloured mask PNG", "mask", functools.partial(coloured_mask_png, result.mask, palette),
         "The class colours alone."),
        ("Overlay PNG", "overlay", functools.partial(render_png, rgb, result.mask, palette, overlay),
         f"The class colours over the photo at {display.opacity:.0%} opacity."),
        ("Transparent PNG", "cutout", functools.partial(cutout_png, rgb, result.mask, result.alpha),
         "The photo with its background (class 0) transparent"
         + (", soft-edged by the model's soft mask." if result.alpha is not None else ".")),
    )
    for label, suffix, data, help_text in files:
        st.download_button(
            label, data, file_name=f"{item.stem}_{suffix}.png", mime="image/png", on_click="ignore",
            icon=":material/download:", key=f"dl-{suffix}-{item.digest}", help=help_text,
        )
