"""Tests for helpers.segment: cloth classes, label maps and region choice."""

import numpy as np
import pytest

from helpers.segment import (
    PALETTE,
    class_at,
    classes_present,
    click_pixel,
    colorize_labels,
    resolve_region,
    select_region,
)

# --------------------------------------------------------------------------- labels


def test_palette_and_colorize_exact():
    labels = np.array([[0, 1], [2, 3]], np.uint8)
    rgb = colorize_labels(labels)
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb, [[[0, 0, 0], [128, 0, 0]], [[0, 128, 0], [128, 128, 0]]])
    np.testing.assert_array_equal(PALETTE[labels], rgb)
    with pytest.raises(ValueError, match="labels contain id 7"):
        colorize_labels(np.array([[7]], np.uint8))


# --------------------------------------------------------------------------- region choice

LABELS = np.array([
    [0, 1, 1, 0, 0],
    [0, 1, 1, 2, 2],
    [0, 0, 2, 2, 2],
    [0, 0, 0, 0, 0],
], np.uint8)  # width 5, height 4; upper_body and lower_body, no full_body


def test_select_region_by_name_id_click_and_union():
    upper = (LABELS == 1).astype(np.float32)
    lower = (LABELS == 2).astype(np.float32)
    for choice in ("upper_body", 1, np.uint8(1), (1, 0), (2.4, 1.2)):
        out = select_region(LABELS, choice)
        assert out.dtype == np.float32
        np.testing.assert_array_equal(out, upper)
    np.testing.assert_array_equal(select_region(LABELS, "lower_body"), lower)
    np.testing.assert_array_equal(select_region(LABELS, (3, 1)), lower)
    for union in (["upper_body", 2], ("upper_body", "lower_body"), [1, 2], "outfit", "all",
                  [(1, 0), (3, 1)], ["lower_body", (2.4, 1.2)], [(3, 1), "upper_body"]):
        np.testing.assert_array_equal(select_region(LABELS, union), upper + lower)
    np.testing.assert_array_equal(select_region(LABELS, [(1, 0)]), upper)


def test_class_at_exact_values_and_rounding():
    assert class_at(LABELS, (0, 0)) == 0
    assert class_at(LABELS, (1, 0)) == 1
    assert class_at(LABELS, (4, 2)) == 2
    assert class_at(LABELS, (0.6, 0.4)) == 1  # nearest pixel: column 1, row 0
    assert class_at(LABELS, (4.4, 3.4)) == 0
    with pytest.raises(ValueError, match=r"outside the image of width 5 and height 4"):
        class_at(LABELS, (5, 0))
    with pytest.raises(ValueError, match=r"x must be in \[0, 4\] and y in \[0, 3\]"):
        class_at(LABELS, (-1, 2))


def test_a_click_hits_its_nearest_pixel_up_to_half_a_pixel_beyond_the_border():
    assert click_pixel((-0.5, -0.4), (4, 5)) == (0, 0)
    assert click_pixel((4.49, 3.49), (4, 5)) == (4, 3)
    for outside in ((4.5, 0), (0, 3.5), (-0.51, 0)):
        with pytest.raises(ValueError, match="outside the image"):
            click_pixel(outside, (4, 5))
    for x, y in ((np.inf, 1), (1, -np.inf), (np.nan, 1)):
        with pytest.raises(ValueError, match=r"is not a finite position"):
            click_pixel((x, y), (4, 5))
    # Python integers beyond int64, or beyond any float, are far outside too
    with pytest.raises(ValueError, match=r"click \(x=1e\+30, y=1\) is outside the image"):
        click_pixel((10**30, 1), (4, 5))
    with pytest.raises(ValueError, match="too large for a float, far outside the image of "
                                         "width 5 and height 4"):
        click_pixel((1, -(10**400)), (4, 5))


def test_select_region_errors():
    with pytest.raises(ValueError, match=r"'full_body' not found in this image; classes "
                                         r"present: upper_body, lower_body"):
        select_region(LABELS, "full_body")
    with pytest.raises(ValueError, match=r"'full_body' not found"):
        select_region(LABELS, [1, 3])
    with pytest.raises(ValueError, match=r"unknown region 'hat'; valid names: 'upper_body', "
                                         r"'lower_body', 'full_body', 'outfit', 'all'"):
        select_region(LABELS, "hat")
    with pytest.raises(ValueError, match="unknown region 'background'"):
        select_region(LABELS, "background")
    with pytest.raises(ValueError, match=r"class id 0 is not a garment; valid ids: 1 \(upper_body\)"):
        select_region(LABELS, 0)
    with pytest.raises(ValueError, match=r"outside the image of width 5 and height 4"):
        select_region(LABELS, (9, 9))
    with pytest.raises(ValueError, match=r"no garment at click \(x=0, y=3\): that pixel is "
                                         r"'background'; classes present: upper_body, lower_body"):
        select_region(LABELS, (0, 3))
    with pytest.raises(ValueError, match="empty region list"):
        select_region(LABELS, [])
    with pytest.raises(ValueError, match="no garment found in this image"):
        select_region(np.zeros((3, 3), np.uint8), "outfit")
    with pytest.raises(ValueError, match=r"classes present: none \(only background\)"):
        select_region(np.zeros((3, 3), np.uint8), "upper_body")
    with pytest.raises(ValueError, match="cannot interpret region"):
        select_region(LABELS, 1.5)
    with pytest.raises(ValueError, match=r"probabilities must have shape \(C, 4, 5\)"):
        select_region(LABELS, 1, probabilities=np.zeros((4, 5, 4), np.float32))


def test_click_on_background_snaps_with_probabilities():
    probs = np.zeros((4,) + LABELS.shape, np.float32)
    probs[0] = 1.0
    probs[:, 0, 3] = (0.4, 0.35, 0.25, 0.0)  # background wins, but upper_body is likely
    probs[:, 3, 0] = (0.8, 0.1, 0.1, 0.0)  # clearly background
    np.testing.assert_array_equal(select_region(LABELS, (3, 0), probabilities=probs),
                                  (LABELS == 1).astype(np.float32))
    with pytest.raises(ValueError, match="no garment at click"):
        select_region(LABELS, (0, 3), probabilities=probs)


def test_classes_present():
    assert classes_present(LABELS) == (1, 2)
    assert classes_present(LABELS, include_background=True) == (0, 1, 2)
    assert classes_present(np.zeros((2, 2), np.uint8)) == ()




def test_resolve_region_may_accept_an_absent_class_for_clicks():
    labels = np.zeros((4, 4), np.uint8)
    labels[:2] = 1
    with pytest.raises(ValueError, match="'lower_body' not found in this image; classes "
                                         "present: upper_body"):
        resolve_region(labels, "lower_body")
    assert resolve_region(labels, "lower_body", allow_absent=True) == [2]
    assert resolve_region(labels, ["outfit", "lower_body"], allow_absent=True) == [1, 2]
