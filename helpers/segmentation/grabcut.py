"""Interactive GrabCut (Rother et al. 2004, OpenCV) as a segmentation back-end.

No classes and no weights: :func:`interactive_mask` runs OpenCV's GrabCut seeded by
positive/negative clicks and an optional box. Without any input it starts from
:func:`auto_torso_box`, a box below a face found by scikit-image's LBP frontal-face
cascade. :class:`OfflineSegmenter` keeps the clicks for a UI and caches the result.
The garment choice (upper body, lower body ...) means nothing here: the offline
classical parser (``classical_parsing``) is the back-end with classes.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import cv2
import numpy as np

from helpers._checks import check_image, check_image_size, check_positive_int
from helpers.images import resize_map
from helpers.segment import click_pixel
from helpers.segmentation.base import Capabilities, Click, Prediction, SegmentationBackend
from helpers.segmentation.classical_parsing import face_cascade

__all__ = ["FACE_SIDE", "WORKING_SIDE", "GrabCut", "OfflineSegmenter", "auto_torso_box",
           "detect_face", "interactive_mask"]

#: Longest side of the working image for GrabCut and face detection (speed).
WORKING_SIDE = 512
#: Longest side of the copy searched for faces (portrait faces are large; speed).
FACE_SIDE = 320
_FACE_SCALE_FACTORS = (1.1, 1.15, 1.2, 1.25)

def _working_copy(image: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Image downscaled to WORKING_SIDE and the (x, y) scale factors work/full."""
    from helpers.images import fit_to_cap

    work, _ = fit_to_cap(image, WORKING_SIDE)
    return (np.ascontiguousarray(work), work.shape[1] / image.shape[1],
            work.shape[0] / image.shape[0])


def _box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _detect_face_work(work: np.ndarray) -> tuple[int, int, int, int] | None:
    """Most consistent frontal face in a working image as ``(x0, y0, x1, y1)``, or None.

    The LBP cascade fires on badges, patches and helmets now and then. It runs on a
    copy capped at :data:`FACE_SIDE` with several scale factors; a face must be found
    (IoU >= 0.4) by at least two runs, and the one found by most runs wins (ties: the
    larger). Its box is the mean of the matching detections.
    """
    from helpers.images import fit_to_cap

    small, _ = fit_to_cap(work, FACE_SIDE)
    scale_x, scale_y = work.shape[1] / small.shape[1], work.shape[0] / small.shape[0]
    side = min(small.shape[:2])
    min_side = min(side, max(24, round(0.075 * side)))
    cascade = face_cascade()
    runs = []
    for factor in _FACE_SCALE_FACTORS:
        found = cascade.detect_multi_scale(
            img=small, scale_factor=factor, step_ratio=1, min_size=(min_side, min_side),
            max_size=(side, side))
        runs.append([(d["c"], d["r"], d["c"] + d["width"], d["r"] + d["height"])
                     for d in found])
    best_key, best_box = None, None
    for candidate in (box for run in runs for box in run):
        matches = []
        for run in runs:
            scored = [(_box_iou(candidate, other), other) for other in run]
            scored = [item for item in scored if item[0] >= 0.4]
            if scored:
                matches.append(max(scored)[1])
        area = (candidate[2] - candidate[0]) * (candidate[3] - candidate[1])
        key = (len(matches), area)
        if len(matches) >= 2 and (best_key is None or key > best_key):
            best_key, best_box = key, np.mean(matches, axis=0)
    if best_box is None:
        return None
    x0, y0, x1, y1 = best_box
    return (int(round(x0 * scale_x)), int(round(y0 * scale_y)),
            int(round(x1 * scale_x)), int(round(y1 * scale_y)))


def detect_face(image: np.ndarray) -> tuple[int, int, int, int] | None:
    """The subject's frontal face (scikit-image LBP cascade), in full-resolution pixels.

    The cascade runs on a copy capped at :data:`FACE_SIDE` with four scale factors; a
    face counts when at least two runs find it (box IoU >= 0.4), which drops most false
    detections on badges and patches. Among those the most often found wins.

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W, 3) uint8`` RGB.

    Returns
    -------
    (int, int, int, int) or None
        ``(x0, y0, x1, y1)`` with exclusive ends, or ``None`` when no face is found.
    """
    check_image(image)
    work, sx, sy = _working_copy(image)
    face = _detect_face_work(work)
    return None if face is None else _scale_box(face, 1 / sx, 1 / sy, image.shape[:2])


