"""Headless tests of the interactive studio: widget values in, pipeline state out."""

import base64
import datetime as dt
import html
import json
import shutil
import subprocess

import cv2
import numpy as np
import pytest

from helpers.blend import BLEND_METHODS
from helpers.images import fit_to_cap, sample_content, sample_style
from helpers.pipeline import Pipeline
from helpers.segment import PALETTE, ClothParsing
from helpers.ui import (
    _CLICKMAP_ESM,
    OFFLINE_CHOICE,
    ClickMap,
    StyleStudio,
    encode_jpeg,
    jpeg_data_url,
    selection_overlay,
)

# A positive click on the helmet grows the automatic (torso) GrabCut region of the
# 256 px astronaut; checked by hand on the image.
GROWING_CLICK = (200, 230)


@pytest.fixture(scope="module")
def content():
    image, _ = fit_to_cap(sample_content("astronaut"), 256)
    return image


@pytest.fixture(scope="module")
def style():
    return sample_style("stripes")


@pytest.fixture(scope="module")
def offline_pipeline():
    # Shared: the stylized images stay cached across tests (one ONNX run per setting).
    # GrabCut: the back-end whose clicks are seeds and that has no classes.
    return Pipeline(segmentation="grabcut", saliency="person_matte", max_side=256,
                    notify=None)


@pytest.fixture
def studio(offline_pipeline, content, style):
    return StyleStudio(offline_pipeline, content, style, preview_max_side=128)


