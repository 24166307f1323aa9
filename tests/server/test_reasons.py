"""The error reasons are defined once, by the enum ErrorReason of protos/segmentation.proto.

The server's code, read as source, must send exactly the enum's reasons, each with the status code the
enum's comment gives it; the client library and the bridge read the enum, and the bridge's own reasons
are its BRIDGE_REASONS, every one used. A reason added to the enum, to the server or to the bridge alone
fails here.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict

import pytest

from protos import segmentation_pb2 as pb
from rest_bridge import errors as bridge_errors
from rest_bridge.app import DESCRIPTION
from segmentation_client import REASONS, error_for
from server import errors, status
from server.open_inference import BadTensor
from tests.support import REPO

REASON = re.compile(r"^[A-Z]+(_[A-Z]+)*$")


def _error_classes() -> dict[str, type[errors.SegmentationError]]:
    found, todo = {}, [errors.SegmentationError]
    while todo:
        cls = todo.pop()
        found[cls.__name__] = cls
        todo.extend(cls.__subclasses__())
    assert BadTensor.__name__ in found  # the Open Inference service's own, from server/open_inference.py
    return found


def _name(node: ast.expr) -> str:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""


def _literal(node: ast.expr | None) -> str | None:
    ok = isinstance(node, ast.Constant) and isinstance(node.value, str) and REASON.match(node.value)
    return node.value if ok else None  # type: ignore[union-attr]


def reasons_in(folder: str, reason_arg: dict[str, int]) -> dict[str, set[str]]:
    """Every reason literal in the folder's code -> where it stands (the class or call that carries it).

    A reason is a class's `reason = "..."`, a `reason="..."` keyword, or the argument at `reason_arg[name]`
    of a call to `name`.
    """
    found: dict[str, set[str]] = defaultdict(set)
    for path in sorted((REPO / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if (isinstance(item, ast.Assign) and [_name(t) for t in item.targets] == ["reason"]
                            and (value := _literal(item.value))):
                        found[value].add(node.name)
            elif isinstance(node, ast.Call):
                name = _name(node.func)
                values = [_literal(k.value) for k in node.keywords if k.arg == "reason"]
                if name in reason_arg and len(node.args) > reason_arg[name]:
                    values.append(_literal(node.args[reason_arg[name]]))
                for value in filter(None, values):
                    found[value].add(name)
    return found


def _enum_codes() -> dict[str, str]:
    """Each reason -> the status code its comment in the .proto names."""
    proto = (REPO / "protos" / "segmentation.proto").read_text()
    body = proto[proto.index("enum ErrorReason {"):]
    body = body[:body.index("}")]
    return dict(re.findall(r"^\s+([A-Z_]+) = [1-9]\d*;\s+// ([A-Z_]+):", body, re.MULTILINE))


def test_the_enum_and_its_comments_agree():
    assert tuple(_enum_codes()) == REASONS == tuple(pb.ErrorReason.keys())[1:]
    assert pb.ErrorReason.Value("ERROR_REASON_UNSPECIFIED") == 0


def test_the_server_sends_exactly_the_enums_reasons_each_with_its_code():
    classes = _error_classes()
    calls = {name: 1 for name in classes} | {"abort": 3, "Failure": 2}
    sent = reasons_in("server", calls)
    assert set(sent) == set(REASONS), "a reason the server sends must be in the enum, and each one sent"
    codes = _enum_codes()
    for reason, places in sent.items():
        for place in places & set(classes):
            assert status.status_code(classes[place]("x")).name == codes[reason], (reason, place)


def test_the_bridge_uses_the_servers_reasons_and_its_own_only():
    own = set(bridge_errors.BRIDGE_REASONS)
    used = reasons_in("rest_bridge", {"problem": 2, "oip_problem": 2})
    code = "\n".join(p.read_text() for p in (REPO / "rest_bridge").rglob("*.py"))
    code = re.sub(r"BRIDGE_REASONS = \([^)]*\)", "", code)  # the list itself does not count as a use
    unused = {r for r in own if f'"{r}"' not in code and r not in used}
    assert not unused, f"BRIDGE_REASONS that the bridge never gives: {unused}"
    assert set(used) <= own | set(REASONS), f"reasons missing from BRIDGE_REASONS: {set(used) - own - set(REASONS)}"
    for reason in (*REASONS, *own):
        assert reason in DESCRIPTION  # the API description lists both, from those two tuples


@pytest.mark.parametrize("reason", REASONS)
def test_every_reason_maps_to_the_client_exception_of_its_code(reason):
    import grpc

    code = grpc.StatusCode[_enum_codes()[reason]]
    error = error_for(code, "x", reason)
    assert error.reason == reason and error.code is code


def test_the_client_raises_no_reason_of_its_own():
    assert set(reasons_in("segmentation_client", {})) <= set(REASONS)


def test_the_scan_finds_what_it_looks_for():
    # Guard against a scan that finds nothing and so passes: the known places are found.
    sent = reasons_in("server", {name: 1 for name in _error_classes()} | {"abort": 3, "Failure": 2})
    assert {"InvalidImage", "BadTensor"} <= sent["BAD_RAW_IMAGE"] | sent["BAD_TENSOR"]
    assert "abort" in sent["UNAUTHENTICATED"] and "Failure" in sent["INTERNAL"]