def _scale_box(box: Sequence[float], sx: float, sy: float,
               shape_hw: Sequence[int]) -> tuple[int, int, int, int]:
    height, width = shape_hw[:2]
    x0, y0, x1, y1 = box
    return (int(np.clip(round(x0 * sx), 0, width - 1)), int(np.clip(round(y0 * sy), 0, height - 1)),
            int(np.clip(round(x1 * sx), 1, width)), int(np.clip(round(y1 * sy), 1, height)))


# Automatic initialisation relative to the detected face box (face sizes): torso box
# half-width and top (chin line), and a sure-foreground disc on the chest (its centre
# below the chin line, its radius). Chosen on body proportions and checked on the two
# sample photos over half-widths 1.8-2.0 (see tests/test_segment.py).
_TORSO_HALF_WIDTH = 1.9
_TORSO_TOP = 1.1
_CHEST_BELOW_CHIN = 0.8
_CHEST_RADIUS = 0.25


def _torso_box_from_face(face: Sequence[int], shape_hw: Sequence[int],
                         ) -> tuple[int, int, int, int]:
    height, width = shape_hw[:2]
    fx0, fy0, fx1, fy1 = face
    face_w, face_h = fx1 - fx0, fy1 - fy0
    centre_x = (fx0 + fx1) / 2
    x0 = max(0, round(centre_x - _TORSO_HALF_WIDTH * face_w))
    x1 = min(width, round(centre_x + _TORSO_HALF_WIDTH * face_w))
    y0 = min(height - 1, round(fy0 + _TORSO_TOP * face_h))
    return int(x0), int(y0), int(x1), int(height)


def _central_box(shape_hw: Sequence[int]) -> tuple[int, int, int, int]:
    height, width = shape_hw[:2]
    return round(0.15 * width), round(0.3 * height), round(0.85 * width), int(height)


def _auto_box_work(work: np.ndarray) -> tuple[tuple[int, int, int, int],
                                              tuple[int, int, int, int] | None]:
    face = _detect_face_work(work)
    if face is None:
        warnings.warn(
            "no frontal face found: GrabCut starts from a central box; add a positive "
            "click on the garment (and negative ones off it) or pass a box",
            UserWarning, stacklevel=3)
        return _central_box(work.shape), None
    return _torso_box_from_face(face, work.shape), face


def auto_torso_box(image: np.ndarray) -> tuple[int, int, int, int]:
    """Guess the upper-body garment box from the detected frontal face.

    The face is the one the LBP cascade finds most consistently (see :func:`detect_face`).

    The box spans ``face_centre_x +- 1.9 face widths`` and runs from the chin line
    (``face_top + 1.1 face heights``) to the bottom of the image. When no face is
    found a central box (15-85 % of the width, 30-100 % of the height) is returned
    and a ``UserWarning`` is issued.

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W, 3) uint8`` RGB.

    Returns
    -------
    (int, int, int, int)
        ``(x0, y0, x1, y1)`` in pixels, exclusive ends, clipped to the image.
    """
    check_image(image)
    work, sx, sy = _working_copy(image)
    box, _ = _auto_box_work(work)
    return _scale_box(box, 1 / sx, 1 / sy, image.shape[:2])


def _check_box(box: Sequence[float], shape_hw: Sequence[int]) -> tuple[float, ...]:
    try:
        x0, y0, x1, y1 = (float(v) for v in box)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"box must be (x0, y0, x1, y1), got {box!r}") from exc
    height, width = shape_hw[:2]
    x0, x1 = max(0.0, x0), min(float(width), x1)
    y0, y1 = max(0.0, y0), min(float(height), y1)
    if x1 - x0 < 1 or y1 - y0 < 1:
        raise ValueError(
            f"box {tuple(box)} does not cover any pixel of the image of width {width} and "
            f"height {height}; give (x0, y0, x1, y1) with x0 < x1 and y0 < y1"
        )
    return x0, y0, x1, y1


def _to_work_xy(xy: Sequence[float], sx: float, sy: float) -> tuple[float, float]:
    # Pixel centres map as (x + 0.5) * s - 0.5.
    return (float(xy[0]) + 0.5) * sx - 0.5, (float(xy[1]) + 0.5) * sy - 0.5


