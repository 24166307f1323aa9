"""Settings of the gRPC server: environment variables (prefix SEGMENTATION_) and flags."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

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
    model_repository: Annotated[list[Path], NoDecode] = [Path("model_repository")]
    """Model repositories: folders with one sub-folder per model (its id), each holding a model.toml. Several
    may be given (comma-separated); an id in two is served from the first."""
    models: Annotated[list[str], NoDecode] = []
    """Model ids to serve (comma-separated); empty means every model of the repositories."""
    default_model: str = "deeplabv3-mobilenetv2-pascal"
    """Model used when a request names none; it must load for the server to report SERVING."""
    repository_poll_seconds: float | None = Field(None, gt=0)
    """Re-read the repositories this often (models added, changed, removed); unset: only on SIGHUP."""
    download: bool = True
    """Let torchvision models without a weights file download official weights into the torch hub cache."""
    device: str = ""
    """Device for models whose config says device = "auto" ("cpu", "cuda", "cuda:1"); empty picks CUDA when
    available."""
    processes: int = Field(1, ge=1)
    """Serving processes, all on the one port (each connection is served by one of them, with its own models
    and workers); the limits, health and /metrics are the whole server's. One measured best on 2 cores (the
    README's performance section); measure before raising it on bigger machines."""
    workers: int = Field(2, ge=1)
    """Requests processed at once by each serving process, each by its own model instance."""
    worker_kind: Literal["thread", "process"] = "thread"
    """Where the workers run: "thread", threads of the serving process, whose models batch concurrent calls when
    their config asks; "process", each a process of its own, so gRPC's event loop and the pixel work never wait
    for each other's GIL (server/workers.py). Threads measured as fast or faster on 2 cores, with less memory
    (the README's performance section): measure before choosing processes on bigger machines."""
    threads: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    """Threads each model instance uses for inference."""
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
    keepalive_min_ping_interval_seconds: float = Field(10.0, gt=0)
    """Clients may ping an idle connection this often (the client library pings every 30 s); a client
    pinging more often is sent GOAWAY, as gRPC does to protect a server."""
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

    @field_validator("model_repository", "models", mode="before")
    @classmethod
    def _comma_separated(cls, value):
        # One string from a flag or an environment variable: "a,b" means two entries.
        if isinstance(value, str) and value.lstrip().startswith("["):
            value = json.loads(value)  # the JSON list form, as older deployment files give it
        items = [value] if isinstance(value, (str, Path)) else value
        if not isinstance(items, list):
            return value
        return [part.strip() for item in items for part in str(item).split(",") if part.strip()]
