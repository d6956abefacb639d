import warnings

import numpy as np
import pytest

from helpers.blend import (
    BLEND_METHODS,
    GarmentLayer,
    blend,
    blend_alpha,
    blend_layers,
    composite,
    default_softness,
    soften,
)


def _images(height=4, width=5):
    content = np.full((height, width, 3), 100, np.uint8)
    stylized = np.full((height, width, 3), 200, np.uint8)
    return content, stylized


def test_composite_exact_values():
    content, stylized = _images(1, 4)
    alpha = np.array([[0.0, 0.25, 0.5, 1.0]], np.float32)
    out = composite(content, stylized, alpha)
    # 0.25*200 + 0.75*100 = 125, 0.5 -> 150
    np.testing.assert_array_equal(out[0, :, 0], [100, 125, 150, 200])
    assert out.dtype == np.uint8 and out.shape == content.shape


def test_composite_is_exactly_s_where_alpha_is_one_and_c_where_zero():
    rng = np.random.default_rng(0)
    content = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    stylized = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    alpha = np.zeros((9, 11), np.float32)
    alpha[2:6, 3:8] = 1.0
    alpha[6, 3:8] = 0.5
    out = composite(content, stylized, alpha)
    np.testing.assert_array_equal(out[2:6, 3:8], stylized[2:6, 3:8])
    outside = alpha == 0
    np.testing.assert_array_equal(out[outside], content[outside])
    expected_half = np.rint(0.5 * stylized[6, 3:8].astype(float) + 0.5 * content[6, 3:8])
    assert np.abs(out[6, 3:8].astype(int) - expected_half).max() <= 1


def test_composite_matches_float_formula_on_random_inputs():
    rng = np.random.default_rng(1)
    content = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    stylized = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    alpha = rng.random((16, 16), dtype=np.float32)
    out = composite(content, stylized, alpha)
    a = alpha[..., None].astype(np.float64)
    expected = np.rint(a * stylized + (1 - a) * content)
    assert np.abs(out.astype(int) - expected).max() <= 1


def test_composite_does_not_modify_inputs():
    content, stylized = _images()
    alpha = np.ones((4, 5), np.float32)
    before = content.copy()
    composite(content, stylized, alpha)
    np.testing.assert_array_equal(content, before)


def test_saliency_method_is_the_original_formula_inside_the_garment():
    content, stylized = _images(1, 5)
    mask = np.array([[0, 1, 1, 1, 0]], np.float32)
    saliency = np.array([[1.0, 1.0, 0.5, 0.0, 1.0]], np.float32)
    out = blend(content, stylized, mask, "saliency", saliency=saliency)
    # inside: M*S + (1-M)*C -> 200, 150, 100; outside: C even where M = 1
    np.testing.assert_array_equal(out[0, :, 0], [100, 200, 150, 100, 100])


def test_hard_method_ignores_softness():
    mask = np.zeros((7, 7), np.float32)
    mask[2:5, 2:5] = 1
    np.testing.assert_array_equal(blend_alpha(mask, "hard", softness=3.0), mask)


def test_feather_is_soft_and_symmetric_around_the_edge():
    mask = np.zeros((41, 41), np.float32)
    mask[:, 20:] = 1
    alpha = blend_alpha(mask, "feather", softness=2.0)
    row = alpha[20]
    assert row[0] == pytest.approx(0, abs=1e-6) and row[-1] == pytest.approx(1, abs=1e-6)
    assert 0.05 < row[19] < 0.5 < row[20] < 0.95
    assert row[19] + row[20] == pytest.approx(1.0, abs=1e-5)
    assert np.all(np.diff(row) >= -1e-7)


def test_saliency_softness_blurs_the_mask_then_multiplies():
    mask = np.zeros((21, 21), np.float32)
    mask[:, 10:] = 1
    saliency = np.full((21, 21), 0.5, np.float32)
    alpha = blend_alpha(mask, "saliency", saliency=saliency, softness=1.5)
    expected = soften(mask, 1.5) * 0.5
    np.testing.assert_allclose(alpha, expected, atol=1e-7)
    assert alpha[:, 9].max() > 0  # softened across the hard edge


def test_matting_methods_use_the_matte():
    mask = np.zeros((5, 5), np.float32)
    mask[1:4, 1:4] = 1
    matte = np.full((5, 5), 0.25, np.float32)
    saliency = np.full((5, 5), 0.5, np.float32)
    np.testing.assert_array_equal(blend_alpha(mask, "matting", matte=matte), matte)
    np.testing.assert_allclose(
        blend_alpha(mask, "saliency_matting", matte=matte, saliency=saliency), 0.125
    )


