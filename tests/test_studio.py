"""The studio's state and controller (helpers.studio), without any widget."""

import subprocess
import sys

import numpy as np
import pytest

from helpers.images import fit_to_cap, sample_content, sample_style
from helpers.pipeline import Pipeline
from helpers.studio import PARAMETERS, StudioController


class HalfAndHalf:
    """A cloth parser stand-in: class 1 on the upper half, class 2 on the lower half."""

    arch = "u2net_cloth"
    backend = "fake"
    output_is_logits = True

    def __call__(self, batch):
        _, _, height, width = batch.shape
        logits = np.full((1, 4, height, width), -5.0, np.float32)
        logits[0, 1, : height // 2] = 5.0
        logits[0, 2, height // 2:] = 5.0
        return logits


@pytest.fixture(scope="module")
def content():
    image, _ = fit_to_cap(sample_content("astronaut"), 96)
    return image


@pytest.fixture(scope="module")
def style():
    return sample_style("stripes")


@pytest.fixture(scope="module")
def pipeline():
    return Pipeline(segmentation="u2net_cloth", saliency="person_matte", max_side=96,
                    notify=None, segmentation_options={"runner": HalfAndHalf()})


@pytest.fixture
def controller(pipeline, content, style):
    return StudioController(pipeline, content, style, method="hard")


def record(controller):
    changes = []
    controller.on_change(changes.append)
    return changes


def test_the_module_imports_no_widgets():
    code = "import sys, helpers.studio; print('ipywidgets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_initial_state(controller, content):
    state = controller.state
    height = content.shape[0]
    assert state.class_ids == (1,) and state.clicks == []
    assert state.mask[: height // 2].all() and not state.mask[height // 2:].any()
    assert state.selection == "upper_body (class 1)"
    # "hard": the output is the stylized photo inside the garment and the photo outside
    np.testing.assert_array_equal(state.output[: height // 2], state.stylized[: height // 2])
    np.testing.assert_array_equal(state.output[height // 2:], content[height // 2:])


def test_select_and_a_click_choosing_by_class(controller, content):
    changes = record(controller)
    controller.select("lower_body")
    assert controller.state.class_ids == (2,)
    assert changes == [frozenset({"region", "blend"})]
    controller.select((3, 2))  # a click selects the class under it
    assert controller.state.class_ids == (1,)
    with pytest.raises(ValueError, match="'full_body' not found in this image; classes present"):
        controller.select(["upper_body", "full_body"])
    assert controller.state.class_ids == (1,)


def test_full_body_beside_a_top_and_a_skirt_is_built_by_clicks(pipeline, content, style):
    # the parse has an upper and a lower garment and no full body: it may have split a dress
    notices = []
    controller = StudioController(pipeline, content, style, method="hard",
                                  notify=notices.append)
    labels = pipeline.parsing().labels
    controller.select("full_body")
    assert controller.state.class_ids == (3,) and not controller.state.mask.any()
    assert notices[-1].startswith("full_body is not in the parse, which found an upper and a lower")
    height, width = content.shape[:2]
    controller.click(width // 2, height // 4)             # on the top: it comes whole
    np.testing.assert_array_equal(controller.state.mask, (labels == 1).astype(np.float32))
    controller.click(width // 2, 3 * height // 4)         # on the skirt
    np.testing.assert_array_equal(controller.state.mask, (labels > 0).astype(np.float32))
    controller.undo()
    controller.undo()                                      # no click left: nothing chosen
    assert controller.state.class_ids == (3,) and not controller.state.mask.any()
    # a negative click before any positive one has nothing to remove: no error
    controller.click(width // 2, height // 4, positive=False)
    assert not controller.state.mask.any() and notices[-1].startswith("nothing to remove yet")
    controller.select(np.array([3]))                       # ids as an array, as the pipeline
    assert controller.state.class_ids == (3,) and controller.state.clicks == []


def test_clicks_refine_and_undo_walks_them_back(controller, content):
    height, width = content.shape[:2]
    before = controller.state.mask.copy()
    changes = record(controller)
    controller.click(width // 2, height // 2 + 10, positive=True)
    assert controller.state.clicks == [(width // 2, height // 2 + 10, True)]
    assert controller.state.mask.sum() > before.sum()
    assert "1 positive / 0 negative clicks" in controller.state.selection
    controller.undo()
    assert controller.state.clicks == []
    np.testing.assert_array_equal(controller.state.mask, before)
    controller.undo()  # nothing left: no change, no notice
    assert changes == [frozenset({"region", "blend"})] * 2


def test_a_click_outside_the_image_changes_nothing(controller):
    state = controller.state
    mask, clicks = state.mask.copy(), list(state.clicks)
    with pytest.raises(ValueError, match="outside the image"):
        controller.click(999, 5)
    assert state.clicks == clicks
    np.testing.assert_array_equal(state.mask, mask)


def test_blend_parameters_reblend_only_and_style_parameters_restylize(controller,
                                                                      monkeypatch):
    calls = []
    original = controller.pipeline.stylized
    monkeypatch.setattr(controller.pipeline, "stylized",
                        lambda *a, **k: calls.append(1) or original(*a, **k))
    changes = record(controller)
    output = controller.state.output
    controller.set_parameter("method", "feather")
    assert calls == [] and changes[-1] == frozenset({"blend"})
    assert controller.state.softness > 0  # feather's default, followed until set
    assert not np.array_equal(controller.state.output, output)
    controller.set_parameter("softness", 3.0)
    assert controller.state.softness == 3.0 and not controller.state.softness_follows_method
    controller.set_parameter("method", "saliency")
    assert controller.state.softness == 3.0  # an explicit softness stays
    controller.set_parameter("strength", 0.5)
    assert calls == [1] and changes[-1] == frozenset({"stylized", "blend"})


def test_a_refused_parameter_leaves_the_state_unchanged(controller):
    state = controller.state
    before = (state.method, state.softness, state.strength, state.output)
    with pytest.raises(ValueError, match="unknown blend method 'poisson'"):
        controller.set_parameter("method", "poisson")
    with pytest.raises(ValueError, match="softness must be a finite number >= 0 \\(pixels\\)"):
        controller.set_parameter("softness", -1)
    with pytest.raises(ValueError, match="strength"):
        controller.set_parameter("strength", 2.0)
    with pytest.raises(ValueError, match="unknown studio parameter 'gamma'; valid values: "
                                         + ", ".join(repr(p) for p in PARAMETERS)):
        controller.set_parameter("gamma", 1)
    assert (state.method, state.softness, state.strength, state.output) == before


def test_a_new_photo_resets_the_garment_and_a_bad_one_keeps_the_old(controller, content):
    height, width = content.shape[:2]
    controller.click(width // 2, height // 2 + 10)
    changes = record(controller)
    flipped = content[:, ::-1].copy()
    controller.set_content(flipped)
    assert controller.state.clicks == [] and controller.state.class_ids == (1,)
    assert changes == [frozenset({"content", "region", "stylized", "blend"})]
    with pytest.raises(ValueError, match="content"):
        controller.set_content(np.zeros((8, 8), np.uint8))
    assert controller.state.content is controller.pipeline.content
    np.testing.assert_array_equal(controller.state.content, flipped)


def test_grabcut_chooses_by_clicks_only(content, style):
    pipe = Pipeline(segmentation="grabcut", saliency="person_matte", max_side=96,
                    notify=None)
    with pytest.warns(UserWarning, match="no frontal face found"):  # 96 px: too small
        controller = StudioController(pipe, content, style, method="hard")
    assert controller.state.class_ids == ()
    assert controller.state.selection == "garment (GrabCut, automatic start)"
    with pytest.raises(ValueError, match="no cloth classes: click on the garment"):
        controller.select("upper_body")
