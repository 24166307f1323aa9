"""The two ways of serving we compare against, with the same model, pre- and postprocessing.

    python -m bench.peers original --port 8101   # the original design: one FastAPI endpoint, model run inline
    python -m bench.peers litserve --port 8102   # LitServe, a peer serving framework
"""

from __future__ import annotations

import argparse
import os
import threading
from pathlib import Path
from typing import Annotated

import numpy as np
from ai_edge_litert.interpreter import Interpreter
from fastapi import FastAPI, File, UploadFile
from fastapi.responses import Response

from server import imaging
from server.imaging import EncodedImage

MODEL = Path("model_repository/deeplabv3-mobilenetv2-pascal/deeplabv3_mnv2_pascal_quant.tflite")
THREADS = os.cpu_count() or 1


class Segmenter:
    """Decode, letterbox, infer, restore, PNG-encode: what the service's pipeline does, without it."""

    def __init__(self) -> None:
        self.interpreter = Interpreter(model_path=str(MODEL), num_threads=THREADS)
        self.interpreter.allocate_tensors()
        self.size = int(self.interpreter.get_input_details()[0]["shape"][1])
        self.output = self.interpreter.get_output_details()[0]["index"]

    def __call__(self, data: bytes) -> bytes:
        decoded = imaging.decode(EncodedImage(data), 40_000_000, (self.size, self.size))
        canvas, valid = imaging.letterbox(decoded.rgb, self.size, (128, 128, 128))
        self.interpreter.set_tensor(0, canvas[np.newaxis])
        self.interpreter.invoke()
        model_mask = self.interpreter.get_tensor(self.output)[0].astype(np.uint8)
        mask = imaging.restore_mask(model_mask, valid, decoded.width, decoded.height)
        return imaging.encode_png(mask)


def original_app():
    """The original FastAPI + Streamlit design's server: the model runs inside the request handler."""
    app = FastAPI()
    segmenter = Segmenter()
    lock = threading.Lock()  # one interpreter, so one request at a time

    @app.post("/segment")
    def segment(file: Annotated[UploadFile, File()]) -> Response:
        data = file.file.read()
        with lock:
            png = segmenter(data)
        return Response(png, media_type="image/png")

    return app


try:
    import litserve as ls
except ImportError:  # the bench extra is not installed: `make bench` installs it
    ls = None

if ls is not None:

    class SegmentAPI(ls.LitAPI):
        """The same pipeline behind LitServe's decode/predict/encode contract (module level: it is pickled)."""

        def setup(self, device):
            self.segmenter = Segmenter()

        def decode_request(self, request):
            return request["file"].file.read()

        def predict(self, data):
            return self.segmenter(data)

        def encode_response(self, output) -> Response:
            return Response(output, media_type="image/png")


def litserve_server():
    return ls.LitServer(SegmentAPI(), accelerator="cpu", workers_per_device=1, timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("which", choices=["original", "litserve"])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    if args.which == "original":
        import uvicorn

        uvicorn.run(original_app(), host="127.0.0.1", port=args.port, log_level="warning")
    else:
        litserve_server().run(host="127.0.0.1", port=args.port, log_level="warning", generate_client_file=False)


if __name__ == "__main__":
    main()
