"""Settings of the webcam client: environment variables (prefix WEBCAM_) and flags."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class WebcamSettings(BaseSettings):
    """Everything the webcam client can be told. Flags override environment variables."""

    model_config = SettingsConfigDict(
        env_prefix="WEBCAM_",
        env_ignore_empty=True,  # VAR= means "not set"
        cli_prog_name="python -m webcam_client",
        cli_kebab_case=True,
        cli_implicit_flags=True,
        use_attribute_docstrings=True,
    )

    source: str = "0"
    """Camera index (0, 1, ...), video file, or stream URL (rtsp://, http://) that OpenCV can open."""
    target: str = "127.0.0.1:50051"
    """Segmentation server, HOST:PORT (or several, comma-separated)."""
    model: str = ""
    """Model id; empty means the server's default model."""
    token: SecretStr | None = None
    """Bearer token for a server that requires one; prefer WEBCAM_TOKEN to the flag (shell history)."""
    tls: bool = False
    """Connect over TLS, trusting the system's CAs (or --root-certificates)."""
    root_certificates: Path | None = None
    """PEM file of the CA that signed the server's certificate; implies TLS."""
    client_cert: Path | None = None
    """PEM client certificate for mutual TLS (with --client-key)."""
    client_key: Path | None = None
    """PEM private key of --client-cert."""
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
    health_timeout: float = Field(3.0, gt=0)
    """Seconds to wait for the server's health check before giving up."""
    drain_timeout: float = Field(10.0, ge=0)
    """Seconds to wait for the answers to frames still in flight once capture has ended."""
    screenshot_dir: Path = Path(".")
    """Folder the s key saves screenshots into."""
    log_level: str = "WARNING"