def _disc(shape_hw: Sequence[int], xy: Sequence[float], radius: float) -> np.ndarray:
    rows = np.arange(shape_hw[0])[:, None]
    cols = np.arange(shape_hw[1])[None, :]
    return (cols - xy[0]) ** 2 + (rows - xy[1]) ** 2 <= radius ** 2


def _fill_small_holes(mask: np.ndarray, max_area: int,
                      protected: np.ndarray | None = None) -> np.ndarray:
    """Fill background islands that do not touch the border and are small.

    Islands holding a ``protected`` pixel (a negative click's seed) stay holes: the
    user asked for them.
    """
    count, comp, stats, _ = cv2.connectedComponentsWithStats(
        (~mask).astype(np.uint8), connectivity=4)
    height, width = mask.shape
    x, y, w, h, area = (stats[:, i] for i in range(5))
    touches = (x == 0) | (y == 0) | (x + w == width) | (y + h == height)
    fill = (~touches) & (area <= max_area)
    if protected is not None and protected.any():
        fill &= np.bincount(comp[protected], minlength=count) == 0
    fill[0] = False  # component 0 is the mask itself
    return mask | fill[comp]


def _grabcut_work(work: np.ndarray, box: Sequence[float] | None,
                  face: Sequence[int] | None, positive: list[tuple[float, float]],
                  negative: list[tuple[float, float]], radius: float,
                  iterations: int) -> np.ndarray:
    """GrabCut on the working image; returns a bool mask of the kept components."""
    shape = work.shape[:2]
    height, width = shape
    seeds = np.full(shape, cv2.GC_PR_BGD, np.uint8)
    if box is not None:
        x0, y0, x1, y1 = box
        seeds[:] = cv2.GC_BGD
        seeds[int(np.floor(y0)):int(np.ceil(y1)), int(np.floor(x0)):int(np.ceil(x1))] = (
            cv2.GC_PR_FGD)
    if face is not None:
        # Automatic start: the face is never the garment, the middle of the chest is.
        fx0, fy0, fx1, fy1 = face
        seeds[fy0:fy1, fx0:fx1] = cv2.GC_BGD
        chest = ((fx0 + fx1) / 2, fy0 + (_TORSO_TOP + _CHEST_BELOW_CHIN) * (fy1 - fy0))
        seeds[_disc(shape, chest, _CHEST_RADIUS * (fx1 - fx0))] = cv2.GC_FGD
        # The chest seed anchors a piece like a click does: a click on something apart
        # (a helmet beside the torso) adds that piece instead of replacing the garment.
        anchors = [chest, *positive]
    else:
        anchors = list(positive)
    for xy in positive:
        seeds[_disc(shape, xy, radius)] = cv2.GC_FGD
    negative_seeds = np.zeros(shape, bool)
    for xy in negative:  # drawn last: a negative click wins over a positive one
        negative_seeds |= _disc(shape, xy, radius)
    seeds[negative_seeds] = cv2.GC_BGD
    is_fg = (seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD)
    if not is_fg.any():
        raise ValueError("nothing to segment: the box and positive clicks leave no "
                         "foreground pixel; add a positive click or a larger box")
    if is_fg.all():
        # GrabCut needs background samples: treat the outer frame as probable background.
        frame = np.ones(shape, bool)
        frame[1:-1, 1:-1] = False
        seeds[frame & (seeds == cv2.GC_PR_FGD)] = cv2.GC_PR_BGD
    if (seeds == cv2.GC_FGD).all():
        # Sure foreground everywhere (a click disc over the whole image): there is no
        # background to model and nothing left to decide; the seeds are the answer.
        return np.ones(shape, bool)
    bgd_model = np.zeros((1, 65), np.float64)
    fgd_model = np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)  # the GMM initialisation uses k-means: keep results reproducible
    try:
        cv2.grabCut(work, seeds, None, bgd_model, fgd_model, int(iterations),
                    cv2.GC_INIT_WITH_MASK)
    except cv2.error as exc:  # an OpenCV assertion is no message for a person
        raise ValueError(
            f"GrabCut cannot segment with these seeds ({exc.err or exc}); give a smaller "
            "box, or fewer or smaller clicks, so that some pixels stay background"
        ) from exc
    mask = (seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD)

    count, comp = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return mask
    keep = np.zeros(count, bool)
    for x, y in anchors:
        col = int(np.clip(round(x), 0, width - 1))
        row = int(np.clip(round(y), 0, height - 1))
        keep[comp[row, col]] = True
    keep[0] = False
    if not keep.any():  # no positive click on the mask: keep the largest piece
        sizes = np.bincount(comp.ravel(), minlength=count)
        sizes[0] = 0
        keep[int(np.argmax(sizes))] = True
    mask = keep[comp]
    return _fill_small_holes(mask, max_area=int(0.01 * height * width),
                             protected=negative_seeds)


