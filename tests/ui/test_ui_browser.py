"""The Streamlit page in a real headless Chromium: `streamlit run` as a child process, driven by Selenium.

Skipped only when chromium or chromedriver is not installed
(`apt-get install -y chromium chromium-driver`); CI installs them.
SAVE_SCREENSHOT=1 also writes the screenshot to docs/screenshot.png for the README.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import (
    CHROMEDRIVER,
    CHROMIUM,
    DEFAULT_MODEL,
    REPO,
    SAMPLES,
    chromium,
    free_port,
    upload_image,
    wait_for_result,
    write_traffic_video,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="chromium and chromium-driver are not installed"),
]


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.read() == b"ok":
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"streamlit did not become healthy:\n{log.read_text()}")


@pytest.fixture
def start_streamlit(tmp_path: Path) -> Iterator:
    """Factory: start_streamlit(grpc_target) -> the URL of `streamlit run streamlit_app/app.py` on a free port."""
    procs: list[subprocess.Popen] = []

    def start(target: str) -> str:
        port, log = free_port(), tmp_path / f"streamlit-{len(procs)}.log"
        with log.open("w") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "streamlit", "run", "streamlit_app/app.py", "--server.headless", "true",
                 "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
                 "--server.fileWatcherType", "none", "--client.toolbarMode", "minimal"],
                cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "UI_GRPC_TARGET": target},
            )
        procs.append(proc)
        _wait_healthy(f"http://127.0.0.1:{port}/_stcore/health", proc, log)
        return f"http://127.0.0.1:{port}/"

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def streamlit_url(start_streamlit, grpc_address: str) -> str:
    return start_streamlit(grpc_address)


@pytest.fixture
def browser(tmp_path: Path):
    pytest.importorskip("selenium.webdriver")
    with chromium(tmp_path / "chromium-profile") as driver:
        yield driver


def _fit_window_to_page(driver) -> None:
    """Resize the window to the page's content, so the screenshot holds the whole result and no blank space."""
    bottom = driver.execute_script(
        "return document.querySelector('[data-testid=\"stMainBlockContainer\"]').getBoundingClientRect().bottom"
    )
    chrome = driver.execute_script("return window.outerHeight - window.innerHeight")
    driver.set_window_size(1500, int(bottom) + chrome + 8)
    time.sleep(0.5)


def test_upload_cat_in_browser_shows_cat_legend(streamlit_url: str, browser, tmp_path: Path) -> None:
    browser.get(streamlit_url)
    upload_image(browser, SAMPLES / "cat_720p.jpg")
    legend = wait_for_result(browser)
    assert "cat" in legend.split()
    assert "Traceback" not in browser.find_element("tag name", "body").text

    _fit_window_to_page(browser)
    shot = tmp_path / "screenshot.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    if os.environ.get("SAVE_SCREENSHOT") == "1":
        (REPO / "docs").mkdir(exist_ok=True)
        shutil.copyfile(shot, REPO / "docs" / "screenshot.png")


def click(wait, css: str, text: str) -> None:
    """Click the element matching `css` whose text holds `text`, finding it again if Streamlit redrew the page
    between finding and clicking (the Live tab's component redraws it often)."""
    from selenium.common.exceptions import StaleElementReferenceException

    def clicked(driver) -> bool:
        try:
            element = next((e for e in driver.find_elements("css selector", css) if text in e.text), None)
            if element is None:
                return False
            element.click()
            return True
        except StaleElementReferenceException:
            return False

    wait.until(clicked)


def test_segmented_video_plays_in_browser(streamlit_url: str, browser, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    source = tmp_path / "traffic.mp4"
    count = write_traffic_video(source, repeats=2)
    wait = WebDriverWait(browser, 120)
    browser.get(streamlit_url)
    click(wait, "[role='tab']", "Video")
    inputs = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "input[type='file']")[1:])
    inputs[0].send_keys(str(source))
    click(wait, "button", "Segment video")

    # The browser must be able to decode what the page made: metadata read, frames of the right size.
    wait.until(lambda d: d.execute_script(
        "const v = document.querySelector('video'); return v && v.readyState >= 2 && v.videoWidth === 256;"
    ))
    duration = browser.execute_script("return document.querySelector('video').duration")
    assert duration > 0
    assert f"{count}" in browser.find_element(By.CSS_SELECTOR, "[data-testid='stMetricValue']").text
    browser.save_screenshot(str(tmp_path / "video.png"))


def test_page_recovers_by_itself_when_the_server_starts(start_streamlit, start_server, browser) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    port = free_port()
    browser.get(start_streamlit(f"127.0.0.1:{port}"))
    wait = WebDriverWait(browser, 120)
    wait.until(lambda d: "Cannot reach the segmentation server" in d.page_source)
    assert "Traceback" not in browser.page_source

    server = start_server("--port", str(port), "--models", DEFAULT_MODEL)
    try:
        # Nobody clicks anything: the page polls the server's health and reloads itself.
        wait.until(lambda d: "Connected to" in d.page_source and "Cannot reach" not in d.page_source)
    finally:
        server.stop()
