"""`make run`: start the gRPC server, the REST bridge and the UI; print their addresses once all are ready.

Ctrl-C (or SIGTERM) stops all three; if one of them dies, the others are stopped too.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc


def grpc_ready(address: str) -> bool:
    with grpc.insecure_channel(address) as channel:
        try:
            response = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
        except grpc.RpcError:
            return False
    return response.status == health_pb2.HealthCheckResponse.SERVING


def http_ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--grpc-port", type=int, default=50051)
    parser.add_argument("--rest-port", type=int, default=8000)
    parser.add_argument("--ui-port", type=int, default=8501)
    args = parser.parse_args()
    grpc_address = f"{args.host}:{args.grpc_port}"
    env = {**os.environ, "UI_GRPC_TARGET": grpc_address}
    commands = {
        "gRPC server": [sys.executable, "-m", "server", "--host", args.host, "--port", str(args.grpc_port)],
        "REST bridge": [sys.executable, "-m", "rest_bridge", "--host", args.host, "--port", str(args.rest_port),
                        "--grpc.target", grpc_address],
        "UI": [sys.executable, "-m", "streamlit", "run", "streamlit_app/app.py", "--server.address", args.host,
               "--server.port", str(args.ui_port), "--server.headless", "true",
               "--browser.gatherUsageStats", "false", "--client.toolbarMode", "minimal"],
    }
    procs = {name: subprocess.Popen(cmd, env=env) for name, cmd in commands.items()}
    checks = {
        "gRPC server": (lambda: grpc_ready(grpc_address), f"grpc://{grpc_address} (health, reflection)"),
        "REST bridge": (lambda: http_ready(f"http://{args.host}:{args.rest_port}/readyz"),
                        f"http://{args.host}:{args.rest_port}/docs"),
        "UI": (lambda: http_ready(f"http://{args.host}:{args.ui_port}/_stcore/health"),
               f"http://{args.host}:{args.ui_port}"),
    }
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    pending = dict(checks)
    code = 0
    while not stopping:
        dead = [name for name, p in procs.items() if p.poll() is not None]
        if dead:
            print(f"{', '.join(dead)} stopped (exit {procs[dead[0]].returncode}); stopping the rest", file=sys.stderr)
            code = 1
            break
        for name in [n for n, (ready, _) in pending.items() if ready()]:
            del pending[name]
            if not pending:
                print("\nReady:\n" + "\n".join(f"  {n:<12} {url}" for n, (_, url) in checks.items()) +
                      "\nCtrl-C stops all three.\n", flush=True)
        time.sleep(0.5)
    for p in procs.values():
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs.values():
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
    return code


if __name__ == "__main__":
    sys.exit(main())
