"""Start and stop the compose stack (compose.yaml + compose.expose.yaml) in the background, health-gated.

    python scripts/stack.py up [--engine podman|docker] [--timeout S]
    python scripts/stack.py down [--engine podman|docker]

`up` (re)starts the stack with the current images and returns once every service is healthy: gRPC on
127.0.0.1:50051, REST on 127.0.0.1:8000 and the UI on 127.0.0.1:8501. `down` stops every service
(SIGTERM, then the service's stop_grace_period before SIGKILL) and removes the containers.

docker compose gates start-up on `depends_on: condition: service_healthy` itself (`up --wait`).
podman-compose (pinned in pyproject.toml) does not: it starts dependants at once, and podman runs health
checks on a systemd timer, which a machine without systemd does not have. So with podman this script
does the gating that compose.yaml asks for: it starts the server, runs its health check with `podman
healthcheck run` until it passes, and only then starts the services that depend on it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROJECT = "segmentation"
FILES = ("compose.yaml", "compose.expose.yaml")
# compose.yaml's services in the order of their dependencies: each starts once those before it are healthy.
ORDER = (("server",), ("bridge", "ui"))


def compose_command(engine: str) -> list[str]:
    """The compose tool for the engine, with the project's files."""
    files = [arg for name in FILES for arg in ("-f", str(REPO / name))]
    if engine == "docker":
        return ["docker", "compose", "-p", PROJECT, *files]
    tool = shutil.which("podman-compose", path=str(Path(sys.executable).parent)) or shutil.which("podman-compose")
    if tool is None:
        sys.exit("stack.py: podman-compose is not installed (make setup installs the pinned one)")
    # No pod: each service is a container of its own on the project's network, as with docker compose.
    return [tool, "--in-pod", "false", "-p", PROJECT, *files]


def containers(service: str) -> list[str]:
    """Names of the podman containers of one service of the project (running or not)."""
    labels = [f"label=com.docker.compose.project={PROJECT}", f"label=com.docker.compose.service={service}"]
    out = subprocess.run(["podman", "ps", "-a", "--format", "{{.Names}}", *(f for label in labels
                          for f in ("--filter", label))], check=True, capture_output=True, text=True).stdout
    return out.split()


def _give_up(service: str, name: str, why: str) -> None:
    logs = subprocess.run(["podman", "logs", "--tail", "30", name], capture_output=True, text=True, check=False)
    sys.exit(f"stack.py: {service}: {why}\n{logs.stdout}{logs.stderr}")


def wait_healthy(service: str, deadline: float) -> None:
    """Run the service's health check until it passes; exit with the container's log when it stops or the
    deadline passes."""
    names = containers(service)
    if not names:
        sys.exit(f"stack.py: no container for service {service}")
    for name in names:
        while True:
            check = subprocess.run(["podman", "healthcheck", "run", name], capture_output=True, text=True,
                                   check=False)
            if check.returncode == 0:
                print(f"{service}: healthy", flush=True)
                break
            state = subprocess.run(["podman", "inspect", "--format", "{{.State.Status}}", name],
                                   capture_output=True, text=True, check=False).stdout.strip()
            if state in ("exited", "stopped"):
                _give_up(service, name, f"the container {state}")
            if time.monotonic() > deadline:
                _give_up(service, name, f"not healthy in time: {check.stdout}{check.stderr}")
            time.sleep(1)


def run(command: list[str]) -> None:
    """Run a compose command; its output is shown only when it fails (podman-compose is chatty)."""
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"stack.py: {' '.join(command)} exited {result.returncode}:\n{result.stdout}{result.stderr}")


def up(engine: str, timeout: float) -> None:
    compose = compose_command(engine)
    if engine == "docker":
        run([*compose, "up", "-d", "--no-build", "--wait", "--wait-timeout", str(int(timeout))])
        return
    # Containers of an earlier `up` would keep running their old image: start from none.
    down(engine)
    deadline = time.monotonic() + timeout
    for services in ORDER:
        run([*compose, "up", "-d", "--no-build", "--no-deps", *services])
        for service in services:
            wait_healthy(service, deadline)


def down(engine: str) -> None:
    # Dependants first, so the bridge and UI stop calling before the server drains its calls in flight.
    # podman-compose down also reports services that were not running; it fails only when a stop does.
    run([*compose_command(engine), "down"])
    if engine == "podman":
        left = [name for services in ORDER for service in services for name in containers(service)]
        if left:
            sys.exit(f"stack.py: containers left after down: {left}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("up", "down"))
    parser.add_argument("--engine", choices=("podman", "docker"),
                        default="podman" if shutil.which("podman") else "docker")
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds for every service to be healthy")
    args = parser.parse_args(argv)
    # The project's podman settings unless the caller names others (as the Makefile does).
    os.environ.setdefault("CONTAINERS_CONF", str(REPO / "docker" / "containers.conf"))
    if args.action == "up":
        up(args.engine, args.timeout)
    else:
        down(args.engine)


if __name__ == "__main__":
    main()
