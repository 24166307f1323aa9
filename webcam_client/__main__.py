"""python -m webcam_client: segment a camera, video file or stream live, in a window or headless.

Exit codes: 0 done; 1 the source, the server, the window, the output or the
stream failed (one line on stderr, no traceback); 2 bad flags.
"""

from __future__ import annotations

import os

# gRPC's core logs failed TLS handshakes and the like straight to stderr, where
# our one-line error already says it. It reads this when grpc is first imported.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Iterator

from pydantic_settings import CliApp

from webcam_client.capture import SourceError
from webcam_client.config import WebcamSettings
from webcam_client.session import StartupError, run_session

PROG = "webcam_client"


def _open_window(settings: WebcamSettings):
    if settings.headless:
        return None
    # Lazy: headless runs never touch highgui, which opencv-python-headless lacks.
    from webcam_client.window import GuiUnavailable, Window

    try:
        return Window(f"segmentation - {settings.source}")
    except GuiUnavailable as exc:
        raise StartupError(str(exc)) from None


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


@contextlib.contextmanager
def _ctrl_c_stops(stop: threading.Event) -> Iterator[None]:
    """The first Ctrl-C ends the session like q does (every captured frame still written, summary printed);
    a second one interrupts for real, should something hang."""

    def first(signum, frame) -> None:
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, first)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run(settings: WebcamSettings) -> int:
    """Open the window first (cheapest failure), then stream; print the summary."""
    window = _open_window(settings)
    stop = threading.Event()
    try:
        with _ctrl_c_stops(stop):
            session = run_session(settings, window, stop)
    finally:
        if window is not None:
            window.close()
    assert session.summary is not None  # run_session returns a session that has run
    print("\n".join(session.summary.lines()))
    if session.error is not None:
        error = session.error
        print(f"{PROG}: error: stream to {settings.target} failed: {error.code.name}: {_one_line(error)}",
              file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    settings = CliApp.run(WebcamSettings, cli_args=argv)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return run(settings)
    except (StartupError, SourceError, OSError) as exc:
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
