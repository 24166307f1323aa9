"""Selenium steps on the Live tab, run by tests/support/live_driver.py inside its network namespace."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By

from tests.support import SELFIE_LANDSCAPE, ServerProcess

_METRICS_JS = """
return Object.fromEntries([...document.querySelectorAll('[data-testid="stMetric"]')].map(m => [
  m.querySelector('[data-testid="stMetricLabel"]').innerText.trim(),
  m.querySelector('[data-testid="stMetricValue"]').innerText.trim()]));
"""
_VIDEO_JS = "const v = document.querySelector('video'); return v ? [v.currentTime, v.readyState, v.videoWidth] : null;"
OUTAGE = "No masks right now"
_OK_FRAMES = re.compile(r'^segmentation_requests_total\{(?=[^}]*method="SegmentStream")(?=[^}]*code="OK")[^}]*\} (\S+)$',
                        re.MULTILINE)


class LivePage:
    """The page in the browser: opens the Live tab, starts the camera, reads the numbers and the legend."""

    def __init__(self, driver, url: str) -> None:
        self.driver, self.url = driver, url

    def wait(self, condition: Callable[[], object], what: str, timeout: float = 60.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(WebDriverException, StopIteration, ValueError):  # the page re-renders under us
                if value := condition():
                    return value
            time.sleep(0.25)
        raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}; page: {self.text()[-800:]!r}")

    def text(self) -> str:
        return self.driver.execute_script("return document.body.innerText")

    def numbers(self) -> dict[str, str]:
        return self.driver.execute_script(_METRICS_JS)

    def results(self) -> int:
        return int(self.numbers().get("Results", "0").replace(",", ""))

    def legend(self) -> str:
        return " ".join(e.text for e in self.driver.find_elements(By.CSS_SELECTOR, ".seg-legend"))

    def click_text(self, selector: str, text: str) -> None:
        def find():
            return next(e for e in self.driver.find_elements(By.CSS_SELECTOR, selector) if text.lower() in e.text.lower())

        self.wait(find, f"{selector} with {text!r}").click()

    def open_live_tab_and_start(self) -> None:
        self.driver.get(self.url)
        self.click_text("[role='tab']", "Live")
        frame = self.wait(lambda: self.driver.find_element(By.CSS_SELECTOR, "iframe[title*='webrtc']"), "the camera")
        self.driver.switch_to.frame(frame)
        try:
            self.click_text("button", "Start camera")
        finally:
            self.driver.switch_to.default_content()

    def video(self) -> list | None:
        """[currentTime, readyState, videoWidth] of the picture the page shows (the segmented one)."""
        self.driver.switch_to.frame(self.driver.find_element(By.CSS_SELECTOR, "iframe[title*='webrtc']"))
        try:
            return self.driver.execute_script(_VIDEO_JS)
        finally:
            self.driver.switch_to.default_content()

    def picture_runs(self) -> bool:
        """Whether the picture's clock moves over a second."""
        before = self.video()
        time.sleep(1.0)
        after = self.video()
        return bool(before and after and after[0] > before[0] and after[1] >= 2)

    def more_results(self, count: int, what: str, timeout: float = 60.0) -> int:
        start = self.results()
        return self.wait(lambda: (n := self.results()) >= start + count and n, what, timeout)

    def pick_model(self, model: str) -> None:
        """Type the model's id into the sidebar's searchable selectbox and take the one match."""
        from selenium.webdriver.common.keys import Keys

        box = self.driver.find_element(By.CSS_SELECTOR, "[data-testid='stSidebar'] [data-testid='stSelectbox'] input")
        box.click()
        box.send_keys(model, Keys.ENTER)

    def screenshot(self, path: Path) -> None:
        bottom = self.driver.execute_script(
            "return document.querySelector('[data-testid=\"stMainBlockContainer\"]').getBoundingClientRect().bottom")
        chrome = self.driver.execute_script("return window.outerHeight - window.innerHeight")
        self.driver.set_window_size(1500, int(bottom) + chrome + 8)
        time.sleep(1.0)
        self.driver.save_screenshot(str(path))

    def run(self, servers: list[ServerProcess], restart: Callable[[], ServerProcess], results: dict,
            out: Path) -> None:
        """Every check in order, each outcome into `results`; raises at the first step that never happens."""
        self.open_live_tab_and_start()
        started = time.monotonic()
        self.wait(lambda: self.results() >= 30, "30 results", 120)
        results["first_30_results_s"] = round(time.monotonic() - started, 1)
        self.wait(lambda: "person" in self.legend(), "person in the legend")
        n0, t0 = self.results(), time.monotonic()
        time.sleep(10)
        n1, t1 = self.results(), time.monotonic()
        results["results_per_s"] = round((n1 - n0) / (t1 - t0), 1)
        results["page_numbers"] = self.numbers()
        results["legend"] = self.legend()
        results["server_frames_answered"] = stream_frames(servers[0])
        results["picture_runs"] = self.picture_runs()
        self.screenshot(out / "live.png")

        self.pick_model(SELFIE_LANDSCAPE)
        results["legend_caption_after_switch"] = self.wait(
            lambda: next(line for line in self.text().splitlines() if f"Classes in view ({SELFIE_LANDSCAPE})" in line),
            "masks of the new model")
        results["after_model_switch"] = self.more_results(15, "results after the model switch")
        results["views"] = {}
        for view in ("Blur background", "Mask", "Overlay"):
            self.click_text("button", view)
            results["views"][view] = self.more_results(10, f"results in the {view} view")
        results["picture_runs_after_switches"] = self.picture_runs()

        servers[0].stop()
        stopped = time.monotonic()
        self.wait(lambda: OUTAGE in self.text(), "the page to say the server is gone", 30)
        results["outage_noticed_s"] = round(time.monotonic() - stopped, 1)
        results["outage_text"] = next(line for line in self.text().splitlines() if OUTAGE in line)
        results["picture_runs_during_outage"] = self.picture_runs()
        servers.append(restart())
        restarted = time.monotonic()
        self.wait(lambda: OUTAGE not in self.text(), "the outage message to go", 60)
        results["after_restart"] = self.more_results(15, "results after the restart")
        results["recovered_s"] = round(time.monotonic() - restarted, 1)
        results["legend_after_restart"] = self.wait(lambda: "person" in (legend := self.legend()) and legend,
                                                    "person in the legend again")
        results["server2_frames_answered"] = stream_frames(servers[1])


def stream_frames(server: ServerProcess) -> int:
    """SegmentStream frames the server answered with a mask, from its metrics."""
    match = _OK_FRAMES.search(httpx.get(server.metrics_url, timeout=5).text)
    return int(float(match.group(1))) if match else 0
