"""Tests for helpers.segmentation.grabcut: click-driven GrabCut (no cloth classes)."""

import numpy as np
import pytest
from skimage.draw import polygon

from helpers.images import fit_to_cap, sample_content
from helpers.segmentation import grabcut as segment
from helpers.segmentation.grabcut import (
    OfflineSegmenter,
    auto_torso_box,
    detect_face,
    interactive_mask,
)

# --------------------------------------------------------------------------- reference masks
#
# Upper-body clothing drawn by hand on the two bundled photos, as (x, y) polygon vertices
# in full-resolution pixels.
# astronaut (512 x 512): the orange spacesuit with its patches, straps and zip, the metal
#   neck ring and the black collar inside it; not the face/neck skin, the glove and its
#   wrist ring (bottom centre) or the helmet held on the right.
# grace_hopper (512 wide, 600 high): the dark uniform jacket with the white shirt collar,
#   the tie, the name badge and the ribbons; not the neck skin.
REFERENCE_POLYGONS = {
    "astronaut": [
        (40, 511), (37, 500), (28, 470), (23, 430), (22, 390), (23, 350), (28, 330),
        (37, 300), (47, 270), (55, 250), (77, 230), (110, 210), (112, 187), (132, 160),
        (155, 150), (182, 149), (186, 152), (188, 177), (195, 184), (212, 189), (230, 189),
        (245, 184), (252, 177), (255, 173), (260, 175), (280, 187), (295, 205), (302, 225),
        (304, 232), (310, 235), (323, 240), (333, 250), (345, 270), (352, 290), (357, 310),
        (360, 330), (363, 347), (333, 355), (313, 370), (297, 393), (285, 423), (280, 457),
        (280, 511), (192, 511), (197, 495), (195, 475), (185, 462), (170, 460), (155, 465),
        (150, 478), (130, 486), (110, 495), (106, 511),
    ],
    "grace_hopper": [
        (12, 599), (15, 573), (20, 540), (25, 473), (27, 440), (32, 417), (43, 393),
        (57, 377), (80, 367), (120, 360), (135, 352), (163, 340), (190, 327), (202, 313),
        (206, 330), (210, 365), (225, 390), (245, 407), (275, 405), (300, 387), (320, 360),
        (327, 335), (330, 313), (347, 327), (380, 345), (413, 360), (447, 372), (470, 380),
        (490, 392), (497, 403), (503, 427), (510, 450), (511, 599),
    ],
}

# Click protocols, (x, y) in pixels. One click: the centroid of the reference polygon.
# Three clicks: that one, a positive click on the sleeve the automatic box cuts off, and a
# negative one on the flag right beside that sleeve.
CLICKS = {
    "astronaut": {
        0: ((), ()),
        1: (((178, 341),), ()),
        3: (((178, 341), (30, 400)), ((8, 420),)),
    },
    "grace_hopper": {
        0: ((), ()),
        1: (((266, 483),), ()),
        3: (((266, 483), (30, 560)), ((5, 560),)),
    },
}

# Measured IoU (GrabCut, OpenCV 5.0.0, fixed seed): astronaut 0.814 / 0.814 / 0.837,
# grace_hopper 0.965 / 0.965 / 0.971 for 0 / 1 / 3 clicks. The bounds leave a margin
# for other OpenCV builds.
MIN_IOU = {
    "astronaut": {0: 0.75, 1: 0.75, 3: 0.78},
    "grace_hopper": {0: 0.92, 1: 0.92, 3: 0.92},
}


def reference_mask(name, shape_hw):
    vertices = np.asarray(REFERENCE_POLYGONS[name])
    mask = np.zeros(shape_hw, bool)
    rows, cols = polygon(vertices[:, 1], vertices[:, 0], shape_hw)
    mask[rows, cols] = True
    return mask


def iou(mask, reference):
    mask = mask > 0.5
    return float((mask & reference).sum() / (mask | reference).sum())


# --------------------------------------------------------------------------- offline backend


def _synthetic_garment():
    """A textured red 'garment' rectangle on a textured blue-grey background (no face)."""
    rng = np.random.default_rng(3)
    image = rng.integers(90, 140, size=(120, 160, 3)).astype(np.uint8)
    image[..., 2] += 60
    garment = np.zeros((120, 160), bool)
    garment[40:110, 50:120] = True
    image[garment] = rng.integers(0, 30, size=(garment.sum(), 3)) + np.array([190, 30, 30])
    return image, garment


