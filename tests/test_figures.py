import matplotlib

matplotlib.use("Agg")

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from helpers.blend import BLEND_METHODS, composite
from helpers.boundaries import EDGE_TYPES
from helpers.figures import (
    RESULTS_COLUMNS,
    backend_caption,
    boundary_metrics_figure,
    closer_look_for,
    metrics_for_methods,
    pipeline_overview_figure,
    results_grid_figure,
    results_row,
    save_figure,
)
from helpers.images import fit_to_cap, sample_content, sample_style
from helpers.pipeline import Pipeline, PipelineResult
from helpers.segment import CLASS_NAMES

OFFLINE_CAPTION = ("segmentation: classical_parsing (offline) · saliency: person_matte "
                   "(offline) · stylization: magenta_onnx")
PRETRAINED_BACKENDS = {"segmentation": "u2net_cloth", "saliency": "u2net",
                       "stylization": "magenta_onnx"}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def style():
    return fit_to_cap(sample_style("tartan"), 128)[0]


@pytest.fixture(scope="module")
def offline(style):
    """An offline run on a small astronaut: (pipeline, result)."""
    content = fit_to_cap(sample_content("astronaut"), 192)[0]
    pipeline = Pipeline(segmentation="classical_parsing", saliency="person_matte",
                        max_side=256, notify=None)
    return pipeline, pipeline.run(content, style)


@pytest.fixture(scope="module")
def metrics(offline):
    pipeline, result = offline
    return metrics_for_methods(pipeline, result)