def fake_labels(shape):
    """Background border and head, upper body (1) in the middle, lower body (2) below."""
    height, width = shape
    labels = np.zeros((height, width), np.uint8)
    labels[height // 4: 3 * height // 5, width // 8: width - width // 8] = 1
    labels[3 * height // 5:, width // 8: width - width // 8] = 2
    return labels


def make_pretrained_studio(content, style, **options):
    """A studio over a U²-Net cloth back-end whose parse is replaced by fixed labels."""
    pipeline = Pipeline(segmentation="u2net_cloth", saliency="person_matte", max_side=256,
                        notify=None, segmentation_options={"runner": object()})
    labels = fake_labels(content.shape[:2])
    probabilities = np.eye(4, dtype=np.float32)[labels].transpose(2, 0, 1).copy()
    pipeline._segmenter._parse = lambda image: (
        ClothParsing(labels=labels, probabilities=probabilities, backend="fake"), None)
    assert pipeline.has_classes
    studio = StyleStudio(pipeline, content, style, preview_max_side=128, **options)
    return studio, labels


@pytest.fixture
def pretrained_studio(content, style):
    return make_pretrained_studio(content, style)


def decode(jpeg):
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a decodable JPEG"
    return image


def decode_url(url):
    prefix = "data:image/jpeg;base64,"
    assert url.startswith(prefix)
    return decode(base64.b64decode(url[len(prefix):]))


def upload_value(name, data):
    """What ipywidgets 8 FileUpload.value holds after a browser upload of one file."""
    return ({"name": name, "type": "image/png", "size": len(data),
             "content": memoryview(data),
             "last_modified": dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)},)


def png_bytes(image):
    ok, encoded = cv2.imencode(".png", image[..., ::-1])
    assert ok
    return encoded.tobytes()


def count_calls(monkeypatch, obj, name):
    calls = []
    original = getattr(obj, name)

    def counted(*args, **kwargs):
        calls.append((args, kwargs))
        return original(*args, **kwargs)

    monkeypatch.setattr(obj, name, counted)
    return calls


# --------------------------------------------------------------------------- helpers


def test_encode_jpeg_downscales_the_long_side_first():
    image = np.zeros((300, 120, 3), np.uint8)
    image[:, :, 0] = 200  # red
    decoded = decode(encode_jpeg(image, 100))
    assert decoded.shape == (100, 40, 3)
    assert abs(int(decoded[50, 20, 2]) - 200) <= 3  # BGR on decode: red is channel 2
    assert decode(encode_jpeg(image)).shape == (300, 120, 3)
    assert decode_url(jpeg_data_url(encode_jpeg(image, 10))).shape == (10, 4, 3)


def test_selection_overlay_tints_the_chosen_class_only_with_its_palette_colour():
    image = np.full((40, 40, 3), 100, np.uint8)
    labels = np.zeros((40, 40), np.uint8)
    labels[:20] = 1
    labels[20:] = 2
    out = selection_overlay(image, labels=labels, class_ids=(2,))
    expected = np.rint(0.55 * 100 + 0.45 * PALETTE[2].astype(float)).astype(np.uint8)
    np.testing.assert_array_equal(out[30, 10], expected)
    np.testing.assert_array_equal(out[10, 10], [100, 100, 100])  # class 1: untouched
    assert (out[20, 5:35] == 255).all()  # outline along the region's top edge


def test_click_map_reports_clicks_in_full_size_pixels_and_ships_its_own_js():
    click_map = ClickMap()
    received = []
    click_map.on_click(lambda x, y, positive: received.append((x, y, positive)))
    click_map.set_image(np.zeros((50, 80, 3), np.uint8), natural_size=(800, 500))
    assert (click_map.natural_width, click_map.natural_height) == (800, 500)
    assert decode_url(click_map.src).shape == (50, 80, 3)
    click_map.click = {"x": 700, "y": 10, "positive": False, "n": 1}
    click_map.click = {"x": 700, "y": 10, "positive": False, "n": 2}  # same pixel again
    assert received == [(700, 10, False), (700, 10, False)]
    esm = click_map._esm
    assert "clothstyle-clickmap" in esm and "contextmenu" in esm and "offsetX" in esm
    assert "import " not in esm and "http" not in esm  # no network, no dependencies


# A fake DOM and model, enough for render(): the image is shown at 400 x 250 px.
_JS_HARNESS = """
const makeEl = (tag) => ({ tag, className: "", children: [], handlers: {}, textContent: "",
  src: "", clientWidth: 400, clientHeight: 250, append(...c) { this.children.push(...c); },
  addEventListener(t, f) { this.handlers[t] = f; }, removeEventListener(t) {} });
globalThis.document = { createElement: makeEl };
const state = { src: "data:x", caption: "hint", natural_width: 800, natural_height: 500,
  click: {} };
const clicks = [];
const model = { get: (k) => state[k], set: (k, v) => { state[k] = v; },
  save_changes: () => clicks.push(state.click), on() {}, off() {} };
const { pathToFileURL } = await import("node:url");
const { default: widget } = await import(pathToFileURL(process.argv[2]).href);
const el = makeEl("div");
widget.render({ model, el });
const img = el.children[0].children[0];
const event = (x, y, extra) => ({ offsetX: x, offsetY: y, preventDefault() {}, ...extra });
img.handlers.click(event(200, 125, {}));
img.handlers.click(event(399.9, 249.9, { shiftKey: true }));
img.handlers.contextmenu(event(0, 0, {}));
console.log(JSON.stringify({ root: el.children[0].className, img: img.className, clicks }));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js to run the widget JS")
def test_click_map_js_maps_display_to_full_size_pixels(tmp_path):
    (tmp_path / "clickmap.mjs").write_text(_CLICKMAP_ESM)
    (tmp_path / "harness.mjs").write_text(_JS_HARNESS)
    run = subprocess.run(["node", str(tmp_path / "harness.mjs"), str(tmp_path / "clickmap.mjs")],
                         capture_output=True, text=True, timeout=60, check=True)
    result = json.loads(run.stdout)
    assert result["root"] == "clothstyle-clickmap"
    assert result["img"] == "clothstyle-clickmap-image"
    assert result["clicks"] == [
        {"x": 400, "y": 250, "positive": True, "n": 1},  # middle of 800 x 500
        {"x": 799, "y": 499, "positive": False, "n": 2},  # shift: negative, clamped
        {"x": 0, "y": 0, "positive": False, "n": 3},  # right-click: negative
    ]


def test_studio_rejects_unknown_options(offline_pipeline, content, style):
    with pytest.raises(ValueError, match="click_widget"):
        StyleStudio(offline_pipeline, content, style, click_widget="mouse")
    with pytest.raises(ValueError, match="blend method"):
        StyleStudio(offline_pipeline, content, style, method="blur")


# --------------------------------------------------------------------------- offline studio


def test_initial_state_and_preview(studio, content):
    assert studio.preview_count == 1
    assert decode(studio.preview.value).shape == (128, 128, 3)
    assert studio.output.shape == content.shape and studio.output.dtype == np.uint8
    assert studio.mask.shape == content.shape[:2] and studio.mask.dtype == np.float32
    assert 0 < studio.mask.mean() < 1
    assert studio.selection == "garment (GrabCut, automatic start)"
    assert "segmentation grabcut on cpu · saliency person_matte on cpu" in studio.caption.value
    assert studio.class_dropdown.options == (OFFLINE_CHOICE,)
    assert studio.method_dropdown.options == BLEND_METHODS
    assert (studio.x_slider.max, studio.y_slider.max) == (255, 255)
    assert studio.status.value == ""
    assert isinstance(studio.click_map, ClickMap)
    assert decode_url(studio.click_map.src).shape == (128, 128, 3)
    assert studio.widget.children  # something to display


def test_softness_slider_re_blends_without_restylizing(studio, monkeypatch):
    stylize_calls = count_calls(monkeypatch, studio.pipeline, "stylized")
    count, preview, output = studio.preview_count, studio.preview.value, studio.output
    studio.softness_slider.value = 4.0
    assert studio.preview_count == count + 1
    assert studio.preview.value != preview
    assert not np.array_equal(studio.output, output)
    assert stylize_calls == []


def test_hard_method_blends_the_mask_itself(studio):
    output = studio.output
    studio.method_dropdown.value = "hard"
    assert not np.array_equal(studio.output, output)
    np.testing.assert_array_equal(studio.alpha, studio.mask)
    inside = studio.mask > 0
    np.testing.assert_array_equal(studio.output[inside], studio.stylized[inside])
    np.testing.assert_array_equal(studio.output[~inside], studio.content[~inside])


def test_strength_slider_restylizes_and_caches_per_value(studio, monkeypatch):
    full, output = studio.stylized, studio.output
    studio.strength_slider.value = 0.5
    assert not np.array_equal(studio.stylized, full)
    assert not np.array_equal(studio.output, output)
    stylize_calls = count_calls(monkeypatch, studio.pipeline, "stylized")
    studio.strength_slider.value = 1.0
    assert studio.stylized is full  # the pipeline's cache served it
    assert len(stylize_calls) == 1


def test_anywidget_click_takes_the_same_path_as_click(studio):
    initial = studio.mask.copy()
    studio.click_map.click = {"x": GROWING_CLICK[0], "y": GROWING_CLICK[1],
                              "positive": True, "n": 1}
    assert studio.status.value == ""
    assert studio.clicks == [(*map(float, GROWING_CLICK), True)]
    assert studio.selection == "garment (GrabCut, 1 positive / 0 negative clicks)"
    assert studio.mask.sum() > initial.sum()
    from_widget = studio.mask.copy()
    studio.reset()
    np.testing.assert_array_equal(studio.mask, initial)
    studio.click(*GROWING_CLICK)
    np.testing.assert_array_equal(studio.mask, from_widget)


def test_fallback_sliders_and_button_click(studio):
    studio.click(*GROWING_CLICK)
    from_method = studio.mask.copy()
    studio.reset()
    assert studio.clicks == []
    studio.x_slider.value, studio.y_slider.value = GROWING_CLICK
    studio.click_button.click()
    assert studio.clicks == [(*map(float, GROWING_CLICK), True)]
    np.testing.assert_array_equal(studio.mask, from_method)


def test_negative_toggle_makes_the_next_clicks_negative(studio):
    before = studio.mask.sum()
    studio.negative_toggle.value = True
    studio.x_slider.value, studio.y_slider.value = 128, 200  # on the suit
    studio.click_button.click()
    assert studio.clicks == [(128.0, 200.0, False)]
    assert "0 positive / 1 negative" in studio.selection
    assert studio.mask.sum() < before
    # A shift/right-click from the map is negative whatever the toggle says.
    studio.negative_toggle.value = False
    studio.click_map.click = {"x": 60, "y": 200, "positive": False, "n": 7}
    assert studio.clicks[-1] == (60.0, 200.0, False)
    studio.undo()
    assert studio.clicks == [(128.0, 200.0, False)]


def test_click_outside_the_image_shows_a_message_and_changes_nothing(studio):
    mask, count = studio.mask.copy(), studio.preview_count
    studio.click_map.click = {"x": 999, "y": 10, "positive": True, "n": 1}
    assert "outside the image" in studio.status.value
    assert studio.clicks == [] and studio.preview_count == count
    np.testing.assert_array_equal(studio.mask, mask)
    with pytest.raises(ValueError, match="outside the image"):
        studio.click(999, 10)  # the method itself raises; only callbacks report


def test_offline_backend_has_no_class_selection(studio):
    with pytest.raises(ValueError, match="no cloth classes"):
        studio.select("upper_body")


def test_fallback_only_studio_shows_a_plain_image_and_the_open_fallback(
        offline_pipeline, content, style):
    studio = StyleStudio(offline_pipeline, content, style, click_widget="fallback",
                         preview_max_side=128)
    assert studio.click_map is None
    assert studio.fallback_panel.selected_index == 0
    before = studio.click_image.value
    studio.x_slider.value = 30  # the cross shows where the button will click
    assert studio.click_image.value != before
    assert decode(studio.click_image.value).shape == (128, 128, 3)


# --------------------------------------------------------------------------- uploads


def test_content_upload_replaces_the_photo(studio):
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 60, (120, 160, 3), dtype=np.uint8)
    photo[40:, 50:110] = (200, 40, 40)  # a red "garment"
    count = studio.preview_count
    studio.content_upload.value = upload_value("photo.png", png_bytes(photo))
    assert "could not" not in studio.status.value
    assert studio.content.shape == (120, 160, 3)
    np.testing.assert_array_equal(studio.content, photo)
    assert studio.output.shape == (120, 160, 3) and studio.mask.shape == (120, 160)
    assert studio.preview_count > count
    assert decode(studio.preview.value).shape == (96, 128, 3)  # preview_max_side=128
    assert (studio.x_slider.max, studio.y_slider.max) == (159, 119)
    assert studio.content_upload.value == ()  # cleared after use


def test_bad_upload_is_reported_and_the_previous_photo_kept(studio):
    content, count, preview = studio.content, studio.preview_count, studio.preview.value
    studio.content_upload.value = upload_value("notes.txt", b"this is not an image")
    assert "notes.txt" in studio.status.value
    assert "could not use the uploaded content" in studio.status.value
    assert studio.content is content
    assert studio.preview_count == count and studio.preview.value == preview


def test_style_upload_restylizes(studio):
    stylized = studio.stylized
    studio.style_upload.value = upload_value("tartan.png", png_bytes(sample_style("tartan")))
    assert studio.status.value == ""
    assert studio.style.shape == (512, 512, 3)
    assert not np.array_equal(studio.stylized, stylized)


# --------------------------------------------------------------------------- pretrained


def test_pretrained_dropdown_selects_the_class_and_clicks_refine_it(pretrained_studio):
    studio, labels = pretrained_studio
    # full body is offered beside a top and a skirt (a dress the parse may have split)
    assert studio.class_dropdown.options == ("upper_body", "lower_body", "full_body")
    assert studio.selection == "upper_body (class 1)"
    assert studio.class_dropdown.value == "upper_body"
    np.testing.assert_array_equal(studio.mask, (labels == 1).astype(np.float32))
    src = studio.click_map.src
    # A negative click on the chosen garment removes the part it lands on: only removes.
    studio.click_map.click = {"x": 128, "y": 100, "positive": False, "n": 1}
    assert studio.status.value == ""
    assert studio.clicks == [(128.0, 100.0, False)]
    assert studio.selection == "upper_body (class 1), 0 positive / 1 negative clicks"
    assert "Selected: upper_body (class 1), 0 positive / 1 negative" in studio.caption.value
    assert studio.mask[100, 128] == 0
    assert not (studio.mask > (labels == 1)).any()
    assert studio.click_map.src != src  # the highlight follows the refined region
    studio.undo()
    np.testing.assert_array_equal(studio.mask, (labels == 1).astype(np.float32))
    # A positive click on another part grows the garment: it only adds, the pixel included.
    studio.click(128, 220)
    assert studio.mask[220, 128] == 1
    assert (studio.mask >= (labels == 1)).all()
    # Choosing another class starts again from that class, without clicks.
    studio.class_dropdown.value = "lower_body"
    assert studio.selection == "lower_body (class 2)" and studio.clicks == []
    np.testing.assert_array_equal(studio.mask, (labels == 2).astype(np.float32))


def test_pretrained_select_outfit_and_absent_classes(pretrained_studio):
    studio, labels = pretrained_studio
    studio.select("outfit")
    assert studio.selection == "upper_body + lower_body (classes 1, 2)"
    assert studio.class_dropdown.value is None
    np.testing.assert_array_equal(studio.mask, (labels > 0).astype(np.float32))
    with pytest.raises(ValueError, match="'full_body' not found in this image; classes "
                                         "present: upper_body, lower_body"):
        studio.select(["upper_body", "full_body"])
    assert studio.selection == "upper_body + lower_body (classes 1, 2)"  # unchanged
    # full body alone is offered: the clicks build it from the parse's parts
    studio.select("full_body")
    assert studio.class_dropdown.value == "full_body" and not studio.mask.any()
    assert "click on each part to build it" in studio.status.value


def test_offline_parser_studio_chooses_garments_by_class(content, style):
    pipeline = Pipeline(segmentation="classical_parsing", saliency="person_matte",
                        max_side=256, notify=None)
    studio = StyleStudio(pipeline, content, style, preview_max_side=128)
    assert studio.selection == "upper_body (class 1)"  # the astronaut's suit
    assert "upper_body" in studio.class_dropdown.options
    assert not studio.class_dropdown.disabled
    labels = pipeline.parsing().labels
    np.testing.assert_array_equal(studio.mask, (labels == 1).astype(np.float32))
    assert ("segmentation classical_parsing on cpu · saliency person_matte on cpu"
                in studio.caption.value)


def test_softness_follows_the_method_until_set(content, style):
    studio, _ = make_pretrained_studio(content, style, method="feather")
    diagonal = np.hypot(256, 256)
    assert studio.softness_slider.value == pytest.approx(0.004 * diagonal, abs=0.05)
    assert studio.softness_slider.max == pytest.approx(0.03 * diagonal, abs=0.05)
    studio.method_dropdown.value = "saliency"
    assert studio.softness_slider.value == 0.0  # the original formula: no extra blur
    studio.softness_slider.value = 2.0
    studio.method_dropdown.value = "feather"
    assert studio.softness_slider.value == 2.0  # the user's choice now sticks
    explicit, _ = make_pretrained_studio(content, style, softness=30.0)
    assert explicit.softness_slider.value == 30.0  # above 3 % of the diagonal: kept


def test_no_person_is_said_in_the_studio(style):
    ramp = np.linspace(30, 220, 160, dtype=np.uint8)
    landscape = np.dstack([np.tile(ramp, (120, 1)), np.tile(ramp[::-1], (120, 1)),
                           np.full((120, 160), 90, np.uint8)])
    pipeline = Pipeline(segmentation="classical_parsing", saliency="person_matte",
                        max_side=256, notify=None)
    studio = StyleStudio(pipeline, landscape, style, preview_max_side=128)
    assert "no person found: click on the garment" in studio.status.value
    assert studio.selection == "upper_body (class 1)"  # the central box, to be corrected


@pytest.mark.parametrize(("method", "blames"), [("saliency", "saliency map M"),
                                                 ("feather", "region is empty")])
def test_an_empty_weight_is_reported_in_the_blend_modules_words(studio, monkeypatch,
                                                                method, blames):
    from helpers.blend import empty_weight_message

    zero = np.zeros(studio.content.shape[:2], np.float32)
    monkeypatch.setattr(studio.pipeline, "alpha", lambda *args, **kwargs: zero)
    if method == "feather":
        studio.state.mask = zero.copy()
    studio.method_dropdown.value = "hard" if method != "hard" else "feather"
    studio.method_dropdown.value = method
    expected = empty_weight_message(zero, mask=studio.mask, method=method)
    assert blames in expected
    assert html.escape(expected) in studio.status.value or expected in studio.status.value
