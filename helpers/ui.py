"""The interactive studio: click a garment, tune the blend, see the result.

A notebook only displays :class:`StyleStudio`; all the logic lives here and is tested
headless. Clicks come from :class:`ClickMap`, a tiny anywidget (its JavaScript is the
``_esm`` string below, served by the kernel: no network, works in JupyterLab,
Notebook 7 and Colab), and from a fallback of core ipywidgets (a class dropdown and
x/y sliders with a button) that works everywhere and is always shown as well.

What each control re-runs (every expensive stage is cached by :mod:`helpers.pipeline`):

================================ ==========================================================
control                          work
================================ ==========================================================
method, softness                 ``pipeline.alpha`` + :func:`helpers.blend.composite` +
                                 the preview JPEG (downscaled first)
strength, stroke scale, colours  ``pipeline.stylized`` (cached per value), then the blend
click, class, reset              the region (``pipeline.prediction``: the class choice
                                 refined by the clicks, or GrabCut seeded by them), the
                                 click-map highlight, then the blend
upload                           everything for the new photo / style
================================ ==========================================================

Array contract: images are ``(H, W, 3) uint8`` RGB, masks and alphas ``(H, W) float32``
in [0, 1], label maps ``(H, W) uint8``; click coordinates are full-size pixels
``(x, y)`` = (column, row).
"""

from __future__ import annotations

import base64
import html
import logging
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import cv2
import ipywidgets as widgets
import numpy as np
import traitlets

from helpers._checks import (
    check_choice,
    check_image,
    check_positive,
)
from helpers.blend import BLEND_METHODS, empty_weight_message
from helpers.images import fit_to_cap, load_image
from helpers.segment import CLASS_NAMES, PALETTE, garment_choices
from helpers.studio import StudioController, StudioState, check_parameter

try:  # optional: without it the core-ipywidgets fallback is the only way to click
    import anywidget
except ImportError:  # pragma: no cover - anywidget is in requirements.txt
    anywidget = None

__all__ = [
    "CLICK_WIDGETS",
    "HIGHLIGHT_OPACITY",
    "OFFLINE_CHOICE",
    "ClickMap",
    "StyleStudio",
    "anywidget_available",
    "encode_jpeg",
    "jpeg_data_url",
    "selection_overlay",
]

logger = logging.getLogger(__name__)

#: Accepted values of ``StyleStudio(click_widget=...)``.
CLICK_WIDGETS = ("auto", "anywidget", "fallback")
#: Weight of the class colour painted over the photo in the click map.
HIGHLIGHT_OPACITY = 0.45
#: Colour of a GrabCut region in the click map (it has no class, so no palette colour).
REGION_COLOR = (30, 144, 255)
#: Seed dot colours in the click map: positive (on the garment) and negative clicks.
SEED_COLORS = {True: (0, 230, 0), False: (235, 0, 0)}
#: The class dropdown's only entry with the offline (click-driven GrabCut) back-end.
OFFLINE_CHOICE = "garment (clicks)"
#: JPEG quality of the preview and the click map.
JPEG_QUALITY = 90
#: Softness slider range: 0 to this fraction of the image diagonal, in pixels.
SOFTNESS_MAX_FRACTION = 0.03
#: Uploaded photos are downscaled to this longest side so sliders stay interactive.
UPLOAD_MAX_SIDE = 1600
#: Uploaded styles are downscaled to this side (the stylizer looks at 256 px anyway).
STYLE_UPLOAD_MAX_SIDE = 1024
_CLICK_HINT = "Click: garment · Shift/Alt-click or right-click: not garment"


def anywidget_available() -> bool:
    """True when :class:`ClickMap` can be used (``anywidget`` is installed)."""
    return anywidget is not None


# --------------------------------------------------------------------------- images


