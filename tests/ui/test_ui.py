"""The Streamlit page through `streamlit.testing.v1.AppTest`, against the real gRPC server.

The page reads its target from UI_GRPC_TARGET, as it does when started by `streamlit run`.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from segmentation_client import SegmentationClient
from tests.support import DEFAULT_MODEL, MODEL_REPOSITORY, REPO, SAMPLES, SELFIE, free_port, write_traffic_video

pytestmark = pytest.mark.server

APP = REPO / "streamlit_app" / "app.py"
SECOND_MODEL = "deeplabv3-mobilenetv2-dm05-pascal"
RUN_TIMEOUT = 120  # seconds; a shared 2-core machine can be slow, and nothing here asserts on time


def _app(target: str, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("UI_GRPC_TARGET", target)
    # Streamlit's caches live as long as the process: start each test from a cold cache.
    st.cache_data.clear()
    st.cache_resource.clear()
    return AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT)


@pytest.fixture
def app(grpc_address: str, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    return _app(grpc_address, monkeypatch).run()


def _assert_clean(at: AppTest) -> None:
    """No exception on the page and no error box."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _legends(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if 'class="seg-legend"' in m.value]


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_page_lists_models_with_the_server_default_first(app: AppTest) -> None:
    _assert_clean(app)
    model = app.selectbox(key="model")
    assert model.value == DEFAULT_MODEL
    assert set(model.options) == {DEFAULT_MODEL, SECOND_MODEL}
    assert any("Upload an image" in i.value for i in app.info)


def test_sample_shows_cat_and_redrawing_does_not_call_the_server(app: AppTest) -> None:
    app.pills(key="samples").set_value(["cat_720p.jpg"]).run()
    _assert_clean(app)
    assert len(_legends(app)) == 1 and ">cat <small>" in _legends(app)[0]
    assert app.session_state["server_calls"] == 1
    timings, overlay_url = _metrics(app), app.image[1].value
    assert set(timings) == {"Server time", "Inference", "Round trip"}
    assert [i.captions for i in app.image] == [["Original"], ["Overlay at 60% opacity"]]

    app.slider(key="opacity").set_value(0.9).run()
    _assert_clean(app)
    assert app.image[1].captions == ["Overlay at 90% opacity"] and app.image[1].value != overlay_url
    app.toggle(key="outlines").set_value(False).run()
    app.segmented_control(key="view").set_value("Mask").run()
    _assert_clean(app)
    assert app.image[1].captions == ["Class mask"]
    assert app.session_state["server_calls"] == 1  # the cached result was redrawn, not fetched again
    assert _metrics(app) == timings  # same result, same timings

    app.selectbox(key="model").set_value(SECOND_MODEL).run()
    _assert_clean(app)
    assert app.session_state["server_calls"] == 2  # another model is another result
    assert SECOND_MODEL in " ".join(c.value for c in app.caption)


def test_uploaded_images_each_get_a_card_with_legend_and_downloads(app: AppTest) -> None:
    uploader = app.file_uploader(key="uploads")
    uploader.upload("grace_hopper.bmp", (SAMPLES / "grace_hopper.bmp").read_bytes(), "image/bmp")
    uploader.upload("cat_720p.jpg", (SAMPLES / "cat_720p.jpg").read_bytes(), "image/jpeg")
    app.run()
    _assert_clean(app)
    legends = _legends(app)
    assert len(legends) == 2
    assert ">person <small>" in legends[0] and ">cat <small>" in legends[1]
    labels = [b.label for b in app.get("download_button")]
    assert labels == ["Class-index PNG", "Coloured mask PNG", "Overlay PNG", "Transparent PNG"] * 2
    assert len(app.dataframe) == 2


def test_camera_photo_is_segmented(app: AppTest) -> None:
    app.toggle(key="camera_on").set_value(True).run()
    app.camera_input(key="camera").upload("photo.jpg", (SAMPLES / "cat_720p.jpg").read_bytes()).run()
    _assert_clean(app)
    assert any(">cat <small>" in legend for legend in _legends(app))
    assert any(m.value == "#### camera.jpg" for m in app.markdown)


def test_unreadable_upload_is_reported_plainly(app: AppTest) -> None:
    app.file_uploader(key="uploads").upload("broken.png", b"\x89PNG but not really", "image/png").run()
    assert not app.exception
    assert len(app.error) == 1 and "broken.png" in app.error[0].value and "cannot be shown" in app.error[0].value


@pytest.fixture(scope="module")
def server_with_missing_model(start_server, tmp_path_factory):
    """A server whose second model's folder lacks its weights file, so that model is listed as unavailable."""
    repository = tmp_path_factory.mktemp("repository")
    for model_id in (DEFAULT_MODEL, SECOND_MODEL):
        (repository / model_id).mkdir()
        for source in (MODEL_REPOSITORY / model_id).iterdir():
            if model_id == DEFAULT_MODEL or source.suffix != ".tflite":
                (repository / model_id / source.name).symlink_to(source)
    server = start_server("--models", f"{DEFAULT_MODEL},{SECOND_MODEL}", "--model-repository", str(repository))
    with SegmentationClient(server.address) as client:
        # The second model is marked unavailable once its load has failed; until then it is "loading".
        for _ in range(200):
            if "not found" in next(m for m in client.list_models() if m.id == SECOND_MODEL).unavailable_reason:
                break
            time.sleep(0.05)
    yield server
    server.stop()


