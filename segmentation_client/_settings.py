"""How to reach the server, as settings: the one declaration every consumer shares."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from segmentation_client._aio import AsyncSegmentationClient
from segmentation_client._channels import DEFAULT_TARGET
from segmentation_client._client import SegmentationClient


class ClientSettings(BaseModel):
    """Target, credentials, TLS files and timeouts of a connection to the segmentation server.

    A consumer puts it in its own pydantic-settings class under its own environment prefix, as a
    nested field (the REST bridge: `grpc: ClientSettings`, read from BRIDGE_GRPC_TARGET and so on,
    with `env_nested_delimiter="_"` and `env_nested_max_split=1`) or as a base class (the webcam
    client: WEBCAM_TARGET, --target). A new connection option is added here once, and `connect` /
    `connect_async` pass it on to the client.
    """

    model_config = ConfigDict(use_attribute_docstrings=True)

    target: str = Field(DEFAULT_TARGET, min_length=1)
    """Server HOST:PORT, several comma-separated (balanced round-robin), or any gRPC target (dns:///svc:50051)."""
    token: SecretStr | None = None
    """Bearer token for a server started with an auth token; prefer the environment variable to a flag."""
    tls: bool = False
    """Speak TLS, trusting the system's CAs (or root_certificates)."""
    root_certificates: Path | None = None
    """PEM file of the CA that signed the server's certificate; implies TLS."""
    client_cert: Path | None = None
    """PEM client certificate, for a server that requires mutual TLS (with client_key)."""
    client_key: Path | None = None
    """PEM private key of client_cert."""
    timeout_seconds: float = Field(30.0, gt=0)
    """Deadline of each unary call (Segment, ListModels, health), in seconds."""
    keepalive_seconds: float = Field(30.0, gt=0)
    """How often an idle connection is pinged, so that idle streams survive proxies and NATs."""

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments of SegmentationClient and AsyncSegmentationClient, the target aside."""
        return {
            "timeout": self.timeout_seconds,
            "keepalive_seconds": self.keepalive_seconds,
            "token": self.token.get_secret_value() if self.token else None,
            "tls": self.tls,
            "root_certificates": self.root_certificates,
            "client_cert": self.client_cert,
            "client_key": self.client_key,
        }

    def connect(self, **overrides: Any) -> SegmentationClient:
        """A blocking client with these settings; keyword arguments override or add client options."""
        return SegmentationClient(self.target, **{**self.client_options(), **overrides})

    def connect_async(self, **overrides: Any) -> AsyncSegmentationClient:
        """An asyncio client with these settings; keyword arguments override or add client options."""
        return AsyncSegmentationClient(self.target, **{**self.client_options(), **overrides})
