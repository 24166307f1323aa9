"""Settings of the Streamlit UI: environment variables with the prefix UI_."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO = Path(__file__).resolve().parent.parent


class UISettings(BaseSettings):
    """Everything the UI can be told, e.g. UI_GRPC_TARGET=10.0.0.5:50051."""

    model_config = SettingsConfigDict(env_prefix="UI_", use_attribute_docstrings=True)

    grpc_target: str = "127.0.0.1:50051"
    """Where the gRPC segmentation server listens ("host:port", or several comma-separated)."""
    deadline_s: float = Field(30.0, gt=0)
    """Deadline of each Segment and ListModels call, in seconds."""
    samples_dir: Path = REPO.parent / "shared" / "samples"
    """Folder of sample images offered as one-click inputs; ignored when it does not exist."""
    max_video_frames: int = Field(300, ge=1)
    """Frames of an uploaded video that are segmented; the rest are left out."""
    log_level: str = "INFO"

    @property
    def samples_available(self) -> bool:
        return self.samples_dir.is_dir()
