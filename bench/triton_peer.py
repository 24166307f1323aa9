"""NVIDIA Triton Inference Server as a peer: the same pipeline as a Python model behind Triton's C++ front ends.

Runs in its own environment (made by `make bench` from bench/requirements-triton.txt with Debian's
/usr/bin/python3.11: the Python backend bundled with nvidia-pytriton links that interpreter's
libpython and fails under another patch release):

    bench/.triton-venv/bin/python -m bench.triton_peer --model selfie-segmentation --grpc-port 8001

Model `segment`: input IMAGE (BYTES, one encoded image), output MASK (BYTES, the PNG mask); with
--batching, Triton's dynamic batcher gathers requests and both tensors gain a leading batch axis.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys

import numpy as np
from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
from pytriton.triton import Triton, TritonConfig

from bench.segmenter import DEFAULT_MODEL, Segmenter

MODEL_NAME = "segment"


def infer_function(segmenter: Segmenter):
    """One model instance: its own Segmenter, so instances run side by side."""

    def infer(requests: list) -> list[dict[str, np.ndarray]]:
        # A request's IMAGE is (1,), or (batch, 1) when Triton's batcher is on: one image per element.
        responses = []
        for request in requests:
            images = request["IMAGE"]
            masks = [segmenter(bytes(image)) for image in images.reshape(-1)]
            responses.append({"MASK": np.array(masks, dtype=np.object_).reshape(images.shape)})
        return responses

    return infer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--grpc-port", type=int, required=True)
    parser.add_argument("--http-port", type=int, default=0, help="0: HTTP front end off")
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="inference threads of each instance")
    parser.add_argument("--batching", action="store_true", help="Triton's dynamic batcher (up to 8, 2 ms)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    # SIGTERM ends serve() like Ctrl-C, so Triton is stopped and its shared memory freed on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if args.batching:
        config = ModelConfig(max_batch_size=8, batcher=DynamicBatcher(max_queue_delay_microseconds=2000))
    else:
        config = ModelConfig(batching=False)
    triton_config = TritonConfig(grpc_address="127.0.0.1", grpc_port=args.grpc_port, allow_http=bool(args.http_port),
                                 http_address="127.0.0.1", http_port=args.http_port or None, allow_metrics=False)
    with Triton(config=triton_config) as triton:
        triton.bind(
            model_name=MODEL_NAME,
            infer_func=[infer_function(Segmenter(args.model, args.threads)) for _ in range(args.instances)],
            inputs=[Tensor(name="IMAGE", dtype=bytes, shape=(1,))],
            outputs=[Tensor(name="MASK", dtype=bytes, shape=(1,))],
            config=config,
            strict=False,
        )
        print(f"triton serving {args.model} as {MODEL_NAME!r} on 127.0.0.1:{args.grpc_port}", flush=True)
        triton.serve()


if __name__ == "__main__":
    main()
