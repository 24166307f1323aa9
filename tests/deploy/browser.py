"""The UI in a real headless Chromium, as tests/ui/test_ui_browser.py drives it: upload a sample, read the legend."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import CHROMEDRIVER, CHROMIUM, SAMPLES, chromium, upload_image, wait_for_result


def legend_of_a_sample(url: str, profile: Path, sample: str = "cat_720p.jpg") -> list[str]:
    """Open the UI at `url`, segment a sample photo, return the words of the result's legend."""
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("chromium and chromium-driver are not installed")
    pytest.importorskip("selenium.webdriver")
    with chromium(profile) as driver:
        driver.get(url)
        upload_image(driver, SAMPLES / sample)
        legend = wait_for_result(driver).split()
        assert "Traceback" not in driver.find_element("tag name", "body").text
        return legend