def test_interactive_mask_on_synthetic_garment_is_deterministic():
    image, garment = _synthetic_garment()
    first = interactive_mask(image, positive=[(85, 75)], box=(30, 20, 140, 118))
    assert first.shape == (120, 160) and first.dtype == np.float32
    assert set(np.unique(first)) <= {0.0, 1.0}
    assert iou(first, garment) > 0.97
    np.testing.assert_array_equal(
        interactive_mask(image, positive=[(85, 75)], box=(30, 20, 140, 118)), first)
    # A negative click on the garment carves that part out.
    carved = interactive_mask(image, positive=[(85, 75)], negative=[(60, 100)],
                              box=(30, 20, 140, 118), click_radius=6)
    assert carved[100, 60] == 0.0 and carved[75, 85] == 1.0


def test_a_negative_click_inside_the_garment_leaves_a_hole():
    # The hole-filling clean-up must not undo a negative click away from the edge.
    image, garment = _synthetic_garment()
    holed = interactive_mask(image, positive=[(85, 95)], negative=[(85, 60)],
                             box=(30, 20, 140, 118), click_radius=6)
    assert holed[60, 85] == 0.0 and holed[95, 85] == 1.0
    assert holed[54:67, 79:92].sum() < 13 * 13 / 2


def test_interactive_mask_keeps_only_clicked_component():
    image, garment = _synthetic_garment()
    image[5:25, 5:25] = (205, 40, 40)  # a second red patch, disconnected
    mask = interactive_mask(image, positive=[(85, 75)], box=(0, 0, 160, 120))
    assert mask[15, 15] == 0.0 and iou(mask, garment) > 0.95
    both = interactive_mask(image, positive=[(85, 75), (15, 15)], box=(0, 0, 160, 120))
    assert both[15, 15] == 1.0


def test_interactive_mask_errors():
    image, _ = _synthetic_garment()
    with pytest.raises(ValueError, match="outside the image of width 160 and height 120"):
        interactive_mask(image, positive=[(160, 10)], box=(0, 0, 50, 50))
    with pytest.raises(ValueError, match="does not cover any pixel"):
        interactive_mask(image, box=(200, 0, 300, 50))
    with pytest.raises(ValueError, match="iterations must be a positive integer"):
        interactive_mask(image, box=(0, 0, 50, 50), iterations=0)


def test_no_face_falls_back_to_central_box_with_warning():
    image, _ = _synthetic_garment()
    assert detect_face(image) is None
    with pytest.warns(UserWarning, match="no frontal face found"):
        box = auto_torso_box(image)
    assert box == (24, 36, 136, 120)  # 15-85 % of the width, 30-100 % of the height


def test_offline_segmenter_caches_and_matches_interactive_mask(monkeypatch):
    image, _ = _synthetic_garment()
    box = (30, 20, 140, 118)
    segmenter = OfflineSegmenter(image, box=box)
    calls = []
    real = segment._grabcut_work

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(segment, "_grabcut_work", counting)
    segmenter.add_click(85, 75)
    first = segmenter.mask
    again = segmenter.mask
    assert len(calls) == 1  # reading the mask again costs nothing
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first, interactive_mask(image, [(85, 75)], box=box))
    segmenter.add_click(60, 100, positive=False)
    assert segmenter.clicks == [(85.0, 75.0, True), (60.0, 100.0, False)]
    np.testing.assert_array_equal(
        segmenter.mask, interactive_mask(image, [(85, 75)], [(60, 100)], box=box))
    segmenter.undo()
    np.testing.assert_array_equal(segmenter.mask, first)
    segmenter.reset()
    assert segmenter.clicks == []
    with pytest.raises(ValueError, match="outside the image"):
        segmenter.add_click(-3, 4)


# --------------------------------------------------------------------------- sample photos


@pytest.fixture(scope="module")
def photos():
    return {name: sample_content(name) for name in REFERENCE_POLYGONS}


def test_auto_torso_box_below_the_detected_face(photos):
    image = photos["astronaut"]
    face = detect_face(image)
    assert face is not None
    x0, y0, x1, y1 = face
    assert 160 < x0 < 200 and 50 < y0 < 85 and 80 < x1 - x0 < 120  # her face
    bx0, by0, bx1, by1 = auto_torso_box(image)
    assert by0 > y1 and by1 == 512 and bx0 < x0 and bx1 > x1


