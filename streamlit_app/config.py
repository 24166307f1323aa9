"""Settings of the Streamlit UI: environment variables with the prefix UI_."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from segmentation_client import ClientSettings

REPO = Path(__file__).resolve().parent.parent


class UISettings(BaseSettings):
    """Everything the UI can be told, e.g. UI_GRPC_TARGET=10.0.0.5:50051."""

    model_config = SettingsConfigDict(
        env_prefix="UI_",
        env_ignore_empty=True,
        # UI_GRPC_TARGET is grpc.target: one split after the prefix, so UI_MAX_VIDEO_FRAMES stays whole.
        env_nested_delimiter="_",
        env_nested_max_split=1,
        use_attribute_docstrings=True,
    )

    grpc: ClientSettings = Field(default_factory=ClientSettings)
    """The segmentation server and how to reach it: UI_GRPC_TARGET ("host:port", or several comma-separated),
    UI_GRPC_TOKEN, UI_GRPC_TLS, UI_GRPC_ROOT_CERTIFICATES, UI_GRPC_CLIENT_CERT, UI_GRPC_CLIENT_KEY,
    UI_GRPC_TIMEOUT_SECONDS (deadline of each Segment and ListModels call)."""
    samples_dir: Path = REPO.parent / "shared" / "samples"
    """Folder of sample images offered as one-click inputs; ignored when it does not exist."""
    max_video_frames: int = Field(300, ge=1)
    """Frames of an uploaded video that are segmented; the rest are left out."""
    log_level: str = "INFO"
    ice_servers: list[dict[str, Any]] = []
    """ICE servers of the Live tab's WebRTC connection, as JSON, e.g.
    [{"urls": "turn:turn.example.org:3478", "username": "u", "credential": "p"}]. Empty (the default) suits
    loopback and a LAN, where browser and UI reach each other directly; across NATs add STUN and TURN."""

    @property
    def samples_available(self) -> bool:
        return self.samples_dir.is_dir()
