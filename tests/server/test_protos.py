"""The generated protobuf and gRPC modules are committed: regenerating them from the .proto files
(`make proto`, the same command) must change nothing, so that they never drift from the contract."""

from __future__ import annotations

import shutil

from grpc_tools import protoc

from tests.support import REPO

PROTOS = sorted((REPO / "protos").glob("*.proto"))


def test_generated_modules_match_the_protos(tmp_path):
    assert PROTOS, "no .proto files"
    (tmp_path / "protos").mkdir()
    for proto in PROTOS:
        shutil.copy(proto, tmp_path / "protos" / proto.name)
    out = str(tmp_path)
    # protoc's own main, in this process: the same code `make proto` runs as `python -m grpc_tools.protoc`.
    assert protoc.main(["protoc", "-I", out, f"--python_out={out}", f"--pyi_out={out}", f"--grpc_python_out={out}",
                        *(str(tmp_path / "protos" / p.name) for p in PROTOS)]) == 0
    generated = sorted(p.name for p in (tmp_path / "protos").iterdir() if p.suffix != ".proto")
    committed = sorted(p.name for p in (REPO / "protos").glob("*_pb2*.py*"))
    assert generated == committed, "a .proto without its generated modules, or modules without a .proto"
    stale = [name for name in generated
             if (tmp_path / "protos" / name).read_bytes() != (REPO / "protos" / name).read_bytes()]
    assert not stale, f"{stale} differ from what the .proto files generate: run `make proto` and commit them"
