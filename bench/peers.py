"""The ways of serving we compare against, with the same model, pre- and postprocessing.

    python -m bench.peers original --port 8101   # the original design: one FastAPI endpoint, model run inline
    python -m bench.peers litserve --port 8102   # LitServe, a peer serving framework

NVIDIA Triton is the third peer; it runs in an environment of its own (bench/triton_peer.py).
"""

from __future__ import annotations

import argparse
import threading
from typing import Annotated

from fastapi import FastAPI, File, UploadFile
from fastapi.responses import Response

from bench.segmenter import DEFAULT_MODEL, Segmenter


def original_app(model_id: str = DEFAULT_MODEL):
    """The original FastAPI + Streamlit design's server: the model runs inside the request handler."""
    app = FastAPI()
    segmenter = Segmenter(model_id)
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

        def __init__(self, model_id: str = DEFAULT_MODEL) -> None:
            super().__init__()
            self.model_id = model_id

        def setup(self, device):
            self.segmenter = Segmenter(self.model_id)

        def decode_request(self, request):
            return request["file"].file.read()

        def predict(self, data):
            return self.segmenter(data)

        def encode_response(self, output) -> Response:
            return Response(output, media_type="image/png")


def litserve_server(model_id: str = DEFAULT_MODEL):
    return ls.LitServer(SegmentAPI(model_id), accelerator="cpu", workers_per_device=1, timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("which", choices=["original", "litserve"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    args = parser.parse_args()
    if args.which == "original":
        import uvicorn

        uvicorn.run(original_app(args.model), host="127.0.0.1", port=args.port, log_level="warning")
    else:
        litserve_server(args.model).run(host="127.0.0.1", port=args.port, log_level="warning", generate_client_file=False)


if __name__ == "__main__":
    main()
