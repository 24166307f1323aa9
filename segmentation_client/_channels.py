"""Building gRPC channels for the synchronous and the asyncio client: target, options and retry policy, TLS, metadata."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Sequence
from pathlib import Path

import grpc

MIB = 1024 * 1024
DEFAULT_TARGET = "127.0.0.1:50051"
SERVICE = "segmentation.v1.Segmenter"
PemSource = bytes | str | os.PathLike[str]  # PEM bytes, or the path of a PEM file

# Retries are gRPC's own: a call is retried only while no response has arrived,
# so no result is ever duplicated, and every method is idempotent. UNAVAILABLE is
# a server that is down or draining; CANCELLED from the server side is a call a
# stopping server dropped before it ran (grpc/grpc#41785) - our own cancellations
# are never retried. round_robin spreads calls over every address the target
# resolves to.
SERVICE_CONFIG = json.dumps({
    "loadBalancingConfig": [{"round_robin": {}}],
    "methodConfig": [{
        "name": [{"service": SERVICE}, {"service": "grpc.health.v1.Health"}],
        "retryPolicy": {
            "maxAttempts": 5,
            "initialBackoff": "0.05s",
            "maxBackoff": "1s",
            "backoffMultiplier": 2,
            "retryableStatusCodes": ["UNAVAILABLE", "CANCELLED"],
        },
    }],
})


def channel_options(max_message_bytes: int, keepalive_seconds: float = 30.0) -> list[tuple[str, object]]:
    return [
        ("grpc.service_config", SERVICE_CONFIG),
        ("grpc.enable_retries", 1),
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        # Ping an idle connection every keepalive_seconds, with or without calls, for as long as it is
        # idle (0 = no cap on pings without data): an idle stream then stays open as long as the caller likes.
        ("grpc.keepalive_time_ms", round(keepalive_seconds * 1000)),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        # Reconnect to a replica that comes back within a second or two, not minutes.
        ("grpc.initial_reconnect_backoff_ms", 200),
        ("grpc.max_reconnect_backoff_ms", 2_000),
        # Each client its own connection: gRPC otherwise shares one among channels with the same target and
        # settings, and a server of several processes serves each connection in one of them.
        ("grpc.use_local_subchannel_pool", 1),
    ]


def grpc_target(target: str | Sequence[str]) -> str:
    """A gRPC target for one address or several ("h1:p1,h2:p2" or a list).

    One address is passed on as it is (so "dns:///svc:50051" still finds every
    pod of a headless Service). Several are resolved here into one ipv4:/ipv6:
    target, which gRPC's round_robin balances over.
    """
    addresses = [a.strip() for a in (target.split(",") if isinstance(target, str) else target) if a.strip()]
    if not addresses:
        raise ValueError("no server address given")
    if len(addresses) == 1:
        return addresses[0]
    resolved: list[tuple[int, str]] = []
    for address in addresses:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"address {address!r} is not HOST:PORT")
        host = host.strip("[]")
        for family, *_, sockaddr in socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM):
            ip = sockaddr[0]
            resolved.append((family, f"[{ip}]:{port}" if family == socket.AF_INET6 else f"{ip}:{port}"))
    families = {family for family, _ in resolved}
    scheme = "ipv6" if families == {socket.AF_INET6} else "ipv4"
    wanted = socket.AF_INET6 if scheme == "ipv6" else socket.AF_INET
    unique = list(dict.fromkeys(addr for family, addr in resolved if family == wanted))
    return f"{scheme}:{','.join(unique)}"


def _pem(value: PemSource | None) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    return Path(value).read_bytes()


def channel_credentials(
    tls: bool, root_certificates: PemSource | None, client_cert: PemSource | None, client_key: PemSource | None
) -> grpc.ChannelCredentials | None:
    """TLS credentials when asked for (any of the arguments set), else None for plaintext.

    Certificates are PEM bytes or paths; without root_certificates the system's CAs are trusted.
    """
    if not (tls or root_certificates or client_cert or client_key):
        return None
    return grpc.ssl_channel_credentials(_pem(root_certificates), _pem(client_key), _pem(client_cert))


def call_metadata(token: str | None, metadata: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    auth = (("authorization", f"Bearer {token}"),) if token else ()
    return (*auth, *metadata)
