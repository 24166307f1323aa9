"""render(frame, mask, palette, view): the one way the webcam client and the UI draw a frame with its mask."""

from __future__ import annotations

import numpy as np
import pytest

from segmentation_client import View, blur_background, colorize, draw_outlines, overlay, render

PALETTE = np.array([(0, 0, 0), (0, 0, 255)], np.uint8)


@pytest.fixture
def frame() -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)  # texture, so that a blur shows


@pytest.fixture
def mask() -> np.ndarray:
    mask = np.zeros((96, 128), np.uint8)
    mask[30:70, 40:90] = 1
    return mask


def test_each_mode_is_the_library_function_it_names(frame, mask):
    assert np.array_equal(render(frame, mask, PALETTE, View("overlay", 0.4)), overlay(frame, mask, PALETTE, 0.4))
    assert np.array_equal(render(frame, mask, PALETTE, View("mask")), colorize(mask, PALETTE))
    blurred = render(frame, mask, PALETTE, View("original", blur=True))
    assert np.array_equal(blurred, blur_background(frame, mask, ksize=31))  # 31: the least kernel
    assert np.array_equal(blurred[mask == 1], frame[mask == 1]) and not np.array_equal(blurred, frame)


def test_blur_and_outlines_go_with_any_mode(frame, mask):
    drawn = render(frame, mask, PALETTE, View("overlay", 0.5, blur=True, outlines=True))
    expected = draw_outlines(overlay(blur_background(frame, mask, ksize=31), mask, PALETTE, 0.5), mask)
    assert np.array_equal(drawn, expected)
    assert np.all(drawn[30, 60] == 255)  # white on the region's edge


def test_a_mask_of_another_size_is_drawn_at_the_frames(frame, mask):
    small = mask[::2, ::2]
    for mode in ("overlay", "mask"):
        assert render(frame, small, PALETTE, View(mode)).shape == frame.shape


def test_nothing_to_draw_gives_the_frame_itself(frame, mask):
    assert render(frame, None, PALETTE, View()) is frame
    assert render(frame, np.zeros((0, 0), np.uint8), PALETTE, View()) is frame
    assert render(frame, mask, PALETTE, View("original")) is frame


def test_a_view_refuses_a_mode_it_does_not_know():
    with pytest.raises(ValueError, match="overlay, mask, original"):
        View("Blur background")
