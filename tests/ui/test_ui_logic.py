"""The UI's plain functions: legend and tables, error wording, drawing, settings, and the video loop
(against the real gRPC server, as the page runs it)."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import grpc
import numpy as np
import pytest
from PIL import Image

from segmentation_client import (
    ClassArea,
    DeadlineExceeded,
    InvalidInput,
    ModelUnavailable,
    SegmentationClient,
    SegmentResult,
    ServiceError,
    Timings,
    Unavailable,
    View,
    colorize,
    draw_outlines,
)
from streamlit_app import imaging, messages, summaries, video
from streamlit_app.config import UISettings
from tests.support import DEFAULT_MODEL, SAMPLES, write_traffic_video

PALETTE = np.array([(0, 0, 0), (128, 0, 0), (0, 128, 0), (250, 250, 250)], np.uint8)


def _result(classes: list[ClassArea], mask: np.ndarray | None = None) -> SegmentResult:
    mask = np.zeros((4, 4), np.uint8) if mask is None else mask
    return SegmentResult("m", mask, classes, Timings(1, 2, 30, 4, 5, 45, 3))


# -- legend, tables ----------------------------------------------------------------------------------


def test_legend_entries_follow_server_order_with_palette_colours() -> None:
    result = _result([ClassArea(1, "cat", 0.7, 70), ClassArea(0, "background", 0.3, 30)])
    entries = summaries.legend_entries(result, PALETTE)
    assert [(e.label, e.color) for e in entries] == [("cat", "#800000"), ("background", "#000000")]


def test_hex_color_of_id_beyond_palette_is_black() -> None:
    assert summaries.hex_color(PALETTE, 200) == "#000000"


def test_legend_html_names_classes_as_text_and_escapes_them() -> None:
    html = summaries.legend_html([summaries.LegendEntry(3, "<b>cat</b>", "#fafafa", 0.4567, 10)])
    assert "&lt;b&gt;cat&lt;/b&gt;" in html and "<b>" not in html
    assert "background:#fafafa" in html and "45.7%" in html


def test_class_table_rows() -> None:
    entries = summaries.legend_entries(_result([ClassArea(2, "dog", 0.25, 4)]), PALETTE)
    table = summaries.class_table(entries)
    assert table.to_dict("records") == [{"Class": "dog", "ID": 2, "Share": 25.0, "Pixels": 4, "Colour": "#008000"}]


def test_timing_rows_in_pipeline_order() -> None:
    rows = summaries.timing_rows(Timings(1, 2, 30, 4, 5, 45, 3))
    assert list(rows.Stage) == ["queue", "decode", "preprocess", "inference", "postprocess", "encode"]
    assert list(rows.ms) == [3, 1, 2, 30, 4, 5]


# -- error wording -----------------------------------------------------------------------------------


def test_unreachable_server_message_says_where_and_what_to_do() -> None:
    exc = Unavailable("failed to connect to all addresses", grpc.StatusCode.UNAVAILABLE)
    text = messages.explain(exc, "127.0.0.1:50051", 30)
    assert text.startswith("Cannot reach the segmentation server at 127.0.0.1:50051. Is it running?")
    assert "make run" in text and messages.is_unreachable(exc)


def test_loading_model_and_shutdown_are_told_apart_by_reason() -> None:
    # The wording of the message does not matter; the reason does.
    exc = Unavailable("try again shortly", grpc.StatusCode.UNAVAILABLE, reason="MODEL_LOADING")
    assert "still loading" in messages.explain(exc, "h:1", 30)
    assert not messages.is_unreachable(exc)
    exc = Unavailable("model x is still loading", grpc.StatusCode.UNAVAILABLE, reason="SHUTTING_DOWN")
    assert "shutting down" in messages.explain(exc, "h:1", 30) and messages.is_unreachable(exc)


@pytest.mark.parametrize(("exc", "expected"), [
    (DeadlineExceeded("deadline", grpc.StatusCode.DEADLINE_EXCEEDED), "within 12 s"),
    (InvalidInput("not a JPEG, PNG, BMP or WebP image", grpc.StatusCode.INVALID_ARGUMENT), "not a JPEG"),
    (ModelUnavailable("weights missing", grpc.StatusCode.FAILED_PRECONDITION), "Pick another one"),
    (ServiceError("boom", grpc.StatusCode.INTERNAL), "(INTERNAL): boom"),
])
def test_other_errors_are_explained(exc: ServiceError, expected: str) -> None:
    assert expected in messages.explain(exc, "h:1", 12)


# -- pixels ------------------------------------------------------------------------------------------


def test_decode_rgb_turns_exif_rotated_jpeg_upright() -> None:
    img = Image.new("RGB", (40, 20), (200, 10, 10))
    exif = img.getexif()
    exif[0x0112] = 6  # rotated 90 degrees: shown 20 wide, 40 high
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    assert imaging.decode_rgb(buf.getvalue()).shape == (40, 20, 3)


def test_decode_rgb_refuses_what_is_not_an_image() -> None:
    with pytest.raises(imaging.UnreadableImage):
        imaging.decode_rgb(b"certainly not an image")


def test_render_mask_view_is_the_coloured_mask() -> None:
    mask = np.array([[0, 1], [2, 3]], np.uint8)
    image = np.full((2, 2, 3), 255, np.uint8)
    mask_view = imaging.Display(imaging.MASK, 0.5, outlines=False)
    assert np.array_equal(imaging.render(image, mask, PALETTE, mask_view), colorize(mask, PALETTE))


def test_render_overlay_keeps_background_and_blends_classes() -> None:
    mask = np.array([[0, 1]], np.uint8)
    image = np.full((1, 2, 3), 100, np.uint8)
    out = imaging.render(image, mask, PALETTE, imaging.Display(imaging.OVERLAY, 0.5, outlines=False))
    assert out[0, 0].tolist() == [100, 100, 100]
    assert out[0, 1].tolist() == [114, 50, 50]


def test_the_pages_views_are_the_client_librarys() -> None:
    assert imaging.Display(imaging.OVERLAY, 0.3, outlines=True).as_view() == View("overlay", 0.3, outlines=True)
    assert imaging.Display(imaging.MASK, 0.3, outlines=False).as_view() == View("mask", 0.3)
    assert imaging.Display(imaging.BLUR, 0.3, outlines=False).as_view() == View("original", 0.3, blur=True)


def test_outlines_follow_class_boundaries_only() -> None:
    mask = np.zeros((60, 60), np.uint8)
    mask[20:40, 20:40] = 1
    picture = draw_outlines(np.zeros((60, 60, 3), np.uint8), mask)
    white = np.all(picture == 255, axis=2)
    assert white[20, 30] and white[19, 30]  # on both sides of the edge
    assert not white[30, 30] and not white[5, 5]  # not inside a region


def test_png_bytes_round_trip() -> None:
    mask = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert np.array_equal(cv2.imdecode(np.frombuffer(imaging.png_bytes(mask), np.uint8), cv2.IMREAD_UNCHANGED), mask)
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[..., 0] = 255
    decoded = np.asarray(Image.open(io.BytesIO(imaging.png_bytes(rgb))))
    assert decoded[0, 0].tolist() == [255, 0, 0]


def test_list_samples_leaves_out_reference_masks(tmp_path: Path) -> None:
    for name in ("b.jpg", "a.bmp", "a_mask.bmp", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in imaging.list_samples(tmp_path)] == ["a.bmp", "b.jpg"]
    assert imaging.list_samples(tmp_path / "missing") == []


def test_input_image_digest_is_the_content_not_the_name() -> None:
    assert imaging.InputImage("a.jpg", b"x").digest == imaging.InputImage("b.jpg", b"x").digest


# -- settings ----------------------------------------------------------------------------------------


def test_settings_defaults_and_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("UI_GRPC_TARGET", "UI_SAMPLES_DIR", "UI_MAX_VIDEO_FRAMES"):
        monkeypatch.delenv(name, raising=False)
    default = UISettings()
    assert (default.grpc.target, default.samples_dir) == ("127.0.0.1:50051", SAMPLES)
    monkeypatch.setenv("UI_GRPC_TARGET", "10.0.0.5:6000")
    monkeypatch.setenv("UI_MAX_VIDEO_FRAMES", "12")
    monkeypatch.setenv("UI_SAMPLES_DIR", str(tmp_path / "none"))
    settings = UISettings()
    assert (settings.grpc.target, settings.max_video_frames, settings.samples_available) == ("10.0.0.5:6000", 12, False)


# -- video -------------------------------------------------------------------------------------------


def test_writer_codec_is_browser_playable(tmp_path: Path) -> None:
    writer, path, mime = video.open_writer(tmp_path / "out", 10.0, (64, 48))
    for i in range(3):
        writer.write(np.full((48, 64, 3), 60 * i, np.uint8))
    writer.release()
    assert mime in ("video/webm", "video/mp4") and path.suffix in (".webm", ".mp4")
    info = video.probe(path)
    assert (info.frame_count, info.width, info.height) == (3, 64, 48)


def test_probe_refuses_a_file_that_is_not_a_video(tmp_path: Path) -> None:
    bogus = tmp_path / "x.mp4"
    bogus.write_bytes(b"no video here")
    with pytest.raises(video.VideoError):
        video.probe(bogus)


@pytest.fixture(scope="module")
def palette(grpc_address: str) -> np.ndarray:
    with SegmentationClient(grpc_address) as client:
        return client.get_model(DEFAULT_MODEL).palette


def test_segment_video_writes_every_frame_and_summarises(grpc_address: str, palette, tmp_path: Path) -> None:
    source = tmp_path / "traffic.mp4"
    count = write_traffic_video(source)
    seen: list[int] = []
    with SegmentationClient(grpc_address) as client:
        out = video.segment_video(client, source, tmp_path, model=DEFAULT_MODEL, palette=palette,
                                  on_progress=lambda p: seen.append(p.done))
    assert seen == list(range(1, count + 1))
    s = out.summary
    assert (s.frames, s.failed, s.source_frames) == (count, 0, count)
    assert "car" in s.class_share and s.latency_ms["p50"] > 0 and s.processing_fps > 0
    written = tmp_path / f"written{out.suffix}"
    written.write_bytes(out.data)
    info = video.probe(written)
    assert (info.frame_count, info.width, info.height) == (count, 256, 256)


def test_segment_video_stops_at_max_frames(grpc_address: str, palette, tmp_path: Path) -> None:
    source = tmp_path / "traffic.mp4"
    write_traffic_video(source)
    with SegmentationClient(grpc_address) as client:
        out = video.segment_video(client, source, tmp_path, model=None, palette=palette, max_frames=2,
                                  display=imaging.Display(imaging.MASK))
    assert out.summary.frames == 2 and out.summary.source_frames == 6


def test_segment_video_counts_frames_the_server_refused(grpc_address: str, palette, tmp_path: Path) -> None:
    source = tmp_path / "traffic.mp4"
    count = write_traffic_video(source, repeats=1)
    with SegmentationClient(grpc_address) as client:
        out = video.segment_video(client, source, tmp_path, model="no-such-model", palette=palette)
    assert (out.summary.frames, out.summary.failed) == (count, count)
    assert "no-such-model" in out.summary.first_error
