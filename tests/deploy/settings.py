"""Environment variables of the deployment files against the settings classes of the programs they run."""

from __future__ import annotations

import os
import re

import pytest
from pydantic import BaseModel

from rest_bridge.config import BridgeSettings
from server.config import ServerSettings
from streamlit_app.config import UISettings
from tests.support import REPO

SETTINGS = {"SEGMENTATION_": ServerSettings, "BRIDGE_": BridgeSettings, "UI_": UISettings}
PROGRAM_PREFIXES = {"server": ("SEGMENTATION_",), "bridge": ("BRIDGE_",), "ui": ("UI_", "STREAMLIT_")}
ENTRY_POINTS = {
    "server": ["python", "-m", "server"],
    "bridge": ["python", "-m", "rest_bridge"],
    "ui": ["streamlit", "run", "streamlit_app/app.py"],
}
# Variables a deployment file may set that belong to no settings class.
OTHER_VARIABLES = {"PATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "PIP_DISABLE_PIP_VERSION_CHECK",
                   "TORCH_HOME", "NVIDIA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES", "LANG"}
# ... and the variables of docker/healthcheck.py (for a server with TLS).
OTHER_VARIABLES |= set(re.findall(r"\b(HEALTHCHECK_[A-Z_]+)\b", (REPO / "docker" / "healthcheck.py").read_text()))
APP_UID = 10001


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



# The setting through which each client sends the server's token: its ClientSettings' token. The bridge's own
# `auth_token` is for its callers, not for the server.
def client_token_variable(prefix: str) -> str | None:
    return f"{prefix}GRPC_TOKEN" if "grpc" in SETTINGS[prefix].model_fields else None
