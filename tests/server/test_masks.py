"""Masks at the input's size, soft masks, edge refinement and temporal smoothing: the pure functions."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from server import imaging, masks
from server.errors import NoSoftMask
from server.masks import MaskOptions, Placement, display_masks
from server.model_config import load_spec
from server.smoothing import TemporalSmoother, uncertainty

CONFIG = """runtime = "onnx"
labels = {labels}
[weights]
file = "m.onnx"
[input]
width = 32
height = 32
resize = "stretch"
[output]
kind = "{kind}"
"""


def spec(tmp_path, kind: str, labels: list[str]):
    folder = tmp_path / f"{kind}{len(labels)}"
    folder.mkdir(exist_ok=True)
    (folder / "m.onnx").write_bytes(b"weights")
    (folder / "model.toml").write_text(CONFIG.format(kind=kind, labels=labels))
    return load_spec(folder)


def disc(size: int = 32, radius: float = 9.0) -> np.ndarray:
    """A soft disc: probability 1 in the middle falling to 0 across a few pixels, float32 (size, size)."""
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    distance = np.hypot(yy - size / 2 + 0.5, xx - size / 2 + 0.5)
    return np.clip((radius - distance) / 3 + 0.5, 0, 1).astype(np.float32)


def cells_with_both(mask: np.ndarray, grid: int) -> int:
    """How many of the model's grid cells (grid x grid over the mask, mapped as nearest-neighbour resizing
    maps them) hold more than one class."""
    height, width = mask.shape
    ids = np.arange(grid * grid, dtype=np.float32).reshape(grid, grid)
    cell = cv2.resize(ids, (width, height), interpolation=cv2.INTER_NEAREST_EXACT).astype(int).ravel()
    lows = np.full(grid * grid, 255)
    highs = np.zeros(grid * grid, int)
    np.minimum.at(lows, cell, mask.ravel())
    np.maximum.at(highs, cell, mask.ravel())
    return int((lows != highs).sum())


WHERE = Placement(valid=(32, 32), input_size=(32, 32), width=320, height=240)


def test_a_probability_is_decided_at_the_display_size(tmp_path):
    probability = spec(tmp_path, "probability", ["background", "person"])
    plane = disc()
    mask, alpha = display_masks(plane[..., None], probability, WHERE, MaskOptions())
    assert mask.shape == (240, 320) and alpha is None
    # Nearest-neighbour enlargement keeps every cell whole; deciding after a bilinear resize splits the
    # cells the edge crosses.
    nearest = imaging.restore_mask((plane >= 0.5).view(np.uint8), (32, 32), 320, 240, (32, 32))
    assert cells_with_both(nearest, 32) == 0
    assert cells_with_both(mask, 32) > 20
    assert abs(int(mask.sum()) - int(nearest.sum())) < 0.05 * nearest.sum()  # the same disc, finer edges


def test_the_soft_mask_is_the_probability_as_8_bit_alpha(tmp_path):
    probability = spec(tmp_path, "probability", ["background", "person"])
    mask, alpha = display_masks(disc()[None], probability, WHERE, MaskOptions(alpha=True))
    assert alpha is not None and alpha.dtype == np.uint8 and alpha.shape == mask.shape
    assert alpha[120, 160] == 255 and alpha[0, 0] == 0
    assert len(np.unique(alpha)) > 100  # many levels along the edge
    assert np.array_equal(alpha >= 128, mask == 1)  # one decision: p >= 0.5


def test_two_class_scores_give_a_soft_mask_through_softmax(tmp_path):
    scores = spec(tmp_path, "scores", ["background", "person"])
    logit = (disc() - 0.5) * 16
    output = np.stack([-logit / 2, logit / 2])  # (classes, H, W)
    mask, alpha = display_masks(output, scores, WHERE, MaskOptions(alpha=True))
    assert alpha is not None and alpha[120, 160] > 250 and alpha[0, 0] < 5
    channels_last, _ = display_masks(output.transpose(1, 2, 0), scores, WHERE, MaskOptions())
    assert np.array_equal(mask, channels_last)
    with np.errstate(all="raise"):  # huge logits: no overflow, a sure 0 or 255 away from the edge
        _, sure = display_masks(output * 1000, scores, WHERE, MaskOptions(alpha=True))
    assert sure is not None and sure[120, 160] == 255 and sure[0, 0] == 0


def test_many_classes_argmax_at_the_display_size(tmp_path):
    scores = spec(tmp_path, "scores", ["background", "a", "b"])
    output = np.zeros((3, 32, 32), np.float32)
    output[0] = 0.5
    output[1, :, :16] = disc()[:, :16]
    output[2, :, 16:] = disc()[:, 16:]
    mask, alpha = display_masks(output, scores, WHERE, MaskOptions())
    assert alpha is None and set(np.unique(mask)) == {0, 1, 2}
    assert cells_with_both(mask, 32) > 20
    assert mask[120, 100] == 1 and mask[120, 220] == 2 and mask[5, 5] == 0


def test_bands_give_the_same_masks_as_one_piece(tmp_path, monkeypatch):
    probability = spec(tmp_path, "probability", ["background", "person"])
    scores = spec(tmp_path, "scores", ["background", "a", "b"])
    three = np.stack([np.full((32, 32), 0.5, np.float32), disc(), disc(radius=5)])
    whole = [display_masks(disc()[None], probability, WHERE, MaskOptions(alpha=True)),
             display_masks(three, scores, WHERE, MaskOptions())]
    monkeypatch.setattr(masks, "BAND_PIXELS", 320 * 7)  # 7 rows a band, the last one shorter
    banded = [display_masks(disc()[None], probability, WHERE, MaskOptions(alpha=True)),
              display_masks(three, scores, WHERE, MaskOptions())]
    assert np.array_equal(whole[0][0], banded[0][0])
    assert np.abs(whole[0][1].astype(int) - banded[0][1]).max() <= 1  # OpenCV's fixed-point weights
    assert (whole[1][0] != banded[1][0]).mean() < 0.001


def test_class_ids_outputs_are_enlarged_as_before(tmp_path):
    ids = spec(tmp_path, "class_ids", ["background", "a", "b"])
    output = np.zeros((32, 32), np.int64)
    output[8:20, 4:30] = 2
    mask, _ = display_masks(output, ids, WHERE, MaskOptions())
    assert np.array_equal(mask, imaging.restore_mask(output.astype(np.uint8), (32, 32), 320, 240, (32, 32)))


def test_letterbox_padding_is_cut_off_before_resizing(tmp_path):
    probability = spec(tmp_path, "probability", ["background", "person"])
    plane = np.zeros((32, 32), np.float32)
    plane[:16, :] = 1.0  # the picture fills the top half; the rest is padding the model saw as person
    plane[16:, :] = 1.0
    plane[:16, :8] = 0.0
    where = Placement(valid=(16, 32), input_size=(32, 32), width=320, height=160)
    mask, _ = display_masks(plane[None], probability, where, MaskOptions())
    assert mask.shape == (160, 320) and mask[:, :70].max() == 0 and mask[:, 90:].min() == 1


def test_a_soft_mask_or_smoothing_of_a_model_without_one_is_refused(tmp_path):
    ids = spec(tmp_path, "class_ids", ["background", "a", "b"])
    many = spec(tmp_path, "scores", ["background", "a", "b"])
    for model in (ids, many):
        assert not masks.has_soft_mask(model)
        with pytest.raises(NoSoftMask, match="has none") as refused:
            masks.check_options(model, MaskOptions(alpha=True))
        assert refused.value.reason == "NO_SOFT_MASK"
        with pytest.raises(NoSoftMask, match="smoothing"):
            masks.check_options(model, MaskOptions(smoother=TemporalSmoother(0.8)))
        masks.check_options(model, MaskOptions(refine_edges=True))  # any model can refine its edges


def test_refined_edges_move_onto_the_picture(tmp_path):
    """The model's edge is 3 px off the picture's (as a coarse grid puts it); refining puts it back."""
    probability = spec(tmp_path, "probability", ["background", "person"])
    picture = np.zeros((240, 320, 3), np.uint8)
    picture[:, 163:] = 200  # the picture's edge: column 163
    plane = np.zeros((32, 32), np.float32)
    plane[:, 16:] = 1.0  # the model's edge: column 160
    where = Placement(valid=(32, 32), input_size=(32, 32), width=320, height=240)
    plain, _ = display_masks(plane[None], probability, where, MaskOptions())
    refined, alpha = display_masks(plane[None], probability, where, MaskOptions(alpha=True, refine_edges=True),
                                   picture)
    assert np.argmax(plain[120]) == 160
    assert abs(int(np.argmax(refined[120])) - 163) <= 1
    assert alpha is not None and np.array_equal(alpha >= 128, refined == 1)
    with pytest.raises(ValueError, match="guide"):
        display_masks(plane[None], probability, where, MaskOptions(refine_edges=True))


def test_refinement_works_on_a_smaller_copy_of_a_big_picture(tmp_path, monkeypatch):
    probability = spec(tmp_path, "probability", ["background", "person"])
    picture = np.zeros((240, 320, 3), np.uint8)
    picture[:, 163:] = 200
    plane = np.zeros((32, 32), np.float32)
    plane[:, 16:] = 1.0
    monkeypatch.setattr(masks, "REFINE_PIXELS", 160 * 120)
    refined, _ = display_masks(plane[None], probability, WHERE, MaskOptions(refine_edges=True), picture)
    assert refined.shape == (240, 320) and abs(int(np.argmax(refined[120])) - 163) <= 2


def test_refining_a_class_id_model_keeps_its_classes(tmp_path):
    ids = spec(tmp_path, "class_ids", ["background", "a", "b"])
    output = np.zeros((32, 32), np.int64)
    output[8:24, 4:16], output[8:24, 16:28] = 1, 2
    picture = cv2.cvtColor(cv2.resize(output.astype(np.uint8) * 100, (320, 240), interpolation=cv2.INTER_NEAREST),
                           cv2.COLOR_GRAY2RGB)
    refined, _ = display_masks(output, ids, WHERE, MaskOptions(refine_edges=True), picture)
    assert set(np.unique(refined)) == {0, 1, 2}
    assert (refined != cv2.resize(output.astype(np.uint8), (320, 240), interpolation=cv2.INTER_NEAREST)).mean() < 0.02


def test_uncertainty_is_highest_where_the_model_is_unsure():
    p = np.array([0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0], np.float32)
    u = uncertainty(p)
    assert u[3] == pytest.approx(1.0) and u[0] == pytest.approx(0.0, abs=1e-4) and u[-1] == pytest.approx(0.0, abs=1e-4)
    assert u[1] < u[2] < u[3] and u[5] < u[4] < u[3] and u[1] == pytest.approx(u[5], abs=1e-5)


def test_smoothing_steadies_unsure_pixels_and_lets_sure_ones_follow():
    smoother = TemporalSmoother(0.8)
    first = np.array([[0.45, 0.0]], np.float32)
    assert np.array_equal(smoother(first), first)  # nothing to mix with yet
    second = smoother(np.array([[0.55, 1.0]], np.float32))
    assert 0.45 < second[0, 0] < 0.5  # unsure: mostly the previous frame, still below the threshold
    assert second[0, 1] == pytest.approx(1.0, abs=1e-3)  # sure: the new frame at once
    assert smoother(np.zeros((2, 2), np.float32)).shape == (2, 2)  # a new size starts afresh
    with pytest.raises(ValueError):
        TemporalSmoother(1.0)
