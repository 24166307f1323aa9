"""Headless Chromium for the browser tests: where it is, and the flags it runs with."""

from __future__ import annotations

import shutil

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
# Flags that let Chromium run headless as root in a container, with nothing phoning home.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1500,1450",
    "--force-device-scale-factor=1", "--hide-scrollbars",
)
