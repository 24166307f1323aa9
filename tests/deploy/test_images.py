"""The images as `make images` builds them: what is inside, who runs it, and the health checks they carry."""

from __future__ import annotations

import json
import tomllib

import pytest

from tests.deploy.engine import ENGINE, IMAGES, NO_ENGINE, engine
from tests.support import REPO

# The first test to need the images builds them: minutes on a fresh machine.
pytestmark = [pytest.mark.containers, pytest.mark.timeout(1800),
              pytest.mark.skipif(ENGINE is None, reason=NO_ENGINE)]

ENTRY_POINTS = {
    "server": ["python", "-m", "server"],
    "bridge": ["python", "-m", "rest_bridge"],
    "ui": ["streamlit", "run", "streamlit_app/app.py"],
}


def run_in(image: str, *command: str) -> str:
    return engine("run", "--rm", "--network", "none", "--no-healthcheck", image, *command, timeout=120).stdout


def config(image: str) -> dict:
    """The image's configuration; its health check under "Healthcheck" (podman keeps it beside "Config")."""
    found = json.loads(engine("image", "inspect", image).stdout)[0]
    return {"Healthcheck": found.get("Healthcheck"), **found["Config"]}


def test_the_lean_server_image_has_no_torch(images):
    script = ("import importlib.util as u; import ai_edge_litert, onnxruntime; "
              "print([n for n in ('torch', 'torchvision') if u.find_spec(n)])")
    assert run_in(IMAGES["server"], "python", "-c", script).strip() == "[]"


@pytest.mark.parametrize("program", ["bridge", "ui"])
def test_client_images_have_no_model_runtime(images, program):
    script = "import importlib.util as u; print([n for n in ('torch', 'ai_edge_litert', 'onnxruntime') if u.find_spec(n)])"
    assert run_in(IMAGES[program], "python", "-c", script).strip() == "[]"


def test_the_server_image_carries_the_model_files_its_configs_name(images):
    """Every weights file of a LiteRT or ONNX model.toml is in the image with the sha256 the config pins."""
    expected = {}
    for path in sorted((REPO / "model_repository").glob("*/model.toml")):
        model = tomllib.loads(path.read_text())
        weights = model.get("weights", {})
        if model["runtime"] in ("litert", "onnx") and weights.get("sha256"):
            expected[f"{path.parent.name}/{weights['file']}"] = weights["sha256"].lower()
    assert expected, "the default repository has LiteRT models"
    script = ("import hashlib, json, pathlib, sys; root = pathlib.Path('/app/model_repository'); "
              "print(json.dumps({n: hashlib.sha256((root / n).read_bytes()).hexdigest() for n in sys.argv[1:]}))")
    assert json.loads(run_in(IMAGES["server"], "python", "-c", script, *expected)) == expected


@pytest.mark.parametrize("program", sorted(IMAGES))
def test_images_run_their_program_as_the_app_user(images, program):
    settings = config(IMAGES[program])
    assert settings["User"] == "10001:10001"
    assert settings["Cmd"] == ENTRY_POINTS[program]
    assert run_in(IMAGES[program], "id", "-u").strip() == "10001"


@pytest.mark.parametrize("program", sorted(IMAGES))
def test_images_keep_their_health_check(images, program):
    """The HEALTHCHECK survives the build (podman keeps it only in the docker format) and runs the bundled script."""
    check = config(IMAGES[program]).get("Healthcheck") or {}
    assert check.get("Test", [])[:3] == ["CMD", "python", "/app/healthcheck.py"], check


# Every top-level module that the code in /app imports (at any depth, function-level imports included) and
# that the image cannot find; run inside the image, so it checks what was really copied and installed.
_MISSING_IMPORTS = """
import ast, importlib.util, json, pathlib, sys
missing = set()
for path in pathlib.Path('/app').rglob('*.py'):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for top in {name.split('.')[0] for name in names} - set(sys.stdlib_module_names) - {'__future__'}:
            if importlib.util.find_spec(top) is None:
                missing.add(top)
print(json.dumps(sorted(missing)))
"""
# The lean server leaves the torch runtimes out on purpose: their backends import torch only when a model
# of theirs is configured (server/backends/__init__.py).
ABSENT_ON_PURPOSE = {"server": ["torch", "torchvision"], "bridge": [], "ui": []}


@pytest.mark.parametrize("program", sorted(IMAGES))
def test_each_image_has_every_module_its_code_imports(images, program):
    assert json.loads(run_in(IMAGES[program], "python", "-c", _MISSING_IMPORTS)) == ABSENT_ON_PURPOSE[program]


def test_the_lean_server_names_the_image_a_torch_model_needs(images):
    """The server image checks its own repository: the LiteRT models load; each torch one is refused with
    a reason that says which image has torch, not a bare import error."""
    found = engine("run", "--rm", "--network", "none", "--no-healthcheck", IMAGES["server"], "python", "-m",
                   "server.check_repository", "/app/model_repository", "--no-download", check=False, timeout=300)
    lines = {line.split()[1].rstrip(":"): line for line in found.stdout.splitlines() if len(line.split()) > 1}
    runtimes = {p.parent.name: tomllib.loads(p.read_text())["runtime"]
                for p in (REPO / "model_repository").glob("*/model.toml")}
    assert found.returncode == 1, found.stdout + found.stderr
    for model, runtime in runtimes.items():
        assert model in lines, f"{model} not reported:\n{found.stdout}"
        if runtime == "litert":
            assert lines[model].startswith("ok"), lines[model]
        else:
            assert "segmentation-server-torch" in lines[model], lines[model]
