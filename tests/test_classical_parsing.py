"""Tests of the classical (weight-free) person and garment parser."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage import data as skdata

from helpers.segmentation.classical_parsing import (
    _SNAP_SIDE,
    PersonParse,
    _snap_boundaries,
    parse_person,
)

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "cloth_parsing"

SHIRT = (40, 70, 150)        # blue
TROUSERS = (60, 60, 60)      # charcoal
DRESS = (170, 30, 40)        # red
BACKGROUND = (225, 225, 220)


def _face_crop(height: int) -> np.ndarray:
    """The astronaut's head (hair to chin) scaled to ``height`` pixels: a real face that the
    LBP cascade finds, so that the drawn body has an anatomical anchor."""
    import cv2

    head = skdata.astronaut()[15:185, 150:295]
    scale = height / head.shape[0]
    return cv2.resize(head, (round(head.shape[1] * scale), height), interpolation=cv2.INTER_AREA)


def _person(kind: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A drawn standing figure (head unit 70 px) and the masks of its parts.

    ``kind``: "two_piece" (shirt + trousers), "dress", or "same_colour" (shirt and trousers
    of one colour, legs apart).
    """
    hu, h, w = 70, 620, 420
    cx = w // 2
    img = np.empty((h, w, 3), np.uint8)
    img[:] = BACKGROUND
    head = _face_crop(int(1.25 * hu))
    skin = tuple(int(v) for v in np.median(head[30:60, 25:55].reshape(-1, 3), axis=0))
    yy, xx = np.mgrid[0:h, 0:w]
    top = 15

    def rows(a: float, b: float) -> np.ndarray:
        return (yy >= top + a * hu) & (yy < top + b * hu)

    dx = np.abs(xx - cx)
    neck = rows(1.0, 1.4) & (dx < 0.25 * hu)
    torso = rows(1.3, 3.9) & (dx < 0.95 * hu)
    arms = rows(1.4, 4.2) & (dx >= 1.0 * hu) & (dx < 1.35 * hu)
    hips = rows(3.9, 4.2) & (dx < 0.85 * hu)
    legs = rows(4.2, 7.6) & (dx > 0.08 * hu) & (dx < 0.6 * hu)
    shoes = rows(7.6, 8.0) & (dx > 0.08 * hu) & (dx < 0.65 * hu)
    parts = {}
    img[neck | arms] = skin
    if kind == "dress":
        skirt = rows(3.9, 5.4) & (dx < (0.85 + 0.3 * (yy - top - 3.9 * hu) / hu) * hu)
        dress = torso | skirt
        bare_legs = legs & ~skirt
        img[bare_legs] = skin
        img[dress] = DRESS
        parts.update(dress=dress, skin=neck | arms | bare_legs)
    else:
        upper = torso
        lower = hips | legs
        img[upper] = SHIRT
        img[lower] = SHIRT if kind == "same_colour" else TROUSERS
        parts.update(upper=upper, lower=lower, skin=neck | arms)
    img[shoes] = (20, 15, 10)
    y0, x0 = top, cx - head.shape[1] // 2
    img[y0:y0 + head.shape[0], x0:x0 + head.shape[1]] = head
    return img, parts


def _frac(labels: np.ndarray, mask: np.ndarray, cls: int) -> float:
    return float(np.mean(labels[mask] == cls))


@pytest.fixture(scope="module")
def two_piece() -> tuple[PersonParse, dict[str, np.ndarray]]:
    img, parts = _person("two_piece")
    return parse_person(img), parts


def test_shapes_dtypes_and_probabilities(two_piece):
    res, parts = two_piece
    h, w = parts["upper"].shape
    assert res.labels.shape == (h, w) and res.labels.dtype == np.uint8
    assert res.probabilities.shape == (4, h, w) and res.probabilities.dtype == np.float32
    assert res.person.shape == (h, w) and res.person.dtype == np.float32
    np.testing.assert_allclose(res.probabilities.sum(0), 1.0, atol=1e-4)
    np.testing.assert_array_equal(res.labels, res.probabilities.argmax(0))
    assert res.person.min() >= 0.0 and res.person.max() <= 1.0
    assert res.person_found
    x0, y0, x1, y1 = res.person_box
    assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h


def test_shirt_trousers_and_skin(two_piece):
    res, parts = two_piece
    assert _frac(res.labels, parts["upper"], 1) > 0.85
    assert _frac(res.labels, parts["lower"], 2) > 0.85
    assert _frac(res.labels, parts["skin"], 0) > 0.8      # arms and neck are not garment
    # the person matte covers the figure and not the background
    figure = parts["upper"] | parts["lower"]
    assert res.person[figure].mean() > 0.8
    assert res.person[:, :40].mean() < 0.1


