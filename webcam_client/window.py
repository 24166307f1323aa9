"""The on-screen window (OpenCV highgui). Imported only when a window is wanted.

opencv-python-headless, which the service installs, has no GUI backend at all;
the window needs opencv-python instead (the two share the cv2 module, so not
both), and a display. We check before opening
anything so the user gets one clear line instead of an OpenCV stack trace.
"""

from __future__ import annotations

import contextlib
import os
import sys

import cv2
import numpy as np

NO_GUI_HINT = ("run with --headless (and --output FILE.mp4), or replace opencv-python-headless with opencv-python"
               " for the window")


class GuiUnavailable(Exception):
    """No window can be opened here."""


def _check_backend() -> None:
    backend = cv2.currentUIFramework() if hasattr(cv2, "currentUIFramework") else "?"
    if not backend:
        raise GuiUnavailable(f"this OpenCV build has no GUI backend (opencv-python-headless?); {NO_GUI_HINT}")
    needs_display = sys.platform.startswith("linux") and backend.upper() in ("GTK", "GTK2", "GTK3", "QT", "QT5", "QT6")
    if needs_display and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise GuiUnavailable(f"no display to open a window on (DISPLAY is not set); {NO_GUI_HINT}")


class Window:
    """A resizable window showing frames; `show` returns the key pressed (or -1)."""

    def __init__(self, title: str) -> None:
        _check_backend()
        self.title = title
        self._sized = False
        try:
            # Resizable, keeping the picture's aspect ratio, without Qt's toolbar and status bar.
            cv2.namedWindow(title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_NORMAL)
        except cv2.error as exc:
            raise GuiUnavailable(f"cannot open a window ({str(exc).strip().splitlines()[-1]}); {NO_GUI_HINT}") from None

    def show(self, frame: np.ndarray, wait_ms: int = 1) -> int:
        if not self._sized:
            # A resizable window opens at the backend's default size; open it at the frame's, pixel for pixel.
            cv2.resizeWindow(self.title, frame.shape[1], frame.shape[0])
            self._sized = True
        cv2.imshow(self.title, frame)
        key = cv2.waitKey(wait_ms)
        return key & 0xFF if key >= 0 else -1

    def closed(self) -> bool:
        """True once the user closed the window with its title-bar button."""
        try:
            return cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1
        except cv2.error:
            return True

    def close(self) -> None:
        with contextlib.suppress(cv2.error):  # already gone, e.g. closed by the user
            cv2.destroyWindow(self.title)
