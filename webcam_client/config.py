"""Settings of the webcam client: environment variables (prefix WEBCAM_) and flags."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from segmentation_client import ClientSettings


class WebcamSettings(BaseSettings, ClientSettings):
    """Everything the webcam client can be told. Flags override environment variables (WEBCAM_TARGET for
    --target, and so on); the server's address, credentials and timeouts are the client library's
    ClientSettings."""

    model_config = SettingsConfigDict(
        env_prefix="WEBCAM_",
        env_ignore_empty=True,  # VAR= means "not set"
        cli_prog_name="segmentation-webcam",
        cli_kebab_case=True,
        cli_implicit_flags=True,
        use_attribute_docstrings=True,
    )

    timeout_seconds: float = Field(3.0, gt=0)
    """Deadline of the start-up calls (health check, model lookup): a server that does not answer in time
    ends the run with an error rather than a frozen window."""
    source: str = "0"
    """Camera index (0, 1, ...), video file, or stream URL (rtsp://, http://) that OpenCV can open."""
    model: str = ""
    """Model id; empty means the server's default model."""
    jpeg_quality: int = Field(80, ge=1, le=100)
    """Quality of the JPEG each frame is sent as."""
    max_in_flight: int = Field(2, ge=1)
    """Frames sent and not yet answered at most; newer frames wait in a one-frame slot (latest policy)."""
    drop_policy: Literal["latest", "none"] = "latest"
    """latest: stay live, skip frames the server cannot keep up with; none: process every frame."""
    max_fps: float = Field(0.0, ge=0)
    """Frames per second the server processes at most; 0 means no limit."""
    opacity: float = Field(0.5, ge=0.0, le=1.0)
    """Opacity of the coloured mask over the picture."""
    blur: bool = False
    """Start with the background (class 0) blurred, as in a video call (the b key toggles it); try it with
    --model selfie-segmentation."""
    headless: bool = False
    """No window: for servers, CI and recording with --output."""
    output: Path | None = None
    """Write the overlaid video here (.mp4), one output frame for every captured frame."""
    max_frames: int = Field(0, ge=0)
    """Stop after capturing this many frames; 0 means until the source ends or q is pressed."""
    realtime: bool = True
    """Read a video file at its own frame rate, like a camera; --no-realtime reads it as fast as possible."""
    drain_timeout: float = Field(10.0, ge=0)
    """Seconds to wait for the answers to frames still in flight once capture has ended."""
    screenshot_dir: Path = Path(".")
    """Folder the s key saves screenshots into."""
    log_level: str = "WARNING"
