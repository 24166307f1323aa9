"""Where things are: the checkout, the shared models and samples, and the models the tests use."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
SAMPLES = SHARED / "samples"
MODEL_REPOSITORY = REPO / "model_repository"
DEFAULT_MODEL = "deeplabv3-mobilenetv2-pascal"
LITERT_MODELS = f"{DEFAULT_MODEL},deeplabv3-mobilenetv2-dm05-pascal"
SELFIE, SELFIE_LANDSCAPE = "selfie-segmentation", "selfie-segmentation-landscape"
