"""python -m webcam_client: segment a camera, video file or stream live, in a window or headless.

Exit codes: 0 done; 1 the source, the server, the window or the output failed
(one line on stderr, no traceback).
"""

from __future__ import annotations

import logging
import sys

from pydantic_settings import CliApp

from segmentation_client import SegmentationClient, ServiceError
from webcam_client.capture import FrameSource, SourceError
from webcam_client.config import WebcamSettings
from webcam_client.session import Session, connect

log = logging.getLogger("webcam_client")
PROG = "webcam_client"


def _open_window(settings: WebcamSettings):
    if settings.headless:
        return None
    from webcam_client.window import Window  # lazy: headless runs never touch highgui

    return Window(f"segmentation - {settings.source}")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def run(settings: WebcamSettings) -> int:
    """Open the window, the source and the server (in that order: cheapest failure first), then stream."""
    window = _open_window(settings)
    source = FrameSource.open(settings.source, realtime=settings.realtime)
    try:
        with SegmentationClient(settings.target, timeout=settings.health_timeout) as client:
            try:
                model = connect(client, settings)
            except ServiceError as exc:
                raise ServiceError(f"cannot reach the segmentation server at {settings.target}: "
                                   f"{exc.code.name}: {exc.message}", exc.code) from None
            session = Session(settings, client, model, source, window)
            summary = session.run()
    finally:
        source.close()
        if window is not None:
            window.close()
    print("\n".join(summary.lines()))
    if session.error is not None:
        print(f"{PROG}: error: stream failed: {_one_line(session.error)}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    settings = CliApp.run(WebcamSettings, cli_args=argv)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from webcam_client.window import GuiUnavailable  # cheap: no window is opened by importing it

    try:
        return run(settings)
    except (SourceError, ServiceError, GuiUnavailable, OSError) as exc:
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
