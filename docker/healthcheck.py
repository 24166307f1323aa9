"""Container health check: exit 0 when the service in this container is healthy, 1 when not.

    python healthcheck.py grpc [--service NAME] [--timeout S]
    python healthcheck.py http PATH --port-env VAR --port N [--timeout S]

`grpc` asks the standard grpc.health.v1.Health service of the server on
127.0.0.1:$SEGMENTATION_PORT (default 50051) and wants SERVING. Health needs no
token. When SEGMENTATION_TLS_CERT and SEGMENTATION_TLS_KEY are set, it speaks
TLS: it trusts HEALTHCHECK_TLS_CA (default: the server's own certificate, right
for a self-signed one), checks the name HEALTHCHECK_TLS_SERVER_NAME (default
localhost), and, when the server demands client certificates
(SEGMENTATION_TLS_CLIENT_CA), presents HEALTHCHECK_TLS_CLIENT_CERT and
HEALTHCHECK_TLS_CLIENT_KEY (default: the server's own pair).

`http` GETs http://127.0.0.1:$VAR/PATH (port N when VAR is unset) and wants a 2xx.

Only the standard library and the image's grpcio are used, so no probe binary is
downloaded into the image.
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path


def _port(variable: str, default: int) -> int:
    value = os.environ.get(variable, "").strip()
    return int(value) if value else default


def _read(variable: str, default: str | None) -> bytes | None:
    path = os.environ.get(variable) or default
    return Path(path).read_bytes() if path else None


def check_grpc(service: str, timeout: float) -> str:
    """The health status name of the local server, e.g. SERVING."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    address = f"127.0.0.1:{_port('SEGMENTATION_PORT', 50051)}"
    cert, key = os.environ.get("SEGMENTATION_TLS_CERT"), os.environ.get("SEGMENTATION_TLS_KEY")
    if cert and key:
        client_pair: tuple[bytes | None, bytes | None] = (None, None)
        if os.environ.get("SEGMENTATION_TLS_CLIENT_CA"):
            client_pair = (_read("HEALTHCHECK_TLS_CLIENT_KEY", key), _read("HEALTHCHECK_TLS_CLIENT_CERT", cert))
        credentials = grpc.ssl_channel_credentials(_read("HEALTHCHECK_TLS_CA", cert), *client_pair)
        name = os.environ.get("HEALTHCHECK_TLS_SERVER_NAME", "localhost")
        channel = grpc.secure_channel(address, credentials, options=[("grpc.ssl_target_name_override", name)])
    else:
        channel = grpc.insecure_channel(address)
    with channel:
        response = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=timeout
        )
    return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)


def check_http(path: str, port: int, timeout: float) -> int:
    """The HTTP status of GET http://127.0.0.1:PORT/PATH."""
    url = f"http://127.0.0.1:{port}/{path.lstrip('/')}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="kind", required=True)
    grpc_parser = sub.add_parser("grpc", help="standard gRPC health check of the local server")
    grpc_parser.add_argument("--service", default="", help='service to ask about; "" is the whole server')
    grpc_parser.add_argument("--timeout", type=float, default=3.0)
    http_parser = sub.add_parser("http", help="GET a local HTTP path")
    http_parser.add_argument("path")
    http_parser.add_argument("--port-env", required=True, help="variable that holds the port")
    http_parser.add_argument("--port", type=int, required=True, help="port when the variable is unset")
    http_parser.add_argument("--timeout", type=float, default=3.0)
    args = parser.parse_args(argv)
    try:
        if args.kind == "grpc":
            status = check_grpc(args.service, args.timeout)
            healthy = status == "SERVING"
        else:
            code = check_http(args.path, _port(args.port_env, args.port), args.timeout)
            status, healthy = f"HTTP {code}", 200 <= code < 300
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy; say why
        status, healthy = f"{type(exc).__name__}: {exc}", False
    print(status)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
