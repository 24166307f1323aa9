"""Property: whatever bytes arrive, the server answers OK or INVALID_ARGUMENT, never INTERNAL or UNKNOWN."""

from __future__ import annotations

import io

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from protos import segmentation_pb2 as pb

pytestmark = pytest.mark.server


def _seed(fmt: str, mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, (48, 32), (30, 120, 200) if mode == "RGB" else 90).save(buf, fmt)
    return buf.getvalue()


SEEDS = [_seed("JPEG"), _seed("PNG"), _seed("BMP"), _seed("WEBP"), _seed("PNG", "L")]


@st.composite
def mutated_images(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 64))]
    return bytes(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=mutated_images())
def test_mutated_images_never_cause_a_server_error(stub, data):
    try:
        response = stub.Segment(pb.SegmentRequest(image=pb.Image(encoded=data)), timeout=30)
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT, f"{exc.code()}: {exc.details()}"
        assert exc.details()
    else:
        assert response.mask.width > 0 and response.mask.height > 0
