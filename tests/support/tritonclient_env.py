"""Triton's real client (tritonclient from PyPI) in a virtual environment of its own, for the tests.

tritonclient needs protobuf 6 while the project pins protobuf 7, so the two cannot share one
environment: the tests make `.tritonclient-venv/` from tests/requirements-tritonclient.txt (exact pins)
once, mark it with a stamp of the requirements, and run small client scripts in it as subprocesses.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.paths import REPO

REQUIREMENTS = REPO / "tests" / "requirements-tritonclient.txt"
VENV = REPO / ".tritonclient-venv"

# Runs in the tritonclient environment: a list of calls in (JSON on stdin), their results out (JSON).
CALLS = r'''
import json, sys
import numpy as np
from tritonclient.utils import InferenceServerException

protocol, url, calls = json.load(sys.stdin)
if protocol == "grpc":
    import tritonclient.grpc as client_module
else:
    import tritonclient.http as client_module
client = client_module.InferenceServerClient(url)


def tensor(call):
    if "files" in call:
        files = [open(path, "rb").read() for path in call["files"]]
        data = np.array(files, dtype=np.object_).reshape(call.get("shape", [len(files)]))
        name, datatype = "IMAGE", "BYTES"
    else:
        data = np.load(call["npy"])
        name, datatype = "IMAGE", "UINT8"
    item = client_module.InferInput(name, list(data.shape), datatype)
    if protocol == "http":
        item.set_data_from_numpy(data, binary_data=call.get("binary", True))
    else:
        item.set_data_from_numpy(data)
    return item


def run(call):
    op, model = call["op"], call.get("model", "")
    if op == "live":
        return client.is_server_live()
    if op == "ready":
        return client.is_server_ready()
    if op == "model_ready":
        return client.is_model_ready(model)
    if op == "metadata":
        meta = client.get_model_metadata(model, as_json=True) if protocol == "grpc" else client.get_model_metadata(model)
        return {"name": meta["name"], "platform": meta.get("platform", ""), "inputs": meta["inputs"],
                "outputs": meta["outputs"]}
    if op == "infer":
        outputs = None
        if protocol == "http" and "binary_output" in call:
            outputs = [client_module.InferRequestedOutput("MASK", binary_data=call["binary_output"])]
        result = client.infer(model, [tensor(call)], outputs=outputs)
        mask = result.as_numpy("MASK")
        counts = np.bincount(mask.ravel())
        return {"shape": list(mask.shape), "dtype": str(mask.dtype),
                "classes": {str(c): int(counts[c]) for c in np.flatnonzero(counts)}}
    raise ValueError(op)


results = []
for call in calls:
    try:
        results.append({"ok": run(call)})
    except InferenceServerException as exc:
        results.append({"error": {"status": str(exc.status()), "message": exc.message()}})
json.dump(results, sys.stdout)
'''


def _stamp() -> Path:
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:16]
    return VENV / f".installed-{digest}"


def python() -> Path:
    """The environment's python, made (or remade, when the pins changed) on first use."""
    executable = VENV / "bin" / "python"
    if not _stamp().exists():
        shutil.rmtree(VENV, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(executable), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        "-r", str(REQUIREMENTS)], check=True, timeout=600)
        _stamp().touch()
    return executable


def run_script(
    script: str, *args: str, stdin: str = "", timeout: float = 120, cwd: Path | str = "/"
) -> subprocess.CompletedProcess:
    """Run Python code in the tritonclient environment (by default outside the repository: it must not
    import the project's modules)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run([str(python()), "-c", script, *args], input=stdin, capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=cwd, check=False)


def calls(protocol: str, url: str, *items: dict) -> list[dict]:
    """Make tritonclient calls ("live", "ready", "model_ready", "metadata", "infer"); their results in order,
    each {"ok": value} or {"error": {"status", "message"}}."""
    done = run_script(CALLS, stdin=json.dumps([protocol, url, list(items)]))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