def test_unavailable_model_is_listed_with_its_reason_but_not_selectable(
    server_with_missing_model, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _app(server_with_missing_model.address, monkeypatch).run()
    _assert_clean(at)
    assert at.selectbox(key="model").options == [DEFAULT_MODEL]
    unavailable = at.expander[0]
    assert unavailable.label == "Unavailable models (1)"
    text = " ".join(m.value for m in unavailable.markdown)
    assert SECOND_MODEL in text and "not found" in text and "make models" in text


def test_video_is_segmented_into_a_playable_result_with_summary(app: AppTest, tmp_path: Path) -> None:
    source = tmp_path / "traffic.mp4"
    count = write_traffic_video(source, repeats=2)
    app.file_uploader(key="video_upload").upload("traffic.mp4", source.read_bytes(), "video/mp4").run()
    _assert_clean(app)
    assert any(f"{count} frames" in c.value for c in app.caption)

    app.button(key="run_video").click().run()
    _assert_clean(app)
    assert _metrics(app)["Frames"] == str(count)
    assert {"Source FPS", "Processing FPS", "Latency p50", "Latency p95"} <= set(_metrics(app))
    assert app.get("video"), "no video element on the page"
    _, result = app.session_state["video_result"]
    assert result.mime in ("video/webm", "video/mp4")
    written = tmp_path / f"result{result.suffix}"
    written.write_bytes(result.data)
    capture = cv2.VideoCapture(str(written))
    frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, first = capture.read()
    capture.release()
    assert frames == count and ok and first.shape == (256, 256, 3)
    assert any(b.key == "dl-video" for b in app.get("download_button"))
    assert "car" in result.summary.class_share


def test_unreadable_video_is_reported_plainly(app: AppTest) -> None:
    app.file_uploader(key="video_upload").upload("clip.mp4", b"not a video at all", "video/mp4").run()
    assert not app.exception
    assert len(app.error) == 1 and "clip.mp4" in app.error[0].value and "cannot be read" in app.error[0].value
    assert "run_video" not in [b.key for b in app.button]


def test_server_down_is_explained_and_page_recovers_when_it_comes_back(
    start_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    target = f"127.0.0.1:{port}"
    at = _app(target, monkeypatch).run()
    assert not at.exception
    assert len(at.error) == 1
    message = at.error[0].value
    assert f"Cannot reach the segmentation server at {target}. Is it running?" in message
    assert "make run" in message and "Traceback" not in message
    assert not at.selectbox  # nothing to pick without a server

    server = start_server("--port", str(port), "--models", DEFAULT_MODEL)
    try:
        at.button(key="retry").click().run()
        _assert_clean(at)
        assert at.selectbox(key="model").value == DEFAULT_MODEL
        at.pills(key="samples").set_value(["cat_720p.jpg"]).run()
        _assert_clean(at)
        assert any(">cat <small>" in legend for legend in _legends(at))
    finally:
        server.stop()

    # The server goes away again: a new image's request fails plainly, the rest of the page stays.
    at.pills(key="samples").set_value(["cat_720p.jpg", "grace_hopper.bmp"]).run()
    assert not at.exception
    assert any("Cannot reach the segmentation server" in e.value for e in at.error)
    assert any(">cat <small>" in legend for legend in _legends(at))  # the cached result is still shown


def test_two_class_model_blurs_the_background(selfie_server, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(selfie_server.address, monkeypatch).run()
    at.selectbox(key="model").set_value(SELFIE).run()
    at.file_uploader(key="uploads").upload(
        "grace_hopper.bmp", (SAMPLES / "grace_hopper.bmp").read_bytes(), "image/bmp").run()
    _assert_clean(at)
    (legend,) = _legends(at)
    assert ">person <small>" in legend and ">background <small>" in legend
    assert "2 classes · input 256×256 · litert on cpu" in " ".join(c.value for c in at.caption)
    at.segmented_control(key="view").set_value("Blur background").run()
    _assert_clean(at)
    assert at.image[1].captions == ["Background blurred"]
    assert at.slider(key="opacity").disabled
    assert at.session_state["server_calls"] == 1


def test_remove_background_shows_the_cutout_and_offers_a_transparent_png(selfie_server, monkeypatch) -> None:
    at = _app(selfie_server.address, monkeypatch).run()
    at.selectbox(key="model").set_value(SELFIE).run()
    at.file_uploader(key="uploads").upload(
        "grace_hopper.bmp", (SAMPLES / "grace_hopper.bmp").read_bytes(), "image/bmp").run()
    _assert_clean(at)
    blurred = None
    for view, caption in (("Blur background", "Background blurred"), ("Remove background", "Background removed")):
        at.segmented_control(key="view").set_value(view).run()
        _assert_clean(at)
        assert at.image[1].captions == [caption]
        blurred = blurred or at.image[1].value
    assert at.image[1].value != blurred
    downloads = {b.label: b for b in at.get("download_button")}
    assert "Transparent PNG" in downloads
    assert "soft-edged" in downloads["Transparent PNG"].help  # the selfie model gives a soft mask
    assert at.session_state["server_calls"] == 1  # one call brought mask and soft mask; views redraw them