def encode_jpeg(image: np.ndarray, max_side: int | None = None, *,
                quality: int = JPEG_QUALITY) -> bytes:
    """Downscale (area filter) to ``max_side``, then JPEG-encode with OpenCV.

    Downscaling first keeps the encode a few milliseconds at any photo size.

    Parameters
    ----------
    image : (H, W, 3) uint8
        RGB.
    max_side : int, optional
        Longest side of the encoded image; None keeps the size.
    quality : int
        JPEG quality, 1..100.

    Returns
    -------
    bytes
        A baseline JPEG.
    """
    check_image(image)
    if max_side is not None:
        image, _ = fit_to_cap(image, int(max_side))
    ok, encoded = cv2.imencode(".jpg", np.ascontiguousarray(image[..., ::-1]),
                               [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 BGR image
        raise RuntimeError(f"OpenCV could not JPEG-encode an image of shape {image.shape}")
    return encoded.tobytes()


def jpeg_data_url(jpeg: bytes) -> str:
    """``data:image/jpeg;base64,...`` URL of JPEG bytes (for an ``<img src>``)."""
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def _outline(selected: np.ndarray) -> np.ndarray:
    """Inner one-pixel boundary of a boolean region."""
    eroded = cv2.erode(selected.astype(np.uint8), np.ones((3, 3), np.uint8),
                       borderType=cv2.BORDER_REPLICATE)
    return selected & (eroded == 0)


def selection_overlay(image: np.ndarray, *, mask: np.ndarray | None = None,
                      labels: np.ndarray | None = None, class_ids: Sequence[int] = (),
                      seeds: Sequence[tuple[float, float, bool]] = (),
                      marker: tuple[float, float] | None = None,
                      max_side: int | None = None) -> np.ndarray:
    """The photo with the chosen region tinted and outlined, for the click map.

    With ``labels`` the pixels of ``class_ids`` get their :data:`helpers.segment.PALETTE`
    colour at :data:`HIGHLIGHT_OPACITY`; otherwise ``mask`` gets :data:`REGION_COLOR`.
    Everything is drawn at the display size (``max_side``), so it is cheap.

    Parameters
    ----------
    image : (H, W, 3) uint8
        The full-size photo.
    mask : (H, W) float32 in [0, 1], optional
        The region (drawn when no labels are given).
    labels : (H, W) uint8, optional
        Cloth classes; resized with nearest neighbour only.
    class_ids : sequence of int
        The selected classes.
    seeds : sequence of (x, y, positive)
        Clicks in full-size pixels, drawn as green (positive) / red (negative) dots.
    marker : (x, y), optional
        A cross at the fallback sliders' position, in full-size pixels.
    max_side : int, optional
        Longest side of the result (None: full size).

    Returns
    -------
    (h, w, 3) uint8
    """
    check_image(image)
    small = image if max_side is None else fit_to_cap(image, int(max_side))[0]
    height, width = small.shape[:2]
    if labels is not None:
        labels_small = cv2.resize(labels, (width, height), interpolation=cv2.INTER_NEAREST)
        selected = np.isin(labels_small, list(class_ids))
        color = PALETTE[labels_small].astype(np.float32)
    elif mask is not None:
        mask_small = cv2.resize(mask.astype(np.float32), (width, height),
                                interpolation=cv2.INTER_AREA)
        selected = mask_small >= 0.5
        color = np.array(REGION_COLOR, np.float32)
    else:
        selected = np.zeros((height, width), bool)
        color = np.zeros(3, np.float32)
    tinted = (1.0 - HIGHLIGHT_OPACITY) * small + HIGHLIGHT_OPACITY * color
    out = np.where(selected[..., None], np.rint(tinted), small).astype(np.uint8)
    out[_outline(selected)] = 255
    scale_x, scale_y = width / image.shape[1], height / image.shape[0]
    radius = max(3, round(0.012 * max(height, width)))

    def to_small(x: float, y: float) -> tuple[int, int]:
        return int(round((x + 0.5) * scale_x - 0.5)), int(round((y + 0.5) * scale_y - 0.5))

    for x, y, positive in seeds:
        centre = to_small(x, y)
        cv2.circle(out, centre, radius + 1, (255, 255, 255), -1, cv2.LINE_AA)
        cv2.circle(out, centre, radius, SEED_COLORS[bool(positive)], -1, cv2.LINE_AA)
    if marker is not None:
        cv2.drawMarker(out, to_small(*marker), (255, 255, 0), cv2.MARKER_CROSS,
                       markerSize=4 * radius, thickness=2)
    return out


# --------------------------------------------------------------------------- click map

_CLICKMAP_ESM = r"""
function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "clothstyle-clickmap";
  const img = document.createElement("img");
  img.className = "clothstyle-clickmap-image";
  img.alt = "photo: click on a garment";
  img.draggable = false;
  const caption = document.createElement("div");
  caption.className = "clothstyle-clickmap-caption";
  root.append(img, caption);
  el.append(root);

  const show = () => {
    img.src = model.get("src");
    caption.textContent = model.get("caption");
  };
  // Displayed pixel -> full-size image pixel (the <img> has no border or padding).
  const send = (event, positive) => {
    event.preventDefault();
    const shownWidth = img.clientWidth, shownHeight = img.clientHeight;
    const width = model.get("natural_width"), height = model.get("natural_height");
    if (!shownWidth || !shownHeight || !width || !height) return;
    const clamp = (v, size) => Math.min(size - 1, Math.max(0, v));
    const x = clamp(Math.floor((event.offsetX / shownWidth) * width), width);
    const y = clamp(Math.floor((event.offsetY / shownHeight) * height), height);
    const n = ((model.get("click") || {}).n || 0) + 1;
    model.set("click", { x, y, positive, n });
    model.save_changes();
  };
  const onClick = (event) => send(event, !(event.shiftKey || event.altKey));
  const onContextMenu = (event) => send(event, false);
  img.addEventListener("click", onClick);
  img.addEventListener("contextmenu", onContextMenu);
  model.on("change:src", show);
  model.on("change:caption", show);
  show();
  return () => {
    model.off("change:src", show);
    model.off("change:caption", show);
    img.removeEventListener("click", onClick);
    img.removeEventListener("contextmenu", onContextMenu);
  };
}
export default { render };
"""

_CLICKMAP_CSS = """
.clothstyle-clickmap { display: inline-block; max-width: 100%; }
.clothstyle-clickmap-image {
  display: block; max-width: 100%; height: auto; margin: 0; padding: 0; border: 0;
  cursor: crosshair; user-select: none; -webkit-user-select: none;
}
.clothstyle-clickmap-caption { font-size: 12px; color: #555; margin-top: 4px; }
"""


if anywidget is not None:

    class ClickMap(anywidget.AnyWidget):
        """An image that reports clicks in full-size image pixels.

        The browser shows ``src`` (a JPEG data URL, usually downscaled) at most as wide
        as the cell; a click maps the displayed position to the full-size image
        (``natural_width`` x ``natural_height``) and sets :attr:`click`. A plain click
        is positive; Shift-, Alt- or right-click is negative. HTML classes
        ``clothstyle-clickmap``, ``clothstyle-clickmap-image`` and
        ``clothstyle-clickmap-caption`` let a browser test find the elements.

        Traits (synced)
        ---------------
        src : str
            Data URL of the displayed image.
        natural_width, natural_height : int
            Size of the full-size image the click coordinates refer to.
        caption : str
            Text under the image.
        click : dict
            The last click, ``{"x": int, "y": int, "positive": bool, "n": int}``;
            ``n`` counts clicks so that two clicks on one pixel are two changes.
        """

        _esm = _CLICKMAP_ESM
        _css = _CLICKMAP_CSS
        src = traitlets.Unicode("").tag(sync=True)
        natural_width = traitlets.Int(0).tag(sync=True)
        natural_height = traitlets.Int(0).tag(sync=True)
        caption = traitlets.Unicode(_CLICK_HINT).tag(sync=True)
        click = traitlets.Dict().tag(sync=True)

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self._click_handlers = widgets.CallbackDispatcher()

        def set_image(self, image: np.ndarray, natural_size: tuple[int, int] | None = None,
                      *, max_side: int | None = None) -> None:
            """Show an image.

            Parameters
            ----------
            image : (h, w, 3) uint8
                What to display (may already be downscaled).
            natural_size : (width, height), optional
                Size of the full-size image that clicks refer to (default: the image's).
            max_side : int, optional
                Downscale before encoding.
            """
            check_image(image)
            width, height = natural_size or (image.shape[1], image.shape[0])
            url = jpeg_data_url(encode_jpeg(image, max_side))
            with self.hold_sync():
                self.natural_width, self.natural_height = int(width), int(height)
                self.src = url

        def on_click(self, callback: Callable[[int, int, bool], Any], remove: bool = False,
                     ) -> None:
            """Call ``callback(x, y, positive)`` on every click (``remove`` unregisters)."""
            self._click_handlers.register_callback(callback, remove=remove)

        @traitlets.observe("click")
        def _dispatch_click(self, change: dict[str, Any]) -> None:
            click = change["new"]
            if not click or "x" not in click or "y" not in click:
                return
            self._click_handlers(click["x"], click["y"], bool(click.get("positive", True)))

else:  # pragma: no cover - anywidget is in requirements.txt
    ClickMap = None


# --------------------------------------------------------------------------- the studio


def _html_message(text: str, kind: str) -> str:
    color = {"error": "#b00020", "note": "#666"}[kind]
    prefix = "⚠ " if kind == "error" else ""
    return f'<span style="color:{color}">{prefix}{html.escape(text)}</span>'


class StyleStudio:
    """Interactive garment styling: a click map, blend and style controls, a preview.

    A thin view: the state is a :class:`helpers.studio.StudioState`, changed only by a
    :class:`helpers.studio.StudioController` (:attr:`controller`); every control calls
    the controller, and the view redraws the parts it says changed. Display
    ``studio.widget`` (or just ``studio``) in a notebook. A script calls the same
    methods (:meth:`click`, :meth:`select`, :meth:`undo`, :meth:`reset`,
    :meth:`set_content`, :meth:`set_style`, :meth:`refresh`); the widget callbacks
    catch errors and show them in :attr:`status` instead of raising.

    Parameters
    ----------
    pipeline : helpers.pipeline.Pipeline
        Provides the cached stages and the back-ends. With a back-end that parses cloth
        classes (U²-Net or the offline ``classical_parsing``) the class dropdown picks
        the garment and clicks refine it (a positive click grows it by the part around
        the click, a negative click removes the wrong part it lands on); with
        ``grabcut`` clicks are GrabCut seeds (positive on the garment, negative off it).
    content : (H, W, 3) uint8
        The person photo.
    style : (h, w, 3) uint8
        The style image.
    region : str, int or list
        Initial garment with a back-end that has classes (see
        :meth:`helpers.pipeline.Pipeline.region_mask`); ``grabcut`` starts from its
        automatic upper-body guess.
    method : str
        One of :data:`helpers.blend.BLEND_METHODS`.
    strength : float in [0, 1]
    stroke_scale : float > 0
    preserve_colors : bool
        Stylization parameters (see :meth:`helpers.pipeline.Pipeline.stylized`).
    softness : float, optional
        Gaussian sigma in pixels; None follows the method's default
        (:func:`helpers.blend.default_softness`) until the slider is moved.
    click_widget : {"auto", "anywidget", "fallback"}
        ``"auto"``: the :class:`ClickMap` when anywidget is installed. The fallback
        controls are built and shown in every case.
    preview_max_side : int
        Longest side of the preview and the click map.
    upload_max_side : int
        Uploaded photos are downscaled to this longest side.

    Attributes
    ----------
    widget : ipywidgets.VBox
        The assembled interface.
    controller : helpers.studio.StudioController
    content, style, mask, stylized, alpha, output, selection
        The controller's state (read-only here; see :class:`helpers.studio.StudioState`).
    preview_count : int
        How many times the preview was updated.
    last_update_s : float
        Seconds the last preview update took (blend + encode).
    """

    def __init__(self, pipeline: Any, content: np.ndarray, style: np.ndarray, *,
                 region: Any = "upper_body", method: str = "saliency", strength: float = 1.0,
                 stroke_scale: float = 1.0, softness: float | None = None,
                 preserve_colors: bool = False, click_widget: str = "auto",
                 preview_max_side: int = 768, upload_max_side: int = UPLOAD_MAX_SIDE) -> None:
        check_choice(click_widget, CLICK_WIDGETS, "click_widget")
        # the controller's checks, before any widget takes a value
        method = check_parameter("method", method)
        strength = check_parameter("strength", strength)
        stroke_scale = check_parameter("stroke_scale", stroke_scale)
        if softness is not None:
            softness = check_parameter("softness", softness)
        if click_widget == "anywidget" and ClickMap is None:
            raise ImportError("click_widget='anywidget' needs anywidget: `pip install anywidget`"
                              " (or use click_widget='fallback')")
        check_image(content, "content")
        check_image(style, "style")
        self.pipeline = pipeline
        self.preview_max_side = int(check_positive(preview_max_side, "preview_max_side"))
        self.upload_max_side = int(check_positive(upload_max_side, "upload_max_side"))
        self.preview_count = 0
        self.last_update_s = 0.0
        self._small_content = content
        self._syncing = False
        use_anywidget = click_widget == "anywidget" or (click_widget == "auto"
                                                        and ClickMap is not None)
        self._build_widgets(method=method, strength=strength, stroke_scale=stroke_scale,
                            softness=softness, preserve_colors=preserve_colors,
                            use_anywidget=use_anywidget)
        with self._collect_warnings():
            self.controller = StudioController(
                pipeline, content, style, region=region, method=method, strength=strength,
                stroke_scale=stroke_scale, softness=softness,
                preserve_colors=preserve_colors, notify=self._note)
        self.controller.on_change(self._render)
        self._render(frozenset({"content", "region", "stylized", "blend"}))

    # ------------------------------------------------------------------ state (read-only)
    @property
    def state(self) -> StudioState:
        """The controller's :class:`helpers.studio.StudioState`."""
        return self.controller.state

    @property
    def content(self) -> np.ndarray:
        return self.state.content

    @property
    def style(self) -> np.ndarray:
        return self.state.style

    @property
    def mask(self) -> np.ndarray:
        return self.state.mask

    @property
    def stylized(self) -> np.ndarray:
        return self.state.stylized

    @property
    def alpha(self) -> np.ndarray:
        return self.state.alpha

    @property
    def output(self) -> np.ndarray:
        return self.state.output

    @property
    def selection(self) -> str:
        return self.state.selection

    @property
    def clicks(self) -> list[tuple[float, float, bool]]:
        """Clicks on the current garment so far, as ``(x, y, positive)`` (a copy)."""
        return list(self.state.clicks)

    # ------------------------------------------------------------------ widgets
    def _build_widgets(self, *, method: str, strength: float, stroke_scale: float,
                       softness: float | None, preserve_colors: bool,
                       use_anywidget: bool) -> None:
        def half() -> widgets.Layout:  # one of two pictures side by side, never upscaled
            return widgets.Layout(flex="1 1 0%", min_width="0", height="auto",
                                  max_width=f"{self.preview_max_side}px",
                                  object_fit="contain")

        self.click_map = ClickMap(layout=half()) if use_anywidget else None
        # Without the click map, the click image is a plain (non-clickable) picture.
        self.click_image = None if use_anywidget else widgets.Image(format="jpeg",
                                                                    layout=half())
        self.preview = widgets.Image(format="jpeg", layout=half())
        self.preview.add_class("clothstyle-preview")
        self.caption = widgets.HTML()
        self.caption.add_class("clothstyle-caption")
        self.status = widgets.HTML()
        self.status.add_class("clothstyle-status")

        self.class_dropdown = widgets.Dropdown(description="Garment", options=())
        self.negative_toggle = widgets.ToggleButton(
            value=False, description="Negative clicks", icon="minus",
            tooltip="Next clicks mark what is NOT the garment: each removes the wrong part "
                    "it lands on (Shift-click does the same)")
        self.undo_button = widgets.Button(description="Undo click", icon="undo")
        self.reset_button = widgets.Button(description="Reset", icon="refresh",
                                           tooltip="Back to the initial selection")
        self.x_slider = widgets.IntSlider(description="x", min=0, max=1,
                                          continuous_update=False)
        self.y_slider = widgets.IntSlider(description="y", min=0, max=1,
                                          continuous_update=False)
        self.click_button = widgets.Button(description="Use x/y as a click",
                                           icon="crosshairs", button_style="info",
                                           layout=widgets.Layout(width="max-content"))
        self.method_dropdown = widgets.Dropdown(description="Blend", options=BLEND_METHODS,
                                                value=method)
        self.softness_slider = widgets.FloatSlider(
            description="Softness (px)", min=0.0, max=max(1.0, softness or 0.0), step=0.1,
            value=0.0 if softness is None else float(softness), readout_format=".1f",
            continuous_update=False, style={"description_width": "initial"})
        self.strength_slider = widgets.FloatSlider(
            description="Strength", min=0.0, max=1.0, step=0.05, value=strength,
            continuous_update=False)
        exponent = float(np.log2(stroke_scale))
        self.stroke_slider = widgets.FloatLogSlider(
            description="Stroke scale", base=2, min=min(-2.0, np.floor(exponent)),
            max=max(2.0, np.ceil(exponent)), step=0.25, value=stroke_scale,
            continuous_update=False)
        self.preserve_colors_checkbox = widgets.Checkbox(
            description="Preserve photo colours", value=bool(preserve_colors), indent=False)
        self.content_upload = widgets.FileUpload(description="Upload photo",
                                                 accept="image/*", multiple=False)
        self.style_upload = widgets.FileUpload(description="Upload style",
                                               accept="image/*", multiple=False)

        fallback = widgets.VBox([
            widgets.HTML("Pick a point with the sliders (full-size pixels; the yellow cross "
                         "in the picture) and press the button. Works everywhere."),
            widgets.HBox([self.x_slider, self.y_slider]),
            self.click_button,
        ])
        self.fallback_panel = widgets.Accordion(
            children=[fallback], titles=("Click without the mouse (fallback)",),
            selected_index=None if use_anywidget else 0)
        pictures = widgets.HBox([self.click_map or self.click_image, self.preview],
                                layout=widgets.Layout(align_items="flex-start"))
        self.widget = widgets.VBox([
            self.status,
            pictures,
            self.caption,
            widgets.HBox([self.class_dropdown, self.negative_toggle, self.undo_button,
                          self.reset_button]),
            self.fallback_panel,
            widgets.HBox([self.method_dropdown, self.softness_slider]),
            widgets.HBox([self.strength_slider, self.stroke_slider,
                          self.preserve_colors_checkbox]),
            widgets.HBox([self.content_upload, self.style_upload]),
        ])
        self.widget.add_class("clothstyle-studio")

        # Callbacks only touch this instance.
        if self.click_map is not None:
            self.click_map.on_click(self._on_map_click)
        self.click_button.on_click(self._on_click_button)
        self.undo_button.on_click(lambda _: self._guarded(self.undo))
        self.reset_button.on_click(lambda _: self._guarded(self.reset))
        self.class_dropdown.observe(self._on_class, names="value")
        for name, control in (("method", self.method_dropdown),
                              ("softness", self.softness_slider),
                              ("strength", self.strength_slider),
                              ("stroke_scale", self.stroke_slider),
                              ("preserve_colors", self.preserve_colors_checkbox)):
            control.observe(lambda change, name=name: self._on_parameter(name, change),
                            names="value")
        self.content_upload.observe(lambda change: self._on_upload("content", change),
                                    names="value")
        self.style_upload.observe(lambda change: self._on_upload("style", change),
                                  names="value")
        for control in (self.x_slider, self.y_slider):
            control.observe(self._on_marker_move, names="value")
        self.fallback_panel.observe(self._on_marker_move, names="selected_index")

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    @contextmanager
    def _quiet(self) -> Iterator[None]:
        """Set widget values without their callbacks re-running the pipeline."""
        previous, self._syncing = self._syncing, True
        try:
            yield
        finally:
            self._syncing = previous

    # ------------------------------------------------------------------ status
    def _show(self, text: str, kind: str) -> None:
        line = _html_message(text, kind)
        current = self.status.value
        self.status.value = f"{current}<br>{line}" if current else line

    def _note(self, text: str) -> None:
        self._show(text, "note")

    @contextmanager
    def _collect_warnings(self) -> Iterator[None]:
        """Show warnings of the stages (empty region, no face found) as notes."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
        for item in caught:
            self._note(str(item.message))

    def _guarded(self, action: Callable[[], Any], context: str = "", *,
                 clear_status: bool = True) -> bool:
        """Run a UI action; show a problem in :attr:`status` instead of raising."""
        if clear_status:
            self.status.value = ""
        try:
            with self._collect_warnings():
                action()
        except Exception as exc:  # a callback must never raise into the front end
            if not isinstance(exc, (ValueError, RuntimeError, ImportError, OSError)):
                logger.exception("StyleStudio callback failed")
            message = str(exc) or type(exc).__name__
            self._show(f"{context}: {message}" if context else message, "error")
            self._sync_controls()  # a refused value goes back to the state's
            return False
        return True

    # ------------------------------------------------------------------ callbacks
    def _on_map_click(self, x: int, y: int, positive: bool) -> None:
        positive = bool(positive) and not self.negative_toggle.value
        self._guarded(lambda: self.click(x, y, positive=positive))

    def _on_click_button(self, _button: Any) -> None:
        positive = not self.negative_toggle.value
        self._guarded(lambda: self.click(self.x_slider.value, self.y_slider.value,
                                         positive=positive))

    def _on_class(self, change: dict[str, Any]) -> None:
        if self._syncing or change["new"] is None or not self.pipeline.has_classes:
            return
        self._guarded(lambda: self.select(change["new"]))

    def _on_parameter(self, name: str, change: dict[str, Any]) -> None:
        if not self._syncing:
            self._guarded(lambda: self.controller.set_parameter(name, change["new"]))

    def _on_upload(self, which: str, change: dict[str, Any]) -> None:
        files = change["new"]
        if self._syncing or not files:
            return
        entry = files[0]
        name = str(entry.get("name") or f"uploaded {which}")

        def use_upload() -> None:
            data = entry.get("content")
            if data is None:
                raise ValueError("the upload holds no file content")
            image = load_image(bytes(data), name=name)
            cap = self.upload_max_side if which == "content" else STYLE_UPLOAD_MAX_SIDE
            smaller, _ = fit_to_cap(image, cap)
            if smaller is not image:
                self._note(f"{name}: downscaled from {image.shape[1]}x{image.shape[0]} to "
                           f"{smaller.shape[1]}x{smaller.shape[0]} pixels")
            (self.set_content if which == "content" else self.set_style)(smaller)

        self._guarded(use_upload, context=f"could not use the uploaded {which} {name!r}")
        # Drop the file from the widget state (memory, notebook size); the value
        # change back to () is ignored above.
        with self._quiet():
            upload = self.content_upload if which == "content" else self.style_upload
            upload.value = ()

    def _on_marker_move(self, _change: dict[str, Any]) -> None:
        if not self._syncing:  # only the cross moves: keep the messages shown
            self._guarded(self._update_click_image, clear_status=False)

    # ------------------------------------------------------------------ actions
    def click(self, x: float, y: float, positive: bool = True) -> None:
        """Click at full-size pixel ``(x, y)``: the path every UI click takes.

        See :meth:`helpers.studio.StudioController.click`; the fallback's cross moves
        to the click.

        Raises
        ------
        ValueError
            A click outside the image (it gives the size), or on background when nothing
            is selected. (UI clicks show this in :attr:`status`.)
        """
        col, row = round(float(x)), round(float(y))
        if 0 <= col <= self.x_slider.max and 0 <= row <= self.y_slider.max:
            with self._quiet():  # the fallback cross follows the last click
                self.x_slider.value, self.y_slider.value = col, row
        self.controller.click(x, y, positive)

    def select(self, choice: Any) -> None:
        """Choose the garment (see :meth:`helpers.studio.StudioController.select`)."""
        self.controller.select(choice)

    def undo(self) -> None:
        """Remove the last click (no-op without clicks)."""
        self.controller.undo()

    def reset(self) -> None:
        """Back to the initial selection, without clicks."""
        self.controller.reset()

    def set_content(self, image: np.ndarray) -> None:
        """Use a new person photo (see :meth:`helpers.studio.StudioController.set_content`)."""
        self.controller.set_content(image)

    def set_style(self, image: np.ndarray) -> None:
        """Use a new style image (re-stylizes, then re-blends)."""
        self.controller.set_style(image)

    def refresh_style(self) -> None:
        """Re-stylize with the current parameters, then re-blend."""
        self.controller.refresh()

    def refresh(self) -> None:
        """Recompute the stylized photo, the click map and the preview."""
        self.controller.refresh()

    # ------------------------------------------------------------------ drawing
    def _render(self, parts: frozenset[str]) -> None:
        """Redraw what the controller says changed."""
        if "content" in parts:
            self._small_content = fit_to_cap(self.content, self.preview_max_side)[0]
            self._update_ranges()
            self._fit_pictures()
        self._sync_controls()
        if "region" in parts:
            self._sync_class_dropdown()
            self._update_click_image()
        if "blend" in parts:
            self._update_preview()

    def _sync_controls(self) -> None:
        """Show the state's parameter values (the controller may have set or refused one)."""
        state = self.state
        with self._quiet():
            self.method_dropdown.value = state.method
            self.softness_slider.max = max(self.softness_slider.max, state.softness)
            self.softness_slider.value = state.softness
            self.strength_slider.value = state.strength
            self.stroke_slider.value = state.stroke_scale
            self.preserve_colors_checkbox.value = state.preserve_colors

    def _sync_class_dropdown(self) -> None:
        with self._quiet():
            if self.pipeline.has_classes:
                labels = self.pipeline.parsing().labels
                names = tuple(CLASS_NAMES[c] for c in garment_choices(labels))
                if self.class_dropdown.options != names:
                    self.class_dropdown.options = names
                class_ids = self.state.class_ids
                self.class_dropdown.value = (CLASS_NAMES[class_ids[0]]
                                             if len(class_ids) == 1 else None)
                self.class_dropdown.disabled = False
            else:
                self.class_dropdown.options = (OFFLINE_CHOICE,)
                self.class_dropdown.value = OFFLINE_CHOICE
                self.class_dropdown.disabled = True

    def _update_ranges(self) -> None:
        height, width = self.content.shape[:2]
        diagonal = float(np.hypot(height, width))
        with self._quiet():
            for slider, size in ((self.x_slider, width), (self.y_slider, height)):
                slider.max = max(size - 1, 1)
                slider.value = size // 2
            top = round(max(1.0, SOFTNESS_MAX_FRACTION * diagonal), 1)
            # an explicit value stays reachable
            self.softness_slider.max = max(top, self.state.softness)
            self.softness_slider.step = 0.1 if top <= 20 else 0.5

    def _fit_pictures(self) -> None:
        # An <img> widget stretches to its flex share: cap both pictures at the size of
        # the JPEGs they show, so a small photo is not upscaled (and blurred) in the
        # preview while the click map beside it stays at its natural size.
        width = f"{self._small_content.shape[1]}px"
        for picture in (self.click_map or self.click_image, self.preview):
            picture.layout.max_width = width

    def _update_click_image(self) -> None:
        show_marker = self.click_map is None or self.fallback_panel.selected_index == 0
        # The class colours while the garment is a plain class choice; the refined
        # region itself once clicks have changed it.
        labels = (self.pipeline.parsing().labels
                  if self.pipeline.has_classes and not self.state.clicks else None)
        overlay = selection_overlay(
            self._small_content, mask=self._mask_small() if labels is None else None,
            labels=None if labels is None else self._labels_small(labels),
            class_ids=self.state.class_ids, max_side=None)
        # Seeds and the marker are drawn in full-size coordinates scaled to the overlay.
        overlay = self._draw_points(overlay, show_marker)
        height, width = self.content.shape[:2]
        if self.click_map is not None:
            self.click_map.set_image(overlay, natural_size=(width, height))
        else:
            self.click_image.value = encode_jpeg(overlay)

    def _mask_small(self) -> np.ndarray:
        height, width = self._small_content.shape[:2]
        return cv2.resize(self.mask, (width, height), interpolation=cv2.INTER_AREA)

    def _labels_small(self, labels: np.ndarray) -> np.ndarray:
        height, width = self._small_content.shape[:2]
        return cv2.resize(labels, (width, height), interpolation=cv2.INTER_NEAREST)

    def _draw_points(self, overlay: np.ndarray, show_marker: bool) -> np.ndarray:
        marker = (self.x_slider.value, self.y_slider.value) if show_marker else None
        if not self.state.clicks and marker is None:
            return overlay
        scale_x = overlay.shape[1] / self.content.shape[1]
        scale_y = overlay.shape[0] / self.content.shape[0]

        def scaled(x: float, y: float) -> tuple[float, float]:
            return (x + 0.5) * scale_x - 0.5, (y + 0.5) * scale_y - 0.5

        seeds = [(*scaled(x, y), positive) for x, y, positive in self.state.clicks]
        # Only points are added: no mask or labels, so the tint already drawn stays.
        return selection_overlay(overlay, seeds=seeds,
                                 marker=None if marker is None else scaled(*marker))

    def _update_preview(self) -> None:
        start = time.perf_counter()
        self.preview.value = encode_jpeg(self.output, self.preview_max_side)
        self.preview_count += 1
        self.last_update_s = self.state.blend_s + time.perf_counter() - start
        message = empty_weight_message(self.alpha, mask=self.mask, method=self.state.method)
        if message is not None:
            self._note(message)
        self._update_caption()

    def _update_caption(self) -> None:
        text = f"Selected: {self.selection} — backends: {self.pipeline.backend_line()}"
        timing = f"preview updated in {1000 * self.last_update_s:.0f} ms"
        self.caption.value = (f"<b>{html.escape(text)}</b> "
                              f'<span style="color:#888">({timing})</span>')
