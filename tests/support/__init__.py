"""What the tests share besides fixtures: paths, real processes, the bridge, images, model folders.

`from tests.support import X` works for every name below. The modules load on first use, so a pure test
run (`-m pure`) does not import torch, FastAPI or hypothesis for helpers it never touches.
"""

from __future__ import annotations

import importlib
from typing import Any

_MODULES = {
    "paths": ("REPO", "SHARED", "SAMPLES", "MODEL_REPOSITORY", "DEFAULT_MODEL", "LITERT_MODELS", "SELFIE",
              "SELFIE_LANDSCAPE"),
    "processes": ("ServerProcess", "free_port", "wait_until_loaded", "wait_for_streams", "children",
                  "worker_processes", "resident_bytes"),
    "bridge": ("running_bridge", "bridge_client", "CAT", "post_raw", "post_file", "ws_url", "stream_messages",
               "assert_error"),
    "certs": ("make_certs",),
    "waiting": ("wait_for",),
    "browser": ("CHROMIUM", "CHROMEDRIVER", "CHROMIUM_FLAGS", "chromium", "upload_image",
                "wait_for_result"),
    "images": ("png_bomb", "jpeg", "gif", "save", "noise", "animated", "animated_gif", "declared_size_jpeg",
               "exif_rotated_jpeg", "cat", "png_16_bit", "first_frame_cat", "tall_png", "SEEDS", "mutated_images",
               "write_traffic_video"),
    "model_folders": ("SIZE", "LABELS_FILE", "Logits", "config", "write_folder", "exported_lraspp", "link_model"),
}
_HOME = {name: module for module, names in _MODULES.items() for name in names}
__all__ = list(_HOME)


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