def _check_clicks(clicks: Iterable[Sequence[float]],
                  shape_hw: Sequence[int]) -> list[tuple[float, float]]:
    out = []
    for xy in clicks:
        click_pixel(xy, shape_hw)  # validates: raises with the image size when outside
        out.append((float(xy[0]), float(xy[1])))
    return out


def interactive_mask(image: np.ndarray, positive: Iterable[Sequence[float]] = (),
                     negative: Iterable[Sequence[float]] = (),
                     box: Sequence[float] | None = None, *, iterations: int = 5,
                     click_radius: float | None = None) -> np.ndarray:
    """Garment mask from clicks with OpenCV GrabCut (offline, no network weights).

    Seeds: a disc around each positive click is sure foreground, around each negative
    click sure background; inside ``box`` is probable foreground and outside sure
    background. Without a box, :func:`auto_torso_box` supplies one, enlarged to
    contain the positive clicks; the detected face is then sure background and a disc
    on the middle of the chest (radius 0.25 face widths, 0.8 face heights below the
    chin line) sure foreground, unless a negative click covers it.
    GrabCut runs on a copy whose longest side is :data:`WORKING_SIDE`; the connected
    pieces that contain a positive click are kept (the largest piece when there is
    none), small enclosed holes are filled, and the mask is upsampled bilinearly as
    float and thresholded at 0.5. The random seed is fixed, so results repeat.

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W, 3) uint8`` RGB.
    positive, negative : iterable of (x, y)
        Clicks on / off the garment in pixels (column, row).
    box : (x0, y0, x1, y1), optional
        Garment bounding box in pixels (exclusive ends); clipped to the image.
    iterations : int
        GrabCut iterations (>= 1).
    click_radius : float, optional
        Seed disc radius in full-resolution pixels; default 1.5 % of the longest side.

    Returns
    -------
    numpy.ndarray
        ``(H, W) float32`` mask with values in {0, 1}.
    """
    check_image_size(image)
    check_positive_int(iterations, "iterations")
    positive = _check_clicks(positive, image.shape)
    negative = _check_clicks(negative, image.shape)
    work, sx, sy = _working_copy(image)
    return _segment(image.shape[:2], work, sx, sy, positive, negative, box, None,
                    int(iterations), click_radius)


def _segment(shape_hw: Sequence[int], work: np.ndarray, sx: float, sy: float,
             positive: list[tuple[float, float]], negative: list[tuple[float, float]],
             box: Sequence[float] | None, auto: tuple | None, iterations: int,
             click_radius: float | None) -> np.ndarray:
    """Shared body of :func:`interactive_mask` and :class:`OfflineSegmenter`.

    ``auto`` is a cached ``(work_box, work_face)`` from :func:`_auto_box_work`.
    """
    pos_w = [_to_work_xy(xy, sx, sy) for xy in positive]
    neg_w = [_to_work_xy(xy, sx, sy) for xy in negative]
    face = None
    if box is not None:
        x0, y0, x1, y1 = _check_box(box, shape_hw)
        box_w = (x0 * sx, y0 * sy, x1 * sx, y1 * sy)
    else:
        box_w, face = auto if auto is not None else _auto_box_work(work)
        if pos_w:  # clicks outside the guessed box extend it
            margin = 0.05 * max(work.shape[:2])
            xs = [p[0] for p in pos_w]
            ys = [p[1] for p in pos_w]
            box_w = (max(0.0, min(box_w[0], min(xs) - margin)),
                     max(0.0, min(box_w[1], min(ys) - margin)),
                     min(float(work.shape[1]), max(box_w[2], max(xs) + margin)),
                     min(float(work.shape[0]), max(box_w[3], max(ys) + margin)))
    if click_radius is None:
        radius_w = max(2.0, 0.015 * max(work.shape[:2]))
    else:
        radius_w = max(1.0, float(click_radius) * min(sx, sy))
    mask_w = _grabcut_work(work, box_w, face, pos_w, neg_w, radius_w, iterations)
    full = resize_map(mask_w.astype(np.float32), shape_hw)
    return (full >= 0.5).astype(np.float32)


