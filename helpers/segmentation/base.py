"""The segmentation back-end protocol: ``set_image`` once, ``predict`` many times.

As segment-anything splits ``SamPredictor.set_image`` (the image encoder, expensive) from
``predict`` (the prompt decoder, cheap), a back-end does its expensive work once per photo
in :meth:`SegmentationBackend.set_image` and answers each region choice and set of clicks
in :meth:`SegmentationBackend.predict`. What a back-end can do is said by its
:class:`Capabilities`, never by whether it is "pretrained".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from helpers._checks import check_image_size, own_read_only, read_only
from helpers.segment import ClothParsing, click_pixel, resolve_region

Click = tuple[float, float]

__all__ = ["Capabilities", "Click", "ParsingBackend", "Prediction", "SegmentationBackend",
           "check_clicks"]


@dataclass(frozen=True)
class Capabilities:
    """What a segmentation back-end offers.

    Attributes
    ----------
    has_classes : bool
        It parses the photo into the four cloth classes (labels and probabilities), so
        a garment is chosen by name, id or a click on it.
    takes_clicks : bool
        Positive and negative clicks refine the region.
    gives_matte : bool
        It computes a soft matte of the whole person, usable as the saliency map M.
    needs_weights : bool
        It needs pretrained files (see :mod:`helpers.weights`).
    """

    has_classes: bool
    takes_clicks: bool
    gives_matte: bool
    needs_weights: bool


@dataclass
class Prediction:
    """One region answer of a back-end, at the photo's full size.

    Attributes
    ----------
    mask : (H, W) float32
        The chosen garment, values in {0, 1}.
    class_ids : tuple of int
        The garment classes chosen (empty for a back-end without classes).
    labels : (H, W) uint8 or None
        The cloth classes of the photo (back-ends with classes).
    probabilities : (4, H, W) float32 or None
        Per-class probabilities (back-ends with classes).
    person : (H, W) float32 or None
        Soft matte of the whole person in [0, 1] (back-ends that give one).
    """

    mask: np.ndarray
    class_ids: tuple[int, ...]
    labels: np.ndarray | None = None
    probabilities: np.ndarray | None = None
    person: np.ndarray | None = None


def check_clicks(clicks: Sequence[Click], shape_hw: Sequence[int], name: str,
                 ) -> tuple[Click, ...]:
    """Validate clicks ``(x, y)`` in full-size pixels; ValueError naming the bad one.
    None means no clicks."""
    if clicks is None:
        return ()
    if isinstance(clicks, np.ndarray):
        clicks = clicks.tolist()
    if isinstance(clicks, (str, bytes)) or not isinstance(clicks, Iterable):
        raise ValueError(f"{name} clicks must be a list of (x, y) pairs, got {clicks!r}")
    if (isinstance(clicks, (tuple, list)) and len(clicks) == 2
            and all(isinstance(v, (int, float, np.integer, np.floating)) for v in clicks)):
        raise ValueError(f"{name} clicks must be a list of (x, y) pairs, got one pair "
                         f"{tuple(clicks)!r}: write [{tuple(clicks)!r}]")
    checked = []
    for xy in clicks:
        try:
            click_pixel(xy, shape_hw)
        except ValueError as exc:
            raise ValueError(f"{name} click: {exc}") from None
        checked.append((float(xy[0]), float(xy[1])))
    return tuple(checked)


class SegmentationBackend:
    """Base class of every segmentation back-end (one per module in this package).

    Subclasses set the class attributes and implement :meth:`_set_image` and
    :meth:`_predict`.

    Attributes
    ----------
    name : str
        Registry name (``Pipeline(segmentation=name)``).
    title : str
        Short description for captions and figures.
    capabilities : Capabilities
    weights : str or None
        Name in :data:`helpers.weights.REGISTRY` of the file it needs, if any.
    notes : list of str
        What the last :meth:`set_image` found worth telling the user (for example that
        no person was found); empty when all went as expected.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    capabilities: ClassVar[Capabilities]
    weights: ClassVar[str | None] = None

    def __init__(self) -> None:
        self._image: np.ndarray | None = None
        self.notes: list[str] = []

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    @property
    def image(self) -> np.ndarray:
        """The current photo, ``(H, W, 3) uint8``."""
        if self._image is None:
            raise RuntimeError(f"{self.name}: no photo yet: call set_image(photo) first")
        return self._image

    def set_image(self, image: np.ndarray) -> None:
        """Do the expensive per-photo work (parsing, detection) once.

        Parameters
        ----------
        image : (H, W, 3) uint8
            The person photo.

        Raises
        ------
        ValueError
            Not an RGB uint8 image, or a side below ``MIN_SIDE`` (16) pixels.
        """
        check_image_size(image, "image")
        # the back-end's own read-only copy: the caller may go on editing theirs
        image = own_read_only(image)
        self.notes = []
        self._set_image(image)
        self._image = image

    def predict(self, choice: Any = None, positive: Sequence[Click] = (),
                negative: Sequence[Click] = ()) -> Prediction:
        """The chosen garment region for a choice and clicks (cheap after set_image).

        Parameters
        ----------
        choice : str, int, tuple or list, optional
            A class name or id, a click ``(x, y)`` on the garment (the class under it),
            a list of those, or ``"outfit"`` (back-ends with classes; see
            :func:`helpers.segment.select_region`). None: the upper body.
        positive, negative : sequence of (x, y)
            Clicks in full-size pixels (x = column, y = row) on the garment (grow it) and
            on wrong parts of the region (remove them).

        Returns
        -------
        Prediction
            Its arrays are read-only (``.copy()`` gives an editable one): they are handed
            out again for the same photo.

        Raises
        ------
        ValueError
            A click outside the image, an unknown class name, or (without clicks) a
            class absent from the photo: the message lists the classes present.
        """
        shape = self.image.shape[:2]
        positive = check_clicks(positive, shape, "positive")
        negative = check_clicks(negative, shape, "negative")
        prediction = self._predict(choice, positive, negative)
        read_only(prediction.mask)   # callers cache it (Pipeline); see helpers._checks
        return prediction

    # ------------------------------------------------------------------ to implement
    def _set_image(self, image: np.ndarray) -> None:
        raise NotImplementedError

    def _predict(self, choice: Any, positive: tuple[Click, ...],
                 negative: tuple[Click, ...]) -> Prediction:
        raise NotImplementedError


