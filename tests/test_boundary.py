"""Boundary refinement (helpers.segmentation.boundary.snap_to_edges) on drawn images."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.segmentation.boundary import snap_to_edges

GARMENT, BACKGROUND = (40, 70, 150), (215, 210, 200)


def _drawn(height: int = 100, width: int = 120) -> tuple[np.ndarray, np.ndarray]:
    """A garment rectangle on a plain background, with light noise (fixed seed)."""
    truth = np.zeros((height, width), bool)
    truth[20:80, 30:90] = True
    img = np.where(truth[..., None], GARMENT, BACKGROUND).astype(np.float64)
    img += np.random.default_rng(0).normal(0, 3, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8), truth


def _shifted(truth: np.ndarray, dx: int) -> np.ndarray:
    return np.roll(truth, dx, axis=1)


def test_a_boundary_off_by_a_few_pixels_lands_on_the_edge():
    img, truth = _drawn()
    mask = _shifted(truth, 4)
    out = snap_to_edges(img, mask, 6)
    np.testing.assert_array_equal(out, truth)
    assert mask.sum() == truth.sum() and not np.array_equal(mask, truth)   # input kept


def test_pixels_farther_than_the_band_never_change():
    img, truth = _drawn()
    mask = _shifted(truth, 8)
    out = snap_to_edges(img, mask, 3)
    changed = out ^ mask
    assert changed.any()
    # every change lies within 3 pixels of the mask's boundary
    from scipy import ndimage as ndi
    dist = np.where(mask, ndi.distance_transform_edt(mask), ndi.distance_transform_edt(~mask))
    assert dist[changed].max() <= 3


def test_only_pixels_in_where_change_and_fixed_pixels_stay():
    img, truth = _drawn()
    mask = _shifted(truth, 4)
    where = np.zeros_like(mask)
    where[:, :60] = True                       # only the left edge may move
    out = snap_to_edges(img, mask, 6, where=where)
    np.testing.assert_array_equal(out[:, :60], truth[:, :60])
    np.testing.assert_array_equal(out[:, 60:], mask[:, 60:])
    fixed_in = np.zeros_like(mask)
    fixed_in[50, 32] = True                    # a click inside the true garment, outside the mask
    fixed_out = np.zeros_like(mask)
    fixed_out[50, 92] = True                   # a click outside the garment, inside the mask
    out = snap_to_edges(img, mask, 6, fixed_in=fixed_in, fixed_out=fixed_out)
    assert out[50, 32] and not out[50, 92]
    # 0/1 maps of another dtype mean the same
    same = snap_to_edges(img, mask.astype(np.uint8), 6, fixed_in=fixed_in.astype(np.uint8),
                         fixed_out=fixed_out.astype(np.uint8))
    np.testing.assert_array_equal(same, out)


def test_a_margin_keeps_a_boundary_where_both_sides_have_the_same_colours():
    rng = np.random.default_rng(1)
    img = np.clip(np.full((80, 80, 3), 120.0) + rng.normal(0, 3, (80, 80, 3)), 0, 255)
    img = img.astype(np.uint8)
    blob = np.zeros((80, 80), bool)
    blob[30:50, 30:50] = True                  # a region with no edge around it
    # without a margin the cut has only its smoothness term and shrinks the region
    free = snap_to_edges(img, blob, 4) ^ blob
    assert free.sum() > 200
    # with one, only the few pixels whose noise the two colour models happen to split move
    held = snap_to_edges(img, blob, 4, margin=1.0) ^ blob
    assert held.sum() < 0.2 * free.sum()


def test_a_crop_over_the_refit_budget_gets_one_grabcut_iteration(monkeypatch):
    import cv2

    img, truth = _drawn()
    mask = _shifted(truth, 4)
    asked = []
    grab_cut = cv2.grabCut

    def spy(image, trimap, rect, bgd, fgd, iterations, mode):
        asked.append((image.shape[0] * image.shape[1], iterations))
        return grab_cut(image, trimap, rect, bgd, fgd, iterations, mode)

    monkeypatch.setattr(cv2, "grabCut", spy)
    two = snap_to_edges(img, mask, 6)
    crop = asked[0][0]
    assert asked == [(crop, 2)] and crop < img.shape[0] * img.shape[1]
    np.testing.assert_array_equal(snap_to_edges(img, mask, 6, refit_pixels=crop), two)
    one = snap_to_edges(img, mask, 6, refit_pixels=crop - 1)
    assert asked[1:] == [(crop, 2), (crop, 1)]
    np.testing.assert_array_equal(one, snap_to_edges(img, mask, 6, iterations=1))


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [({"band": 0}, "band must be at least 1 pixel, got 0"),
     ({"where": np.ones((5, 5), bool)}, "where must be an (H, W) array of the image's shape"),
     ({"mask": np.ones((100, 121), bool)}, "mask must be an (H, W) array")],
)
def test_bad_arguments_are_named(kwargs, words):
    img, truth = _drawn()
    args = {"image": img, "mask": truth, "band": 4} | kwargs
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        snap_to_edges(**args)
