"""Soft masks in the client library's drawing and the UI's pictures: pure functions on arrays."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from segmentation_client import SegmentResult, View, blur_background, overlay
from segmentation_client import render as draw
from streamlit_app.imaging import BLUR, CUTOUT, Display, cutout, cutout_png, render
from streamlit_app.live import Controls, LiveSegmenter

PALETTE = np.array([[0, 0, 0], [255, 0, 0]], np.uint8)


def scene() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A textured picture, a hard mask (right half) and a soft mask fading over 20 columns around it."""
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (40, 100, 3), np.uint8)
    mask = np.zeros((40, 100), np.uint8)
    mask[:, 50:] = 1
    ramp = np.clip((np.arange(100) - 40) / 20, 0, 1)
    alpha = np.round(np.tile(ramp, (40, 1)) * 255).astype(np.uint8)
    return image, mask, alpha


def test_overlay_fades_in_with_the_soft_mask():
    image, mask, alpha = scene()
    soft = overlay(image, mask, PALETTE, 0.5, alpha=alpha).astype(int)
    hard = overlay(image, mask, PALETTE, 0.5).astype(int)
    assert np.array_equal(soft[:, :40], image[:, :40])  # alpha 0: untouched
    assert np.abs(soft[:, 60:] - hard[:, 60:]).max() <= 1  # alpha 255: as the hard overlay
    # Halfway up the fade, half the colour's weight: red pulled a quarter of the way to 255.
    expected = image[:, 50, 0] + 0.25 * (255 - image[:, 50, 0].astype(int))
    assert np.abs(soft[:, 50, 0] - expected).max() <= 2


def test_overlay_without_a_soft_mask_is_unchanged_and_feathers_when_asked():
    image, mask, _ = scene()
    hard = overlay(image, mask, PALETTE, 0.6)
    assert np.array_equal(hard[:, :50], image[:, :50])
    feathered = overlay(image, mask, PALETTE, 0.6, feather=4)
    assert np.array_equal(feathered[:, :44], image[:, :44]) and np.abs(
        feathered[:, 56:].astype(int) - hard[:, 56:]).max() <= 1
    assert not np.array_equal(feathered[:, 46:54], hard[:, 46:54])  # the edge is softened


def test_blur_background_mixes_sharp_and_blurred_by_the_soft_mask():
    image, mask, alpha = scene()
    soft = blur_background(image, mask, ksize=15, alpha=alpha)
    blurred = cv2.GaussianBlur(image, (15, 15), 0)
    assert np.abs(soft[:, 62:].astype(int) - image[:, 62:]).max() <= 1  # foreground sharp
    assert np.abs(soft[:, :38].astype(int) - blurred[:, :38]).max() <= 1  # background blurred
    hard = blur_background(image, mask, ksize=15)
    assert np.array_equal(hard[:, 50:], image[:, 50:]) and np.array_equal(hard[:, :50], blurred[:, :50])
    with pytest.raises(ValueError):
        overlay(image, mask, PALETTE, 1.5, alpha=alpha)


def test_the_ui_cutout_is_transparent_on_the_background():
    image, mask, alpha = scene()
    rgba = cutout(image, mask, alpha)
    assert rgba.shape == (40, 100, 4) and np.array_equal(rgba[..., 3], alpha)
    assert np.array_equal(cutout(image, mask)[..., 3], mask * 255)
    png = cv2.imdecode(np.frombuffer(cutout_png(image, mask, alpha), np.uint8), cv2.IMREAD_UNCHANGED)
    assert png.shape == (40, 100, 4) and np.array_equal(png[..., 3], alpha)
    assert np.array_equal(png[..., :3][..., ::-1], image)  # RGB in, BGRA on disk, same pixels


def test_render_draws_removal_on_black_and_blur_with_the_soft_mask():
    image, mask, alpha = scene()
    removed = render(image, mask, PALETTE, Display(CUTOUT, outlines=False), alpha)
    assert removed.shape == image.shape and removed[:, :40].max() == 0
    assert np.abs(removed[:, 62:].astype(int) - image[:, 62:]).max() <= 1
    soft_blur = render(image, mask, PALETTE, Display(BLUR, outlines=False), alpha)
    hard_blur = render(image, mask, PALETTE, Display(BLUR, outlines=False))
    assert not np.array_equal(soft_blur[:, 40:50], hard_blur[:, 40:50])


def test_the_live_tab_and_the_webcam_blur_with_the_soft_mask():
    image, mask, alpha = scene()
    soft = SegmentResult("selfie", mask=mask, alpha=alpha)
    hard = SegmentResult("selfie", mask=mask)
    controls = Controls("selfie", Display(BLUR, outlines=False), palettes={"selfie": PALETTE})
    live_soft, live_hard = LiveSegmenter.draw(image, soft, controls), LiveSegmenter.draw(image, hard, controls)
    assert np.array_equal(live_soft, render(image, mask, PALETTE[:, ::-1], controls.display, alpha))
    assert not np.array_equal(live_soft, live_hard)
    # A frame of another size than the mask (WebRTC changed resolution): mask and alpha follow it.
    assert LiveSegmenter.draw(cv2.resize(image, (200, 80)), soft, controls).shape == (80, 200, 3)
    view = View(mode="original", blur=True)
    # The webcam client draws with the client library's render, given the result's soft mask.
    assert np.array_equal(draw(image, mask, PALETTE, view, soft.alpha), blur_background(image, mask, alpha=alpha))
    assert np.array_equal(draw(image, mask, PALETTE, view, hard.alpha), blur_background(image, mask))
