"""The Live tab in a real headless Chromium with a fake camera, against the real server, in a private network.

tests/support/live_driver.py runs the whole session inside `unshare --net --pid`: a namespace of its own whose only
links are loopback and a veth pair, so WebRTC has non-loopback addresses to use and no packet can leave;
the PID namespace ends every process of the session with it. These tests assert on what it recorded.
Needs root (for the namespaces), chromium and chromium-driver. SAVE_SCREENSHOT=1 also writes docs/live.png.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.support import CHROMEDRIVER, CHROMIUM, REPO, SELFIE_LANDSCAPE

NAMESPACES = ["unshare", "--net", "--pid", "--fork", "--kill-child"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="chromium and chromium-driver are not installed"),
]


def _namespaces_work() -> bool:
    try:
        return subprocess.run([*NAMESPACES, "true"], check=False, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> dict:
    """One live session, start to end; the results the driver wrote."""
    if not _namespaces_work():
        pytest.skip("cannot create network namespaces here (needs root and unshare)")
    out = tmp_path_factory.mktemp("live")
    proc = subprocess.run([*NAMESPACES, sys.executable, "-m", "tests.support.live_driver", str(out)], cwd=REPO,
                          check=False, capture_output=True, text=True, timeout=480)
    results_file = out / "results.json"
    assert results_file.exists(), f"the driver wrote no results (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    results = json.loads(results_file.read_text())
    results["out"] = out
    if os.environ.get("SAVE_SCREENSHOT") == "1" and (out / "live.png").exists():
        shutil.copyfile(out / "live.png", REPO / "docs" / "live.png")
    return results


def _get(live: dict, key: str):
    """A recorded value; a missing one means an earlier step failed, and the driver said which."""
    assert key in live, f"no {key!r}: {live.get('error', 'the session ended early')} (logs in {live['out']})"
    return live[key]


def test_traffic_stays_in_the_private_network(live: dict) -> None:
    # Only the veth pair's subnet is routable: no default route, so nothing can reach another address.
    routes = _get(live, "routes")
    assert routes and all(route.startswith("10.203.0.0/30 ") for route in routes), routes


def test_live_camera_is_segmented_with_person_in_the_legend(live: dict) -> None:
    assert _get(live, "server_frames_answered") >= 30  # the server's own metrics
    assert int(_get(live, "page_numbers")["Results"]) >= 30  # the page's counter
    assert "person" in _get(live, "legend").split()
    assert _get(live, "picture_runs")
    assert (live["out"] / "live.png").stat().st_size > 50_000


def test_switching_model_and_view_keeps_the_stream_running(live: dict) -> None:
    after_switch = _get(live, "after_model_switch")
    views = _get(live, "views")
    # Each step waited for more results than the one before it: the stream went on through every change.
    assert list(views) == ["Blur background", "Mask", "Overlay"]
    assert after_switch < views["Blur background"] < views["Mask"] < views["Overlay"]
    assert _get(live, "picture_runs_after_switches")
    assert SELFIE_LANDSCAPE in _get(live, "legend_caption_after_switch")  # the masks come from the new model


def test_server_restart_is_reported_then_masks_return(live: dict) -> None:
    assert "No masks right now" in _get(live, "outage_text")
    assert _get(live, "outage_noticed_s") < 10
    assert _get(live, "picture_runs_during_outage")  # the camera picture keeps running without masks
    assert _get(live, "after_restart") > _get(live, "views")["Overlay"]
    assert "person" in _get(live, "legend_after_restart").split()
    assert _get(live, "server2_frames_answered") > 0  # the new server answered the same page
