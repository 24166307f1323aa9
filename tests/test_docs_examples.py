"""Every shell and Python example of the README and docs/, run as written against the real stack.

Each ```bash, ```sh and ```python block is one of:
- run (no marker): from a scratch copy of the repository root (its entries linked, `../shared` beside
  it, so files the examples write stay out of the checkout), with the server on 127.0.0.1:50051 and the
  bridge on 127.0.0.1:8000 as `make run` starts them; it must exit 0;
- `<!-- example: services -->` on the line before: each command starts a long-running program (a
  server, the bridge, the UI); each must come up and listen on its port, then is stopped;
- `<!-- example: tested by tests/NAME.py -->`: that test runs the block as written (checked here to
  exist and to read that document);
- `<!-- example: exits N: REASON -->`: run, and must exit N, for the reason given (a check that
  reports a problem this machine has);
- `<!-- example: not run: REASON -->`: cannot run on a test machine (a container engine, a cluster, a
  camera); the reason is shown as the skip reason.
Data blocks (yaml, toml, json, untagged output) are not examples.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from segmentation_client import SegmentationClient
from tests.support import REPO, SHARED, ServerProcess, wait_until_loaded

pytestmark = [pytest.mark.server, pytest.mark.bridge]

DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LANGUAGES = {"bash", "sh", "python"}
_BLOCK = re.compile(r"(?:<!-- example: (?P<marker>[^>]*?) -->\n)?^```(?P<lang>\w*)\n(?P<code>.*?)^```", re.MULTILINE | re.DOTALL)
# The ports a program listens on when its example names none.
DEFAULT_PORTS = {"server": 50051, "rest_bridge": 8000, "streamlit": 8501}


@dataclass(frozen=True)
class Example:
    document: Path
    line: int
    lang: str
    code: str
    marker: str

    @property
    def id(self) -> str:
        return f"{self.document.relative_to(REPO)}:{self.line}"


def examples() -> list[Example]:
    found = []
    for document in DOCUMENTS:
        text = document.read_text()
        for match in _BLOCK.finditer(text):
            if match["lang"] in LANGUAGES:
                line = text.count("\n", 0, match.start("lang")) + 1
                found.append(Example(document, line, match["lang"], match["code"], match["marker"] or ""))
    return found


def of_kind(kind: str) -> list[Example]:
    def kind_of(example: Example) -> str:
        kind = example.marker.split(":")[0].split()[0] if example.marker else "run"
        return "run" if kind == "exits" else kind
    return [example for example in examples() if kind_of(example) == kind]


def test_every_example_is_run_or_says_why_not():
    kinds = ("run", "services", "tested", "not", "exits")
    for example in examples():
        kind = example.marker.split()[0].rstrip(":") if example.marker else "run"
        assert kind in kinds, f"{example.id}: unknown marker {example.marker!r}"
        if kind == "not":
            assert re.fullmatch(r"not run: \S.{10,}", example.marker), f"{example.id}: say why it is not run"
        if kind == "exits":
            assert re.fullmatch(r"exits \d+: \S.{10,}", example.marker), f"{example.id}: say why it exits so"
    assert len(of_kind("run")) >= 10


@pytest.mark.parametrize("example", of_kind("tested"), ids=lambda e: e.id)
def test_example_tested_elsewhere_is_read_there(example: Example):
    test_file = REPO / example.marker.removeprefix("tested by ").strip()
    assert test_file.is_file(), f"{example.id}: {test_file} does not exist"
    assert example.document.name in test_file.read_text(), f"{test_file.name} does not read {example.document.name}"


@pytest.mark.parametrize("example", of_kind("not"), ids=lambda e: e.id)
def test_example_not_run(example: Example):
    pytest.skip(example.marker)


# -- a scratch copy of the repository root -------------------------------------------------------------

@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """The repository's entries linked into a fresh folder, with ../shared beside it: examples read the
    checkout and the samples as they would, and write their outputs (mask.png, clip.mp4, ...) here."""
    root = tmp_path_factory.mktemp("docs")
    work = root / "project"
    work.mkdir()
    for entry in REPO.iterdir():
        if entry.name not in (".git", "bench-results"):
            (work / entry.name).symlink_to(entry)
    (root / "shared").symlink_to(SHARED.resolve())
    make_clip(work / "clip.mp4")
    return work


def make_clip(path: Path) -> None:
    """clip.mp4, the user's own video in the webcam examples: the sample traffic frames, twice over."""
    import cv2

    frames = sorted((SHARED / "samples" / "traffic_frames").glob("*.bmp")) * 2
    first = cv2.imread(str(frames[0]))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, first.shape[1::-1])
    for frame in frames:
        writer.write(cv2.imread(str(frame)))
    writer.release()


