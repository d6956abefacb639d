import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from helpers.blend import blend
from helpers.boundaries import (
    boundary_metrics,
    closer_look_figure,
    color_step_map,
    default_band_width,
    edge_band,
    edge_types,
    gradient_energy,
    zoom_windows,
)


def _square_mask(size=40, lo=10, hi=30):
    mask = np.zeros((size, size), np.float32)
    mask[lo:hi, lo:hi] = 1
    return mask


def test_edge_band_exact_rings():
    mask = _square_mask(12, 3, 9)  # a 6x6 square
    inner, outer = edge_band(mask, 1)
    # Inner ring: the square's border pixels, 6*4 - 4 = 20.
    assert inner.sum() == 20
    assert inner[3, 3] and inner[8, 5] and not inner[5, 5]
    # Outer ring within distance 1 (L2, 3x3 mask): the 4 sides of 6 pixels, no corners.
    assert outer.sum() == 24
    assert outer[2, 3] and not outer[2, 2]
    assert not (inner & outer).any()


def test_edge_band_of_empty_or_full_mask_is_empty():
    for mask in (np.zeros((5, 5), np.float32), np.ones((5, 5), np.float32)):
        inner, outer = edge_band(mask, 2)
        assert not inner.any() and not outer.any()
    with pytest.raises(ValueError, match="band width must be at least 1"):
        edge_band(_square_mask(), 0)


def test_identical_output_scores_as_the_photo():
    rng = np.random.default_rng(0)
    content = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    metrics = boundary_metrics(content, content.copy(), _square_mask(), width=3)
    m = metrics["all"]
    assert m.seam == pytest.approx(1.0)
    assert m.color_step == pytest.approx(0.0, abs=1e-4)
    assert m.leakage == 0.0 and m.leakage_fraction == 0.0
    assert metrics["person"] is None and metrics["garment"] is None


def test_colour_step_of_a_hard_paste_is_exact():
    content = np.full((40, 40, 3), 100, np.uint8)
    stylized = np.full((40, 40, 3), 200, np.uint8)
    mask = _square_mask()
    output = blend(content, stylized, mask, "hard")
    m = boundary_metrics(content, output, mask, width=4)["all"]
    # Inside mean 200, outside mean 100 on every edge pixel: |(100,100,100)| = 173.205.
    assert m.color_step == pytest.approx(100 * np.sqrt(3), rel=1e-5)
    assert m.leakage == 0.0
    region = mask >= 0.5
    step = color_step_map(output, region, 2)
    assert step[10, 20] == pytest.approx(100 * np.sqrt(3), rel=1e-5)


def test_seam_where_the_photo_is_flat_is_large_but_finite():
    # a flat photo has no gradient energy in the band: the floor of 1 per band pixel
    # keeps the ratio finite, and an unchanged output still scores exactly 1
    content = np.full((40, 40, 3), 100, np.uint8)
    mask = _square_mask()
    same = boundary_metrics(content, content.copy(), mask, width=3)["all"]
    assert same.seam == 1.0
    output = blend(content, np.full((40, 40, 3), 200, np.uint8), mask, "hard")
    hard = boundary_metrics(content, output, mask, width=3)["all"]
    energy = gradient_energy(output)
    band = np.logical_or(*edge_band(mask, 3))
    assert hard.seam == pytest.approx((energy[band].sum() + band.sum()) / band.sum())
    assert 100 < hard.seam < 1e5


@pytest.mark.parametrize("width", [2.7, 0, -3, True, float("nan")])
def test_a_band_width_that_is_not_a_whole_number_of_pixels_is_refused(width):
    content = np.full((40, 40, 3), 100, np.uint8)
    with pytest.raises(ValueError, match=r"width must be a positive integer \(pixels\)"):
        boundary_metrics(content, content.copy(), _square_mask(), width=width)


def test_soft_blends_have_less_seam_but_leak():
    rng = np.random.default_rng(1)
    # A textured photo, so the content's own gradient energy is not zero.
    content = np.clip(rng.normal(120, 10, (60, 60, 3)), 0, 255).astype(np.uint8)
    stylized = np.full((60, 60, 3), 220, np.uint8)
    mask = _square_mask(60, 15, 45)
    hard = boundary_metrics(content, blend(content, stylized, mask, "hard"), mask, width=4)["all"]
    soft = boundary_metrics(content, blend(content, stylized, mask, "feather", softness=3.0),
                            mask, width=4)["all"]
    assert hard.seam > 5 * soft.seam
    assert soft.color_step < hard.color_step
    assert hard.leakage == 0.0 and soft.leakage > 5.0
    assert 0 < soft.leakage_fraction <= 1


def test_edge_types_split_by_neighbour():
    labels = np.zeros((20, 30), np.uint8)
    labels[5:15, 5:15] = 1  # the chosen upper-body garment
    labels[5:15, 15:25] = 2  # lower body right of it
    saliency = np.zeros((20, 30), np.float32)
    saliency[:, :5] = 1.0  # a salient "arm" left of the garment
    mask = (labels == 1).astype(np.float32)
    types = edge_types(mask, 1, labels=labels, saliency=saliency)
    assert types["garment"][5:15, 15].all() and types["garment"][5:15, 14].all()
    assert types["person"][5:15, 4].all() and types["person"][5:15, 5].all()
    assert types["background"][4, 6:14].all()
    assert not types["background"][5:15, 15].any()
    assert not (types["garment"] & types["person"] & ~types["all"]).any()


def test_metrics_per_edge_type_are_reported():
    labels = np.zeros((20, 30), np.uint8)
    labels[5:15, 5:15] = 1
    labels[5:15, 15:25] = 2
    content = np.full((20, 30, 3), 90, np.uint8)
    stylized = np.full((20, 30, 3), 180, np.uint8)
    mask = (labels == 1).astype(np.float32)
    out = blend(content, stylized, mask, "hard")
    metrics = boundary_metrics(content, out, mask, labels=labels, width=1)
    assert metrics["garment"] is not None and metrics["background"] is not None
    assert metrics["person"] is None
    assert metrics["garment"].color_step == pytest.approx(90 * np.sqrt(3), rel=1e-5)
    assert set(metrics["all"].as_dict()) == {"seam", "color_step", "leakage",
                                             "leakage_fraction", "pixels"}


def test_zoom_windows_find_the_difference_on_the_edge():
    first = np.zeros((64, 64, 3), np.uint8)
    second = first.copy()
    second[20:28, 40:48] = 255  # differs only near the square's right edge
    mask = _square_mask(64, 16, 44)
    windows = zoom_windows(first, second, mask, size=12, count=2)
    assert len(windows) == 2
    best = windows[0]
    rows, cols = best.slices
    assert (second[rows, cols] != first[rows, cols]).any()
    assert best.score > windows[1].score
    # Non-overlapping.
    a, b = windows
    assert abs(a.top - b.top) >= 12 or abs(a.left - b.left) >= 12
    # Within the image.
    for w in windows:
        assert 0 <= w.top <= 64 - 12 and 0 <= w.left <= 64 - 12


def test_default_band_width():
    assert default_band_width((100, 100)) == 3
    assert default_band_width((1000, 1000)) == 14


def test_closer_look_figure_has_one_row_per_window():
    image = np.zeros((64, 64, 3), np.uint8)
    windows = zoom_windows(image, image, _square_mask(64, 16, 44), size=10, count=2)
    fig = closer_look_figure(image, image, windows, title="test")
    assert len(fig.axes) == 2 * (1 + len(windows))
    import matplotlib.pyplot as plt

    plt.close(fig)
