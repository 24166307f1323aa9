"""The README's grpcurl examples, run as written (from the repository root, against 127.0.0.1:50051)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import DEFAULT_MODEL, REPO, ServerProcess

pytestmark = pytest.mark.server

SECTION = "### From any gRPC tool"


def grpcurl_block() -> str:
    text = (REPO / "README.md").read_text()
    start = text.index(SECTION)
    return re.search(r"```bash\n(.*?)```", text[start:], flags=re.DOTALL).group(1)


def test_grpcurl_examples_as_written(tmp_path):
    block = grpcurl_block()
    assert "127.0.0.1:50051" in block
    server = ServerProcess(log_path=tmp_path / "server.log", command=[
        sys.executable, "-m", "server", "--port", "50051", "--metrics-port", "0", "--models", DEFAULT_MODEL])
    try:
        server.wait_ready()
        # grpcurl lives in the project's environment (tests extra), as the README says.
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=120, check=False)
    finally:
        assert server.stop() == 0
    # head -c closes the pipe early; grpcurl may then complain about the broken pipe, which is expected.
    out = done.stdout
    assert done.returncode in (0, 141) or "broken pipe" in done.stderr.lower(), done.stderr
    services, _, documents = out.partition("{")
    assert {"segmentation.v1.Segmenter", "grpc.health.v1.Health"} <= set(services.split())
    decoder, rest = json.JSONDecoder(), "{" + documents
    health, end = decoder.raw_decode(rest)
    rest = rest[end:].lstrip()
    models, end = decoder.raw_decode(rest)
    segment = rest[end:].lstrip()  # the first 600 bytes of the Segment response
    assert health == {"status": "SERVING"}
    assert models["default_model"] == DEFAULT_MODEL and models["models"][0]["runtime"] == "litert"
    assert len(segment) == 600 and segment.startswith("{")
    assert f'"model": "{DEFAULT_MODEL}"' in segment and '"mask"' in segment
