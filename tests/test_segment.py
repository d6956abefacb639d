import cv2
import numpy as np
import pytest
from skimage.draw import polygon

from helpers import segment
from helpers.images import fit_to_cap, sample_content
from helpers.segment import (
    CLASS_NAMES,
    GARMENT_CLASSES,
    PALETTE,
    ClothParsing,
    OfflineSegmenter,
    auto_torso_box,
    class_at,
    classes_present,
    colorize_labels,
    detect_face,
    interactive_mask,
    labels_from_logits,
    parse_clothes,
    preprocess_cloth,
    select_region,
    upsample_logits,
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


class FakeRunner:
    """Runner protocol stand-in: returns fixed d0 logits and records its input batch."""

    def __init__(self, output, arch="u2net_cloth", output_is_logits=True, backend="onnx"):
        self.output = np.asarray(output, np.float32)
        self.arch = arch
        self.backend = backend
        self.output_is_logits = output_is_logits
        self.batches = []

    def __call__(self, batch):
        self.batches.append(batch)
        return self.output


# --------------------------------------------------------------------------- labels


def test_palette_and_colorize_exact():
    assert CLASS_NAMES == {0: "background", 1: "upper_body", 2: "lower_body", 3: "full_body"}
    assert GARMENT_CLASSES == (1, 2, 3)
    labels = np.array([[0, 1], [2, 3]], np.uint8)
    rgb = colorize_labels(labels)
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb, [[[0, 0, 0], [128, 0, 0]], [[0, 128, 0], [128, 128, 0]]])
    np.testing.assert_array_equal(PALETTE[labels], rgb)
    with pytest.raises(ValueError, match="labels contain id 7"):
        colorize_labels(np.array([[7]], np.uint8))


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
def test_resizing_the_label_image_would_invent_classes(left, right, invented):
    """The rule behind labels_from_logits, shown on the label image itself.

    Bicubic (or Lanczos) treats ids as intensities: between ids two apart it passes
    through the id in the middle, which then appears as a thin band of a class that is
    nowhere in the picture (for ids 1 | 2 only the ~11 % overshoot is added, which
    rounds away). Upsampling logits first never does that.
    """
    label_image = np.full((8, 8), left, np.uint8)
    label_image[:, 4:] = right
    bicubic = cv2.resize(label_image, (67, 61), interpolation=cv2.INTER_CUBIC)
    assert invented in np.unique(bicubic)
    labels, _ = labels_from_logits(_two_class_logits(left, right), (61, 67))
    assert set(np.unique(labels)) == {left, right}


def test_labels_from_logits_errors():
    with pytest.raises(ValueError, match=r"shape \(C, H, W\)"):
        labels_from_logits(np.zeros((4, 8), np.float32), (8, 8))
    with pytest.raises(ValueError, match="NaN or infinite"):
        labels_from_logits(np.full((4, 2, 2), np.inf, np.float32), (4, 4))
    with pytest.raises(ValueError, match="at least 2 class channels"):
        upsample_logits(np.zeros((1, 2, 2), np.float32), (4, 4))


def test_parse_clothes_with_fake_runner():
    logits = _two_class_logits(1, 2, size=12)
    runner = FakeRunner(logits[None])
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
        parse_clothes(image, FakeRunner(np.zeros((1, 1, 8, 8))))


# --------------------------------------------------------------------------- region choice

LABELS = np.array([
    [0, 1, 1, 0, 0],
    [0, 1, 1, 2, 2],
    [0, 0, 2, 2, 2],
    [0, 0, 0, 0, 0],
], np.uint8)  # width 5, height 4; upper_body and lower_body, no full_body


def test_select_region_by_name_id_click_and_union():
    upper = (LABELS == 1).astype(np.float32)
    lower = (LABELS == 2).astype(np.float32)
    for choice in ("upper_body", 1, np.uint8(1), (1, 0), (2.4, 1.2)):
        out = select_region(LABELS, choice)
        assert out.dtype == np.float32
        np.testing.assert_array_equal(out, upper)
    np.testing.assert_array_equal(select_region(LABELS, "lower_body"), lower)
    np.testing.assert_array_equal(select_region(LABELS, (3, 1)), lower)
    for union in (["upper_body", 2], ("upper_body", "lower_body"), [1, 2], "outfit", "all"):
        np.testing.assert_array_equal(select_region(LABELS, union), upper + lower)


