import numpy as np
import pytest
from _fakes import FakeRunner

from helpers import saliency
from helpers.saliency import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    METHODS,
    default_radius,
    edge_aware_alpha,
    preprocess_saliency,
    saliency_map,
    u2net_saliency,
)

# --------------------------------------------------------------------------- preprocessing


def test_preprocess_constant_image_exact_values():
    image = np.full((64, 32, 3), 100, np.uint8)
    batch = preprocess_saliency(image)
    assert batch.shape == (1, 3, 320, 320) and batch.dtype == np.float32
    # Divided by its own maximum (100), not by 255: every pixel is 1.0 before ImageNet.
    for channel in range(3):
        expected = (np.float32(1.0) - np.float32(IMAGENET_MEAN[channel])) / np.float32(
            IMAGENET_STD[channel])
        np.testing.assert_array_equal(batch[0, channel], np.full((320, 320), expected))


def test_preprocess_divides_by_own_maximum_not_255():
    rng = np.random.default_rng(0)
    steps = rng.integers(0, 6, size=(8, 12, 3))
    dim = (steps * 40).astype(np.uint8)  # values 0..200
    bright = (steps * 51).astype(np.uint8)  # the same picture scaled to 0..255
    assert dim.max() == 200 and bright.max() == 255
    np.testing.assert_allclose(preprocess_saliency(dim), preprocess_saliency(bright),
                               atol=1e-5)


def test_preprocess_black_image_gives_minus_mean_over_std():
    batch = preprocess_saliency(np.zeros((20, 30, 3), np.uint8))
    assert np.all(np.isfinite(batch))
    expected = -np.asarray(IMAGENET_MEAN, np.float32) / np.asarray(IMAGENET_STD, np.float32)
    np.testing.assert_allclose(batch[0, :, 0, 0], expected, rtol=1e-6)


def test_preprocess_ignores_aspect_ratio_and_keeps_channel_order():
    image = np.zeros((500, 200, 3), np.uint8)
    image[..., 0] = 255  # pure red: only the R channel reaches its maximum
    batch = preprocess_saliency(image)
    assert batch.shape == (1, 3, 320, 320)
    np.testing.assert_allclose(batch[0, 0], (1 - IMAGENET_MEAN[0]) / IMAGENET_STD[0],
                               rtol=1e-6)
    np.testing.assert_allclose(batch[0, 1], -IMAGENET_MEAN[1] / IMAGENET_STD[1], rtol=1e-6)


# --------------------------------------------------------------------------- u2net_saliency


def _ramp(size=320, low=2.0, high=5.0):
    row = np.linspace(low, high, size, dtype=np.float32)
    return np.broadcast_to(row, (1, 1, size, size)).copy()


def test_u2net_saliency_min_max_normalises_and_resizes_back():
    runner = FakeRunner(_ramp())
    image = np.full((480, 640, 3), 50, np.uint8)
    out = u2net_saliency(image, runner)
    assert out.shape == (480, 640) and out.dtype == np.float32
    assert out.min() == 0.0 and out.max() == 1.0  # upsampling keeps the end values
    # Horizontal ramp 0..1 over 320 columns, sampled at pixel centres of 640 columns.
    src = np.clip((np.arange(640) + 0.5) / 2 - 0.5, 0, 319) / 319
    np.testing.assert_allclose(out[0], src, atol=1e-6)
    np.testing.assert_array_equal(out[0], out[-1])
    (batch,) = runner.batches
    assert batch.shape == (1, 3, 320, 320) and batch.dtype == np.float32


def test_u2net_saliency_downsizes_within_unit_range():
    out = u2net_saliency(np.zeros((40, 80, 3), np.uint8), FakeRunner(_ramp()))
    assert out.shape == (40, 80)
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert np.all(np.diff(out[0]) > 0)  # still a ramp


def test_u2net_saliency_uses_channel_zero_of_d0():
    output = np.zeros((1, 2, 16, 16), np.float32)
    output[0, 0, :, 8:] = 0.9  # channel 0: right half salient
    output[0, 1, :, :8] = 0.9  # channel 1 would say the opposite
    out = u2net_saliency(np.zeros((16, 16, 3), np.uint8), FakeRunner(output))
    np.testing.assert_array_equal(out[:, 0], 0.0)
    np.testing.assert_array_equal(out[:, -1], 1.0)


def test_u2net_saliency_constant_output_gives_zeros_not_nan():
    out = u2net_saliency(np.zeros((30, 20, 3), np.uint8),
                         FakeRunner(np.full((1, 1, 320, 320), 0.7)))
    assert out.shape == (30, 20) and not np.isnan(out).any()
    np.testing.assert_array_equal(out, 0.0)


