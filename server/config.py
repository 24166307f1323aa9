"""Settings of the gRPC server: environment variables (prefix SEGMENTATION_) and flags."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

MIB = 1024 * 1024


class ServerSettings(BaseSettings):
    """Everything the server can be told. Flags override environment variables."""

    model_config = SettingsConfigDict(
        env_prefix="SEGMENTATION_",
        env_ignore_empty=True,  # VAR= in a deployment file means "not set"
        cli_prog_name="python -m server",
        cli_kebab_case=True,
        cli_implicit_flags=True,
        use_attribute_docstrings=True,
    )

    host: str = "127.0.0.1"
    """Address to bind. 127.0.0.1 keeps the server local; 0.0.0.0 or [::] serves the network."""
    port: int = Field(50051, ge=0, le=65535)
    """Port to bind; 0 picks a free one (the log line names it)."""
    model_dir: Path = Path("models")
    """Folder holding the LiteRT model files and the PASCAL labels."""
    models: list[str] = []
    """Model ids to load; empty means every known model."""
    default_model: str = "deeplabv3-mobilenetv2-pascal"
    """Model used when a request names none; it must load for the server to report SERVING."""
    weights: dict[str, Path] = {}
    """Weights files for torchvision models, e.g. deeplabv3-resnet101=/path/weights.pth."""
    download: bool = True
    """Let torchvision models download their weights into the torch hub cache when missing."""
    device: str = ""
    """Torch device ("cpu", "cuda", "cuda:1"); empty picks CUDA when available."""
    workers: int = Field(2, ge=1)
    """Requests processed at once, each by its own model instance."""
    threads: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    """Threads each model instance uses for inference."""
    max_batch_size: int = Field(1, ge=1)
    """torchvision models: images run together in one batch at most (1 = no batching)."""
    max_queue_delay_ms: float = Field(0.0, ge=0)
    """torchvision models: how long a request may wait for others to fill a batch (0 = no batching)."""
    max_message_bytes: int = Field(16 * MIB, ge=1024)
    """Largest message accepted or sent."""
    max_image_pixels: int = Field(40_000_000, ge=1)
    """Largest image (width x height) accepted; checked from the header, before decoding."""
    grace_seconds: float = Field(10.0, ge=0)
    """On SIGTERM, how long calls in flight may take to finish."""
    reflection: bool = True
    """Serve gRPC server reflection."""
    max_concurrent_requests: int = Field(64, ge=1)
    """Unary calls in progress at once; more are refused with RESOURCE_EXHAUSTED."""
    max_streams: int = Field(16, ge=1)
    """Streams open at once; more are refused with RESOURCE_EXHAUSTED."""
    png_compression: int = Field(1, ge=0, le=9)
    """zlib level of PNG masks: 1 is fast and masks compress well anyway."""
    max_connection_age_seconds: float | None = Field(None, gt=0)
    """Ask clients to reconnect after this long (calls in flight are not cut), so they re-resolve DNS and
    reach replicas added since; unset: never."""
    auth_token: SecretStr | None = None
    """When set, every call but health needs the metadata `authorization: Bearer <token>`."""
    tls_cert: Path | None = None
    """PEM certificate (chain) for TLS; with tls_key, the server speaks TLS only."""
    tls_key: Path | None = None
    """PEM private key of tls_cert."""
    tls_client_ca: Path | None = None
    """PEM CA: when set, clients must present a certificate it signed (mutual TLS)."""
    metrics_port: int | None = Field(9464, ge=0, le=65535)
    """Port of the Prometheus /metrics endpoint (same address as gRPC); 0 picks a free one; unset turns it off."""
    log_level: str = "INFO"
