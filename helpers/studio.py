"""The studio's state and its controller: what the interactive studio shows, without widgets.

:class:`StudioState` is everything the studio shows: the photo and style, the garment
(its classes and the clicks on it), the blend and style parameters, and the arrays they
give. :class:`StudioController` is the only thing that changes it: :meth:`~StudioController.click`,
:meth:`~StudioController.select`, :meth:`~StudioController.undo`,
:meth:`~StudioController.reset`, :meth:`~StudioController.set_parameter`,
:meth:`~StudioController.set_content` and :meth:`~StudioController.set_style`. Each
action recomputes only what it invalidates, through the pipeline's cached stages, and
then tells its listeners which parts changed, so a view (:class:`helpers.ui.StyleStudio`,
the widgets) redraws only those:

============== ==================================================================
part           changed by
============== ==================================================================
``"content"``  a new photo (everything below changes with it)
``"region"``   a click, a garment choice, undo, reset
``"stylized"`` strength, stroke scale, preserve colours, a new style
``"blend"``    every action: the blending weight and the output
============== ==================================================================

The segmentation's state lives in the pipeline and its back-end (the parse of the
photo, the cached regions); the controller keeps only what the user did (the garment
chosen and the clicks, which :meth:`~StudioController.undo` walks back).

Array contract: images ``(H, W, 3) uint8`` RGB, masks and alphas ``(H, W) float32`` in
[0, 1]; clicks are full-size pixels ``(x, y, positive)`` (x the column, y the row).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from helpers._checks import (
    check_choice,
    check_image,
    check_positive,
    check_softness,
    check_unit_interval,
)
from helpers.blend import BLEND_METHODS, composite, default_softness
from helpers.segment import CLASS_NAMES, classes_present, garment_choices, resolve_region

__all__ = ["PARAMETERS", "StudioController", "StudioState", "check_parameter"]

#: The notice when full body is chosen on a parse that has a top and a skirt but none.
SPLIT_FULL_BODY_NOTE = ("full_body is not in the parse, which found an upper and a lower "
                        "garment: if they are one piece (a dress it split into a top and a "
                        "skirt), click on each part to build it (a click takes the part whole)")
#: The notice for negative clicks on such a full body before any positive one.
NOTHING_TO_REMOVE_NOTE = ("nothing to remove yet: click on the parts of the full-body garment "
                          "first (a click takes the part whole)")
#: What :meth:`StudioController.set_parameter` sets.
PARAMETERS = ("method", "softness", "strength", "stroke_scale", "preserve_colors")
#: Parameters that change the stylized photo (the others only the blend).
_STYLE_PARAMETERS = ("strength", "stroke_scale", "preserve_colors")

Click = tuple[float, float, bool]


def check_parameter(name: str, value: Any) -> Any:
    """One of :data:`PARAMETERS`, checked and normalised (the studio's one set of checks).

    Returns
    -------
    str, float or bool
        The method name; the softness (pixels), strength or stroke scale as float;
        ``preserve_colors`` as bool.

    Raises
    ------
    ValueError
        Unknown parameter (the message lists them) or a value out of range.
    """
    check_choice(name, PARAMETERS, "studio parameter")
    if name == "method":
        return check_choice(value, BLEND_METHODS, "blend method")
    if name == "softness":
        return check_softness(value)
    if name == "strength":
        return float(check_unit_interval(value, "strength"))
    if name == "stroke_scale":
        return float(check_positive(value, "stroke_scale"))
    return bool(value)


@dataclass
class StudioState:
    """Everything the studio shows (plain data: no widgets, no pipeline).

    Attributes
    ----------
    content : (H, W, 3) uint8
        The person photo.
    style : (h, w, 3) uint8
        The style image.
    method : str
        One of :data:`helpers.blend.BLEND_METHODS`.
    softness : float
        Gaussian sigma of the blend, in pixels.
    softness_follows_method : bool
        True until the softness is set explicitly: the softness is then the method's
        default (:func:`helpers.blend.default_softness`) for the photo's size.
    strength : float in [0, 1]
    stroke_scale : float > 0
    preserve_colors : bool
        The stylization parameters (see :meth:`helpers.pipeline.Pipeline.stylized`).
    class_ids : tuple of int
        The chosen garment classes (empty with ``grabcut``, or before a garment is
        found; ``(3,)`` with an empty mask for a full body the parse lacks, before its
        first positive click).
    clicks : list of (x, y, positive)
        The clicks on the chosen garment, oldest first.
    mask : (H, W) float32 in [0, 1]
        The garment region.
    stylized, output : (H, W, 3) uint8
        The stylized photo and the blended result.
    alpha : (H, W) float32 in [0, 1]
        The blending weight of the stylized photo.
    selection : str
        What is selected, in words.
    blend_s : float
        Seconds the last blend took (alpha and composite).
    """

    content: np.ndarray
    style: np.ndarray
    method: str = "saliency"
    softness: float = 0.0
    softness_follows_method: bool = True
    strength: float = 1.0
    stroke_scale: float = 1.0
    preserve_colors: bool = False
    class_ids: tuple[int, ...] = ()
    clicks: list[Click] = field(default_factory=list)
    mask: np.ndarray | None = None
    stylized: np.ndarray | None = None
    alpha: np.ndarray | None = None
    output: np.ndarray | None = None
    selection: str = ""
    blend_s: float = 0.0


class StudioController:
    """Changes a :class:`StudioState` through a pipeline's cached stages.

    Parameters
    ----------
    pipeline : helpers.pipeline.Pipeline
        Provides the stages and the back-ends. With cloth classes (U²-Net or the
        offline ``classical_parsing``) a garment is chosen by class and clicks refine
        it; with ``grabcut`` clicks are its seeds.
    content : (H, W, 3) uint8
    style : (h, w, 3) uint8
    region : str, int or list
        The garment chosen first with a back-end that has classes (see
        :meth:`helpers.pipeline.Pipeline.region_mask`).
    method, strength, stroke_scale, preserve_colors, softness
        The first parameter values (see :class:`StudioState`); ``softness=None``
        follows the method's default until it is set.
    notify : callable, optional
        Receives a sentence when the controller chooses for the user (no garment found,
        another class chosen than the one asked for).

    Attributes
    ----------
    state : StudioState

    Raises
    ------
    ValueError
        A parameter out of range or an image that is not ``(H, W, 3) uint8``.
    """

    def __init__(self, pipeline: Any, content: np.ndarray, style: np.ndarray, *,
                 region: Any = "upper_body", method: str = "saliency",
                 strength: float = 1.0, stroke_scale: float = 1.0,
                 softness: float | None = None, preserve_colors: bool = False,
                 notify: Callable[[str], None] | None = None) -> None:
        method = check_parameter("method", method)
        strength = check_parameter("strength", strength)
        stroke_scale = check_parameter("stroke_scale", stroke_scale)
        if softness is not None:
            softness = check_parameter("softness", softness)
        check_image(content, "content")
        check_image(style, "style")
        self.pipeline = pipeline
        self.region = region
        self._notify = notify or (lambda text: None)
        self._listeners: list[Callable[[frozenset[str]], None]] = []
        self.state = StudioState(
            content=content, style=np.ascontiguousarray(style), method=method,
            softness=0.0 if softness is None else softness,
            softness_follows_method=softness is None, strength=float(strength),
            stroke_scale=float(stroke_scale), preserve_colors=bool(preserve_colors))
        self.set_content(content)

    # ------------------------------------------------------------------ listeners
    def on_change(self, callback: Callable[[frozenset[str]], None]) -> None:
        """Call ``callback(parts)`` after every action, with the parts that changed."""
        self._listeners.append(callback)

    def _changed(self, *parts: str) -> None:
        changed = frozenset(parts)
        for callback in self._listeners:
            callback(changed)

    # ------------------------------------------------------------------ actions
    @property
    def has_classes(self) -> bool:
        """True when the garment is chosen by cloth class (else by clicks alone)."""
        return self.pipeline.has_classes

    def click(self, x: float, y: float, positive: bool = True) -> None:
        """Click at full-size pixel ``(x, y)``.

        A positive click grows the garment by the part around it, a negative click
        removes the wrong part it lands on (with cloth classes through the pipeline's
        refinement engine; with ``grabcut`` as its seeds). When no garment is chosen
        yet (a photo without one), a positive click chooses the class under it.

        Raises
        ------
        ValueError
            A click outside the image (the message gives its size), or on background
            when nothing is chosen; the state is then unchanged.
        """
        self._sync_pipeline()
        if self.has_classes and not self.state.class_ids and positive:
            self.select((x, y))
            return
        self.state.clicks.append((float(x), float(y), bool(positive)))
        try:
            self._update_region()
        except Exception:
            self.state.clicks.pop()  # the clicks stay those of the mask shown
            raise
        self._update_blend()
        self._changed("region", "blend")

    def select(self, choice: Any) -> None:
        """Choose the garment: a class name, an id, a click ``(x, y)``, a list, "outfit".

        Forgets the clicks made on the previous garment.

        Full body alone may be chosen where the parse has an upper and a lower garment but
        no full body (:func:`helpers.segment.garment_choices`: it may have split a dress
        in two): the region then starts empty, with a notice, and each positive click
        takes the part it lands on whole.

        Raises
        ------
        ValueError
            Unknown or absent class (the message lists those present), or a back-end
            without cloth classes (``grabcut`` chooses by clicks).
        """
        self._select(choice)
        self._update_blend()
        self._changed("region", "blend")

    def undo(self) -> None:
        """Remove the last click (nothing happens without clicks)."""
        if not self.state.clicks:
            return
        last = self.state.clicks.pop()
        try:
            self._update_region()
        except Exception:
            self.state.clicks.append(last)
            raise
        self._update_blend()
        self._changed("region", "blend")

    def reset(self) -> None:
        """Back to the first garment, without clicks."""
        self._initial_selection()
        self._update_blend()
        self._changed("region", "blend")

    def set_parameter(self, name: str, value: Any) -> None:
        """Set one of :data:`PARAMETERS`; re-stylizes only for the style parameters.

        Raises
        ------
        ValueError
            Unknown parameter (the message lists them) or a value out of range; the
            state is then unchanged.
        """
        value = check_parameter(name, value)
        state = self.state
        saved = {key: getattr(state, key) for key in
                 (name, "softness", "softness_follows_method", "stylized")}
        try:
            setattr(state, name, value)
            if name == "softness":
                state.softness_follows_method = False
            elif name == "method" and state.softness_follows_method:
                state.softness = default_softness(value, state.content.shape[:2])
            if name in _STYLE_PARAMETERS:
                self._update_stylized()
            self._update_blend()
        except Exception:
            for key, old in saved.items():
                setattr(state, key, old)
            raise
        self._changed(*(("stylized", "blend") if name in _STYLE_PARAMETERS else ("blend",)))

    def set_content(self, image: np.ndarray) -> None:
        """Use a new person photo; everything is recomputed (cached stages reused).

        Raises
        ------
        ValueError
            Not an RGB uint8 image, or too small; the previous photo is kept.
        """
        check_image(image, "content")
        state = self.state
        saved = {key: getattr(state, key) for key in
                 ("content", "clicks", "class_ids", "mask", "selection", "softness",
                  "stylized", "alpha", "output")}
        try:
            self.pipeline.set_content(np.ascontiguousarray(image))
            # The pipeline keeps its array when the pixels are equal: share it, so
            # that _sync_pipeline's identity check holds.
            state.content = self.pipeline.content
            if state.softness_follows_method:
                state.softness = default_softness(state.method, state.content.shape[:2])
            self._update_stylized()
            self._initial_selection()
            self._update_blend()
        except Exception:
            for key, value in saved.items():
                setattr(state, key, value)
            if saved["content"] is not None and saved["mask"] is not None:
                self.pipeline.set_content(saved["content"])
            raise
        self._changed("content", "region", "stylized", "blend")

    def set_style(self, image: np.ndarray) -> None:
        """Use a new style image (re-stylizes, then re-blends).

        Raises
        ------
        ValueError
            Not an RGB uint8 image; the previous style is kept.
        """
        check_image(image, "style")
        state = self.state
        saved = (state.style, state.stylized)
        state.style = np.ascontiguousarray(image)
        try:
            self._update_stylized()
            self._update_blend()
        except Exception:
            state.style, state.stylized = saved
            raise
        self._changed("stylized", "blend")

    def refresh(self) -> None:
        """Recompute the stylized photo, the region's description and the blend."""
        self._update_stylized()
        self.state.selection = self._describe_selection()
        self._update_blend()
        self._changed("region", "stylized", "blend")

    # ------------------------------------------------------------------ stages
    def _sync_pipeline(self) -> None:
        # The pipeline may be shared with other code: make sure it holds our photo.
        if self.pipeline.content is not self.state.content:
            self.pipeline.set_content(self.state.content)

    def _select(self, choice: Any) -> None:
        if not self.has_classes:
            raise ValueError(
                f"the {self.pipeline.backends['segmentation']!r} back-end has no cloth "
                "classes: click on the garment (positive) and off it (negative) instead; "
                "the 'classical_parsing' back-end (offline) and the U²-Net cloth parsers "
                "choose garments by class")
        self._sync_pipeline()
        try:
            prediction = self.pipeline.prediction(choice)
        except ValueError:
            if not self._is_split_full_body(choice):
                raise
            # full body where the parse has a top and a skirt: the clicks build it
            self.state.clicks = []
            self._set_region(np.zeros(self.state.content.shape[:2], np.float32), (3,))
            self._notify(SPLIT_FULL_BODY_NOTE)
            return
        self.state.clicks = []
        self._set_region(prediction.mask, prediction.class_ids)

    def _is_split_full_body(self, choice: Any) -> bool:
        """Whether ``choice`` is full body alone, offered by :func:`garment_choices`
        though absent from the parse (an upper and a lower garment, maybe a split dress)."""
        labels = self.pipeline.parsing().labels
        if isinstance(choice, np.ndarray):
            choice = choice.tolist()   # as the pipeline reads an array of ids
        try:
            wanted = resolve_region(labels, choice, allow_absent=True)
        except ValueError:
            return False
        return wanted == [3] and 3 in garment_choices(labels)

    def _update_region(self) -> None:
        """Ask the pipeline for the region of the current garment and clicks."""
        self._sync_pipeline()
        clicks = self.state.clicks
        choice = list(self.state.class_ids) if self.has_classes else None
        if (self.state.class_ids == (3,) and not any(positive for _, _, positive in clicks)
                and self._is_split_full_body(3)):
            # full body that the parse lacks, with no positive click yet: nothing chosen
            if clicks:
                self._notify(NOTHING_TO_REMOVE_NOTE)
            self._set_region(np.zeros(self.state.content.shape[:2], np.float32), (3,))
            return
        prediction = self.pipeline.prediction(
            choice, positive=[(x, y) for x, y, positive in clicks if positive],
            negative=[(x, y) for x, y, positive in clicks if not positive])
        self._set_region(prediction.mask, prediction.class_ids)

    def _initial_selection(self) -> None:
        self.state.clicks = []
        self._sync_pipeline()
        if not self.has_classes:
            self._update_region()
            return
        try:
            self._select(self.region)
        except ValueError as exc:
            present = classes_present(self.pipeline.parsing().labels)
            if not present:
                self._notify(f"no garment found in this photo ({exc}); click on the garment")
                self._set_region(np.zeros(self.state.content.shape[:2], np.float32), ())
                return
            self._notify(f"{exc}; selected {CLASS_NAMES[present[0]]!r} instead")
            self._select(present[0])

    def _set_region(self, mask: np.ndarray, class_ids: tuple[int, ...]) -> None:
        self.state.mask = mask
        self.state.class_ids = tuple(class_ids)
        self.state.selection = self._describe_selection()

    def _describe_selection(self) -> str:
        clicks = self.state.clicks
        class_ids = self.state.class_ids
        n_pos = sum(1 for *_, positive in clicks if positive)
        counted = f"{n_pos} positive / {len(clicks) - n_pos} negative clicks"
        if self.has_classes:
            if not class_ids:
                return "nothing (no garment found)"
            names = " + ".join(CLASS_NAMES.get(c, str(c)) for c in class_ids)
            ids = ", ".join(str(c) for c in class_ids)
            described = f"{names} (class{'es' if len(class_ids) > 1 else ''} {ids})"
            return f"{described}, {counted}" if clicks else described
        if not clicks:
            return "garment (GrabCut, automatic start)"
        return f"garment (GrabCut, {counted})"

    def _update_stylized(self) -> None:
        self._sync_pipeline()
        state = self.state
        state.stylized = self.pipeline.stylized(
            state.style, strength=state.strength, stroke_scale=state.stroke_scale,
            preserve_colors=state.preserve_colors)

    def _update_blend(self) -> None:
        start = time.perf_counter()
        self._sync_pipeline()
        state = self.state
        state.alpha = self.pipeline.alpha(state.mask, state.method, softness=state.softness)
        state.output = composite(state.content, state.stylized, state.alpha)
        state.blend_s = time.perf_counter() - start