@pytest.fixture
def pretrained_result(offline):
    """A hand-built result as the pretrained back-ends would give: synthetic labels."""
    _, result = offline
    content = result.content
    height, width = content.shape[:2]
    labels = np.zeros((height, width), np.uint8)
    labels[height // 2:, width // 4:3 * width // 4] = 1
    labels[3 * height // 4:, width // 4:3 * width // 4] = 2
    mask = (labels == 1).astype(np.float32)
    saliency = np.zeros((height, width), np.float32)
    saliency[height // 4:, width // 5:4 * width // 5] = 1.0
    alpha = mask * saliency
    return PipelineResult(content=content, stylized=result.stylized,
                          output=composite(content, result.stylized, alpha), mask=mask,
                          saliency=saliency, alpha=alpha, labels=labels,
                          backends=dict(PRETRAINED_BACKENDS))


def _image_axes(fig):
    return [ax for ax in fig.axes if ax.images]


def _all_text(fig):
    """Every string drawn: figure texts, titles, axis labels and legend entries."""
    texts = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        texts += [ax.get_title(), ax.get_ylabel()]
        if ax.get_legend() is not None:
            texts += [t.get_text() for t in ax.get_legend().get_texts()]
    for legend in fig.legends:
        texts += [t.get_text() for t in legend.get_texts()]
    return "\n".join(texts)


# --------------------------------------------------------------------------- captions


def test_backend_caption_offline_and_pretrained():
    offline = {"stylization": "magenta_onnx", "saliency": "person_matte",
               "segmentation": "classical_parsing"}
    assert backend_caption(offline) == OFFLINE_CAPTION
    assert backend_caption(PRETRAINED_BACKENDS) == (
        "segmentation: u2net_cloth (pretrained) · saliency: u2net (pretrained) · "
        "stylization: magenta_onnx")
    # Unknown stages follow the known ones, unmarked.
    assert backend_caption({"extra": "x", "segmentation": "grabcut"}) == (
        "segmentation: grabcut (offline) · extra: x")


def test_backend_caption_asks_the_pipeline_which_backends_are_pretrained():
    from helpers.pipeline import SALIENCY_BACKENDS, SEGMENTATION_BACKENDS

    for stage, names in (("segmentation", SEGMENTATION_BACKENDS),
                         ("saliency", SALIENCY_BACKENDS)):
        for name in names[1:]:  # past "auto"
            pretrained = name not in ("classical_parsing", "grabcut", "person_matte")
            assert backend_caption({stage: name}) == (
                f"{stage}: {name} ({'pretrained' if pretrained else 'offline'})")
    # a back-end with no weights to load (a new offline method) is never "pretrained"
    assert backend_caption({"saliency": "new_offline_matte"}) == (
        "saliency: new_offline_matte (offline)")


def test_backend_caption_rejects_empty():
    with pytest.raises(ValueError, match="non-empty dict"):
        backend_caption({})


# --------------------------------------------------------------------------- overview


def test_overview_offline_panels_legend_and_caption(offline, style):
    _, result = offline
    fig = pipeline_overview_figure(result, style, title="Overview")
    assert len(_image_axes(fig)) == 8
    text = _all_text(fig)
    assert OFFLINE_CAPTION in text
    assert "Overview" in text
    # The offline parser has the cloth classes: a class legend, as with U²-Net.
    assert "cloth parsing (classical parser)" in text
    assert "chosen garment" in text and "upper_body" in text
    # Offline M is the parser's matte of the person, and the figure says so.
    assert "M: soft matte of the person (person matte)" in text
    saliency_ax = _image_axes(fig)[1]
    assert saliency_ax.images[0].get_cmap().name == "gray"


def test_overview_grabcut_tints_the_region_without_classes(style):
    content = fit_to_cap(sample_content("astronaut"), 128)[0]
    pipeline = Pipeline(segmentation="grabcut", saliency="person_matte", max_side=128,
                        notify=None)
    fig = pipeline_overview_figure(pipeline.run(content, style), style)
    text = _all_text(fig)
    assert "chosen garment (GrabCut)" in text
    assert "segmentation (GrabCut, no cloth classes)" in text
    assert "segmentation: grabcut (offline)" in text


def test_overview_pretrained_shows_class_legend(pretrained_result, style):
    fig = pipeline_overview_figure(pretrained_result, style)
    assert len(_image_axes(fig)) == 8
    segmentation_ax = _image_axes(fig)[2]
    legend = [t.get_text() for t in segmentation_ax.get_legend().get_texts()]
    assert legend[:4] == list(CLASS_NAMES.values())
    assert "chosen garment" in legend
    # The label map is drawn in the palette: the bottom centre is lower body, PALETTE[2].
    drawn = np.asarray(segmentation_ax.images[0].get_array())
    assert tuple(drawn[-1, drawn.shape[1] // 2 - 1]) == (0, 128, 0)  # lower body
    text = _all_text(fig)
    assert backend_caption(PRETRAINED_BACKENDS) in text
    assert "saliency map M (u2net)" in text


def test_overview_rejects_mismatched_mask(offline, style):
    _, result = offline
    bad = PipelineResult(**{**result.__dict__, "mask": result.mask[:-1]})
    with pytest.raises(ValueError, match="result.mask has shape"):
        pipeline_overview_figure(bad, style)


# --------------------------------------------------------------------------- results grid


def test_results_grid_rows_columns_insets_caption(offline, pretrained_result, style):
    _, result = offline
    rows = [results_row(result, style, "astronaut × tartan"),
            results_row(pretrained_result, style, "synthetic labels")]
    fig = results_grid_figure(rows)
    axes = _image_axes(fig)
    assert len(axes) == 2 * len(RESULTS_COLUMNS)
    assert [ax.get_title() for ax in axes[:5]] == list(RESULTS_COLUMNS)
    # The style is an inset of the stylized panel in every row.
    assert [len(axes[i].child_axes) for i in range(10)] == [0, 0, 0, 1, 0] * 2
    text = _all_text(fig)
    assert OFFLINE_CAPTION in text  # the footer takes the first row's back-ends
    assert axes[0].get_ylabel() == "astronaut × tartan"
    # A row produced by other back-ends names them in its label.
    assert backend_caption(PRETRAINED_BACKENDS) in axes[5].get_ylabel()


def test_results_grid_accepts_plain_rows_and_explicit_backends(offline):
    _, result = offline
    row = {"content": result.content, "saliency": result.saliency, "mask": result.mask,
           "stylized": result.stylized, "output": result.output, "label": "plain"}
    fig = results_grid_figure([row], backends=result.backends)
    assert len(_image_axes(fig)) == 5
    assert not any(ax.child_axes for ax in fig.axes)  # no style given, no inset
    assert OFFLINE_CAPTION in _all_text(fig)


def test_results_grid_errors(offline):
    _, result = offline
    with pytest.raises(ValueError, match="at least one row"):
        results_grid_figure([])
    with pytest.raises(ValueError, match="row 0 lacks output"):
        results_grid_figure([{"content": result.content, "saliency": result.saliency,
                              "mask": result.mask, "stylized": result.stylized}])


# --------------------------------------------------------------------------- closer look


def test_closer_look_for_windows_and_caption(offline):
    pipeline, result = offline
    fig = closer_look_for(result, pipeline, count=2)
    # Two full outputs and two zoomed windows of each.
    assert len(_image_axes(fig)) == 6
    text = _all_text(fig)
    assert OFFLINE_CAPTION in " ".join(text.split())  # wrapped to fit the title
    assert "before: hard blend" in text and "after: saliency blend" in text
    full_before, full_after = _image_axes(fig)[:2]
    hard = pipeline.blend(result.stylized, result.mask, "hard")
    np.testing.assert_array_equal(full_before.images[0].get_array(), hard)
    np.testing.assert_array_equal(full_after.images[0].get_array(), result.output)


def test_closer_look_for_the_same_method_on_both_sides_compares_it_with_saliency(offline):
    pipeline, result = offline
    with pytest.warns(UserWarning, match="compares 'hard' with 'saliency'"):
        fig = closer_look_for(result, pipeline, before="hard", after="hard", count=1)
    text = _all_text(fig)
    assert "before: hard blend" in text and "after: saliency blend" in text
    with pytest.warns(UserWarning, match="compares 'saliency' with 'hard'"):
        closer_look_for(result, pipeline, before="saliency", after="saliency", count=1)


def test_closer_look_for_rejects_unknown_method(offline):
    pipeline, result = offline
    with pytest.raises(ValueError, match="unknown blend method 'blurry'"):
        closer_look_for(result, pipeline, after="blurry")


# --------------------------------------------------------------------------- measures


def test_metrics_for_methods_every_method_finite(metrics):
    assert list(metrics) == list(BLEND_METHODS)
    for per_edge in metrics.values():
        assert list(per_edge) == list(EDGE_TYPES)
        values = per_edge["all"]
        assert values["pixels"] > 0
        for key in ("seam", "color_step", "leakage", "leakage_fraction"):
            assert math.isfinite(values[key])


def test_metrics_hard_paste_has_the_sharpest_seam_and_no_leakage(metrics):
    every = {method: metrics[method]["all"] for method in metrics}
    # Nothing outside the region changes with hard or saliency (M * mask) blending...
    assert every["hard"]["leakage"] == 0.0
    assert every["saliency"]["leakage"] == 0.0
    # ...while a blurred mask spills the style over the edge.
    assert every["feather"]["leakage"] > 0.0
    assert every["feather"]["leakage_fraction"] > 0.0
    # A hard paste adds the most edge energy the photo did not have.
    assert every["hard"]["seam"] == max(v["seam"] for v in every.values())
    assert every["hard"]["seam"] > 1.0


def test_metrics_offline_split_edges_by_the_person_matte(metrics):
    # The offline M is a matte of the whole person, as U²-Net saliency is: the suit's
    # edge against the background and against the face and neck (person) are told apart.
    for per_edge in metrics.values():
        assert per_edge["background"]["pixels"] > 0
        assert per_edge["person"] is not None and per_edge["person"]["pixels"] > 0
        # Each part is a share of the band (a band pixel may border both kinds).
        assert per_edge["background"]["pixels"] < per_edge["all"]["pixels"]
        assert per_edge["person"]["pixels"] < per_edge["all"]["pixels"]


def test_metrics_for_methods_rejects_unknown_method(offline):
    pipeline, result = offline
    with pytest.raises(ValueError, match="unknown blend method 'soft'"):
        metrics_for_methods(pipeline, result, methods=("hard", "soft"))


def test_boundary_metrics_figure_offline_bars_match_values(metrics, offline):
    _, result = offline
    fig = boundary_metrics_figure(metrics, result.backends)
    assert len(fig.axes) == 3
    for ax, key in zip(fig.axes, ("seam", "color_step", "leakage"), strict=True):
        # One bar group per edge type that occurs, "all" first.
        assert ax.containers[0].get_label() == "edge: all"
        heights = ax.containers[0].datavalues
        expected = [metrics[method]["all"][key] for method in BLEND_METHODS]
        np.testing.assert_allclose(heights, expected)
        assert [t.get_text() for t in ax.get_xticklabels()] == list(BLEND_METHODS)
    assert OFFLINE_CAPTION in _all_text(fig)


def test_boundary_metrics_figure_per_edge_type_bars():
    def measures(seam, pixels):
        return {"seam": seam, "color_step": 2.0, "leakage": 0.5, "leakage_fraction": 0.1,
                "pixels": pixels}

    metrics = {
        "hard": {"all": measures(1.5, 100), "background": measures(1.2, 40),
                 "person": None, "garment": measures(1.8, 60)},
        "saliency": {"all": measures(1.1, 100), "background": measures(1.0, 40),
                     "person": None, "garment": measures(1.2, 60)},
    }
    fig = boundary_metrics_figure(metrics, PRETRAINED_BACKENDS)
    seam_ax = fig.axes[0]
    # "person" never occurs, so it gets no bars.
    assert [c.get_label() for c in seam_ax.containers] == [
        "edge: all", "edge: background", "edge: garment"]
    np.testing.assert_allclose(seam_ax.containers[2].datavalues, [1.8, 1.2])
    text = _all_text(fig)
    assert "edge: garment" in text
    assert backend_caption(PRETRAINED_BACKENDS) in text


def test_boundary_metrics_figure_rejects_empty():
    with pytest.raises(ValueError, match="metrics is empty"):
        boundary_metrics_figure({}, PRETRAINED_BACKENDS)


# --------------------------------------------------------------------------- saving


def test_save_figure_writes_png_atomically_and_closes(tmp_path, metrics, offline):
    _, result = offline
    target = tmp_path / "figures" / "metrics.png"
    target.parent.mkdir()
    target.write_bytes(b"old")
    fig = boundary_metrics_figure(metrics, result.backends)
    number = fig.number
    written = save_figure(fig, target, dpi=50)
    assert written == target
    assert target.stat().st_size > 0
    with Image.open(target) as image:
        assert image.format == "PNG"
        assert image.size[0] > 0 and image.size[1] > 0
    assert sorted(p.name for p in target.parent.iterdir()) == ["metrics.png"]
    assert not plt.fignum_exists(number)


def test_save_figure_creates_parents_and_rejects_unknown_suffix(tmp_path):
    fig = plt.figure()
    with pytest.raises(ValueError, match="unsupported suffix '.gif'"):
        save_figure(fig, tmp_path / "figure.gif")
    assert plt.fignum_exists(fig.number)  # still open: the caller may retry
    path = save_figure(fig, tmp_path / "a" / "b" / "figure.png", dpi=20)
    assert path.is_file()
    assert list(tmp_path.rglob("*.tmp")) == []
