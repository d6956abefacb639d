"""End-to-end robustness: odd inputs and bad parameters through the whole pipeline.

Per-module cases (image files of every kind, downloads, checkpoints, atomic writes) are
tested beside their modules: tests/test_images.py, test_weights.py, test_u2net.py.
"""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from helpers.images import ImageLoadError, load_image, resize_image, sample_content, sample_style
from helpers.pipeline import Pipeline


@pytest.fixture(scope="module")
def photo():
    return sample_content("astronaut")


@pytest.fixture(scope="module")
def style():
    return sample_style("brick")


def _pipeline(max_side=256):
    return Pipeline(segmentation="classical_parsing", saliency="person_matte",
                    max_side=max_side, notify=None)


@pytest.mark.parametrize("size_hw", [(37, 53), (53, 37), (24, 360), (360, 24), (16, 16)])
def test_odd_sizes_and_extreme_aspect_ratios_run_end_to_end(photo, style, size_hw):
    content = resize_image(photo, size_hw)
    pipe = _pipeline()
    with pytest.warns(UserWarning):  # no face at this size: the automatic box is central
        result = pipe.run(content, style, method="feather")
    for image in (result.output, result.stylized):
        assert image.shape == (*size_hw, 3) and image.dtype == np.uint8
    for map2d in (result.mask, pipe.saliency_map(), result.alpha):
        assert map2d.shape == size_hw and map2d.dtype == np.float32
        assert map2d.min() >= 0.0 and map2d.max() <= 1.0


def test_large_input_is_processed_at_the_cap_and_mapped_back(photo, style):
    content = resize_image(photo, (1200, 900))
    result = _pipeline(max_side=256).run(content, style)
    assert result.output.shape == content.shape
    assert result.stylized.shape == content.shape
    assert result.mask.shape == content.shape[:2]
    # The garment (the suit, lower part of the photo) is found at full size too.
    rows = np.nonzero(result.mask)[0]
    assert 0.1 < result.mask.mean() < 0.6
    assert rows.mean() > 0.6 * 1200
    assert result.mask[:200].sum() == 0  # nothing in the sky above her head


def test_too_small_images_are_refused_with_the_minimum():
    with pytest.raises(ImageLoadError, match="at least 16"):
        load_image(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ImageLoadError, match="at least 16"):
        load_image(np.zeros((1, 500, 3), np.uint8))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"strength": 1.5}, r"strength must lie in \[0, 1\], got 1.5"),
        ({"strength": -0.1}, r"strength must lie in \[0, 1\]"),
        ({"stroke_scale": 0}, "stroke_scale must be a positive number, got 0"),
        ({"stroke_scale": -2}, "stroke_scale must be a positive number"),
        ({"method": "poisson"}, "unknown blend method 'poisson'; valid values: 'hard', 'saliency'"),
        ({"softness": -1.0}, "softness must be a finite number >= 0"),
    ],
)
def test_bad_parameters_name_the_valid_values(photo, style, kwargs, message):
    content = resize_image(photo, (64, 64))
    pipe = _pipeline()
    with pytest.raises(ValueError, match=message):
        pipe.run(content, style, **kwargs)
    assert pipe.timings == {}  # refused before any stage ran


def test_unknown_backends_list_the_valid_values():
    with pytest.raises(ValueError, match="valid values: 'auto', 'u2net', 'u2netp'"):
        Pipeline(saliency="sod", notify=None)


def test_an_empty_region_returns_the_content_with_a_warning(photo, style):
    content = resize_image(photo, (64, 64))
    pipe = _pipeline()
    pipe.set_content(content)
    stylized = pipe.stylized(style)
    empty = np.zeros((64, 64), np.float32)
    for method in ("hard", "feather", "saliency", "matting"):
        with pytest.warns(UserWarning, match="region is empty: the content is returned unchanged"):
            out = pipe.blend(stylized, empty, method)
        np.testing.assert_array_equal(out, content)


def test_a_click_outside_the_image_is_a_clear_error(photo):
    content = resize_image(photo, (64, 80))
    pipe = _pipeline()
    pipe.set_content(content)
    with pytest.raises(ValueError, match="outside the image"):
        pipe.region_mask(positive=[(500, 10)])


def test_outputs_are_byte_identical_across_processes(tmp_path):
    script = textwrap.dedent("""
        import hashlib, sys
        from helpers.images import resize_image, sample_content, sample_style
        from helpers.pipeline import Pipeline
        content = resize_image(sample_content("grace_hopper"), (150, 100))
        pipe = Pipeline(segmentation="classical_parsing", saliency="person_matte",
                        max_side=128, notify=None)
        result = pipe.run(content, sample_style("tartan"), method="saliency_matting")
        print(hashlib.sha256(result.output.tobytes()).hexdigest())
    """)
    digests = {
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       check=True, cwd=str(tmp_path),
                       env={"PYTHONPATH": str(__import__("helpers").PROJECT_ROOT),
                            "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": threads}
                       ).stdout.strip()
        for threads in ("1", "2")
    }
    assert len(digests) == 1 and len(next(iter(digests))) == 64
