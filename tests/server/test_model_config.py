"""Pure functions around a model: reading model.toml, the input transform, reading the output."""

from __future__ import annotations

import numpy as np
import pytest

from server import imaging
from server.model_config import PASCAL_LABELS, ConfigError, load_spec
from server.palette import distinct_palette, pascal_palette
from server.transforms import InputTransform, class_ids

BASE = """runtime = "onnx"
labels = ["background", "person"]
[weights]
file = "m.onnx"
[input]
width = 64
height = 32
{input}
[output]
kind = "probability"
"""


def spec_with(tmp_path, input_lines: str = "", config: str | None = None):
    folder = tmp_path / "m"
    folder.mkdir(exist_ok=True)
    (folder / "m.onnx").write_bytes(b"weights")
    (folder / "model.toml").write_text(config or BASE.format(input=input_lines))
    return load_spec(folder)


def test_a_minimal_config_gets_documented_defaults(tmp_path):
    spec = spec_with(tmp_path)
    inp = spec.config.input
    assert (inp.dtype, inp.scale, inp.mean, inp.std, inp.resize, inp.channels) == (
        "float32", 1 / 255, (0, 0, 0), (1, 1, 1), "letterbox", "rgb")
    assert spec.layout == "nchw" and spec.input_shape(2) == (2, 3, 32, 64)
    assert spec.labels == ("background", "person")
    assert spec.palette == tuple(distinct_palette(2))


def test_pascal_labels_get_the_pascal_palette(tmp_path):
    config = BASE.format(input="").replace('labels = ["background", "person"]', 'labels_file = "labels.txt"')
    config = config.replace('kind = "probability"', 'kind = "scores"')
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "labels.txt").write_text("\n".join(PASCAL_LABELS) + "\n\nnotes after a blank line\n")
    spec = spec_with(tmp_path, config=config)
    assert len(spec.labels) == 21 and spec.palette == tuple(pascal_palette(21))


@pytest.mark.parametrize(("lines", "message"), [
    ('dtype = "uint8"\nmean = [1, 2, 3]', "mean apply to float32 input only"),
    ("std = [1, 0, 1]", "`input.std.1`: Input should be greater than 0"),
    ("pad = [0, 0, 256]", "`input.pad.2`: Input should be less than or equal to 255"),
    ('resize = "crop"', "`input.resize`: Input should be 'letterbox' or 'stretch'"),
    ("width = 0", "not valid TOML"),  # width is given twice
])
def test_bad_input_values_name_the_field(tmp_path, lines, message):
    with pytest.raises(ConfigError, match="^m/model.toml") as error:
        spec_with(tmp_path, lines)
    assert message in str(error.value)


def test_letterbox_of_a_non_square_input_keeps_the_aspect_and_pads(tmp_path):
    spec = spec_with(tmp_path, "mean = [0.5, 0.5, 0.5]\nstd = [0.5, 0.5, 0.5]")
    transform = InputTransform.for_spec(spec)
    assert transform.pad == (128, 128, 128)  # the colour that normalises to zero
    tensor, valid = transform(np.full((100, 100, 3), 255, np.uint8))
    assert tensor.shape == (1, 3, 32, 64) and tensor.dtype == np.float32
    assert valid == (32, 32)
    assert np.allclose(tensor[0, :, :, :32], 1.0)  # (1 - 0.5) / 0.5
    assert np.allclose(tensor[0, :, :, 32:], 128 / 255 * 2 - 1, atol=1e-6)  # padding, about zero


def test_stretch_and_bgr_fill_the_whole_input(tmp_path):
    spec = spec_with(tmp_path, 'resize = "stretch"\nchannels = "bgr"\nlayout = "nhwc"')
    transform = InputTransform.for_spec(spec)
    rgb = np.zeros((10, 10, 3), np.uint8)
    rgb[..., 0] = 255  # red
    tensor, valid = transform(rgb)
    assert tensor.shape == (1, 32, 64, 3) and valid == (32, 64)
    assert np.allclose(tensor[0, ..., 2], 1.0) and np.allclose(tensor[0, ..., :2], 0.0)


def test_output_kinds_become_class_ids():
    scores = np.zeros((3, 4, 5), np.float32)
    scores[2, 1, 1] = 1
    assert class_ids(scores, "scores", 3)[1, 1] == 2 and class_ids(scores, "scores", 3).sum() == 2
    assert class_ids(scores.transpose(1, 2, 0), "scores", 3)[1, 1] == 2  # channels last
    probability = np.array([[[0.2], [0.7]], [[0.9], [0.1]]], np.float32)  # (H, W, 1)
    assert class_ids(probability, "probability", 2, 0.5).tolist() == [[0, 1], [1, 0]]
    assert class_ids(probability, "probability", 2, 0.8).tolist() == [[0, 0], [1, 0]]
    assert class_ids(probability[..., 0][np.newaxis], "probability", 2).tolist() == [[0, 1], [1, 0]]  # (1, H, W)
    assert class_ids(np.array([[[3, 4]]], np.int64), "class_ids", 5).dtype == np.uint8


def test_restore_scales_a_smaller_output_back():
    # A model whose output is a quarter of its 64x32 input; the picture filled 32x32 of it.
    small = np.zeros((8, 16), np.uint8)
    small[:, :8] = 1
    mask = imaging.restore_mask(small, (32, 32), width=100, height=100, input_size=(32, 64))
    assert mask.shape == (100, 100) and (mask == 1).all()
