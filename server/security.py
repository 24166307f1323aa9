"""Optional bearer-token authentication and TLS credentials for the gRPC server."""

from __future__ import annotations

import hmac
from pathlib import Path

import grpc

from server.status import abort

# Probes must reach health without a token; everything else needs one when a token is set.
OPEN_SERVICES = ("/grpc.health.v1.Health/",)


def _deny(message: str) -> grpc.RpcMethodHandler:
    async def refuse(request, context):
        await abort(context, grpc.StatusCode.UNAUTHENTICATED, message, "UNAUTHENTICATED")

    return grpc.unary_unary_rpc_method_handler(refuse)


def _deny_stream(message: str) -> grpc.RpcMethodHandler:
    async def refuse(request_iterator, context):
        await abort(context, grpc.StatusCode.UNAUTHENTICATED, message, "UNAUTHENTICATED")

    return grpc.stream_stream_rpc_method_handler(refuse)


class TokenAuthInterceptor(grpc.aio.ServerInterceptor):
    """Refuses calls whose `authorization` metadata is not `Bearer <token>` (UNAUTHENTICATED).

    The comparison takes the same time whatever the token, so it leaks nothing about it.
    """

    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()

    async def intercept_service(self, continuation, handler_call_details):
        method = handler_call_details.method
        if method.startswith(OPEN_SERVICES):
            return await continuation(handler_call_details)
        given = dict(handler_call_details.invocation_metadata or ()).get("authorization", "")
        if hmac.compare_digest(given.encode(), self._expected):
            return await continuation(handler_call_details)
        message = "missing or wrong bearer token in the authorization metadata"
        handler = await continuation(handler_call_details)
        if handler is not None and handler.request_streaming:
            return _deny_stream(message)
        return _deny(message)


def server_credentials(cert: Path, key: Path, client_ca: Path | None) -> grpc.ServerCredentials:
    """TLS with the given certificate; with a client CA, clients must present a certificate it signed."""
    root = client_ca.read_bytes() if client_ca else None
    return grpc.ssl_server_credentials(
        [(key.read_bytes(), cert.read_bytes())], root_certificates=root, require_client_auth=root is not None
    )
