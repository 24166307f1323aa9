"""Token authentication and TLS (plain and mutual) with certificates the test makes."""

from __future__ import annotations

import grpc
import pytest

from segmentation_client import SegmentationClient, Unauthenticated, Unavailable
from tests.support import SAMPLES

pytestmark = pytest.mark.server

CAT = SAMPLES / "cat_720p.jpg"
TOKEN = "s3cret-token-for-tests"


def test_token_is_required_except_for_health(start_server):
    server = start_server(env={"SEGMENTATION_AUTH_TOKEN": TOKEN})
    with SegmentationClient(server.address, timeout=30) as anonymous:
        assert anonymous.health() == "SERVING"  # probes stay open
        with pytest.raises(Unauthenticated, match="bearer token"):
            anonymous.segment(CAT)
        with pytest.raises(Unauthenticated):
            anonymous.list_models()
        with pytest.raises(Unauthenticated):
            list(anonymous.stream([CAT]))
    with SegmentationClient(server.address, token="wrong", timeout=30) as wrong, pytest.raises(Unauthenticated):
        wrong.segment(CAT)
    with SegmentationClient(server.address, token=TOKEN, timeout=30) as client:
        assert "cat" in client.segment(CAT).labels
        assert [r.ok for r in client.stream([CAT, CAT], drop_policy="none")] == [True, True]
    server.stop()


def test_tls(start_server, certs):
    server = start_server("--tls-cert", str(certs / "server.pem"), "--tls-key", str(certs / "server.key"), wait=False)
    server.wait_ready(credentials=grpc.ssl_channel_credentials((certs / "ca.pem").read_bytes()))
    with SegmentationClient(server.address, root_certificates=certs / "ca.pem", timeout=30) as client:
        assert "cat" in client.segment(CAT).labels
    with SegmentationClient(server.address, timeout=3) as plaintext, pytest.raises(Unavailable):
        plaintext.health()
    server.stop()


def test_mutual_tls(start_server, certs):
    server = start_server(
        "--tls-cert", str(certs / "server.pem"), "--tls-key", str(certs / "server.key"),
        "--tls-client-ca", str(certs / "ca.pem"), wait=False,
    )
    credentials = grpc.ssl_channel_credentials(
        (certs / "ca.pem").read_bytes(), (certs / "client.key").read_bytes(), (certs / "client.pem").read_bytes()
    )
    server.wait_ready(credentials=credentials)
    with SegmentationClient(server.address, root_certificates=certs / "ca.pem", client_cert=certs / "client.pem",
                            client_key=certs / "client.key", timeout=30) as client:
        assert "cat" in client.segment(CAT).labels
    with (SegmentationClient(server.address, root_certificates=certs / "ca.pem", timeout=3) as no_cert,
          pytest.raises(Unavailable)):
        no_cert.health()
    server.stop()
