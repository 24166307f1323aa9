"""What the page says about a result: legend, class table, timings. Plain data, no Streamlit."""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np
import pandas as pd

from segmentation_client import SegmentResult, Timings


@dataclass(frozen=True)
class LegendEntry:
    """A class present in a result, with the colour it is drawn in."""

    class_id: int
    label: str
    color: str  # "#rrggbb"
    fraction: float
    pixel_count: int


def hex_color(palette: np.ndarray, class_id: int) -> str:
    """The class's colour as "#rrggbb"; ids beyond the palette draw black, as visualize.colorize does."""
    if class_id >= len(palette):
        return "#000000"
    r, g, b = (int(v) for v in palette[class_id])
    return f"#{r:02x}{g:02x}{b:02x}"


def legend_entries(result: SegmentResult, palette: np.ndarray) -> list[LegendEntry]:
    """The classes present, largest area first (the server's order)."""
    return [
        LegendEntry(c.class_id, c.label, hex_color(palette, c.class_id), c.fraction, c.pixel_count)
        for c in result.classes
    ]


def legend_html(entries: list[LegendEntry]) -> str:
    """Colour chips with the label as text, so the legend reads (and searches) without the picture."""
    chips = "".join(
        f'<span class="seg-chip"><span class="seg-swatch" style="background:{e.color}"></span>'
        f"{html.escape(e.label)} <small>{e.fraction:.1%}</small></span>"
        for e in entries
    )
    return f'<div class="seg-legend">{chips}</div>'


def class_table(entries: list[LegendEntry]) -> pd.DataFrame:
    """One row a class: label, id, share of the pixels (percent) and pixel count."""
    return pd.DataFrame(
        {
            "Class": [e.label for e in entries],
            "ID": [e.class_id for e in entries],
            "Share": [round(e.fraction * 100, 2) for e in entries],
            "Pixels": [e.pixel_count for e in entries],
            "Colour": [e.color for e in entries],
        }
    )


def timing_rows(timings: Timings) -> pd.DataFrame:
    """The server's stages in pipeline order, in milliseconds."""
    stages = {
        "queue": timings.queue_ms, "decode": timings.decode_ms, "preprocess": timings.preprocess_ms,
        "inference": timings.inference_ms, "postprocess": timings.postprocess_ms, "encode": timings.encode_ms,
    }
    return pd.DataFrame({"Stage": list(stages), "ms": [round(v, 1) for v in stages.values()]})


def describe_model(labels: list[str], input_size: tuple[int, int], runtime: str, device: str) -> str:
    """A one-line summary of a model for the sidebar."""
    width, height = input_size
    return f"{len(labels)} classes · input {width}×{height} · {runtime} on {device or 'an unknown device'}"


def format_ms(ms: float) -> str:
    """A duration short enough for a metric tile: "850 ms", "1.36 s"."""
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"
