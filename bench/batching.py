"""python -m bench.batching: what dynamic batching does for a torchvision model on this machine.

Images/s of the model at batch 1, 4, 8 and 16, then 8 threads each sending one image at a time,
without batching and through the DynamicBatcher. The weights are random (the cost of a forward pass
does not depend on them), so it runs offline; on a GPU machine:
    python -m bench.batching --model deeplabv3_resnet101 --device cuda
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch
from torchvision.models import get_model

from server.backends import Resources
from server.backends.batching import DynamicBatcher
from server.backends.torch_backends import TorchvisionBackend
from server.model_config import load_spec

SIZE = 520
CONFIG = """runtime = "torchvision"
labels = [{labels}]
[weights]
builder = "{builder}"
file = "weights.pth"
[input]
width = {size}
height = {size}
[output]
kind = "scores"
"""


def images_per_second(predict, batch: np.ndarray, seconds: float) -> float:
    predict(batch)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        predict(batch)
        done += len(batch)
    return done / (time.perf_counter() - start)


def concurrent_rate(predict, image: np.ndarray, threads: int, seconds: float) -> float:
    counts = [0] * threads
    end = time.perf_counter() + seconds

    def caller(i: int) -> None:
        while time.perf_counter() < end:
            predict(image)
            counts[i] += 1

    workers = [threading.Thread(target=caller, args=(i,)) for i in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(counts) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="lraspp_mobilenet_v3_large")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--batches", default="1,4,8,16")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / args.model
        folder.mkdir()
        torch.save(get_model(args.model, weights=None, weights_backbone=None, num_classes=21).state_dict(),
                   folder / "weights.pth")
        labels = ", ".join(f'"class {i}"' for i in range(21))
        (folder / "model.toml").write_text(CONFIG.format(labels=labels, builder=args.model, size=SIZE))
        resources = Resources(instances=1, threads=torch.get_num_threads(), device=args.device, download=False)
        backend = TorchvisionBackend(load_spec(folder), resources)
    rng = np.random.default_rng(0)
    print(f"{args.model} on {backend.device}, input {SIZE}x{SIZE}")
    for n in (int(b) for b in args.batches.split(",")):
        batch = rng.random((n, 3, SIZE, SIZE), dtype=np.float32)
        print(f"  batch {n:>2}: {images_per_second(backend.run, batch, args.seconds):7.1f} images/s")
    image = rng.random((1, 3, SIZE, SIZE), dtype=np.float32)
    print(f"  8 threads, batching off:            {concurrent_rate(backend.run, image, 8, args.seconds):7.1f} images/s")
    batcher = DynamicBatcher(backend, max_batch=8, max_delay_s=0.005)
    rate = concurrent_rate(batcher.run, image, 8, args.seconds)
    batcher.close()
    sizes = ", ".join(f"{k}x{v}" for k, v in sorted(batcher.batch_sizes.items()))
    print(f"  8 threads, batching on (8, 5 ms):   {rate:7.1f} images/s   batches: {sizes}")


if __name__ == "__main__":
    main()
