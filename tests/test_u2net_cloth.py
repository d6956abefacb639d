"""Tests for helpers.segmentation.u2net_cloth: U²-Net cloth parsing as a back-end."""

import numpy as np
import pytest
from _fakes import FakeRunner

from helpers.segment import ClothParsing
from helpers.segmentation.u2net_cloth import (
    labels_from_logits,
    parse_clothes,
    preprocess_cloth,
    upsample_logits,
)


def test_preprocess_cloth_uses_half_half_normalisation():
    batch = preprocess_cloth(np.full((50, 70, 3), 128, np.uint8))
    assert batch.shape == (1, 3, 768, 768) and batch.dtype == np.float32
    # (128 / 255 - 0.5) / 0.5 = 0.00392...; ImageNet statistics would give other values.
    np.testing.assert_allclose(batch, 128 / 127.5 - 1, atol=1e-7)
    ends = preprocess_cloth(np.dstack([np.zeros((900, 800)), np.full((900, 800), 255),
                                       np.zeros((900, 800))]).astype(np.uint8))
    np.testing.assert_array_equal(ends[0, 0], -1.0)
    np.testing.assert_array_equal(ends[0, 1], 1.0)


def test_upsample_logits_is_bilinear_with_pixel_centres():
    logits = np.array([[[0.0, 1.0]], [[1.0, 0.0]]], np.float32)  # (2, 1, 2)
    out = upsample_logits(logits, (1, 4))
    assert out.shape == (2, 1, 4) and out.dtype == np.float32
    # align_corners=False: output centres at input coordinates -0.25, 0.25, 0.75, 1.25.
    np.testing.assert_allclose(out[0, 0], [0.0, 0.25, 0.75, 1.0])
    np.testing.assert_allclose(out[1, 0], [1.0, 0.75, 0.25, 0.0])
    constant = upsample_logits(np.full((6, 3, 3), 2.0, np.float32), (5, 7))
    assert constant.shape == (6, 5, 7)
    np.testing.assert_array_equal(constant, 2.0)


def _two_class_logits(left, right, size=8, classes=4):
    """Logits that are confident for ``left`` on the left half and ``right`` on the right."""
    logits = np.full((classes, size, size), -10.0, np.float32)
    logits[left, :, : size // 2] = 10.0
    logits[right, :, size // 2:] = 10.0
    return logits


def test_labels_from_logits_adds_no_class_along_an_edge():
    labels, probs = labels_from_logits(_two_class_logits(1, 2), (61, 67))
    assert labels.shape == (61, 67) and labels.dtype == np.uint8
    assert set(np.unique(labels)) == {1, 2}  # no background (0) or full_body (3) on the edge
    assert probs.shape == (4, 61, 67) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=0), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(labels, np.argmax(probs, axis=0))


@pytest.mark.parametrize(("left", "right", "invented"), [(1, 3, 2), (0, 2, 1)])
def test_labels_from_logits_never_invent_a_class_in_between(left, right, invented):
    """labels_from_logits never invents a class between two others.

    Resizing the label image itself with bicubic (or Lanczos) would: it treats ids as
    intensities, and between ids two apart it passes through the id in the middle, a
    thin band of a class that is nowhere in the picture. Upsampling logits first never
    does that, at any output size.
    """
    for size in ((61, 67), (16, 16), (97, 33)):
        labels, _ = labels_from_logits(_two_class_logits(left, right), size)
        assert set(np.unique(labels)) == {left, right}
        assert invented not in labels


def test_labels_from_logits_errors():
    with pytest.raises(ValueError, match=r"shape \(C, H, W\)"):
        labels_from_logits(np.zeros((4, 8), np.float32), (8, 8))
    with pytest.raises(ValueError, match="NaN or infinite"):
        labels_from_logits(np.full((4, 2, 2), np.inf, np.float32), (4, 4))
    with pytest.raises(ValueError, match="at least 2 class channels"):
        upsample_logits(np.zeros((1, 2, 2), np.float32), (4, 4))


def test_parse_clothes_with_fake_runner():
    logits = _two_class_logits(1, 2, size=12)
    runner = FakeRunner(logits[None], arch="u2net_cloth", backend="onnx")
    image = np.full((50, 70, 3), 128, np.uint8)
    result = parse_clothes(image, runner)
    assert isinstance(result, ClothParsing)
    assert result.labels.shape == (50, 70) and result.labels.dtype == np.uint8
    assert result.probabilities.shape == (4, 50, 70)
    assert result.probabilities.dtype == np.float32
    assert result.backend == "onnx"
    assert result.classes_present() == (1, 2)
    np.testing.assert_array_equal(result.labels[:, 0], 1)
    np.testing.assert_array_equal(result.labels[:, -1], 2)
    (batch,) = runner.batches
    assert batch.shape == (1, 3, 768, 768) and batch.dtype == np.float32
    assert batch.min() >= -1.0 and batch.max() <= 1.0
    assert batch.mean() == pytest.approx(128 / 127.5 - 1, abs=1e-6)  # 0.0039, not ImageNet


def test_parse_clothes_rejects_saliency_runner_and_bad_output():
    image = np.zeros((20, 20, 3), np.uint8)
    saliency_runner = FakeRunner(np.zeros((1, 1, 8, 8)), arch="u2netp", output_is_logits=False)
    with pytest.raises(ValueError, match="'u2netp'.*wrong network for cloth parsing"):
        parse_clothes(image, saliency_runner)
    with pytest.raises(ValueError, match=r"returned shape \(1, 1, 8, 8\); expected \(1, 4, h, w\)"):
        parse_clothes(image, FakeRunner(np.zeros((1, 1, 8, 8)), arch="u2net_cloth"))




# --------------------------------------------------------------------------- back-end


def test_backend_parses_once_and_chooses_classes_by_name_click_and_outfit():
    from helpers.segmentation import create_backend

    logits = np.zeros((1, 4, 8, 8), np.float32)
    logits[0, 1, :4] = 5.0  # upper half: upper body
    logits[0, 2, 4:] = 5.0  # lower half: lower body
    runner = FakeRunner(logits, arch="u2net_cloth")
    backend = create_backend("u2net_cloth", runner=runner)
    assert backend.capabilities.has_classes and backend.capabilities.needs_weights
    image = np.full((16, 20, 3), 120, np.uint8)
    backend.set_image(image)
    upper = backend.predict("upper_body")
    assert upper.class_ids == (1,) and upper.mask.dtype == np.float32
    np.testing.assert_array_equal(upper.mask[:8], 1.0)
    np.testing.assert_array_equal(upper.mask[8:], 0.0)
    assert backend.predict((3, 12)).class_ids == (2,)  # a click on the lower half
    assert backend.predict("outfit").mask.all()
    with pytest.raises(ValueError, match="'full_body' not found in this image; classes "
                                         "present: upper_body, lower_body"):
        backend.predict("full_body")
    assert len(runner.batches) == 1  # parsed once, however many predictions
    assert backend.person is None