def environment() -> dict[str, str]:
    # The project's environment first on PATH (grpcurl, streamlit), as after `make setup`.
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "BRIDGE": "http://127.0.0.1:8000"}


def run(example: Example, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    if example.lang == "python":
        command = [sys.executable, "-c", example.code]
    else:
        command = ["bash", "-euo", "pipefail", "-c", example.code]
    return subprocess.run(command, cwd=cwd, env=environment(), capture_output=True, text=True, timeout=timeout,
                          check=False)


# -- long-running programs ----------------------------------------------------------------------------

def commands(code: str) -> list[str]:
    """The command lines of a block: continuations joined, comments and blank lines left out."""
    joined = re.sub(r"\\\n\s*", " ", code)
    return [line for line in (raw.split(" #")[0].strip() for raw in joined.splitlines())
            if line and not line.startswith("#")]


def port_of(command: str) -> int:
    words = shlex.split(command)
    for flag in ("--port", "--server.port"):
        if flag in words:
            return int(words[words.index(flag) + 1])
    program = next(w for w in words if w in DEFAULT_PORTS or w.endswith("/streamlit"))
    return DEFAULT_PORTS[program.rsplit("/", 1)[-1]]


def wait_listening(port: int, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"exited with {proc.returncode} before listening on {port}:\n{log.read_text()}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"nothing listened on {port} within {timeout} s:\n{log.read_text()}")


# Defined before the tests that need the stack on the same ports, so that they run first.
@pytest.mark.parametrize("example", of_kind("services"), ids=lambda e: e.id)
def test_services_example_comes_up(example: Example, workdir: Path, tmp_path: Path):
    started: list[subprocess.Popen] = []
    try:
        for i, command in enumerate(commands(example.code)):
            log = tmp_path / f"{i}.log"
            with log.open("w") as out:
                # `exec` so that the signal reaches the program; `env` for a command that starts with VAR=value.
                proc = subprocess.Popen(["bash", "-c", f"exec env {command}"], cwd=workdir, env=environment(),
                                        stdout=out, stderr=subprocess.STDOUT)
            started.append(proc)
            wait_listening(port_of(command), proc, log)
            # One at a time: the next line of an example may be another way to start the same program.
            if i + 1 < len(commands(example.code)) and port_of(commands(example.code)[i + 1]) == port_of(command):
                stop(proc)
    finally:
        for proc in reversed(started):
            stop(proc)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- the stack, as `make run` starts it, and the examples that call it ----------------------------------

@pytest.fixture(scope="module")
def stack(workdir: Path, tmp_path_factory):
    logs = tmp_path_factory.mktemp("stack")
    server = ServerProcess(log_path=logs / "server.log", cwd=workdir, command=[
        sys.executable, "-m", "server", "--port", "50051", "--metrics-port", "0"])
    bridge = None
    try:
        server.wait_ready()
        with SegmentationClient(server.address) as client:
            wait_until_loaded(client)  # the examples use the selfie models too, which load after SERVING
        with (logs / "bridge.log").open("w") as out:
            bridge = subprocess.Popen([sys.executable, "-m", "rest_bridge", "--port", "8000",
                                       "--grpc.target", "127.0.0.1:50051"], cwd=workdir, stdout=out,
                                      stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get("http://127.0.0.1:8000/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and bridge.poll() is None, (logs / "bridge.log").read_text()
            time.sleep(0.2)
        yield
    finally:
        if bridge is not None:
            stop(bridge)
        server.stop()


@pytest.mark.parametrize("example", of_kind("run"), ids=lambda e: e.id)
def test_example_runs_as_written(example: Example, stack, workdir: Path):
    done = run(example, workdir)
    expected = int(example.marker.split()[1].rstrip(":")) if example.marker.startswith("exits") else 0
    assert done.returncode == expected, f"{example.id} failed ({done.returncode}):\n{example.code}\n{done.stdout}\n{done.stderr}"
