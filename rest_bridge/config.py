"""Settings of the REST bridge: environment variables (prefix BRIDGE_) and flags."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from segmentation_client import ClientSettings

MIB = 1024 * 1024


class BridgeSettings(BaseSettings):
    """Everything the bridge can be told. Flags override environment variables."""

    model_config = SettingsConfigDict(
        env_prefix="BRIDGE_",
        env_ignore_empty=True,  # VAR= in a deployment file means "not set"
        # BRIDGE_GRPC_TARGET is grpc.target: one split after the prefix, so UPLOAD_LIMIT_BYTES stays whole.
        env_nested_delimiter="_",
        env_nested_max_split=1,
        cli_prog_name="python -m rest_bridge",
        cli_kebab_case=True,
        cli_implicit_flags=True,
        use_attribute_docstrings=True,
    )

    host: str = "127.0.0.1"
    """Address to bind. 127.0.0.1 keeps the bridge local; 0.0.0.0 or [::] serves the network."""
    port: int = Field(8000, ge=0, le=65535)
    """Port to bind; 0 picks a free one (uvicorn's start-up line names it)."""
    grpc: ClientSettings = Field(default_factory=ClientSettings)
    """The gRPC server and how to reach it: BRIDGE_GRPC_TARGET (several comma-separated are balanced
    round-robin), BRIDGE_GRPC_TOKEN, BRIDGE_GRPC_TLS, BRIDGE_GRPC_ROOT_CERTIFICATES, BRIDGE_GRPC_CLIENT_CERT,
    BRIDGE_GRPC_CLIENT_KEY, BRIDGE_GRPC_TIMEOUT_SECONDS (a call that takes longer answers 504),
    BRIDGE_GRPC_KEEPALIVE_SECONDS; as flags --grpc.target and so on."""
    server_connections: int = Field(4, ge=1)
    """gRPC connections the bridge spreads its calls and streams over, in turn: a server of several processes
    serves each connection in one of them."""
    auth_token: SecretStr | None = None
    """When set, callers need `Authorization: Bearer <token>` (health and readiness stay open)."""
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
