"""The pipeline every peer runs: the service's own transforms and model, without its serving layer.

Imports nothing of a web framework, so the Triton peer's environment (bench/triton_peer.py) runs it too.
"""

from __future__ import annotations

import os
from pathlib import Path

from server import imaging, masks
from server.config import ServerSettings
from server.imaging import EncodedImage
from server.loading import load_model

REPOSITORY = Path("model_repository")
DEFAULT_MODEL = "deeplabv3-mobilenetv2-pascal"
FAST_MODEL = "selfie-segmentation"


class Segmenter:
    """Decode, resize, infer, restore, PNG-encode one image: what the service's pipeline does.

    The model's config says how (input size, resize mode, normalisation, output kind), so every peer
    runs exactly the model and transforms the service runs. One model instance: one call at a time.
    """

    def __init__(self, model_id: str = DEFAULT_MODEL, threads: int | None = None) -> None:
        settings = ServerSettings(workers=1, threads=threads or os.cpu_count() or 1, metrics_port=None,
                                  download=False)
        self.model = load_model(REPOSITORY / model_id, settings)

    def __call__(self, data: bytes) -> bytes:
        transform = self.model.transform
        decoded = imaging.decode(EncodedImage(data), 40_000_000, transform.size, transform.stretch)
        tensor, valid = transform(decoded.rgb)
        where = masks.Placement(valid, transform.size, decoded.width, decoded.height)
        mask, _ = masks.display_masks(self.model.backend.run(tensor)[0], self.model.spec, where, masks.PLAIN)
        return imaging.encode_png(mask)
