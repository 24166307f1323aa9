"""Property: whatever bytes arrive, the server answers OK or INVALID_ARGUMENT, never INTERNAL or UNKNOWN."""

from __future__ import annotations

import grpc
import pytest
from hypothesis import HealthCheck, given, settings

from protos import segmentation_pb2 as pb
from tests.support import mutated_images

pytestmark = pytest.mark.server


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