def test_dress_is_full_body_and_legs_are_skin():
    img, parts = _person("dress")
    res = parse_person(img)
    assert _frac(res.labels, parts["dress"], 3) > 0.85
    assert _frac(res.labels, parts["skin"], 0) > 0.8
    assert not np.isin(res.labels, (1, 2)).mean() > 0.01


def test_same_colour_two_piece_split_when_legs_apart():
    img, parts = _person("same_colour")
    res = parse_person(img)
    assert _frac(res.labels, parts["upper"], 1) > 0.7
    assert _frac(res.labels, parts["lower"], 2) > 0.7
    assert not (res.labels == 3).any()


def test_astronaut_suit_is_upper_body():
    img = skdata.astronaut()
    res = parse_person(img)
    assert res.person_found
    suit = np.zeros(img.shape[:2], bool)
    suit[330:500, 60:250] = True          # the orange suit left of the helmet, chest level
    assert _frac(res.labels, suit, 1) > 0.8
    face = np.zeros_like(suit)
    face[95:150, 190:250] = True
    assert _frac(res.labels, face, 0) > 0.9


@pytest.mark.parametrize("name", ["coffee", "gradient"])
def test_no_person(name):
    if name == "coffee":
        img = skdata.coffee()
    else:
        ramp = np.linspace(0, 255, 320)[None, :].repeat(240, axis=0)
        img = np.stack([ramp, np.full_like(ramp, 90), 255 - ramp], -1).astype(np.uint8)
    res = parse_person(img)
    h, w = img.shape[:2]
    assert res.person_found is False
    assert res.labels.shape == (h, w) and res.probabilities.shape == (4, h, w)
    assert res.person.max() <= 0.3 + 1e-6
    x0, y0, x1, y1 = res.person_box
    assert abs((x0 + x1) / 2 - w / 2) <= 2 and abs((y0 + y1) / 2 - h / 2) <= 2
    assert 0 < x1 - x0 < w and 0 < y1 - y0 <= h


@pytest.mark.parametrize(
    "bad, exc, words",
    [
        (np.zeros((50, 50), np.uint8), ValueError, "(H, W, 3)"),
        (np.zeros((50, 50, 4), np.uint8), ValueError, "(H, W, 3)"),
        (np.zeros((50, 50, 3), np.float32), ValueError, "uint8"),
        ([[0, 0, 0]], TypeError, "numpy array"),
    ],
)
def test_bad_input(bad, exc, words):
    with pytest.raises(exc, match=words.replace("(", r"\(").replace(")", r"\)")):
        parse_person(bad)


def test_bad_working_side():
    with pytest.raises(ValueError, match="working_side"):
        parse_person(np.zeros((64, 64, 3), np.uint8), working_side=16)