class ParsingBackend(SegmentationBackend):
    """A back-end that parses the photo into cloth classes; clicks go to one refiner.

    :meth:`_parse` gives labels, probabilities and (optionally) a person matte once per
    photo; a region is the chosen classes of that parse, refined by clicks through
    :class:`helpers.segmentation.refine.ClickRefiner`, the same engine for every parser
    (so a pretrained parse can be corrected by clicks exactly as an offline one).
    """

    def __init__(self) -> None:
        super().__init__()
        self._parsing: ClothParsing | None = None
        self._person: np.ndarray | None = None
        self._refiner: Any = None

    @property
    def parsing(self) -> ClothParsing:
        """The cloth parse of the current photo (labels, probabilities)."""
        if self._parsing is None:
            raise RuntimeError(f"{self.name}: no photo yet: call set_image(photo) first")
        return self._parsing

    @property
    def person(self) -> np.ndarray | None:
        """Soft matte of the whole person, ``(H, W) float32`` in [0, 1], or None."""
        return self._person

    def _parse(self, image: np.ndarray) -> tuple[ClothParsing, np.ndarray | None]:
        raise NotImplementedError

    def _set_image(self, image: np.ndarray) -> None:
        self._parsing, self._person = self._parse(image)
        # every prediction of the photo hands these out: read-only (see helpers._checks)
        for array in (self._parsing.labels, self._parsing.probabilities, self._person):
            read_only(array)
        self._refiner = None  # built on the first click: most uses never click

    def refiner(self):
        """The click refiner of the current photo and parse (built once, on demand)."""
        if self._refiner is None:
            from helpers.segmentation.refine import ClickRefiner

            self._refiner = ClickRefiner(self.image, self.parsing.labels,
                                         self.parsing.probabilities, self._person)
        return self._refiner

    def _predict(self, choice: Any, positive: tuple[Click, ...],
                 negative: tuple[Click, ...]) -> Prediction:
        parsing = self.parsing
        clicks = bool(positive or negative)
        if choice is None:
            choice = "upper_body"
        # A positive click can grow a class the parse missed from nothing; negative clicks
        # alone have nothing to remove from.
        class_ids = tuple(resolve_region(parsing.labels, choice,
                                         probabilities=parsing.probabilities,
                                         allow_absent=bool(positive)))
        if clicks:
            mask = self.refiner().region(class_ids, positive, negative).astype(np.float32)
        else:
            mask = np.isin(parsing.labels, class_ids).astype(np.float32)
        return Prediction(mask=mask, class_ids=class_ids, labels=parsing.labels,
                          probabilities=parsing.probabilities, person=self._person)
