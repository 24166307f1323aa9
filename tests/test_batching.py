"""Dynamic batching of the torchvision backend, for real on CPU with a weights file the test writes."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from torchvision.models.segmentation import lraspp_mobilenet_v3_large

from server.backends.batching import DynamicBatcher
from server.backends.torchvision_backend import TorchvisionBackend


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    weights = tmp_path_factory.mktemp("weights") / "lraspp.pth"
    torch.manual_seed(0)
    torch.save(lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=21).state_dict(), weights)
    return TorchvisionBackend("lraspp_mobilenet_v3_large", "COCO_WITH_VOC_LABELS_V1", weights_file=weights,
                              download=False, device="cpu", threads=2)


def images(n: int, size: int) -> np.ndarray:
    return np.random.default_rng(7).integers(0, 255, (n, size, size, 3), dtype=np.uint8)


def test_concurrent_calls_are_batched_and_get_their_own_results(backend):
    batcher = DynamicBatcher(backend, max_batch=4, max_delay_s=0.5)
    inputs = images(4, backend.input_size)
    expected = backend.predict(inputs)
    results: dict[int, np.ndarray] = {}
    barrier = threading.Barrier(4)

    def call(i: int) -> None:
        barrier.wait()
        results[i] = batcher.predict(inputs[i : i + 1])

    threads = [threading.Thread(target=call, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    batcher.close()
    assert max(batcher.batch_sizes) > 1, f"no call was batched: {batcher.batch_sizes}"
    assert sum(size * n for size, n in batcher.batch_sizes.items()) == 4
    for i in range(4):
        # Float results may differ in the last bits between batch sizes; class ids nearly never do.
        assert (results[i][0] == expected[i]).mean() > 0.999


def test_a_lone_call_waits_no_longer_than_the_delay(backend):
    batcher = DynamicBatcher(backend, max_batch=8, max_delay_s=0.01)
    out = batcher.predict(images(1, backend.input_size))
    batcher.close()
    assert out.shape == (1, backend.input_size, backend.input_size)
    assert batcher.batch_sizes == {1: 1}


def test_errors_reach_every_caller(backend):
    batcher = DynamicBatcher(backend, max_batch=2, max_delay_s=0.01)
    with pytest.raises(RuntimeError):
        batcher.predict(np.zeros((1, 7, 7), np.uint8))  # wrong shape: the model raises
    batcher.close()