def test_default_softness():
    assert default_softness("saliency", (1000, 1000)) == 0.0
    assert default_softness("feather", (1000, 1000)) == pytest.approx(0.004 * np.hypot(1000, 1000))
    assert default_softness("feather", (10, 10)) == 1.0


def test_large_sigma_blur_matches_direct_blur():
    import cv2

    mask = np.zeros((200, 240), np.float32)
    mask[50:150, 60:180] = 1
    fast = soften(mask, 12.0)
    direct = cv2.GaussianBlur(mask, (0, 0), 12.0, borderType=cv2.BORDER_REPLICATE)
    assert np.abs(fast - direct).max() < 0.03


def test_unknown_method_lists_valid_values():
    mask = np.ones((3, 3), np.float32)
    with pytest.raises(ValueError, match="unknown blend method 'poisson'; valid values: 'hard'"):
        blend_alpha(mask, "poisson")


@pytest.mark.parametrize(
    ("method", "missing"), [("saliency", "saliency map"), ("matting", "matte"),
                            ("saliency_matting", "matte")]
)
def test_missing_inputs_are_named(method, missing):
    with pytest.raises(ValueError, match=missing):
        blend_alpha(np.ones((3, 3), np.float32), method)


def test_negative_softness_is_rejected():
    with pytest.raises(ValueError, match="softness must be a finite number >= 0"):
        blend_alpha(np.ones((3, 3), np.float32), "feather", softness=-1)


def test_shape_mismatches_are_reported():
    content, stylized = _images()
    with pytest.raises(ValueError, match=r"saliency has shape \(3, 3\) but the image is \(4, 5\)"):
        blend(content, stylized, np.ones((4, 5), np.float32), saliency=np.ones((3, 3), np.float32))
    with pytest.raises(ValueError, match="stylized image has shape"):
        composite(content, stylized[:2], np.ones((4, 5), np.float32))
    with pytest.raises(ValueError, match=r"mask values must lie in \[0, 1\]"):
        blend_alpha(np.full((3, 3), 2.0, np.float32), "hard")
    with pytest.raises(ValueError, match="content must have dtype uint8"):
        composite(content.astype(np.float32), stylized, np.ones((4, 5), np.float32))


def test_empty_region_returns_content_with_a_warning():
    content, stylized = _images()
    with pytest.warns(UserWarning, match="region is empty"):
        out = blend(content, stylized, np.zeros((4, 5), np.float32), "hard")
    np.testing.assert_array_equal(out, content)
    assert out is not content


def test_blend_layers_gives_each_garment_its_own_style():
    content = np.full((2, 4, 3), 10, np.uint8)
    first = np.full((2, 4, 3), 100, np.uint8)
    second = np.full((2, 4, 3), 200, np.uint8)
    alpha_first = np.array([[1, 1, 0, 0]] * 2, np.float32)
    alpha_second = np.array([[0, 0, 0.5, 1]] * 2, np.float32)
    out = blend_layers(content, [GarmentLayer(first, alpha_first),
                                 GarmentLayer(second, alpha_second)])
    np.testing.assert_array_equal(out[0, :, 0], [100, 100, 105, 200])
    np.testing.assert_array_equal(blend_layers(content, []), content)


def test_every_listed_method_blends_and_is_documented():
    import helpers.blend as blend_module

    mask = np.zeros((41, 41), np.float32)
    mask[10:31, 10:31] = 1
    saliency = np.full((41, 41), 0.5, np.float32)
    for method in BLEND_METHODS:
        alpha = blend_alpha(mask, method, saliency=saliency, matte=mask)
        assert alpha.shape == mask.shape and alpha.dtype == np.float32
        assert alpha[20, 20] >= 0.5 and alpha[0, 0] < 1e-3
        assert f"``{method}``" in blend_module.__doc__


def _formula(content, stylized, alpha):
    a = alpha[..., None].astype(np.float64)
    return np.rint(a * stylized + (1 - a) * content)


@pytest.mark.parametrize(
    "alpha_kind", ["fractional_everywhere", "soft_edge", "wide_soft_band", "binary"])
