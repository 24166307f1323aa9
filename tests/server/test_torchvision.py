"""The torchvision runtime for real on CPU, with a state dict the test writes into a model folder."""

from __future__ import annotations

import time

import grpc
import pytest
import torch
from torchvision.models import get_model_weights
from torchvision.models.segmentation import lraspp_mobilenet_v3_large

from protos import segmentation_pb2 as pb
from protos import segmentation_pb2_grpc as pb_grpc
from tests.support import DEFAULT_MODEL, MODEL_REPOSITORY, link_model

pytestmark = pytest.mark.server

LRASPP = "lraspp-mobilenetv3-large"
MISSING = "deeplabv3-resnet50"


@pytest.fixture(scope="module")
def torch_server(start_server, tmp_path_factory):
    folder = tmp_path_factory.mktemp("torch")
    repository = folder / "repository"
    for model_id in (DEFAULT_MODEL, LRASPP, MISSING):
        link_model(repository, model_id)
    # The built-in config with a state dict of our own in the folder.
    config = (MODEL_REPOSITORY / LRASPP / "model.toml").read_text()
    (repository / LRASPP / "model.toml").unlink()
    (repository / LRASPP / "model.toml").write_text(
        config.replace('name = "COCO_WITH_VOC_LABELS_V1"', 'file = "lraspp.pth"'))
    torch.manual_seed(0)
    model = lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=21)
    torch.save(model.state_dict(), repository / LRASPP / "lraspp.pth")
    # An empty hub cache and no downloads: the ResNet-50 weights cannot be had.
    server = start_server("--model-repository", str(repository), "--no-download",
                          env={"TORCH_HOME": str(folder / "torch")})
    yield server, folder
    server.stop()


@pytest.fixture(scope="module")
def stub(torch_server):
    with grpc.insecure_channel(torch_server[0].address) as channel:
        stub = pb_grpc.SegmenterStub(channel)
        # Non-default models load after the server reports SERVING.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            models = stub.ListModels(pb.ListModelsRequest(), timeout=5).models
            if all(m.unavailable_reason != "loading" for m in models):
                break
            time.sleep(0.2)
        yield stub


def test_torchvision_model_is_listed_with_its_own_labels(stub):
    models = {m.id: m for m in stub.ListModels(pb.ListModelsRequest(), timeout=5).models}
    info = models[LRASPP]
    assert info.available, info.unavailable_reason
    assert info.runtime == "torchvision" and info.device == "cpu"
    expected = get_model_weights("lraspp_mobilenet_v3_large")["COCO_WITH_VOC_LABELS_V1"].meta["categories"]
    assert list(info.labels) == ["background", *expected[1:]]
    assert (info.input_width, info.input_height) == (520, 520)
    assert len(info.palette) == len(expected)


def test_torchvision_model_segments_at_input_resolution(stub, sample_bytes):
    response = stub.Segment(
        pb.SegmentRequest(model=LRASPP, image=pb.Image(encoded=sample_bytes("cat_720p.jpg")),
                          mask_encoding=pb.MASK_ENCODING_RAW),
        timeout=60,
    )
    assert response.model == LRASPP
    assert (response.mask.width, response.mask.height) == (1280, 720)
    assert len(response.mask.data) == 1280 * 720
    assert response.classes and sum(c.fraction for c in response.classes) == pytest.approx(1.0, abs=1e-4)
    labels = ["background", *get_model_weights("lraspp_mobilenet_v3_large").DEFAULT.meta["categories"][1:]]
    assert all(c.label == labels[c.class_id] for c in response.classes)


def test_model_without_weights_is_unavailable_with_the_reason(stub, torch_server, sample_bytes):
    _, folder = torch_server
    info = {m.id: m for m in stub.ListModels(pb.ListModelsRequest(), timeout=5).models}[MISSING]
    assert not info.available
    assert "$TORCH_HOME/hub/checkpoints/deeplabv3_resnet50_coco-cd0a2569.pth is missing" in info.unavailable_reason
    assert str(folder) not in info.unavailable_reason
    with pytest.raises(grpc.RpcError) as error:
        stub.Segment(pb.SegmentRequest(model=MISSING, image=pb.Image(encoded=sample_bytes("cat_720p.jpg"))), timeout=30)
    assert error.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "deeplabv3_resnet50_coco-cd0a2569.pth is missing" in error.value.details()


def test_default_model_still_serves(stub, sample_bytes):
    response = stub.Segment(pb.SegmentRequest(image=pb.Image(encoded=sample_bytes("cat_720p.jpg"))), timeout=30)
    assert response.model == DEFAULT_MODEL and "cat" in [c.label for c in response.classes]