def test_u2net_saliency_rejects_cloth_runner_and_bad_output():
    image = np.zeros((20, 20, 3), np.uint8)
    cloth = FakeRunner(np.zeros((1, 4, 8, 8)), arch="u2net_cloth", output_is_logits=True)
    with pytest.raises(ValueError, match="class logits .*'u2net' or 'u2netp'"):
        u2net_saliency(image, cloth)
    with pytest.raises(ValueError, match=r"expected \(1, C, h, w\)"):
        u2net_saliency(image, FakeRunner(np.zeros((320, 320))))
    with pytest.raises(ValueError, match="NaN"):
        u2net_saliency(image, FakeRunner(np.full((1, 1, 4, 4), np.nan)))


# --------------------------------------------------------------------------- edge-aware alpha


def _square_scene(size=64, lo=16, hi=48):
    """A bright square on a dark textured background, and the matching square mask."""
    rng = np.random.default_rng(1)
    image = rng.integers(20, 60, size=(size, size, 3)).astype(np.uint8)
    image[lo:hi, lo:hi] = (210, 90, 40)
    mask = np.zeros((size, size), np.float32)
    mask[lo:hi, lo:hi] = 1.0
    return image, mask


@pytest.mark.parametrize("method", METHODS)
def test_alpha_exact_far_inside_and_outside(method):
    image, mask = _square_scene()
    radius = 3
    alpha = edge_aware_alpha(image, mask, method=method, radius=radius)
    assert alpha.shape == mask.shape and alpha.dtype == np.float32
    assert alpha.min() >= 0.0 and alpha.max() <= 1.0
    reach = 2 * radius + 1 if method == "guided" else radius
    # Deep inside the square: exactly 1; beyond the reach outside it: exactly 0.
    inner = alpha[16 + reach + 1:48 - reach - 1, 16 + reach + 1:48 - reach - 1]
    np.testing.assert_array_equal(inner, 1.0)
    outside = np.ones_like(mask, bool)
    outside[16 - reach - 1:48 + reach + 1, 16 - reach - 1:48 + reach + 1] = False
    np.testing.assert_array_equal(alpha[outside], 0.0)
    # The mask matches the image edge, so the alpha stays close to it everywhere.
    assert np.abs(alpha - mask).max() < 0.5


def _textbook_guided_filter(guide, src, radius, eps):
    """He et al.'s colour guided filter in plain numpy (mean filters, 3x3 solves)."""
    import cv2

    def box(values):
        return cv2.blur(values, (2 * radius + 1, 2 * radius + 1),
                        borderType=cv2.BORDER_REFLECT)

    mean_i = np.dstack([box(guide[..., c]) for c in range(3)])
    mean_p = box(src)
    cov = np.dstack([box(guide[..., c] * src) for c in range(3)]) - mean_i * mean_p[..., None]
    sigma = np.empty(guide.shape[:2] + (3, 3))
    for i in range(3):
        for j in range(3):
            sigma[..., i, j] = box(guide[..., i] * guide[..., j]) - mean_i[..., i] * mean_i[..., j]
    a = np.linalg.solve(sigma + eps * np.eye(3), cov[..., None].astype(np.float64))[..., 0]
    b = mean_p - (a * mean_i).sum(-1)
    mean_a = np.dstack([box(a[..., c].astype(np.float32)) for c in range(3)])
    return (mean_a * guide).sum(-1) + box(b.astype(np.float32))


def test_guided_alpha_matches_textbook_guided_filter():
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, size=(40, 48, 3)).astype(np.uint8)
    mask = np.zeros((40, 48), np.float32)
    mask[8:30, 10:36] = 1
    radius, eps = 3, 1e-3
    expected = _textbook_guided_filter(image.astype(np.float32) / 255, mask, radius, eps)
    alpha = edge_aware_alpha(image, mask, radius=radius, eps=eps, method="guided")
    np.testing.assert_allclose(alpha, np.clip(expected, 0, 1), atol=1e-4)


def _edge_scene(image_edge=35, mask_edge=32, flat=False):
    """Object (bright) left of column ``image_edge``; the mask stops 3 px short of it."""
    height, width = 40, 80
    image = np.zeros((height, width, 3), np.uint8)
    if flat:
        image[:] = 120
    else:
        image[:, :image_edge] = (200, 180, 160)
        image[:, image_edge:] = (30, 40, 50)
    noise = np.random.default_rng(0).integers(-5, 6, size=image.shape)
    image = np.clip(image.astype(int) + noise, 0, 255).astype(np.uint8)
    mask = np.zeros((height, width), np.float32)
    mask[:, :mask_edge] = 1
    return image, mask


