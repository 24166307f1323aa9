"""Model folders for tests: a torchvision LR-ASPP with weights the test makes, exported to every runtime.

The same seeded weights go into a state dict (runtime torchvision), an ONNX file, a torch.export
program and a TorchScript file, each in its own folder with its model.toml, so that the four
backends can be compared on the same model.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import torch
from torchvision.models.segmentation import lraspp_mobilenet_v3_large

from tests.support.paths import MODEL_REPOSITORY

SIZE = 320  # the models are fully convolutional; a small input keeps the tests quick
LABELS_FILE = "pascal_voc_segmentation_labels.txt"


class Logits(torch.nn.Module):
    """torchvision's segmentation models return a dict; exported models return the logits tensor."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)["out"]


def config(runtime: str, weights: str, output: str = 'kind = "scores"') -> str:
    weights_line = f'builder = "lraspp_mobilenet_v3_large"\nfile = "{weights}"' if runtime == "torchvision" else \
        f'file = "{weights}"'
    return f"""description = "LR-ASPP with seeded weights ({runtime})"
runtime = "{runtime}"
labels_file = "{LABELS_FILE}"

[weights]
{weights_line}

[input]
width = {SIZE}
height = {SIZE}
mean = [0.485, 0.456, 0.406]
std = [0.229, 0.224, 0.225]

[output]
{output}
"""


def write_folder(repository: Path, model_id: str, runtime: str, weights: str, write) -> Path:
    folder = repository / model_id
    folder.mkdir(parents=True)
    write(folder / weights)
    (folder / "model.toml").write_text(config(runtime, weights))
    shutil.copyfile(MODEL_REPOSITORY / "deeplabv3-mobilenetv2-pascal" / LABELS_FILE, folder / LABELS_FILE)
    return folder


def exported_lraspp(repository: Path) -> dict[str, str]:
    """Write the four folders into `repository`; returns runtime -> model id."""
    torch.manual_seed(0)
    model = lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=21).eval()
    with torch.no_grad():
        # Freshly initialised heads give one class everywhere; wider ones give masks with several classes.
        for head in (model.classifier.low_classifier, model.classifier.high_classifier):
            torch.nn.init.normal_(head.weight, std=1.0)
            torch.nn.init.zeros_(head.bias)
    wrapped = Logits(model).eval()
    example = (torch.rand(1, 3, SIZE, SIZE),)
    ids = {runtime: f"lraspp-{runtime.replace('_', '-')}"
           for runtime in ("torchvision", "onnx", "torch_export", "torchscript")}
    write_folder(repository, ids["torchvision"], "torchvision", "weights.pth",
                 lambda path: torch.save(model.state_dict(), path))
    write_folder(repository, ids["torch_export"], "torch_export", "model.pt2",
                 lambda path: torch.export.save(torch.export.export(wrapped, example), path))
    write_folder(repository, ids["onnx"], "onnx", "model.onnx",
                 lambda path: torch.onnx.export(wrapped, example, path, dynamo=True, input_names=["image"],
                                                output_names=["out"], verbose=False))

    def script(path: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit.trace is deprecated, its files still load
            torch.jit.trace(wrapped, example).save(str(path))

    write_folder(repository, ids["torchscript"], "torchscript", "model.ts", script)
    return ids


def link_model(repository: Path, model_id: str, source: Path = MODEL_REPOSITORY) -> Path:
    """A copy of a built-in model's folder whose files are links to the originals."""
    folder = repository / model_id
    folder.mkdir(parents=True)
    for path in (source / model_id).iterdir():
        (folder / path.name).symlink_to(path)
    return folder
