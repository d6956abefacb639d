"""Cloth classes, label maps and region choice: what every segmentation back-end shares.

Array contract: images are ``(H, W, 3) uint8`` RGB, masks ``(H, W) float32`` with
values in {0, 1}, label maps ``(H, W) uint8`` with the ids of :data:`CLASS_NAMES`
(0 background, 1 upper body, 2 lower body, 3 full body, as the U²-Net cloth model of
levindabhi/cloth-segmentation labels them).

The back-ends that produce label maps (U²-Net cloth parsing, the offline classical parser)
and the one that produces a mask straight from clicks (GrabCut) live in
:mod:`helpers.segmentation`; this module turns a label map into a garment region: by class
name or id, by a click on the garment, as a union, or ``"outfit"`` (every garment present).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from helpers._checks import check_labels

__all__ = [
    "CLASS_NAMES",
    "CLICK_SNAP_MIN_PROBABILITY",
    "GARMENT_CLASSES",
    "PALETTE",
    "REGION_ALIASES",
    "ClothParsing",
    "class_at",
    "classes_present",
    "click_pixel",
    "colorize_labels",
    "garment_choices",
    "resolve_region",
    "select_region",
]

#: Class ids of the cloth-parsing network and their names.
CLASS_NAMES: dict[int, str] = {0: "background", 1: "upper_body", 2: "lower_body",
                               3: "full_body"}
#: Ids that are garments (everything but background).
GARMENT_CLASSES: tuple[int, ...] = (1, 2, 3)
#: ``(4, 3) uint8`` display colour per class id (row = id).
PALETTE = np.array([[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0]], dtype=np.uint8)
#: Names that select every garment class present in the image.
REGION_ALIASES: tuple[str, ...] = ("outfit", "all")
#: A click on a background pixel snaps to the most probable garment class there when
#: ``probabilities`` are given and that class has at least this probability.
CLICK_SNAP_MIN_PROBABILITY = 0.3

_NAME_TO_ID = {name: class_id for class_id, name in CLASS_NAMES.items()}


# --------------------------------------------------------------------------- labels


def colorize_labels(labels: np.ndarray) -> np.ndarray:
    """Paint a label map with :data:`PALETTE` for display.

    Parameters
    ----------
    labels : numpy.ndarray
        ``(H, W) uint8`` class ids in ``0..3``.

    Returns
    -------
    numpy.ndarray
        ``(H, W, 3) uint8`` RGB.
    """
    check_labels(labels)
    if labels.size and int(labels.max()) >= len(PALETTE):
        raise ValueError(
            f"labels contain id {int(labels.max())} but only ids 0..{len(PALETTE) - 1} "
            f"({', '.join(CLASS_NAMES.values())}) have a colour"
        )
    return PALETTE[labels]


def classes_present(labels: np.ndarray, include_background: bool = False) -> tuple[int, ...]:
    """Class ids that occur in a label map, in increasing order.

    Parameters
    ----------
    labels : numpy.ndarray
        ``(H, W) uint8`` label map.
    include_background : bool
        Also report id 0 when present.

    Returns
    -------
    tuple of int
        Sorted ids; garment ids only unless ``include_background``.
    """
    check_labels(labels)
    present = [int(v) for v in np.unique(labels)]
    if not include_background:
        present = [v for v in present if v in GARMENT_CLASSES]
    return tuple(present)


def garment_choices(labels: np.ndarray) -> tuple[int, ...]:
    """The garment class ids a user may choose on a parse, in increasing order.

    Those present, and full body (3) where the parse has an upper (1) and a lower (2)
    garment but no full body: it may have split a dress in two, and positive clicks for
    full body on its parts take each part whole
    (:class:`helpers.segmentation.refine.ClickRefiner`).

    Parameters
    ----------
    labels : numpy.ndarray
        ``(H, W) uint8`` label map.

    Returns
    -------
    tuple of int
        Sorted garment ids.

    Examples
    --------
    >>> garment_choices(np.array([[0, 1], [2, 2]], np.uint8))
    (1, 2, 3)
    >>> garment_choices(np.array([[0, 1], [3, 2]], np.uint8))
    (1, 2, 3)
    >>> garment_choices(np.array([[0, 1], [1, 0]], np.uint8))
    (1,)
    """
    present = classes_present(labels)
    if {1, 2} <= set(present) and 3 not in present:
        present = (*present, 3)
    return present


def _describe_present(labels: np.ndarray) -> str:
    names = [CLASS_NAMES.get(v, str(v)) for v in classes_present(labels)]
    return ", ".join(names) if names else "none (only background)"


@dataclass
class ClothParsing:
    """A cloth parse: labels and per-class probabilities of one photo.

    Attributes
    ----------
    labels : numpy.ndarray
        ``(H, W) uint8`` argmax class ids (see :data:`CLASS_NAMES`).
    probabilities : numpy.ndarray
        ``(C, H, W) float32`` softmax of the upsampled logits; sums to 1 over ``C``.
    backend : str
        What produced it (``"torch"``, ``"onnx"`` or ``"openvino"`` for the U²-Net runners,
        ``"classical_parsing"`` for the offline parser).
    """

    labels: np.ndarray
    probabilities: np.ndarray
    backend: str

    def classes_present(self) -> tuple[int, ...]:
        """Garment class ids present in :attr:`labels` (see :func:`classes_present`)."""
        return classes_present(self.labels)


# --------------------------------------------------------------------------- region choice


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_))


def _is_click(choice: Any) -> bool:
    return (isinstance(choice, tuple) and len(choice) == 2
            and all(_is_number(v) for v in choice))


def class_at(labels: np.ndarray, xy: Sequence[float]) -> int:
    """Class id under a click.

    Parameters
    ----------
    labels : numpy.ndarray
        ``(H, W) uint8`` label map.
    xy : (float, float)
        Click position ``(x, y)`` in pixels (column, row); rounded to the nearest pixel.

    Returns
    -------
    int
        The class id at row ``y``, column ``x``.
    """
    check_labels(labels)
    col, row = click_pixel(xy, labels.shape)
    return int(labels[row, col])


def click_pixel(xy: Sequence[float], shape_hw: Sequence[int]) -> tuple[int, int]:
    """Round a click ``(x, y)`` (pixels: column, row) to the pixel ``(col, row)`` it hits.

    The one convention of the package: pixel ``(col, row)`` covers ``x`` in
    ``[col - 0.5, col + 0.5)`` and ``y`` likewise, so a click is inside a ``W``-wide image
    for ``x`` in ``[-0.5, W - 0.5)``.

    Raises
    ------
    ValueError
        Not a pair of finite numbers, or outside the image (the message gives its size).
    """
    try:
        x, y = xy
    except (TypeError, ValueError) as exc:
        raise ValueError(f"a click must be an (x, y) pair, got {xy!r}") from exc
    if not (_is_number(x) and _is_number(y)):
        raise ValueError(f"a click must be an (x, y) pair of numbers, got {xy!r}")
    height, width = int(shape_hw[0]), int(shape_hw[1])
    try:
        fx, fy = float(x), float(y)
    except OverflowError:     # an integer beyond any float
        raise ValueError("a click coordinate is too large for a float, far outside the image "
                         f"of width {width} and height {height}") from None
    if not (np.isfinite(fx) and np.isfinite(fy)):
        raise ValueError(f"click (x={x:g}, y={y:g}) is not a finite position; give the column "
                         "x and the row y in pixels")
    col, row = int(np.floor(fx + 0.5)), int(np.floor(fy + 0.5))
    if not (0 <= col < width and 0 <= row < height):
        raise ValueError(
            f"click (x={x:g}, y={y:g}) is outside the image of width {width} and height "
            f"{height}; x must be in [0, {width - 1}] and y in [0, {height - 1}], each "
            "rounded to the nearest pixel"
        )
    return col, row


def _class_id(item: Any) -> int:
    """Resolve a class name or id to a garment id."""
    valid_names = [CLASS_NAMES[c] for c in GARMENT_CLASSES]
    if isinstance(item, str):
        if item not in valid_names:
            raise ValueError(
                f"unknown region {item!r}; valid names: "
                f"{', '.join(map(repr, valid_names + list(REGION_ALIASES)))}, a class id "
                f"{GARMENT_CLASSES}, a click (x, y) or a list of those"
            )
        return _NAME_TO_ID[item]
    if _is_number(item) and float(item).is_integer():
        class_id = int(item)
        if class_id not in GARMENT_CLASSES:
            raise ValueError(
                f"class id {class_id} is not a garment; valid ids: "
                + ", ".join(f"{c} ({CLASS_NAMES[c]})" for c in GARMENT_CLASSES)
                + "; a click is a tuple (x, y)"
            )
        return class_id
    raise ValueError(
        f"cannot interpret region {item!r}: give a class name, a class id, a click as a "
        "tuple (x, y) or a list of those"
    )


def select_region(labels: np.ndarray, choice: Any, *,
                  probabilities: np.ndarray | None = None) -> np.ndarray:
    """Binary mask of the chosen garment region.

    Parameters
    ----------
    labels : numpy.ndarray
        ``(H, W) uint8`` label map (e.g. ``ClothParsing.labels``).
    choice : str, int, tuple or list
        * a class name: ``"upper_body"``, ``"lower_body"``, ``"full_body"``;
        * a class id in :data:`GARMENT_CLASSES`;
        * a click ``(x, y)`` - a *tuple* of two numbers is always read as a click:
          the class under that pixel is chosen (see :func:`class_at`);
        * a list (or tuple of names) of names, ids and clicks: their union;
        * ``"outfit"`` or ``"all"``: every garment class present.
    probabilities : numpy.ndarray, optional
        ``(C, H, W) float32`` softmax (``ClothParsing.probabilities``). When given, a
        click on a background pixel snaps to the most probable garment class there if
        that class is present and has probability >= ``CLICK_SNAP_MIN_PROBABILITY``.

    Returns
    -------
    numpy.ndarray
        ``(H, W) float32`` mask with values in {0, 1}.

    Raises
    ------
    ValueError
        Unknown name (the message lists valid names), a class absent from the image
        (lists the classes present), a click outside the image (gives its size) or on
        background.
    """
    check_labels(labels)
    if probabilities is not None:
        probabilities = np.asarray(probabilities)
        if probabilities.ndim != 3 or probabilities.shape[1:] != labels.shape:
            raise ValueError(
                f"probabilities must have shape (C, {labels.shape[0]}, {labels.shape[1]}) "
                f"to match the labels, got {probabilities.shape}"
            )
    wanted = resolve_region(labels, choice, probabilities=probabilities)
    return np.isin(labels, wanted).astype(np.float32)


def resolve_region(labels: np.ndarray, choice: Any, *,
                   probabilities: np.ndarray | None = None,
                   allow_absent: bool = False) -> list[int]:
    """The garment class ids a region choice names (see :func:`select_region`).

    Parameters
    ----------
    labels : numpy.ndarray
        ``(H, W) uint8`` label map.
    choice : str, int, tuple or list
        As in :func:`select_region`.
    probabilities : numpy.ndarray, optional
        ``(C, H, W) float32``; lets a click on background snap to a probable garment.
    allow_absent : bool
        Accept a class named explicitly that the labels lack (a refinement click can
        then grow it from nothing); by default that is an error.

    Returns
    -------
    list of int
        Sorted garment ids.

    Raises
    ------
    ValueError
        As :func:`select_region`.
    """
    check_labels(labels)
    wanted = _resolve_choice(labels, choice, probabilities)
    missing = [c for c in wanted if not np.any(labels == c)]
    if missing and not allow_absent:
        raise ValueError(
            f"{', '.join(repr(CLASS_NAMES[c]) for c in missing)} not found in this image; "
            f"classes present: {_describe_present(labels)}"
        )
    return wanted


def _resolve_choice(labels: np.ndarray, choice: Any,
                    probabilities: np.ndarray | None) -> list[int]:
    if isinstance(choice, str) and choice in REGION_ALIASES:
        present = list(classes_present(labels))
        if not present:
            raise ValueError(f"no garment found in this image (choice {choice!r}); "
                             "classes present: none (only background)")
        return present
    if _is_click(choice):
        return [_clicked_class(labels, choice, probabilities)]
    if isinstance(choice, (list, tuple)):
        if not choice:
            raise ValueError("empty region list; give at least one class name or id")
        ids: list[int] = []
        for item in choice:
            if (isinstance(item, str) and item in REGION_ALIASES) or _is_click(item):
                ids.extend(_resolve_choice(labels, item, probabilities))
            else:
                ids.append(_class_id(item))
        return sorted(set(ids))
    return [_class_id(choice)]


def _clicked_class(labels: np.ndarray, xy: Sequence[float],
                   probabilities: np.ndarray | None) -> int:
    col, row = click_pixel(xy, labels.shape)
    class_id = int(labels[row, col])
    if class_id in GARMENT_CLASSES:
        return class_id
    if probabilities is not None and probabilities.shape[0] > max(GARMENT_CLASSES):
        garment_probs = probabilities[list(GARMENT_CLASSES), row, col]
        best = GARMENT_CLASSES[int(np.argmax(garment_probs))]
        if garment_probs.max() >= CLICK_SNAP_MIN_PROBABILITY and np.any(labels == best):
            return best
    raise ValueError(
        f"no garment at click (x={xy[0]:g}, y={xy[1]:g}): that pixel is "
        f"{CLASS_NAMES.get(class_id, class_id)!r}; classes present: "
        f"{_describe_present(labels)}"
    )