def test_class_at_exact_values_and_rounding():
    assert class_at(LABELS, (0, 0)) == 0
    assert class_at(LABELS, (1, 0)) == 1
    assert class_at(LABELS, (4, 2)) == 2
    assert class_at(LABELS, (0.6, 0.4)) == 1  # nearest pixel: column 1, row 0
    assert class_at(LABELS, (4.4, 3.4)) == 0
    with pytest.raises(ValueError, match=r"outside the image of width 5 and height 4"):
        class_at(LABELS, (5, 0))
    with pytest.raises(ValueError, match=r"x must be in \[0, 4\] and y in \[0, 3\]"):
        class_at(LABELS, (-1, 2))


def test_select_region_errors():
    with pytest.raises(ValueError, match=r"'full_body' not found in this image; classes "
                                         r"present: upper_body, lower_body"):
        select_region(LABELS, "full_body")
    with pytest.raises(ValueError, match=r"'full_body' not found"):
        select_region(LABELS, [1, 3])
    with pytest.raises(ValueError, match=r"unknown region 'hat'; valid names: 'upper_body', "
                                         r"'lower_body', 'full_body', 'outfit', 'all'"):
        select_region(LABELS, "hat")
    with pytest.raises(ValueError, match="unknown region 'background'"):
        select_region(LABELS, "background")
    with pytest.raises(ValueError, match=r"class id 0 is not a garment; valid ids: 1 \(upper_body\)"):
        select_region(LABELS, 0)
    with pytest.raises(ValueError, match=r"outside the image of width 5 and height 4"):
        select_region(LABELS, (9, 9))
    with pytest.raises(ValueError, match=r"no garment at click \(x=0, y=3\): that pixel is "
                                         r"'background'; classes present: upper_body, lower_body"):
        select_region(LABELS, (0, 3))
    with pytest.raises(ValueError, match="empty region list"):
        select_region(LABELS, [])
    with pytest.raises(ValueError, match="no garment found in this image"):
        select_region(np.zeros((3, 3), np.uint8), "outfit")
    with pytest.raises(ValueError, match=r"classes present: none \(only background\)"):
        select_region(np.zeros((3, 3), np.uint8), "upper_body")
    with pytest.raises(ValueError, match="cannot interpret region"):
        select_region(LABELS, 1.5)
    with pytest.raises(ValueError, match=r"probabilities must have shape \(C, 4, 5\)"):
        select_region(LABELS, 1, probabilities=np.zeros((4, 5, 4), np.float32))


def test_click_on_background_snaps_with_probabilities():
    probs = np.zeros((4,) + LABELS.shape, np.float32)
    probs[0] = 1.0
    probs[:, 0, 3] = (0.4, 0.35, 0.25, 0.0)  # background wins, but upper_body is likely
    probs[:, 3, 0] = (0.8, 0.1, 0.1, 0.0)  # clearly background
    np.testing.assert_array_equal(select_region(LABELS, (3, 0), probabilities=probs),
                                  (LABELS == 1).astype(np.float32))
    with pytest.raises(ValueError, match="no garment at click"):
        select_region(LABELS, (0, 3), probabilities=probs)


def test_classes_present():
    assert classes_present(LABELS) == (1, 2)
    assert classes_present(LABELS, include_background=True) == (0, 1, 2)
    assert classes_present(np.zeros((2, 2), np.uint8)) == ()


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


def test_reference_polygons_are_plausible(photos):
    for name, image in photos.items():
        reference = reference_mask(name, image.shape[:2])
        assert 0.25 < reference.mean() < 0.45  # the garment covers about a third
        # Every click lands where the protocol says: positives on, negatives off.
        positives, negatives = CLICKS[name][3]
        assert all(reference[y, x] for x, y in positives)
        assert not any(reference[y, x] for x, y in negatives)


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
