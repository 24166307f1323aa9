"""Settings of the REST bridge: environment variables (prefix BRIDGE_) and flags."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MIB = 1024 * 1024


class BridgeSettings(BaseSettings):
    """Everything the bridge can be told. Flags override environment variables."""

    model_config = SettingsConfigDict(
        env_prefix="BRIDGE_",
        env_ignore_empty=True,  # VAR= in a deployment file means "not set"
        cli_prog_name="python -m rest_bridge",
        cli_kebab_case=True,
        cli_implicit_flags=True,
        use_attribute_docstrings=True,
    )

    host: str = "127.0.0.1"
    """Address to bind. 127.0.0.1 keeps the bridge local; 0.0.0.0 or [::] serves the network."""
    port: int = Field(8000, ge=0, le=65535)
    """Port to bind; 0 picks a free one (uvicorn's start-up line names it)."""
    grpc_target: str = Field("127.0.0.1:50051", min_length=1)
    """gRPC server(s): HOST:PORT, several comma-separated (balanced round-robin), or any gRPC target."""
    deadline_seconds: float = Field(30.0, gt=0)
    """Deadline of each gRPC call; a call that takes longer answers 504."""
    auth_token: SecretStr | None = None
    """When set, callers need `Authorization: Bearer <token>` (health and readiness stay open)."""
    grpc_token: SecretStr | None = None
    """Bearer token for a gRPC server started with an auth token; prefer BRIDGE_GRPC_TOKEN to the flag."""
    grpc_tls: bool = False
    """Speak TLS to the gRPC server, trusting the system's CAs (or grpc_root_certificates)."""
    grpc_root_certificates: Path | None = None
    """PEM CA to trust for the gRPC server's certificate; implies TLS."""
    grpc_client_cert: Path | None = None
    """PEM client certificate for a server that asks for mutual TLS (with grpc_client_key)."""
    grpc_client_key: Path | None = None
    """PEM private key of grpc_client_cert."""
    readiness_timeout_seconds: float = Field(2.0, gt=0)
    """How long /readyz waits for the gRPC health check before answering 503."""
    upload_limit_bytes: int = Field(16 * MIB, ge=1)
    """Largest request body (a raw image, or the whole multipart form) and WebSocket message; more answers 413."""
    cors_origins: Annotated[list[str], NoDecode] = []
    """Origins browsers may call the bridge from, comma-separated ("*" for any); empty turns CORS off."""
    header_timeout_seconds: float = Field(10.0, gt=0)
    """A request's headers must all arrive within this long of the connection opening (or, on a kept-alive
    connection, of the request's first byte), or the connection is closed: slow-header clients (slowloris)
    cannot hold connections."""
    body_timeout_seconds: float = Field(30.0, gt=0)
    """Longest wait for the next piece of a request body; past it the request is answered 408 and closed."""
    keep_alive_timeout_seconds: int = Field(5, ge=1)
    """An idle keep-alive connection is closed after this long (uvicorn's timeout_keep_alive)."""
    websocket_ping_seconds: float = Field(20.0, gt=0)
    """WebSockets are pinged this often; one whose peer does not answer (or stops reading) within as long
    again is closed."""
    retry_after_seconds: int = Field(1, ge=0)
    """Value of the Retry-After header sent with 503 and 429."""
    log_level: str = "INFO"
    """Logging level of the bridge and uvicorn: DEBUG, INFO, WARNING, ERROR."""

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        # Environment variables and flags give one string; "a,b" is friendlier than JSON there.
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value