def _half_crossing(alpha):
    """Column (sub-pixel) where the middle row's alpha falls through 0.5."""
    row = alpha[alpha.shape[0] // 2].astype(np.float64)
    col = int(np.nonzero(row < 0.5)[0][0])
    return col - 1 + (row[col - 1] - 0.5) / (row[col - 1] - row[col])


def test_guided_alpha_transition_moves_to_the_image_edge():
    image, mask = _edge_scene()
    flat_image, _ = _edge_scene(flat=True)
    # Without an image edge the filter is a plain blur: symmetric about the mask edge.
    flat = edge_aware_alpha(flat_image, mask, radius=6, method="guided")
    assert _half_crossing(flat) == pytest.approx(31.5, abs=0.05)
    alpha = edge_aware_alpha(image, mask, radius=6, method="guided")
    crossing = _half_crossing(alpha)
    assert crossing - 31.5 > 1.5  # measured 33.4: toward the true edge at 34.5
    # With a smaller radius the alpha drops to ~0 right at the image edge, where the
    # plain blur of the same mask is still clearly positive.
    alpha = edge_aware_alpha(image, mask, radius=4, method="guided")
    flat = edge_aware_alpha(flat_image, mask, radius=4, method="guided")
    assert alpha[:, 35].max() < 0.03 and flat[:, 35].min() > 0.1
    assert alpha[:, 34].min() > flat[:, 34].max()


def test_matting_alpha_snaps_to_the_image_edge():
    image, mask = _edge_scene()
    alpha = edge_aware_alpha(image, mask, radius=5, method="matting")
    assert _half_crossing(alpha) == pytest.approx(34.5, abs=0.5)
    # The whole 3 px gap between the mask edge (31.5) and the image edge is recovered.
    assert alpha[:, :34].min() > 0.9 and alpha[:, 36:].max() < 0.1


def test_matting_working_size_cap(monkeypatch):
    image, mask = _square_scene(size=96, lo=20, hi=76)
    monkeypatch.setattr(saliency, "MATTING_MAX_SIDE", 40)
    alpha = edge_aware_alpha(image, mask, radius=4, method="matting")
    assert alpha.shape == (96, 96) and alpha.dtype == np.float32
    assert alpha.min() >= 0.0 and alpha.max() <= 1.0
    np.testing.assert_array_equal(alpha[30:66, 30:66], 1.0)
    np.testing.assert_array_equal(alpha[:14], 0.0)
    assert np.abs(alpha - mask).mean() < 0.05


@pytest.mark.parametrize("method", METHODS)
def test_alpha_without_an_edge_returns_the_mask(method):
    image = np.full((12, 12, 3), 90, np.uint8)
    for value in (0.0, 1.0):
        mask = np.full((12, 12), value, np.float32)
        np.testing.assert_array_equal(edge_aware_alpha(image, mask, method=method), mask)


def test_alpha_accepts_bool_and_soft_masks():
    image, mask = _square_scene()
    from_bool = edge_aware_alpha(image, mask > 0.5)
    from_soft = edge_aware_alpha(image, mask * 0.8)  # binarised at 0.5
    np.testing.assert_array_equal(from_bool, from_soft)


def test_default_radius_scales_with_image_size():
    assert default_radius((512, 512)) == 4
    assert default_radius((512, 512), "matting") == 9
    assert default_radius((10, 10)) == 2
    assert default_radius((3000, 4000)) == 30


def test_alpha_errors():
    image, mask = _square_scene()
    with pytest.raises(ValueError, match=r"mask has shape \(64, 63\) but the image is \(64, 64\)"):
        edge_aware_alpha(image, mask[:, :63])
    with pytest.raises(ValueError, match="unknown alpha method 'bilateral'.*'guided', 'matting'"):
        edge_aware_alpha(image, mask, method="bilateral")
    with pytest.raises(ValueError, match="radius must be a positive integer"):
        edge_aware_alpha(image, mask, radius=0)
    with pytest.raises(ValueError, match="eps must be a positive number"):
        edge_aware_alpha(image, mask, eps=-1.0)
    with pytest.raises(ValueError, match=r"shape \(H, W, 3\)"):
        edge_aware_alpha(image[..., 0], mask)
    with pytest.raises(ValueError, match=r"values must lie in \[0, 1\]"):
        edge_aware_alpha(image, mask * 2)


# --------------------------------------------------------------------------- saliency_map


def test_saliency_map_dispatch():
    image, mask = _square_scene()
    runner = FakeRunner(_ramp())
    np.testing.assert_array_equal(saliency_map(image, runner=runner, mask=mask),
                                  u2net_saliency(image, runner))
    np.testing.assert_array_equal(saliency_map(image, mask=mask, method="matting", radius=3),
                                  edge_aware_alpha(image, mask, method="matting", radius=3))
    with pytest.raises(ValueError, match="runner=.*mask="):
        saliency_map(image)
    with pytest.raises(ValueError, match="unknown alpha method 'soft'"):
        saliency_map(image, mask=mask, method="soft")