@pytest.mark.parametrize("name", list(REFERENCE_POLYGONS))
def test_interactive_mask_iou_on_sample_photos(photos, name):
    image = photos[name]
    reference = reference_mask(name, image.shape[:2])
    scores = {}
    for count, (positive, negative) in CLICKS[name].items():
        mask = interactive_mask(image, positive, negative)
        assert mask.shape == reference.shape and mask.dtype == np.float32
        scores[count] = iou(mask, reference)
    print(f"\n{name} IoU: " + ", ".join(f"{k} clicks {v:.3f}" for k, v in scores.items()))
    for count, score in scores.items():
        assert score >= MIN_IOU[name][count], (name, count, score)


def test_a_click_on_a_separate_piece_adds_it_without_dropping_the_garment():
    # From the automatic start on the 256-px astronaut, a click on the helmet (a piece
    # apart from the suit) once kept only the helmet's few pixels; the chest seed now
    # anchors the suit like a click does.
    image, _ = fit_to_cap(sample_content("astronaut"), 256)
    automatic = interactive_mask(image) > 0.5
    for click in [(201, 230), (180, 215)]:
        clicked = interactive_mask(image, positive=[click]) > 0.5
        assert (clicked & automatic).sum() >= 0.9 * automatic.sum()


def test_backend_equals_interactive_mask_and_warns_that_classes_mean_nothing():
    from helpers.segmentation import create_backend

    image, _ = _synthetic_garment()
    backend = create_backend("grabcut", box=(30, 20, 140, 118))
    assert not backend.capabilities.has_classes
    backend.set_image(image)
    clicks = {"positive": [(85, 75)], "negative": [(60, 100)]}
    prediction = backend.predict(None, **clicks)
    np.testing.assert_array_equal(prediction.mask,
                                  interactive_mask(image, box=(30, 20, 140, 118), **clicks))
    assert prediction.class_ids == () and prediction.labels is None
    with pytest.warns(UserWarning, match="no cloth classes: region 'lower_body' is ignored"):
        backend.predict("lower_body")
    with pytest.raises(ValueError, match="positive click: click .* is outside the image"):
        backend.predict(None, positive=[(500, 5)])


# ------------------------------------------------------------- degenerate seeds and sizes


def _small_photo():
    image, _ = fit_to_cap(sample_content("astronaut"), 100)
    return image


def test_a_click_over_the_whole_image_inside_a_full_box_gives_a_mask():
    # OpenCV's "!bgdSamples.empty() && !fgdSamples.empty()" assertion came out raw here.
    image = _small_photo()
    height, width = image.shape[:2]
    for box in ((0, 0, width, height), None):
        mask = interactive_mask(image, positive=[(width // 2, height // 2)], box=box,
                                click_radius=4 * max(height, width))
        assert mask.shape == (height, width) and mask.dtype == np.float32
        assert mask.min() == 1.0  # sure foreground everywhere: all of it


def test_an_opencv_error_becomes_a_message(monkeypatch):
    import cv2

    def failing(*args, **kwargs):
        raise cv2.error("OpenCV(5.0.0) grabcut.cpp:386: error: (-215:Assertion failed) x")

    monkeypatch.setattr(segment.cv2, "grabCut", failing)
    with pytest.raises(ValueError, match="GrabCut cannot segment with these seeds.*smaller box"):
        interactive_mask(_small_photo(), positive=[(50, 50)])


@pytest.mark.parametrize("shape", [(1, 500, 3), (500, 1, 3), (15, 40, 3)])
def test_arrays_below_the_minimum_size_get_the_loader_message(shape):
    from helpers.pipeline import Pipeline

    tiny = np.zeros(shape, np.uint8)
    message = rf"image is {shape[1]}x{shape[0]} px; both sides must be at least 16 px"
    with pytest.raises(ValueError, match=message):
        interactive_mask(tiny, positive=[(0, 0)])
    with pytest.raises(ValueError, match=message):
        OfflineSegmenter(tiny)
    pipe = Pipeline(segmentation="grabcut", saliency="person_matte", notify=None, max_side=64)
    with pytest.raises(ValueError, match=message):
        pipe.run(tiny, _small_photo())
    with pytest.raises(ValueError, match=message):  # a style array too
        pipe.run(_small_photo(), tiny)
    assert pipe.timings == {}