class OfflineSegmenter:
    """Click-by-click GrabCut segmentation state for an interactive UI.

    The working-size image and the automatic box are computed once; :attr:`mask`
    is recomputed only after the clicks change, so reading it repeatedly is free.

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W, 3) uint8`` RGB.
    box : (x0, y0, x1, y1), optional
        Garment box in pixels; default :func:`auto_torso_box`.
    iterations : int
        GrabCut iterations per update.
    click_radius : float, optional
        Seed disc radius in full-resolution pixels (see :func:`interactive_mask`).
    """

    def __init__(self, image: np.ndarray, box: Sequence[float] | None = None, *,
                 iterations: int = 5, click_radius: float | None = None) -> None:
        check_image_size(image)
        check_positive_int(iterations, "iterations")
        self.image = image
        self.box = None if box is None else _check_box(box, image.shape[:2])
        self.iterations = int(iterations)
        self.click_radius = click_radius
        self._work, self._sx, self._sy = _working_copy(image)
        self._auto: tuple | None = None
        self._clicks: list[tuple[float, float, bool]] = []
        self._mask: np.ndarray | None = None

    @property
    def clicks(self) -> list[tuple[float, float, bool]]:
        """Clicks so far as ``(x, y, positive)`` (a copy)."""
        return list(self._clicks)

    def add_click(self, x: float, y: float, positive: bool = True) -> None:
        """Add a click on (``positive=True``) or off the garment; ValueError if outside."""
        click_pixel((x, y), self.image.shape)
        self._clicks.append((float(x), float(y), bool(positive)))
        self._mask = None

    def undo(self) -> None:
        """Remove the last click (no-op without clicks)."""
        if self._clicks:
            self._clicks.pop()
            self._mask = None

    def reset(self) -> None:
        """Forget all clicks (the box stays)."""
        self._clicks.clear()
        self._mask = None

    @property
    def mask(self) -> np.ndarray:
        """``(H, W) float32`` mask in {0, 1} for the current clicks (cached; a copy)."""
        if self._mask is None:
            if self.box is None and self._auto is None:
                self._auto = _auto_box_work(self._work)
            positive = [(x, y) for x, y, pos in self._clicks if pos]
            negative = [(x, y) for x, y, pos in self._clicks if not pos]
            self._mask = _segment(self.image.shape[:2], self._work, self._sx, self._sy,
                                  positive, negative, self.box, self._auto,
                                  self.iterations, self.click_radius)
        return self._mask.copy()


class GrabCut(SegmentationBackend):
    """Click-driven GrabCut, started from a torso box under the detected face.

    ``predict(choice, positive, negative)`` ignores ``choice`` (no classes; a warning
    says so when a class is named) and segments from the clicks.

    Parameters
    ----------
    box : (x0, y0, x1, y1), optional
        Garment box in full-size pixels; default :func:`auto_torso_box`.
    """

    name = "grabcut"
    title = "GrabCut from clicks (no cloth classes)"
    capabilities = Capabilities(has_classes=False, takes_clicks=True, gives_matte=False,
                                needs_weights=False)

    def __init__(self, *, box: Sequence[float] | None = None) -> None:
        super().__init__()
        self.box = box
        self._segmenter: OfflineSegmenter | None = None

    def _set_image(self, image: np.ndarray) -> None:
        self._segmenter = OfflineSegmenter(image, self.box)

    def _predict(self, choice: Any, positive: tuple[Click, ...],
                 negative: tuple[Click, ...]) -> Prediction:
        if choice not in (None, "upper_body", "outfit", "all"):
            warnings.warn(f"the grabcut back-end has no cloth classes: region {choice!r} is "
                          "ignored; click on the garment, or use the 'classical_parsing' "
                          "back-end to choose a garment by class", stacklevel=3)
        segmenter = self._segmenter
        segmenter.reset()
        for x, y in positive:
            segmenter.add_click(x, y, positive=True)
        for x, y in negative:
            segmenter.add_click(x, y, positive=False)
        return Prediction(mask=segmenter.mask, class_ids=())
