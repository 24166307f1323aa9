"""Print the pinned requirements one image needs, taken from pyproject.toml.

    python docker/requirements.py ROLE [--only NAME ...] [--pyproject PATH]

pyproject.toml stays the one place that pins versions: the Dockerfiles name a
role, this script turns it into `name==version` lines for `pip install -r`.
Each image installs only what its code imports (tests/deploy/test_images.py checks
that), so only the torch variants of the server carry torch.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

# Distributions (as pyproject.toml names them) each image installs.
ROLES: dict[str, tuple[str, ...]] = {
    # python -m server, the lean image: LiteRT and ONNX Runtime, health, reflection, metrics.
    "server": (
        "ai-edge-litert", "onnxruntime", "grpcio", "grpcio-health-checking", "grpcio-reflection",
        "grpcio-status", "googleapis-common-protos", "protobuf", "numpy", "pillow", "opencv-contrib-python-headless", "pydantic", "pydantic-settings",
        "prometheus-client",
    ),
    # python -m rest_bridge: FastAPI on uvicorn (WebSockets, multipart forms), the gRPC client, metrics.
    "bridge": (
        "fastapi", "uvicorn", "python-multipart", "websockets", "grpcio", "grpcio-health-checking", "grpcio-status",
        "googleapis-common-protos", "protobuf", "numpy", "pillow", "opencv-contrib-python-headless", "pydantic", "pydantic-settings",
        "prometheus-client",
    ),
    # streamlit run streamlit_app/app.py and the gRPC client.
    "ui": (
        "streamlit", "streamlit-webrtc", "aiortc", "grpcio", "grpcio-health-checking", "grpcio-status", "googleapis-common-protos", "protobuf",
        "numpy", "pillow", "opencv-contrib-python-headless",
        "pydantic", "pydantic-settings",
    ),
    # Added to the server image by the torch variants (server-torch, server-cuda).
    "torch": ("torch", "torchvision"),
    # Build stage only: generates the protobuf and gRPC modules.
    "protoc": ("grpcio-tools",),
}

_PIN = re.compile(r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?P<extras>\[[^\]]*\])?\s*==\s*(?P<version>[^\s;,]+)")


def canonical(name: str) -> str:
    """PEP 503 normalised name: `Prometheus_Client` and `prometheus-client` are one distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(pyproject: Path) -> dict[str, str]:
    """Canonical name -> requirement line (extras kept) for every dependency: the client library's own and
    those of the extras (`service` brings the server's, bridge's and UI's); each must be pinned with ==."""
    project = tomllib.loads(pyproject.read_text())["project"]
    extras = project.get("optional-dependencies", {})
    dependencies = [*project["dependencies"], *(d for group in extras.values() for d in group)]
    result: dict[str, str] = {}
    for dependency in dependencies:
        match = _PIN.fullmatch(dependency.strip())
        if match is None:
            raise ValueError(f"{dependency!r} in {pyproject} is not pinned with ==")
        result.setdefault(canonical(match["name"]), dependency.strip())
    return result


def requirements(role: str, pyproject: Path, only: list[str] | None = None) -> list[str]:
    """The requirement lines of a role, in the role's order; `only` keeps just those names."""
    pinned = pins(pyproject)
    names = ROLES[role]
    if only:
        wanted = {canonical(name) for name in only}
        unknown = wanted - {canonical(name) for name in names}
        if unknown:
            raise ValueError(f"role {role} does not install {', '.join(sorted(unknown))}")
        names = tuple(name for name in names if canonical(name) in wanted)
    missing = [name for name in names if canonical(name) not in pinned]
    if missing:
        raise ValueError(f"{', '.join(missing)} not among the dependencies of {pyproject}")
    return [pinned[canonical(name)] for name in names]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("role", choices=sorted(ROLES))
    parser.add_argument("--only", nargs="+", metavar="NAME", help="print only these distributions of the role")
    parser.add_argument("--pyproject", type=Path, default=Path("pyproject.toml"))
    args = parser.parse_args(argv)
    try:
        lines = requirements(args.role, args.pyproject, args.only)
    except (ValueError, OSError, KeyError) as exc:
        sys.exit(f"requirements.py: {exc}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