def _two_garments_drawn(shift: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A shirt over trousers on a plain background (light noise, fixed seed), the true
    labels, and labels whose shirt reaches ``shift`` pixels too far down and to the left."""
    rng = np.random.default_rng(0)
    h, w = 160, 120
    img = np.empty((h, w, 3), np.float64)
    img[:] = BACKGROUND
    truth = np.zeros((h, w), np.uint8)
    truth[30:80, 35:85] = 1
    truth[80:140, 40:80] = 2
    img[truth == 1] = SHIRT
    img[truth == 2] = TROUSERS
    img = np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)
    off = truth.copy()
    off[truth == 1] = 0
    off[30:80 + shift, 35 - shift:85 - shift] = 1
    return img, truth, off


def test_boundary_refinement_moves_each_garment_onto_the_edges():
    img, truth, off = _two_garments_drawn(shift=4)
    probs = 0.2 + 0.6 * (off[None] == np.arange(4)[:, None, None]).astype(np.float32)
    probs /= probs.sum(0, keepdims=True)
    labels, new_probs = _snap_boundaries(img, off, probs, band=8)
    assert (labels != off).sum() > 300          # the error was 4 pixels wide
    np.testing.assert_array_equal(labels, truth)
    # the rows the shirt gave up went to its neighbour below, the trousers, not background
    assert (labels[80:84, 40:80] == 2).all()
    # the labels stay the argmax of the probabilities, which still sum to 1
    np.testing.assert_array_equal(np.argmax(new_probs, axis=0), labels)
    np.testing.assert_allclose(new_probs.sum(0), 1.0, rtol=1e-6)
    # its input is left as it was
    assert (np.argmax(probs, axis=0) == off).all()


def test_boundary_refinement_of_a_large_photo_runs_on_a_reduced_copy():
    import cv2

    img, truth, off = _two_garments_drawn(shift=4)
    k = 12                                   # 1920 x 1440: above the reduced copy's side
    assert max(img.shape[:2]) * k > _SNAP_SIDE
    big = cv2.resize(img, None, fx=k, fy=k, interpolation=cv2.INTER_NEAREST)
    big_truth, big_off = (np.kron(m, np.ones((k, k), np.uint8)) for m in (truth, off))
    probs = (big_off[None] == np.arange(4)[:, None, None]).astype(np.float32)
    labels, _ = _snap_boundaries(big, big_off, probs, band=8 * k)
    assert labels.shape == big_truth.shape and labels.dtype == np.uint8
    # the reduced copy is 1.5 times smaller: the boundary is right within a pixel or two
    assert (labels != big_truth).mean() < 0.01 < (big_off != big_truth).mean()


def test_boundary_refinement_keeps_labels_that_already_follow_the_edges():
    img, truth, _ = _two_garments_drawn(shift=0)
    probs = (truth[None] == np.arange(4)[:, None, None]).astype(np.float32)
    labels, new_probs = _snap_boundaries(img, truth, probs, band=8)
    np.testing.assert_array_equal(labels, truth)
    assert new_probs is probs


# per-photo, per-class IoU bounds about 0.05 below what the parser reaches (0 clicks); the
# lower garments of 003 (beige trousers on beige stone), 007 (black shorts under an open
# navy jacket) and 022 (a one-colour suit in shadow) and the gowns of 004, 010 and 017 are
# known weak spots
FIXTURE_BOUNDS = {
    ("001", 1): 0.90, ("001", 2): 0.93, ("002", 1): 0.90, ("002", 2): 0.81, ("003", 1): 0.89,
    ("003", 2): 0.56, ("004", 3): 0.77, ("007", 1): 0.76, ("007", 2): 0.51, ("008", 1): 0.74,
    ("008", 2): 0.89, ("009", 1): 0.91, ("009", 2): 0.72, ("010", 3): 0.69, ("012", 1): 0.69,
    ("012", 2): 0.83, ("013", 1): 0.91, ("013", 2): 0.79, ("014", 1): 0.92, ("014", 2): 0.93,
    ("015", 1): 0.86, ("015", 2): 0.86, ("016", 3): 0.88, ("017", 3): 0.59, ("022", 1): 0.88,
    ("022", 2): 0.61, ("023", 1): 0.90, ("023", 2): 0.89,
}

# upper-body garment (class 1) against the hand-drawn polygons of tests/test_grabcut.py,
# about 0.05 below what the parser reaches: the astronaut holds a helmet at her side and
# stands before a flag, which must not join the suit
PORTRAIT_BOUNDS = {"astronaut": 0.78, "grace_hopper": 0.92}


@pytest.mark.parametrize("name", sorted(PORTRAIT_BOUNDS))
def test_portrait_upper_garment_iou(name):
    from helpers.images import sample_content
    from tests.test_grabcut import reference_mask

    img = sample_content(name)
    reference = reference_mask(name, img.shape[:2])
    upper = parse_person(img).labels == 1
    iou = float((upper & reference).sum() / (upper | reference).sum())
    assert iou > PORTRAIT_BOUNDS[name], f"{name}: IoU {iou:.3f}"


@pytest.mark.parametrize(("name", "bound"), [("astronaut", 0.77), ("grace_hopper", 0.79)])
def test_black_and_white_portraits_are_parsed(name, bound):
    """A grey photo has no skin colour: the face is still found and the jacket parsed
    (measured 0.82 and 0.84; the colour photos reach 0.83 and 0.97)."""
    from helpers.images import sample_content
    from tests.test_grabcut import reference_mask

    colour = sample_content(name)
    grey = np.repeat(colour.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)
    parse = parse_person(grey)
    assert parse.person_found
    reference = reference_mask(name, grey.shape[:2])
    upper = parse.labels == 1
    iou = float((upper & reference).sum() / (upper | reference).sum())
    assert iou > bound, f"grey {name}: IoU {iou:.3f}"


@pytest.mark.needs_shared
def test_fixture_iou_bounds():
    if not FIXTURES.is_dir():
        pytest.skip(f"reference cloth-parsing fixtures not found at {FIXTURES}")
    from PIL import Image

    worst, parsed = [], {}
    for (pid, cls), bound in sorted(FIXTURE_BOUNDS.items()):
        if pid not in parsed:      # one parse per photo, not one per class
            photo = np.asarray(Image.open(FIXTURES / f"{pid}_photo.png").convert("RGB"))
            ref = np.asarray(Image.open(FIXTURES / f"{pid}_labels.png"))
            parsed[pid] = (ref, parse_person(photo).labels)
        ref, labels = parsed[pid]
        gt, pred = ref == cls, labels == cls
        iou = float((gt & pred).sum() / max((gt | pred).sum(), 1))
        if iou < bound:
            worst.append(f"{pid} class {cls}: IoU {iou:.3f} < {bound}")
    assert not worst, "; ".join(worst)
