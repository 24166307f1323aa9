"""Headless Chromium for the browser tests: where it is, the flags it runs with, and the UI's upload and result."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
# Flags that let Chromium run headless as root in a container, with nothing phoning home.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1500,1450",
    "--force-device-scale-factor=1", "--hide-scrollbars",
)


@contextmanager
def chromium(profile: Path) -> Iterator:
    """A headless Chromium (a selenium WebDriver) with its own profile folder, quit on leaving."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def upload_image(driver, path: Path) -> None:
    """Upload `path` through the Images tab's file input."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    # The Images tab comes first, so its uploader's input is the first file input on the page.
    wait = WebDriverWait(driver, 90)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "[data-testid='stFileUploader'] input[type='file']"))
    driver.find_elements(By.CSS_SELECTOR, "[data-testid='stFileUploader'] input[type='file']")[0].send_keys(str(path))


def wait_for_result(driver, timeout: float = 120.0) -> str:
    """The legend's text, once the result card has rendered its pictures and chart."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, timeout)
    legend = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".seg-legend"))[0]
    wait.until(lambda d: d.execute_script(
        "const imgs = [...document.querySelectorAll('[data-testid=\"stImage\"] img')];"
        "return imgs.length >= 2 && imgs.every(i => i.complete && i.naturalWidth > 0);"
    ))
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "[data-testid='stVegaLiteChart'] canvas, .vega-embed svg"))
    time.sleep(1.0)  # let the last layout shifts (fonts, chart resize) settle before the screenshot
    return legend.text
