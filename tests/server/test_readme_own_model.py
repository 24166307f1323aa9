"""The README's "Serve your own model" runs as written: export, config, check, serve, call.

The steps run in a scratch checkout (links to this one's .venv and model_repository, and to
../shared) so that they write my_models/ there, not into the repository.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO, SHARED, ServerProcess

pytestmark = pytest.mark.server

SECTION = "## Serve your own model"


def readme_blocks() -> list[tuple[str, str]]:
    """(language, code) of each fenced block of the section, in order."""
    text = (REPO / "README.md").read_text()
    start = text.index(SECTION)
    section = text[start : text.index("\n## ", start + len(SECTION))]
    return re.findall(r"```(\w+)\n(.*?)```", section, flags=re.DOTALL)


def scratch_checkout(root: Path) -> Path:
    checkout = root / "checkout"
    checkout.mkdir()
    for name in (".venv", "model_repository"):
        (checkout / name).symlink_to(REPO / name)
    (root / "shared").symlink_to(SHARED)
    return checkout


def run(language: str, code: str, cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", code] if language == "python" else ["bash", "-euo", "pipefail", "-c", code]
    # The scratch checkout has no sources: the project's editable install (make setup) finds them.
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"{language} block failed:\n{code}\n{done.stdout}\n{done.stderr}"
    return done


def test_serve_your_own_model_as_written(tmp_path):
    blocks = readme_blocks()
    assert [language for language, _ in blocks] == ["python", "bash", "bash", "python"]
    (_, export), (_, configure), (_, serve), (_, call) = blocks
    checkout = scratch_checkout(tmp_path)

    run("python", export, checkout)
    assert (checkout / "my_models" / "my-lraspp" / "model.onnx").is_file()
    checked = run("bash", configure, checkout)
    assert "ok       my-lraspp: onnx on cpu, input 320x320 (letterbox), 21 labels" in checked.stdout

    argv = shlex.split(serve)
    assert argv[:3] == [".venv/bin/python", "-m", "server"]
    server = ServerProcess(log_path=tmp_path / "server.log", command=argv, cwd=checkout)
    try:
        server.wait_ready()
        assert server.port == int(argv[argv.index("--port") + 1])
        called = run("python", call, checkout)
    finally:
        assert server.stop() == 0
    assert called.stdout.splitlines() == ["onnx (320, 320) 21", "my-lraspp (1280, 720)"]
