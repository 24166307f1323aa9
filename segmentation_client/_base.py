"""What the synchronous and the asyncio client share: the channel and its settings."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from grpc_health.v1 import health_pb2_grpc

from protos import segmentation_pb2_grpc as pb_grpc
from segmentation_client._channels import (
    DEFAULT_TARGET,
    MIB,
    PemSource,
    call_metadata,
    channel_credentials,
    channel_options,
    grpc_target,
)

_RAW_MARGIN = 64 * 1024  # room for the rest of the message around raw pixels


class ClientBase:
    """Opens the channel (grpc or grpc.aio, as the subclass says) and keeps the call settings."""

    _grpc = grpc

    def __init__(
        self,
        target: str | Sequence[str] = DEFAULT_TARGET,
        *,
        timeout: float = 30.0,
        stream_timeout: float | None = None,
        max_message_bytes: int = 16 * MIB,
        token: str | None = None,
        tls: bool = False,
        root_certificates: PemSource | None = None,
        client_cert: PemSource | None = None,
        client_key: PemSource | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        keepalive_seconds: float = 30.0,
    ) -> None:
        """`keepalive_seconds`: how often an idle connection is pinged to keep it (and its streams) open
        through proxies and NATs; the server must permit pings this often (its keepalive_min_ping_interval,
        10 s by default)."""
        options = channel_options(max_message_bytes, keepalive_seconds)
        resolved = grpc_target(target)
        self.target = resolved
        """The gRPC target this client's connection goes to."""
        credentials = channel_credentials(tls, root_certificates, client_cert, client_key)
        self._channel = (
            self._grpc.secure_channel(resolved, credentials, options)
            if credentials else self._grpc.insecure_channel(resolved, options)
        )
        self._stub = pb_grpc.SegmenterStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)
        self.timeout = timeout
        self.stream_timeout = stream_timeout
        self._metadata = call_metadata(token, metadata)
        self._max_raw = max_message_bytes - _RAW_MARGIN

