"""The compose files as the compose tool reads them: the Compose Specification's schema, then the tool's
own merge and interpolation (`podman-compose config` or `docker compose config`) checked against the code.

tests/deploy/test_stack.py runs them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.deploy.engine import ENGINE, ENV, NO_ENGINE
from tests.deploy.settings import ENTRY_POINTS, SETTINGS, check_variables, client_token_variable, parse_settings
from tests.support import REPO

pytestmark = pytest.mark.deploy

COMPOSE = REPO / "compose.yaml"
OVERRIDES = sorted(REPO.glob("compose.*.yaml"))


def config(*overrides: Path, shell: dict[str, str] | None = None) -> dict:
    """The merged, interpolated model the compose tool runs, with `shell` as the only variables it sees."""
    if ENGINE is None:
        pytest.skip(NO_ENGINE)
    files = [arg for path in (COMPOSE, *overrides) for arg in ("-f", str(path))]
    tool = ([sys.executable, "-m", "podman_compose", *files, "config"] if ENGINE == "podman"
            else ["docker", "compose", *files, "config"])
    env = {k: v for k, v in ENV.items() if not k.startswith(("SEGMENTATION_", "BRIDGE_", "UI_"))}
    result = subprocess.run(tool, capture_output=True, text=True, env={**env, **(shell or {})}, cwd=REPO,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


@pytest.fixture(scope="module")
def services() -> dict:
    return config()["services"]


@pytest.fixture(scope="module")
def compose_schema():
    import importlib.resources

    import jsonschema

    vendor = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    return jsonschema.Draft202012Validator(json.loads(vendor.joinpath("compose-spec.json").read_text()))


@pytest.mark.parametrize("path", [COMPOSE, *OVERRIDES], ids=lambda p: p.name)
def test_compose_files_follow_the_compose_spec(path, compose_schema):
    errors = sorted(compose_schema.iter_errors(yaml.safe_load(path.read_text())), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_compose_schema_rejects_mistakes(compose_schema):
    broken = yaml.safe_load(COMPOSE.read_text())
    broken["services"]["ui"]["healthcheck"]["intervall"] = "5s"
    broken["services"]["bridge"]["depends_on"]["server"]["condition"] = "service_ready"
    assert len(list(compose_schema.iter_errors(broken))) >= 2


def test_services_run_the_entry_points_and_gate_on_the_servers_health(services):
    assert set(services) == {"server", "bridge", "ui"}
    for name, service in services.items():
        assert service["command"] == ENTRY_POINTS[name]
        assert service["healthcheck"]["test"][:3] == ["CMD", "python", "/app/healthcheck.py"]
    for name in ("bridge", "ui"):
        assert services[name]["depends_on"] == {"server": {"condition": "service_healthy"}}


def _published(services: dict) -> dict[str, list[str]]:
    return {name: [str(p) for p in s.get("ports", [])] for name, s in services.items() if s.get("ports")}


def test_only_the_ui_is_published_and_on_loopback(services):
    assert _published(services) == {"ui": ["127.0.0.1:8501:8501"]}


def test_the_expose_override_publishes_grpc_metrics_and_rest_on_loopback():
    published = _published(config(REPO / "compose.expose.yaml")["services"])
    assert published == {"server": ["127.0.0.1:50051:50051", "127.0.0.1:9464:9464"],
                         "bridge": ["127.0.0.1:8000:8000"], "ui": ["127.0.0.1:8501:8501"]}


@pytest.mark.parametrize("overrides", [[], *[[p] for p in OVERRIDES]],
                         ids=lambda o: "+".join(p.name for p in o) or "compose.yaml")
def test_compose_environment_is_settings(overrides, monkeypatch):
    for name, service in config(*overrides)["services"].items():
        env = {k: str(v) for k, v in service["environment"].items()}
        check_variables(set(env), name, f"compose service {name}")
        built = parse_settings({k: v for k, v in env.items() if k.startswith(tuple(SETTINGS))}, monkeypatch,
                               f"compose service {name}")
        bind = {"server": "SEGMENTATION_HOST", "bridge": "BRIDGE_HOST", "ui": "STREAMLIT_SERVER_ADDRESS"}[name]
        assert env[bind] == "0.0.0.0", "inside a container, loopback reaches nobody"
        if name == "server":
            # Stopping gives the server its grace for calls in flight before the engine kills it.
            assert int(service["stop_grace_period"].rstrip("s")) > built["SEGMENTATION_"].grace_seconds


def test_clients_reach_the_server_by_its_service_name(services, monkeypatch):
    env = {k: str(v) for k, v in services["server"]["environment"].items()}
    port = parse_settings(env, monkeypatch, "server")["SEGMENTATION_"].port
    assert services["bridge"]["environment"]["BRIDGE_GRPC_TARGET"] == f"server:{port}"
    assert services["ui"]["environment"]["UI_GRPC_TARGET"] == f"server:{port}"


def test_the_token_comes_from_the_shell(monkeypatch):
    for shell, expected in (({}, None), ({"SEGMENTATION_AUTH_TOKEN": "t0ken"}, "t0ken")):
        services = config(shell=shell)["services"]
        for name, prefix in (("server", "SEGMENTATION_"), ("bridge", "BRIDGE_"), ("ui", "UI_")):
            env = {k: str(v) for k, v in services[name]["environment"].items()}
            built = parse_settings(env, monkeypatch, name)[prefix]
            value = built.auth_token if prefix == "SEGMENTATION_" else built.grpc.token
            assert ((value.get_secret_value() if value else None) or None) == expected, (name, shell)
            if prefix != "SEGMENTATION_":
                assert client_token_variable(prefix) in env
        # Empty values would switch the bridge's own auth on with an empty token: left out unless set.
        assert "BRIDGE_AUTH_TOKEN" not in services["bridge"]["environment"]
