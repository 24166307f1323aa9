"""Schemathesis against the bridge's own OpenAPI schema, the bridge wired to the real gRPC server.

Every operation gets generated requests, valid and invalid; every answer must
be documented (status, content type, headers, body schema) and none may be a
server error. Valid requests must be accepted, so the image bodies are real
images: small random pictures in the format their content type names.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from rest_bridge import BridgeSettings, create_app

pytestmark = pytest.mark.bridge

_EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/bmp": ".bmp", "image/webp": ".webp"}


@st.composite
def encoded_images(draw, extension: str) -> bytes:
    height, width = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    pixels = draw(st.binary(min_size=height * width * 3, max_size=height * width * 3))
    image = np.frombuffer(pixels, np.uint8).reshape(height, width, 3)
    return cv2.imencode(extension, image)[1].tobytes()


for _media_type, _extension in _EXTENSIONS.items():
    schemathesis.openapi.media_type(_media_type, encoded_images(_extension))

# The schema is read at import, before the gRPC server fixture exists, from an app whose gRPC target is
# never called (the client connects lazily); the requests go to `bridge_app`, wired to the real server.
# (schemathesis.pytest.from_fixture would read it lazily, but schemathesis 4.32.5 fails under pytest 9.2
# there: it reads the removed `Function._nodeid`.)
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(BridgeSettings()))


@pytest.fixture(scope="module")
def bridge_app(grpc_address):
    return create_app(BridgeSettings(grpc={"target": grpc_address}))


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_every_answer_matches_the_schema(case, bridge_app):
    response = case.call(app=bridge_app)
    if (case.query or {}).get("format") == "alpha" and case.meta.generation.mode == GenerationMode.POSITIVE:
        # These models have no soft mask: a valid format=alpha request is refused with the documented 422
        # NO_SOFT_MASK, which the schema cannot tie to the model; every other check still applies. (An
        # invalid one is refused for what is wrong with it, as every other invalid request is.)
        assert response.status_code != 422 or response.json()["reason"] == "NO_SOFT_MASK", response.text
        case.validate_response(response, excluded_checks=[positive_data_acceptance])
    else:
        case.validate_response(response)
