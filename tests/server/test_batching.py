"""Dynamic batching of the torchvision runtime, for real on CPU with a state dict the test writes."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from torchvision.models.segmentation import lraspp_mobilenet_v3_large

from server.backends import Resources
from server.backends.batching import DynamicBatcher
from server.backends.torch_backends import TorchvisionBackend
from server.model_config import load_spec
from tests.support import SIZE, write_folder

# In-process, but the server's own runtime and batcher with a real model: not a pure function.
pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    torch.manual_seed(0)
    model = lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=21)
    folder = write_folder(tmp_path_factory.mktemp("repository"), "lraspp", "torchvision", "weights.pth",
                          lambda path: torch.save(model.state_dict(), path))
    return load_spec(folder)


@pytest.fixture
def backend(spec):
    """A backend of its own for each test: closing a batcher closes the backend it wraps."""
    return TorchvisionBackend(spec, Resources(instances=1, threads=2, device="cpu", download=False))


def images(n: int, size: int) -> np.ndarray:
    return np.random.default_rng(7).random((n, 3, size, size), dtype=np.float32)


def test_concurrent_calls_are_batched_and_get_their_own_results(backend):
    batcher = DynamicBatcher(backend, max_batch=4, max_delay_s=0.5)
    inputs = images(4, SIZE)
    expected = backend.run(inputs).argmax(1)
    results: dict[int, np.ndarray] = {}
    barrier = threading.Barrier(4)

    def call(i: int) -> None:
        barrier.wait()
        results[i] = batcher.run(inputs[i : i + 1]).argmax(1)

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
    out = batcher.run(images(1, SIZE))
    batcher.close()
    assert out.shape == (1, 21, SIZE, SIZE)
    assert batcher.batch_sizes == {1: 1}


def test_errors_reach_every_caller(backend):
    batcher = DynamicBatcher(backend, max_batch=2, max_delay_s=0.01)
    with pytest.raises(RuntimeError):
        batcher.run(np.zeros((1, 7, 7), np.float32))  # wrong shape: the model raises
    batcher.close()
