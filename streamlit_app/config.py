"""Settings of the Streamlit UI: environment variables with the prefix UI_."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO = Path(__file__).resolve().parent.parent


class UISettings(BaseSettings):
    """Everything the UI can be told, e.g. UI_GRPC_TARGET=10.0.0.5:50051."""

    model_config = SettingsConfigDict(env_prefix="UI_", env_ignore_empty=True, use_attribute_docstrings=True)

    grpc_target: str = "127.0.0.1:50051"
    """Where the gRPC segmentation server listens ("host:port", or several comma-separated)."""
    grpc_token: SecretStr | None = None
    """Bearer token for a server started with an auth token."""
    grpc_tls: bool = False
    """Speak TLS to the server (trusting the system's CAs unless grpc_root_certificates is set)."""
    grpc_root_certificates: Path | None = None
    """PEM CA that signed the server's certificate."""
    grpc_client_cert: Path | None = None
    """PEM client certificate, for a server that requires mutual TLS."""
    grpc_client_key: Path | None = None
    """PEM key of grpc_client_cert."""
    deadline_s: float = Field(30.0, gt=0)
    """Deadline of each Segment and ListModels call, in seconds."""
    samples_dir: Path = REPO.parent / "shared" / "samples"
    """Folder of sample images offered as one-click inputs; ignored when it does not exist."""
    max_video_frames: int = Field(300, ge=1)
    """Frames of an uploaded video that are segmented; the rest are left out."""
    log_level: str = "INFO"

    def client_options(self) -> dict:
        """Keyword arguments for SegmentationClient: credentials and TLS."""
        return {
            "token": self.grpc_token.get_secret_value() if self.grpc_token else None,
            "tls": self.grpc_tls,
            "root_certificates": self.grpc_root_certificates,
            "client_cert": self.grpc_client_cert,
            "client_key": self.grpc_client_key,
        }

    @property
    def samples_available(self) -> bool:
        return self.samples_dir.is_dir()
