import dataclasses
import warnings

import numpy as np
import pytest

from helpers import weights
from helpers.images import fit_to_cap, sample_content, sample_style
from helpers.pipeline import (
    Pipeline,
    array_digest,
    resolve_backend,
)


@pytest.fixture(scope="module")
def content():
    image, _ = fit_to_cap(sample_content("astronaut"), 128)
    return image


@pytest.fixture(scope="module")
def style():
    return sample_style("stripes")


def _offline(**kwargs):
    return Pipeline(segmentation="classical_parsing", saliency="person_matte", max_side=128,
                    notify=None, **kwargs)


def _grabcut(**kwargs):
    return Pipeline(segmentation="grabcut", saliency="person_matte", max_side=128,
                    notify=None, **kwargs)


def _fake_cloth(**kwargs):
    return Pipeline(segmentation="u2net_cloth", saliency="person_matte", max_side=128,
                    notify=None, segmentation_options={"runner": FakeClothRunner()}, **kwargs)


class FakeClothRunner:
    """Stands in for the U²-Net cloth parser: upper half class 1, lower half class 2."""

    arch = "u2net_cloth"
    backend = "fake"
    output_is_logits = True

    def __init__(self):
        self.calls = 0

    def __call__(self, batch):
        self.calls += 1
        _, _, height, width = batch.shape
        logits = np.full((1, 4, height, width), -5.0, np.float32)
        logits[0, 1, : height // 2] = 5.0
        logits[0, 2, height // 2:] = 5.0
        return logits


def test_auto_falls_back_to_offline_defaults_saying_so_in_one_line(empty_cache):
    lines = []
    assert resolve_backend("segmentation", "auto", notify=lines.append) == "classical_parsing"
    assert resolve_backend("saliency", "auto", notify=lines.append) == "person_matte"
    assert len(lines) == 2
    assert all("\n" not in line and str(empty_cache) in line for line in lines)
    assert "using the offline 'classical_parsing' parser" in lines[0]
    assert "using the offline 'person_matte'" in lines[1]


def test_auto_order_comes_from_the_registry(empty_cache, monkeypatch):
    from helpers import segmentation

    # The torch checkpoint alone installed: "auto" takes it, the ONNX one is tried first.
    # A known size verifies the stand-in file (with neither md5 nor size, it must load).
    spec = dataclasses.replace(weights.REGISTRY["cloth_segm_u2net"], md5=None, size_bytes=128)
    monkeypatch.setitem(weights.REGISTRY, "cloth_segm_u2net", spec)
    empty_cache.mkdir(parents=True)
    (empty_cache / spec.filename).write_bytes(b"\x80\x02" * 64)
    assert segmentation.auto_backend() == ("u2net_cloth", ("u2net_cloth_seg_onnx",))
    assert resolve_backend("segmentation", "auto", notify=None) == "u2net_cloth"
    assert list(segmentation.BACKENDS)[:2] == ["u2net_cloth_onnx", "u2net_cloth"]


def test_auto_without_offline_fallback_raises_with_the_download_facts(empty_cache):
    with pytest.raises(weights.WeightsUnavailableError, match="u2net_cloth_seg.onnx"):
        resolve_backend("segmentation", "auto", allow_offline=False, notify=None)


def test_auto_prefers_installed_weights(empty_cache, monkeypatch):
    spec = dataclasses.replace(weights.REGISTRY["u2netp_onnx"], md5=None, size_bytes=128)
    monkeypatch.setitem(weights.REGISTRY, "u2netp_onnx", spec)
    empty_cache.mkdir(parents=True)
    (empty_cache / spec.filename).write_bytes(b"\x08\x01" * 64)
    assert resolve_backend("saliency", "auto", notify=None) == "u2netp_onnx"


def test_unknown_backends_list_valid_names():
    with pytest.raises(ValueError, match="unknown segmentation backend 'sam'; valid values: 'auto'"):
        Pipeline(segmentation="sam", notify=None)
    with pytest.raises(ValueError, match="unknown saliency backend 'guided'; valid values: "
                                         "'auto', .*'person_matte'"):
        Pipeline(saliency="guided", notify=None)
    with pytest.raises(ValueError, match="unknown stylization backend 'gatys'"):
        Pipeline(segmentation="grabcut", saliency="person_matte", stylization="gatys",
                 notify=None)
    with pytest.raises(ValueError, match="max_side must be an integer of at least 64"):
        Pipeline(segmentation="grabcut", saliency="person_matte", max_side=10, notify=None)


def test_offline_run_records_backends_and_keeps_content_outside(content, style):
    pipe = _offline()
    result = pipe.run(content, style, method="saliency")
    assert result.backends == {"segmentation": "classical_parsing",
                               "saliency": "person_matte", "stylization": "magenta_onnx"}
    assert result.output.shape == content.shape and result.output.dtype == np.uint8
    assert result.labels is not None and 1 in result.labels
    assert 0.05 < result.mask.mean() < 0.9
    np.testing.assert_array_equal(result.mask, (result.labels == 1).astype(np.float32))
    outside = result.alpha == 0
    np.testing.assert_array_equal(result.output[outside], content[outside])
    inside = result.alpha == 1
    np.testing.assert_array_equal(result.output[inside], result.stylized[inside])
    assert {"segmentation", "region", "stylization", "blend"} <= set(result.timings)


def test_changing_only_blending_reruns_only_the_blend(content, style, monkeypatch):
    pipe = _offline()
    first = pipe.run(content, style, method="saliency")
    import helpers.segmentation.classical_parsing as classical
    import helpers.stylize as stylize

    def forbidden(*args, **kwargs):
        raise AssertionError("an expensive stage ran again")

    monkeypatch.setattr(classical, "parse_person", forbidden)
    monkeypatch.setattr(stylize, "load_stylizer", forbidden)
    second = pipe.run(content, style, method="feather", softness=3.0)
    # the cached stages are listed at 0 s; feather does not use M, so it is not asked for
    assert second.timings.keys() == {"segmentation", "region", "stylization", "blend"}
    assert {stage for stage, seconds in second.timings.items() if seconds > 0} == {"blend"}
    assert not np.array_equal(first.output, second.output)
    softer = pipe.blend(first.stylized, first.mask, "feather", softness=6.0)
    assert not np.array_equal(softer, second.output)


def test_style_parameters_rerun_stylization_only(content, style):
    pipe = _offline()
    pipe.run(content, style)
    result = pipe.run(content, style, strength=0.5)
    assert {stage for stage, seconds in result.timings.items() if seconds > 0} == {
        "stylization", "blend"}


def test_run_is_deterministic(content, style):
    first = _offline().run(content, style).output
    second = _offline().run(content, style).output
    np.testing.assert_array_equal(first, second)


def test_garment_choice_changes_the_region_offline(content):
    pipe = _offline()
    pipe.set_content(content)
    labels = pipe.parsing().labels
    present = [name for class_id, name in ((1, "upper_body"), (2, "lower_body"),
                                           (3, "full_body")) if (labels == class_id).any()]
    assert present  # the astronaut's suit at least
    masks = {name: pipe.region_mask(name) for name in present}
    for name, mask in masks.items():
        np.testing.assert_array_equal(mask, np.isin(labels, [{"upper_body": 1,
                                      "lower_body": 2, "full_body": 3}[name]]))
    absent = [n for n in ("upper_body", "lower_body", "full_body") if n not in present]
    for name in absent:
        with pytest.raises(ValueError, match=f"'{name}' not found in this image; classes "
                                             "present: "):
            pipe.region_mask(name)


def test_clicks_refine_the_chosen_garment_with_any_parser(content):
    pipe = _offline()
    pipe.set_content(content)
    mask = pipe.region_mask("upper_body") > 0
    rows, cols = np.nonzero(mask)
    inside = (float(cols[len(cols) // 2]), float(rows[len(rows) // 2]))
    removed = pipe.region_mask("upper_body", negative=[inside]) > 0
    assert removed.sum() < mask.sum() and not (removed & ~mask).any()  # only removes
    outside = np.argwhere(~mask)[0]
    grown = pipe.region_mask("upper_body", positive=[(float(outside[1]), float(outside[0]))])
    assert not (mask & ~(grown > 0)).any()  # only adds
    with pytest.raises(ValueError, match="negative click: click .* is outside the image"):
        pipe.region_mask("upper_body", negative=[(1000, 5)])


def test_a_click_given_both_ways_cancels_and_says_so(content):
    pipe = _offline()
    pipe.set_content(content)
    mask = pipe.region_mask("upper_body")
    rows, cols = np.nonzero(mask > 0)
    inside = (float(cols[len(cols) // 2]), float(rows[len(rows) // 2]))
    with pytest.warns(UserWarning, match=r"1 click\(s\) given both as positive and negative "
                                         r"\(pixel \(\d+, \d+\)\): the two cancel"):
        both = pipe.region_mask("upper_body", positive=[inside], negative=[inside])
    np.testing.assert_array_equal(both, mask)
    # clicks on different pixels say nothing
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pipe.region_mask("upper_body", positive=[inside],
                         negative=[(inside[0] + 1, inside[1])])


def test_offline_saliency_is_the_person_matte_independent_of_the_garment(content):
    pipe = _offline()
    pipe.set_content(content)
    matte = pipe.saliency_map()
    assert matte.shape == content.shape[:2] and matte.dtype == np.float32
    assert matte.min() >= 0.0 and matte.max() <= 1.0
    assert pipe.saliency_map() is matte
    assert pipe.segmenter.person is matte  # the parser's own matte, computed once
    garment = pipe.region_mask("upper_body") > 0
    assert matte[garment].mean() > 0.8  # about 1 over the garments
    assert matte[:, :4].mean() < matte[garment].mean()  # lower on the background edge


def test_grabcut_masks_equal_interactive_mask_and_detect_the_face_once(content, monkeypatch):
    from helpers.segmentation import grabcut

    pipe = _grabcut()
    pipe.set_content(content)
    height, width = content.shape[:2]
    clicks = {"positive": [(width // 2, int(height * 0.8))],
              "negative": [(width // 2, height // 8)]}
    calls = []
    detect = grabcut._auto_box_work
    monkeypatch.setattr(grabcut, "_auto_box_work", lambda work: calls.append(1) or detect(work))
    automatic = pipe.region_mask()
    clicked = pipe.region_mask(**clicks)
    assert len(calls) == 1
    np.testing.assert_array_equal(automatic, grabcut.interactive_mask(content))
    np.testing.assert_array_equal(clicked, grabcut.interactive_mask(content, **clicks))


def test_grabcut_has_no_classes(content):
    pipe = _grabcut()
    pipe.set_content(content)
    assert not pipe.has_classes and pipe.capabilities.takes_clicks
    with pytest.raises(RuntimeError, match="'grabcut' back-end has no cloth classes"):
        pipe.parsing()
    # M does not depend on the segmentation back-end: the person matte still works.
    assert pipe.saliency_map().shape == content.shape[:2]


def test_no_person_is_said_not_guessed_silently():
    rng = np.random.default_rng(0)
    landscape = np.repeat(np.linspace(40, 220, 96, dtype=np.uint8)[:, None], 128, 1)
    landscape = np.dstack([landscape, landscape[::-1], rng.integers(0, 255, landscape.shape,
                                                                    dtype=np.uint8)])
    pipe = _offline()
    pipe.set_content(landscape)
    with pytest.warns(UserWarning, match="no person found: click on the garment"):
        pipe.segmenter  # noqa: B018
    assert pipe.notes and "no person found" in pipe.notes[0]
    assert pipe.segmenter.person_found is False


def test_no_content_yet_is_a_clear_error():
    with pytest.raises(RuntimeError, match=r"call pipeline.set_content\(image\) first"):
        _ = _offline().content


def test_pretrained_segmentation_chooses_classes(content, style):
    pipe = _fake_cloth()
    runner = pipe._segmenter.runner
    result = pipe.run(content, style, region="lower_body", method="hard")
    height = content.shape[0]
    assert result.labels is not None and set(np.unique(result.labels)) == {1, 2}
    assert result.mask[: height // 2].sum() == 0 and result.mask[height // 2 + 1:].all()
    # Another garment reuses the cached parsing.
    pipe.run(content, style, region="upper_body")
    assert runner.calls == 1
    with pytest.raises(ValueError, match="full_body"):
        pipe.region_mask("full_body")


def test_pretrained_saliency_loads_registered_weights(content, style, empty_cache, monkeypatch):
    """The real path: registry -> cache -> load_runner -> U2NETP -> u2net_saliency."""
    torch = pytest.importorskip("torch")
    from helpers.u2net import build_network

    spec = dataclasses.replace(weights.REGISTRY["u2netp"], md5=None, size_bytes=None)
    monkeypatch.setitem(weights.REGISTRY, "u2netp", spec)
    empty_cache.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(build_network("u2netp").state_dict(), empty_cache / spec.filename)
    pipe = Pipeline(segmentation="grabcut", saliency="auto", max_side=128, notify=None)
    assert pipe.backends["saliency"] == "u2netp"
    result = pipe.run(content, style, method="saliency")
    assert result.saliency.shape == content.shape[:2]
    # Min-max normalised at 320 x 320, then resized to the photo: spans most of [0, 1].
    assert 0.0 <= result.saliency.min() < 0.1 and 0.9 < result.saliency.max() <= 1.0
    # U²-Net saliency is a property of the photo, not of the region: computed once.
    assert pipe.saliency_map() is result.saliency


def test_several_garments_each_with_its_own_style(content):
    pipe = _fake_cloth()
    red = np.zeros((64, 64, 3), np.uint8)
    red[..., 0] = 255
    blue = np.zeros((64, 64, 3), np.uint8)
    blue[..., 2] = 255
    out = pipe.run_garments(content, [
        {"region": "upper_body", "style": red, "method": "hard"},
        {"region": "lower_body", "style": blue, "method": "hard"},
    ])
    height = content.shape[0]
    upper = pipe.stylized(red)
    lower = pipe.stylized(blue)
    np.testing.assert_array_equal(out[: height // 2], upper[: height // 2])
    np.testing.assert_array_equal(out[height // 2 + 1:], lower[height // 2 + 1:])


@pytest.mark.parametrize("garments, message", [
    ({"style": "S"}, r"garments must be a list of dicts, one per garment, got dict"),
    (["upper_body"], r"garment 1 must be a dict with 'style' and 'region', got 'upper_body'"),
    ([{"style": "S"}, {"style": "S", "regoin": "lower_body", "metod": "hard"}],
     r"garment 2: unknown key\(s\) 'regoin', 'metod'; valid keys: style, region, "),
    ([{"region": "upper_body"}], r"garment 1 has no 'style'"),
    ([{"style": "S"}, {"style": "S", "method": "poisson"}],
     r"garment 2: unknown blend method 'poisson'"),
    ([{"style": "S", "strength": 2}], r"garment 1: strength must lie in \[0, 1\], got 2"),
    ([{"style": "S", "positive": [(1e6, 5)]}], r"garment 1: positive click: .*outside"),
    ([{"style": np.zeros((8, 8), np.uint8)}], r"garment 1: style"),
])
def test_run_garments_checks_every_garment_before_any_stage(content, style, garments,
                                                           message, monkeypatch):
    pipe = _offline()

    def no_stage(*args, **kwargs):
        raise AssertionError("a stage ran before the garments were checked")

    monkeypatch.setattr(pipe, "set_content", no_stage)
    monkeypatch.setattr(pipe, "stylized", no_stage)
    if isinstance(garments, list):
        garments = [{**g, "style": style} if isinstance(g, dict)
                    and isinstance(g.get("style"), str) else g for g in garments]
    with pytest.raises(ValueError, match=message):
        pipe.run_garments(content, garments)


def test_run_garments_names_the_garment_whose_region_is_absent(content, style):
    pipe = _fake_cloth()          # upper and lower body, no full body
    with pytest.raises(ValueError, match=r"garment 2: 'full_body' not found.*upper_body"):
        pipe.run_garments(content, [{"style": style, "region": "upper_body"},
                                    {"style": style, "region": "full_body"}])


def test_array_digest_tells_arrays_apart():
    a = np.zeros((2, 3), np.uint8)
    assert array_digest(a) == array_digest(a.copy())
    assert array_digest(a) != array_digest(a.reshape(3, 2))
    assert array_digest(a) != array_digest(a.astype(np.float32))
    b = a.copy()
    b[0, 0] = 1
    assert array_digest(a) != array_digest(b)


def test_clicks_refine_a_pretrained_parse_too(content):
    pipe = _fake_cloth()
    pipe.set_content(content)
    upper = pipe.region_mask("upper_body") > 0
    height, width = content.shape[:2]
    click = (width // 2, int(height * 0.75))  # on the part the parser called lower body
    grown = pipe.region_mask("upper_body", positive=[click]) > 0
    assert grown[click[1], click[0]] and not (upper & ~grown).any()
    assert pipe.prediction("upper_body", positive=[click]).class_ids == (1,)
    # The clicks go to the one refinement engine, whatever made the parse.
    from helpers.segmentation.refine import ClickRefiner

    assert isinstance(pipe.segmenter.refiner(), ClickRefiner)


def test_arrays_below_the_minimum_size_and_unwrapped_clicks_are_clear_errors(content):
    pipe = _offline()
    with pytest.raises(ValueError, match="content: image is 50x1 px; both sides must be at "
                                         "least 16 px"):
        pipe.set_content(np.zeros((1, 50, 3), np.uint8))
    pipe.set_content(content)
    with pytest.raises(ValueError, match=r"positive clicks must be a list of \(x, y\) pairs, "
                                         r"got one pair \(20, 30\): write \[\(20, 30\)\]"):
        pipe.region_mask("upper_body", positive=(20, 30))


def test_odd_choices_and_clicks_get_answers_of_their_own(content):
    pipe = _offline()
    pipe.set_content(content)
    upper = pipe.region_mask(1)
    # True equals 1 as a cache key, but it is no class id
    with pytest.raises(ValueError, match="cannot interpret region True"):
        pipe.region_mask(True)
    # None for clicks is no clicks; an array choice reads as its list
    np.testing.assert_array_equal(pipe.region_mask("upper_body", positive=None), upper)
    np.testing.assert_array_equal(pipe.region_mask(np.array([1])), upper)
    with pytest.raises(ValueError, match=r"class id 60 is not a garment; .*a click is a tuple"):
        pipe.region_mask(np.array([60, 60]))
    # negative clicks alone have nothing to remove from a class the parse does not hold
    assert 2 not in pipe.parsing().classes_present()
    with pytest.raises(ValueError, match="'lower_body' not found in this image; classes "
                                         "present: upper_body"):
        pipe.region_mask("lower_body", negative=[(64, 64)])
    assert pipe.region_mask("lower_body", positive=[(64, 100)]).any()  # grown from a click
    # what cannot be a region or a list of clicks is named, whatever its type
    for choice in ({}, {"upper_body"}, [[60, 60]]):
        with pytest.raises(ValueError, match=r"cannot interpret region .*a click as a tuple"):
            pipe.region_mask(choice)
    for clicks in (5, "here"):
        with pytest.raises(ValueError, match=f"positive clicks must be a list of \\(x, y\\) "
                                             f"pairs, got {clicks!r}"):
            pipe.region_mask("upper_body", positive=clicks)


def test_download_false_holds_for_a_backend_named_explicitly(content, empty_cache,
                                                             monkeypatch):
    def no_download(*args, **kwargs):
        raise AssertionError("downloaded despite download=False")

    monkeypatch.setattr(weights, "_fetch", no_download)
    pipe = Pipeline(segmentation="u2net_cloth", saliency="u2netp", max_side=128,
                    download=False, notify=None)
    pipe.set_content(content)
    with pytest.raises(weights.WeightsUnavailableError, match="u2netp.pth"):
        pipe.saliency_map()
    with pytest.raises(weights.WeightsUnavailableError, match="cloth_segm_u2net_latest.pth"):
        pipe.parsing()


def test_fetch_weights_gives_each_pretrained_stage_its_file_and_names_a_missing_one(
        empty_cache, monkeypatch):
    spec = dataclasses.replace(weights.REGISTRY["u2netp_onnx"], md5=None, size_bytes=128)
    monkeypatch.setitem(weights.REGISTRY, "u2netp_onnx", spec)
    empty_cache.mkdir(parents=True)
    (empty_cache / spec.filename).write_bytes(b"\x80\x02" * 64)
    pipe = Pipeline(segmentation="classical_parsing", saliency="u2netp_onnx", download=False,
                    notify=None)
    assert pipe.fetch_weights() == {"saliency": empty_cache / spec.filename}
    assert _offline().fetch_weights() == {}
    pipe = Pipeline(segmentation="u2net_cloth_onnx", saliency="person_matte", download=False,
                    notify=None)
    with pytest.raises(weights.WeightsUnavailableError, match="u2net_cloth_seg.onnx"):
        pipe.fetch_weights()


def test_memory_estimate_and_check_with_injected_figures(monkeypatch):
    from helpers import pipeline

    assert pipeline.estimate_peak_memory(10_000, 10_000) == (
        pipeline.PEAK_BYTES_BASE + pipeline.PEAK_BYTES_PER_PIXEL * 100_000_000)
    assert 16e9 < pipeline.estimate_peak_memory(10_000, 10_000) < 18e9  # the 100 MP cap
    needed = pipeline.check_memory(3000, 4000, available=8 * 10**9)  # fits: the estimate
    assert needed == pipeline.estimate_peak_memory(3000, 4000)
    with pytest.raises(pipeline.NotEnoughMemoryError,
                       match=r"^photo\.jpg is 10000x10000 px and needs about 17\.3 GB of memory "
                             r"at peak, but only 4\.0 GB is available; downscale it \(at most "
                             r"about 4\d\d\dx4\d\d\d px fits now\)"):
        pipeline.check_memory(10_000, 10_000, label="photo.jpg", available=4 * 10**9)
    monkeypatch.setattr(pipeline, "available_memory", lambda: None)  # unknown: no check
    assert pipeline.check_memory(10_000, 10_000) > 0


def test_available_memory_from_proc_meminfo():
    from helpers import pipeline

    text = "MemTotal:       24576000 kB\nMemFree:  100 kB\nMemAvailable:   8000000 kB\n"
    assert pipeline._meminfo_available(text) == 8_000_000 * 1024
    assert pipeline._meminfo_available("MemTotal: 5 kB\n") is None
    assert pipeline.available_memory() > 0  # this machine can tell


def test_run_refuses_a_content_too_large_for_the_memory_before_any_stage(content, style,
                                                                          monkeypatch):
    from helpers import pipeline

    monkeypatch.setattr(pipeline, "available_memory", lambda: 10**8)  # 100 MB free
    pipe = _offline()
    with pytest.raises(pipeline.NotEnoughMemoryError, match="content is .* px and needs"):
        pipe.run(content, style)
    assert pipe.timings == {}


class FakeSaliencyRunner:
    """Stands in for a U²-Net saliency runner: a centred bright square on the 320² input."""

    arch = "u2netp"
    backend = "fake"
    output_is_logits = False

    def __init__(self):
        self.calls = 0

    def __call__(self, batch):
        self.calls += 1
        _, _, height, width = batch.shape
        out = np.zeros((1, 1, height, width), np.float32)
        out[..., height // 4:3 * height // 4, width // 4:3 * width // 4] = 1.0
        return out


def test_a_saliency_runner_is_injected_through_the_constructor(content, style, empty_cache):
    runner = FakeSaliencyRunner()
    pipe = Pipeline(segmentation="grabcut", saliency="u2netp", max_side=128, download=False,
                    notify=None, saliency_runner=runner)
    saliency = pipe.run(content, style, method="saliency").saliency
    height, width = content.shape[:2]
    assert saliency[height // 2, width // 2] == 1.0 and saliency[2, 2] == 0.0
    assert runner.calls == 1  # no weights were looked for, and M is computed once per photo
    pipe.run(content, style, method="saliency", strength=0.5)
    assert runner.calls == 1


def test_timings_list_every_stage_a_run_used_with_zero_for_cached_ones(content, style):
    pipe = _grabcut()  # its M is a stage of its own (the classical parser's comes with the parse)
    first = pipe.run(content, style, method="saliency")
    stages = {"segmentation", "region", "stylization", "saliency", "blend"}
    assert set(first.timings) == stages
    assert all(first.timings[stage] > 0 for stage in stages)
    again = pipe.run(content, style, method="saliency")
    assert set(again.timings) == stages
    assert all(again.timings[stage] == 0.0 for stage in stages - {"blend"})
    assert again.timings["blend"] > 0


def test_methods_without_saliency_do_not_compute_it(content, style):
    calls = []
    pipe = _offline()
    original = pipe.person_matte

    def counted():
        calls.append(1)
        return original()

    pipe.person_matte = counted
    for method in ("hard", "feather", "matting"):
        result = pipe.run(content, style, method=method)
        assert result.saliency is None and "saliency" not in result.timings
    assert calls == []
    assert pipe.run(content, style, method="saliency").saliency is not None
    assert calls  # asked for by the saliency method only


def test_caches_are_bounded_and_dropped_with_the_photo(content, style):
    from helpers.pipeline import MASKS_CACHED, STYLIZED_CACHED

    pipe = _offline()
    pipe.set_content(content)
    for k in range(STYLIZED_CACHED + 3):
        pipe.stylized(style, strength=k / 10)
    assert len(pipe._stylized) == STYLIZED_CACHED
    for k in range(MASKS_CACHED + 2):
        pipe.region_mask("upper_body", positive=[(40 + k, 70)])
    assert len(pipe._masks) == MASKS_CACHED
    pipe.saliency_map()
    pipe.set_content(content[::-1].copy())
    assert len(pipe._stylized) == 0 and len(pipe._masks) == 0 and pipe._saliency is None


def test_an_unknown_stage_is_a_value_error_listing_the_stages():
    with pytest.raises(ValueError, match="unknown stage 'stylization'; valid values: "
                                         "'segmentation', 'saliency'"):
        resolve_backend("stylization", "auto")


@pytest.mark.parametrize("make", [_offline, _grabcut])
def test_results_handed_out_again_are_read_only_and_the_callers_photo_is_its_own(
        content, style, make):
    photo = content.copy()
    pipe = make()
    pipe.set_content(photo)
    mask = pipe.region_mask("upper_body", positive=[(64, 100)])
    saliency = pipe.saliency_map()
    stylized = pipe.stylized(style)
    kept = (mask.copy(), saliency.copy(), stylized.copy())
    arrays = [pipe.content, mask, saliency, stylized]
    # the back-end keeps the pipeline's read-only copy: the photo is copied once, not twice
    assert pipe.segmenter.image is pipe.content
    if pipe.has_classes:
        arrays += [pipe.parsing().labels, pipe.parsing().probabilities]
    for array in arrays:
        with pytest.raises(ValueError, match="read-only"):
            array[...] = 0
    # a copy is the caller's to edit; what the pipeline hands out again is unchanged
    editable = mask.copy()
    editable[...] = 0
    photo[...] = 0                        # the caller edits their own photo
    assert pipe.content.any()
    again = (pipe.region_mask("upper_body", positive=[(64, 100)]), pipe.saliency_map(),
             pipe.stylized(style))
    for before, after in zip(kept, again, strict=True):
        np.testing.assert_array_equal(before, after)
    assert kept[0].any() and kept[1].any()
    result = pipe.run(content, style, region="upper_body")
    result.output[...] = 0                # the composite is new: the caller's to edit


def test_the_tf_hub_model_is_named_and_checked_when_the_pipeline_is_built(tmp_path,
                                                                          monkeypatch):
    import sys

    monkeypatch.delenv("CLOTHSTYLE_MAGENTA_HUB", raising=False)
    monkeypatch.setitem(sys.modules, "tensorflow_hub", None)      # not installed
    with pytest.raises(ImportError, match="needs TensorFlow and tensorflow_hub"):
        Pipeline("classical_parsing", "person_matte", "magenta_hub", notify=None)
    with pytest.raises(FileNotFoundError, match="no such folder"):
        Pipeline("classical_parsing", "person_matte", "magenta_hub",
                 hub_handle=tmp_path / "missing", notify=None)
    with pytest.raises(ValueError, match="hub_handle applies to stylization='magenta_hub'"):
        Pipeline("classical_parsing", "person_matte", hub_handle=tmp_path, notify=None)
    (tmp_path / "saved_model.pb").write_bytes(b"")                # a folder needs TF alone
    pipeline = Pipeline("classical_parsing", "person_matte", "magenta_hub",
                        hub_handle=tmp_path, notify=None)
    assert pipeline.hub_handle == str(tmp_path)
    assert Pipeline("classical_parsing", "person_matte", notify=None).hub_handle is None
