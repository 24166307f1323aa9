"""The UI's Remove background view and its transparent PNG, against the real server's selfie model."""

from __future__ import annotations

import pytest

from tests.conftest import SAMPLES, SELFIE
from tests.test_ui import _app, _assert_clean

pytestmark = pytest.mark.server


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
