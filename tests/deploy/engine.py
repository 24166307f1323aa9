"""The container engine that tests/deploy/ drives: podman (with docker/containers.conf) or docker.

Images build as `make images` builds them: on python:3.11-slim-trixie where it can be pulled, else on the
Debian stand-in base (CI reaches no registry); BASE_IMAGE in the environment picks one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support import REPO

ENGINE = "podman" if shutil.which("podman") else "docker" if shutil.which("docker") else None
NO_ENGINE = "no container engine: apt-get install -y podman runc mmdebstrap (CI installs them)"
TAG = "0.1.0"
IMAGES = {"server": f"segmentation-server:{TAG}", "bridge": f"segmentation-bridge:{TAG}",
          "ui": f"segmentation-ui:{TAG}"}
ENV = {**os.environ, "CONTAINERS_CONF": os.environ.get("CONTAINERS_CONF", str(REPO / "docker" / "containers.conf"))}


def engine(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    """Run the engine with `args`; its output as text. A failure raises with the output."""
    assert ENGINE is not None, NO_ENGINE
    result = subprocess.run([ENGINE, *args], capture_output=True, text=True, timeout=timeout, env=ENV,
                            check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"{ENGINE} {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def make(target: str, log: Path, timeout: float) -> None:
    """`make TARGET` with this module's engine and Python; the output goes to `log`."""
    with log.open("w") as out:
        code = subprocess.run(["make", target, f"ENGINE={ENGINE}", f"PY={sys.executable}"],
                              cwd=REPO, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, env=ENV,
                              check=False).returncode
    assert code == 0, f"make {target} exited {code}:\n{log.read_text()[-6000:]}"


def stack(action: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """scripts/stack.py up|down, as `make stack` and `make stack-down` run it."""
    return subprocess.run([sys.executable, "scripts/stack.py", action, "--engine", str(ENGINE)], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout, env=ENV, check=False)


def container(service: str) -> str:
    """The name of the one running container of a compose service of the project."""
    names = engine("ps", "--format", "{{.Names}}", "--filter", "label=com.docker.compose.project=segmentation",
                   "--filter", f"label=com.docker.compose.service={service}").stdout.split()
    assert len(names) == 1, f"service {service}: containers {names}"
    return names[0]


def inspect(name: str) -> dict:
    return json.loads(engine("inspect", name).stdout)[0]