def test_composite_tile_paths_match_the_formula(alpha_kind):
    # composite() copies where round(255*alpha) is 0 or 255 and computes the formula on
    # 16x16 tiles (in place along long runs, gathered elsewhere) plus the ragged strips
    # below and right of the whole tiles: an odd size exercises all of them.
    rng = np.random.default_rng(7)
    height, width = 83, 301
    content = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    stylized = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    mask = np.zeros((height, width), np.float32)
    mask[10:75, 20:290] = 1
    alpha = {
        "fractional_everywhere": rng.uniform(0.01, 0.99, (height, width)).astype(np.float32),
        "soft_edge": soften(mask, 2.0),
        "wide_soft_band": np.clip(np.linspace(-0.2, 1.2, width, dtype=np.float32)[None]
                                  * mask, 0, 1).astype(np.float32),
        "binary": mask,
    }[alpha_kind]
    out = composite(content, stylized, alpha)
    assert np.abs(out.astype(int) - _formula(content, stylized, alpha)).max() <= 1
    alpha8 = np.rint(alpha * 255)
    np.testing.assert_array_equal(out[alpha8 == 0], content[alpha8 == 0])
    np.testing.assert_array_equal(out[alpha8 == 255], stylized[alpha8 == 255])


def test_composite_accepts_non_contiguous_views():
    rng = np.random.default_rng(8)
    content = rng.integers(0, 256, (70, 90, 3), dtype=np.uint8)
    stylized = rng.integers(0, 256, (70, 90, 3), dtype=np.uint8)
    alpha = rng.random((70, 90), dtype=np.float32)
    views = (content[::2, 1::2], stylized[1::2, ::2], alpha[::2, ::2])
    out = composite(*views)
    np.testing.assert_array_equal(out, composite(*(np.ascontiguousarray(v) for v in views)))
    assert np.abs(out.astype(int) - _formula(*views)).max() <= 1


def test_an_empty_weight_blames_the_region_or_the_saliency_map():
    content = np.full((4, 5, 3), 10, np.uint8)
    stylized = np.full((4, 5, 3), 200, np.uint8)
    mask = np.zeros((4, 5), np.float32)
    mask[1:3, 1:4] = 1.0
    no_person = np.zeros((4, 5), np.float32)
    with pytest.warns(UserWarning, match=r"the saliency map M is zero \(or nearly.*over "
                                         "the chosen garment.*'feather' or 'matting'"):
        out = blend(content, stylized, mask, "saliency", saliency=no_person)
    np.testing.assert_array_equal(out, content)
    with pytest.warns(UserWarning, match="the chosen region is empty"):
        blend(content, stylized, np.zeros_like(mask), "saliency", saliency=no_person)
    with pytest.warns(UserWarning, match="the chosen region is empty"):
        blend(content, stylized, np.zeros_like(mask), "hard")


def test_a_nearly_zero_weight_is_named_too():
    # M = 0.001 over the garment: round(255 * M) = 0 everywhere, the output is the input,
    # and once no warning said so.
    content = np.full((40, 50, 3), 10, np.uint8)
    stylized = np.full((40, 50, 3), 200, np.uint8)
    mask = np.zeros((40, 50), np.float32)
    mask[10:30, 10:40] = 1.0
    faint = np.full((40, 50), 0.001, np.float32)
    with pytest.warns(UserWarning, match=r"the saliency map M is zero \(or nearly.*garment "
                                         r"of 600 pixels.*'feather' or 'matting'"):
        out = blend(content, stylized, mask, "saliency", saliency=faint)
    np.testing.assert_array_equal(out, content)
    speck = np.zeros((40, 50), np.float32)
    speck[20, 25] = 1.0  # one pixel, feathered with sigma 40: nothing is left of it
    with pytest.warns(UserWarning, match=r"the feather weight is below 0.5/255 everywhere "
                                         r"although the garment has 1 pixels.*'hard'"):
        out = blend(content, stylized, speck, "feather", softness=40.0)
    np.testing.assert_array_equal(out, content)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a weight that changes pixels: no warning
        blend(content, stylized, mask, "saliency", saliency=np.full((40, 50), 0.01, np.float32))


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf"), True, "3"])
def test_softness_is_checked_in_one_place_with_one_message(bad):
    from helpers._checks import check_softness
    from helpers.pipeline import Pipeline

    message = r"softness must be a finite number >= 0 \(pixels\), got "
    mask = np.ones((4, 4), np.float32)
    with pytest.raises(ValueError, match=message):
        check_softness(bad)
    with pytest.raises(ValueError, match=message):
        blend_alpha(mask, "feather", softness=bad)
    with pytest.raises(ValueError, match=message):
        Pipeline(segmentation="grabcut", saliency="person_matte", notify=None).run(
            np.zeros((16, 16, 3), np.uint8), np.zeros((16, 16, 3), np.uint8), softness=bad)
