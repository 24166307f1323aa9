"""ONNX Runtime, torch.export and TorchScript beside torchvision: one model exported to each, served from
model.toml folders, gives the same masks."""

from __future__ import annotations

import numpy as np
import pytest

from segmentation_client import SegmentationClient
from tests.support import DEFAULT_MODEL, SAMPLES, SIZE, exported_lraspp, wait_until_loaded

pytestmark = pytest.mark.server

PHOTOS = ("cat_720p.jpg", "grace_hopper.bmp", "kite_and_cold.jpg", "bird_segmentation.bmp")


@pytest.fixture(scope="module")
def served(start_server, tmp_path_factory):
    repository = tmp_path_factory.mktemp("repository")
    ids = exported_lraspp(repository)
    server = start_server("--model-repository", f"{repository},model_repository",
                          "--models", ",".join([DEFAULT_MODEL, *ids.values()]), "--no-download")
    with SegmentationClient(server.address) as client:
        wait_until_loaded(client)
        yield client, ids
    server.stop()


def test_each_runtime_is_listed_with_its_input(served):
    client, ids = served
    models = {m.id: m for m in client.list_models()}
    for runtime, model_id in ids.items():
        info = models[model_id]
        assert info.available, info.unavailable_reason
        assert info.runtime == runtime and info.device == "cpu"
        assert info.input_size == (SIZE, SIZE) and len(info.labels) == 21


@pytest.mark.parametrize("runtime", ["onnx", "torch_export", "torchscript"])
@pytest.mark.parametrize("photo", PHOTOS)
def test_exported_model_agrees_with_torchvision(served, runtime, photo):
    client, ids = served
    reference = client.segment(SAMPLES / photo, model=ids["torchvision"], mask_encoding="raw").mask
    mask = client.segment(SAMPLES / photo, model=ids[runtime], mask_encoding="raw").mask
    assert mask.shape == reference.shape
    # Seeded random weights give several classes per photo, so agreement is not trivially "all background".
    assert len(np.unique(reference)) > 1
    agreement = (mask == reference).mean()
    assert agreement >= 0.995, f"{runtime} agrees with torchvision on {agreement:.2%} of {photo}"
