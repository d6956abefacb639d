"""The Examples sections of the public functions run as doctests (as scikit-image's do)."""

import doctest
import importlib

import pytest

# module -> public functions whose docstrings must carry a runnable Examples section
DOCUMENTED = {
    "helpers.blend": ("default_softness", "soften", "blend_alpha", "composite", "blend",
                      "blend_layers", "empty_weight_message", "warn_if_empty"),
    "helpers.boundaries": ("edge_band", "gradient_energy", "color_step_map", "edge_types",
                           "default_band_width", "boundary_metrics", "zoom_windows"),
    "helpers.images": ("to_rgb_uint8", "load_image", "fit_to_cap", "resize_image",
                       "resize_map", "resize_float", "resize_labels"),
    "helpers.notebook_support": ("write_stage_record",),
    "helpers._imports": ("require",),
    "helpers.segment": ("garment_choices",),
}


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    for function in DOCUMENTED[name]:
        assert "Examples\n    --------\n    >>> " in getattr(module, function).__doc__, function
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} doctest examples failed (see the output above)"
    assert result.attempted >= 2 * len(DOCUMENTED[name])
