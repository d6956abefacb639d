"""The whole job: segment, saliency, stylize, blend — each expensive stage cached.

Like segment-anything's ``set_image`` / ``predict`` split, the expensive work runs once
per content image (cloth parsing, the saliency map) or once per content and style
parameters (stylization), and :meth:`Pipeline.blend` — the only step a blending slider
changes — is cheap. Every stage records which back-end served it.

Back-ends are chosen per stage. ``"auto"`` takes the pretrained U²-Net weights when
they are in the weights cache (see :mod:`helpers.weights`) and the offline defaults
otherwise, saying so in one line:

================ ================================= ==================================
stage            pretrained                        offline default (no weights)
================ ================================= ==================================
segmentation     ``u2net_cloth`` (.pth, torch),    ``grabcut``: interactive GrabCut
                 ``u2net_cloth_onnx``              from clicks, face-anchored start
saliency         ``u2net``, ``u2netp`` (.pth),     ``guided``: edge-aware alpha of the
                 ``u2net_onnx``, ``u2netp_onnx``   region (guided filter); ``matting``
stylization      ``magenta_hub`` (TF Hub)          ``magenta_onnx`` (int8 Magenta)
================ ================================= ==================================
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from helpers import weights as weights_module
from helpers._checks import (
    check_choice,
    check_image,
    check_map,
    check_positive,
    check_unit_interval,
)
from helpers.blend import (
    BLEND_METHODS,
    GarmentLayer,
    blend_alpha,
    blend_layers,
    composite,
    warn_if_empty,
)

#: Segmentation back-ends: pretrained (by weight name) and the offline default.
SEGMENTATION_BACKENDS = ("auto", "u2net_cloth", "u2net_cloth_onnx", "grabcut")
#: Saliency back-ends: pretrained and the offline, region-based defaults.
SALIENCY_BACKENDS = ("auto", "u2net", "u2netp", "u2net_onnx", "u2netp_onnx", "guided",
                     "matting")
#: Stylization back-ends.
STYLIZATION_BACKENDS = ("magenta_onnx", "magenta_hub")

# Pretrained back-end -> (weights registry name, U²-Net architecture)
_PRETRAINED = {
    "u2net_cloth": ("cloth_segm_u2net", "u2net_cloth"),
    "u2net_cloth_onnx": ("u2net_cloth_seg_onnx", "u2net_cloth"),
    "u2net": ("u2net", "u2net"),
    "u2netp": ("u2netp", "u2netp"),
    "u2net_onnx": ("u2net_onnx", "u2net"),
    "u2netp_onnx": ("u2netp_onnx", "u2netp"),
}
# "auto" takes the first installed: the ONNX cloth parser runs 1.4x faster than the torch
# one on CPU (benchmarks/results/latest.md); for saliency the two are even.
_AUTO_ORDER = {
    "segmentation": ("u2net_cloth_onnx", "u2net_cloth"),
    "saliency": ("u2net", "u2net_onnx", "u2netp", "u2netp_onnx"),
}
_OFFLINE_DEFAULT = {"segmentation": "grabcut", "saliency": "guided"}
_OFFLINE_BACKENDS = ("grabcut", "guided", "matting")

Click = tuple[int, int]


def array_digest(array: np.ndarray) -> str:
    """A short content hash of an array (shape, dtype and bytes), for cache keys."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr((array.shape, str(array.dtype))).encode())
    digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()


class _LRU:
    """A tiny least-recently-used cache (a few large arrays, so a small bound)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[Any, Any] = OrderedDict()

    def get(self, key: Any, compute: Callable[[], Any]) -> Any:
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key]
        value = compute()
        self.items[key] = value
        while len(self.items) > self.size:
            self.items.popitem(last=False)
        return value

    def clear(self) -> None:
        self.items.clear()


def resolve_backend(stage: str, name: str, *, cache: Any = None,
                    allow_offline: bool = True,
                    notify: Callable[[str], None] | None = print) -> str:
    """Turn a requested back-end (maybe ``"auto"``) into the one that will run.

    Parameters
    ----------
    stage : {"segmentation", "saliency"}
    name : str
        A name from :data:`SEGMENTATION_BACKENDS` or :data:`SALIENCY_BACKENDS`.
    cache : path, optional
        The weights cache directory (default: :func:`helpers.weights.cache_dir`).
    allow_offline : bool
        With ``"auto"`` and no weights, fall back to the offline default (True) or
        raise :class:`helpers.weights.WeightsUnavailableError` (False).
    notify : callable, optional
        Receives the one-line explanation when ``"auto"`` falls back.

    Returns
    -------
    str
        A concrete back-end name.
    """
    valid = SEGMENTATION_BACKENDS if stage == "segmentation" else SALIENCY_BACKENDS
    check_choice(name, valid, f"{stage} backend")
    if name != "auto":
        return name
    for candidate in _AUTO_ORDER[stage]:
        if weights_module.is_available(_PRETRAINED[candidate][0], cache=cache):
            return candidate
    fallback = _OFFLINE_DEFAULT[stage]
    first = _PRETRAINED[_AUTO_ORDER[stage][0]][0]
    where = weights_module.weight_path(first, cache=cache)
    if not allow_offline:
        # Raises WeightsUnavailableError with the URLs and the path to place the file in.
        weights_module.ensure_weights(first, cache=cache, download=False)
    if notify is not None:
        notify(f"{stage}: no U²-Net weights in {where.parent}, using the offline default "
               f"{fallback!r} (see helpers.weights to install them)")
    return fallback


@dataclass
class PipelineResult:
    """Everything one run produced, at the content's full size.

    Attributes
    ----------
    content, stylized, output : (H, W, 3) uint8
    mask : (H, W) float32 in [0, 1]
        The chosen garment region.
    saliency : (H, W) float32 in [0, 1]
        The saliency map M used by the blend.
    alpha : (H, W) float32 in [0, 1]
        The final blending weight of the stylized image.
    labels : (H, W) uint8 or None
        Cloth classes (pretrained segmentation only).
    backends : dict
        Stage name -> back-end that served it.
    timings : dict
        Stage name -> seconds (0 when served from the cache).
    """

    content: np.ndarray
    stylized: np.ndarray
    output: np.ndarray
    mask: np.ndarray
    saliency: np.ndarray
    alpha: np.ndarray
    labels: np.ndarray | None
    backends: dict[str, str]
    timings: dict[str, float] = field(default_factory=dict)


class Pipeline:
    """The four stages over one content image, with per-stage caches.

    Parameters
    ----------
    segmentation : str
        One of :data:`SEGMENTATION_BACKENDS`.
    saliency : str
        One of :data:`SALIENCY_BACKENDS`.
    stylization : str
        One of :data:`STYLIZATION_BACKENDS`.
    max_side : int
        Processing size cap: the longest side at which the expensive stages work
        (stylization, GrabCut, matting); their results are mapped back to the
        content's full size, where blending happens.
    allow_offline : bool
        With ``"auto"``, fall back to the offline defaults when weights are missing.
    weights_cache : path, optional
        Weights cache directory (default: :func:`helpers.weights.cache_dir`).
    notify : callable, optional
        Where one-line back-end notes go (``print`` by default; None silences them).
    """

    def __init__(self, segmentation: str = "auto", saliency: str = "auto",
                 stylization: str = "magenta_onnx", *, max_side: int = 1024,
                 allow_offline: bool = True, weights_cache: Any = None,
                 notify: Callable[[str], None] | None = print) -> None:
        check_choice(stylization, STYLIZATION_BACKENDS, "stylization backend")
        if int(max_side) < 64:
            raise ValueError(f"max_side must be at least 64 pixels, got {max_side}")
        self.max_side = int(max_side)
        self.backends = {
            "segmentation": resolve_backend("segmentation", segmentation, cache=weights_cache,
                                            allow_offline=allow_offline, notify=notify),
            "saliency": resolve_backend("saliency", saliency, cache=weights_cache,
                                        allow_offline=allow_offline, notify=notify),
            "stylization": stylization,
        }
        self._weights_cache = weights_cache
        self._runners: dict[str, Any] = {}
        self._content: np.ndarray | None = None
        self._content_key: str | None = None
        self._parsing = _LRU(2)
        self._saliency = _LRU(4)
        self._matte = _LRU(4)
        self._stylized = _LRU(6)
        self._offline_masks = _LRU(8)
        self._segmenter = None
        self._segmenter_key: tuple | None = None
        self.timings: dict[str, float] = {}

    # ------------------------------------------------------------------ set-up
    @property
    def content(self) -> np.ndarray:
        """The current content image, (H, W, 3) uint8."""
        if self._content is None:
            raise RuntimeError("no content image yet: call pipeline.set_content(image) first")
        return self._content

    @property
    def pretrained_segmentation(self) -> bool:
        """True when cloth classes come from U²-Net (False: interactive GrabCut)."""
        return self.backends["segmentation"] not in _OFFLINE_BACKENDS

    @property
    def pretrained_saliency(self) -> bool:
        """True when M is U²-Net saliency (False: an edge-aware alpha of the region)."""
        return self.backends["saliency"] not in _OFFLINE_BACKENDS

    def set_content(self, image: np.ndarray) -> None:
        """Set the content photo; expensive per-image stages run lazily and once.

        Parameters
        ----------
        image : (H, W, 3) uint8
        """
        check_image(image, "content")
        key = array_digest(image)
        if key != self._content_key:
            self._content = image
            self._content_key = key

    def _runner(self, backend: str):
        if backend not in self._runners:
            from helpers.u2net import load_runner

            weight_name, arch = _PRETRAINED[backend]
            path = weights_module.ensure_weights(weight_name, cache=self._weights_cache)
            self._runners[backend] = load_runner(arch, path)
        return self._runners[backend]

    def _timed(self, stage: str, compute: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            start = time.perf_counter()
            value = compute()
            self.timings[stage] = time.perf_counter() - start
            return value
        return run

    # ------------------------------------------------------------------ stages
    def parsing(self):
        """Cloth parsing of the content (pretrained back-ends only), cached.

        Returns
        -------
        helpers.segment.ClothParsing
            ``labels`` (H, W) uint8 and ``probabilities`` (4, H, W) float32.
        """
        if not self.pretrained_segmentation:
            raise RuntimeError(
                "cloth classes need the pretrained U²-Net cloth parser; the offline "
                "'grabcut' backend segments from clicks: use region_mask(clicks=...)"
            )
        from helpers.segment import parse_clothes

        backend = self.backends["segmentation"]
        return self._parsing.get(
            (self._content_key, backend),
            self._timed("segmentation",
                        lambda: parse_clothes(self.content, self._runner(backend))),
        )

    def region_mask(self, choice: Any = "upper_body", *, positive: Sequence[Click] = (),
                    negative: Sequence[Click] = (), box: Sequence[int] | None = None,
                    ) -> np.ndarray:
        """The chosen garment region at full size.

        Parameters
        ----------
        choice : str, int, (x, y) or list
            Pretrained back-end: a class name or id, a click ``(x, y)`` (the class under
            it), a list of those (a union) or ``"outfit"``. Ignored by ``grabcut``.
        positive, negative : sequence of (x, y)
            ``grabcut`` only: clicks inside and outside the garment, in full-size
            pixel coordinates. With neither (and no box) the start is automatic.
        box : (x0, y0, x1, y1), optional
            ``grabcut`` only: a box around the garment.

        Returns
        -------
        (H, W) float32 in {0, 1}
        """
        if self.pretrained_segmentation:
            from helpers.segment import select_region

            parsing = self.parsing()
            return select_region(parsing.labels, choice, probabilities=parsing.probabilities)
        key = (self._content_key, tuple(map(tuple, positive)), tuple(map(tuple, negative)),
               None if box is None else tuple(box))
        return self._offline_masks.get(
            key, self._timed("segmentation", lambda: self._grabcut(positive, negative, box)))

    def _grabcut(self, positive: Sequence[Click], negative: Sequence[Click],
                 box: Sequence[int] | None) -> np.ndarray:
        from helpers.segment import OfflineSegmenter

        # One segmenter per content and box: the face detection behind the automatic
        # start runs once, however many click sets follow.
        key = (self._content_key, None if box is None else tuple(box))
        if self._segmenter_key != key:
            self._segmenter = OfflineSegmenter(self.content, box)
            self._segmenter_key = key
        self._segmenter.reset()
        for x, y in positive:
            self._segmenter.add_click(x, y, positive=True)
        for x, y in negative:
            self._segmenter.add_click(x, y, positive=False)
        return self._segmenter.mask

    def saliency_map(self, mask: np.ndarray | None = None) -> np.ndarray:
        """The saliency map M, cached.

        Pretrained back-ends compute U²-Net saliency of the whole photo (``mask`` is
        not used); the offline back-ends compute an edge-aware soft alpha of the
        region ``mask`` from the image, which therefore is required.

        Returns
        -------
        (H, W) float32 in [0, 1]
        """
        backend = self.backends["saliency"]
        if self.pretrained_saliency:
            from helpers.saliency import u2net_saliency

            return self._saliency.get(
                (self._content_key, backend),
                self._timed("saliency",
                            lambda: u2net_saliency(self.content, self._runner(backend))),
            )
        if mask is None:
            raise ValueError(
                f"the offline saliency backend {backend!r} softens a region: pass its mask"
            )
        return self.matte(mask, method=backend)

    def matte(self, mask: np.ndarray, method: str = "guided") -> np.ndarray:
        """The edge-aware matte of a region (for the ``matting`` blend methods), cached.

        Parameters
        ----------
        mask : (H, W) float32 in [0, 1]
        method : {"guided", "matting"}

        Returns
        -------
        (H, W) float32 in [0, 1]
        """
        from helpers.saliency import edge_aware_alpha

        mask = check_map(mask, "mask", shape=self.content.shape[:2])
        return self._matte.get(
            (self._content_key, array_digest(mask), method),
            self._timed("matte", lambda: edge_aware_alpha(self.content, mask, method=method)),
        )

    def stylized(self, style: np.ndarray, *, strength: float = 1.0, stroke_scale: float = 1.0,
                 preserve_colors: bool = False) -> np.ndarray:
        """The content stylized with ``style`` at full size, cached per parameters.

        Parameters
        ----------
        style : (h, w, 3) uint8
        strength : float in [0, 1]
        stroke_scale : float > 0
        preserve_colors : bool
            See :func:`helpers.stylize.stylize`.

        Returns
        -------
        (H, W, 3) uint8
        """
        from helpers.stylize import load_stylizer

        check_image(style, "style")
        backend = self.backends["stylization"]
        key = (self._content_key, array_digest(style), float(strength), float(stroke_scale),
               bool(preserve_colors), backend, self.max_side)
        return self._stylized.get(key, self._timed("stylization", lambda: load_stylizer(
            backend).stylize(self.content, style, strength=strength, stroke_scale=stroke_scale,
                             preserve_colors=preserve_colors, max_side=self.max_side)))

    # ------------------------------------------------------------------ cheap steps
    def alpha(self, mask: np.ndarray, method: str = "saliency", *,
              softness: float | None = None) -> np.ndarray:
        """The blending weight of one garment (cheap once the stages are cached).

        Parameters
        ----------
        mask : (H, W) float32 in [0, 1]
        method : str
            One of :data:`helpers.blend.BLEND_METHODS`.
        softness : float, optional
            Gaussian sigma in pixels (see :func:`helpers.blend.blend_alpha`).

        Returns
        -------
        (H, W) float32 in [0, 1]
        """
        check_choice(method, BLEND_METHODS, "blend method")
        saliency = self.saliency_map(mask) if "saliency" in method else None
        matte = self.matte(mask) if "matting" in method else None
        return blend_alpha(mask, method, saliency=saliency, matte=matte, softness=softness)

    def blend(self, stylized: np.ndarray, mask: np.ndarray, method: str = "saliency", *,
              softness: float | None = None) -> np.ndarray:
        """Blend ``stylized`` into the content inside ``mask``: the slider step.

        Returns
        -------
        (H, W, 3) uint8
        """
        start = time.perf_counter()
        out = self._composite(stylized, self.alpha(mask, method, softness=softness))
        self.timings["blend"] = time.perf_counter() - start
        return out

    def _composite(self, stylized: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        warn_if_empty(alpha, stacklevel=4)
        return composite(self.content, stylized, alpha)

    # ------------------------------------------------------------------ one call
    def run(self, content: np.ndarray, style: np.ndarray, *, region: Any = "upper_body",
            positive: Sequence[Click] = (), negative: Sequence[Click] = (),
            method: str = "saliency", strength: float = 1.0, stroke_scale: float = 1.0,
            softness: float | None = None, preserve_colors: bool = False) -> PipelineResult:
        """Run every stage on one content/style pair (cached stages are reused).

        Parameters
        ----------
        content : (H, W, 3) uint8
        style : (h, w, 3) uint8
        region, positive, negative
            See :meth:`region_mask`.
        method, softness
            See :meth:`alpha`.
        strength, stroke_scale, preserve_colors
            See :meth:`stylized`.

        Returns
        -------
        PipelineResult
        """
        # Check every parameter before any expensive stage runs.
        check_choice(method, BLEND_METHODS, "blend method")
        check_unit_interval(strength, "strength")
        check_positive(stroke_scale, "stroke_scale")
        if softness is not None and not (np.isfinite(softness) and softness >= 0):
            raise ValueError(f"softness must be a finite number >= 0 (pixels), got {softness:g}")
        check_image(style, "style")
        self.set_content(content)
        self.timings = {}
        mask = self.region_mask(region, positive=positive, negative=negative)
        stylized = self.stylized(style, strength=strength, stroke_scale=stroke_scale,
                                 preserve_colors=preserve_colors)
        saliency = self.saliency_map(mask)
        start = time.perf_counter()
        alpha = self.alpha(mask, method, softness=softness)
        output = self._composite(stylized, alpha)
        self.timings["blend"] = time.perf_counter() - start
        labels = self.parsing().labels if self.pretrained_segmentation else None
        return PipelineResult(content=self.content, stylized=stylized, output=output, mask=mask,
                              saliency=saliency, alpha=alpha, labels=labels,
                              backends=dict(self.backends), timings=dict(self.timings))

    def run_garments(self, content: np.ndarray, garments: Sequence[dict[str, Any]], *,
                     method: str = "saliency", softness: float | None = None) -> np.ndarray:
        """Several garments at once, each with its own style.

        Parameters
        ----------
        content : (H, W, 3) uint8
        garments : sequence of dict
            Each with ``style`` ((h, w, 3) uint8) and ``region`` (as in
            :meth:`region_mask`), optionally ``positive``/``negative`` clicks,
            ``strength``, ``stroke_scale``, ``preserve_colors``, ``method``, ``softness``.

        Returns
        -------
        (H, W, 3) uint8
        """
        self.set_content(content)
        layers = []
        for garment in garments:
            mask = self.region_mask(garment.get("region", "upper_body"),
                                    positive=garment.get("positive", ()),
                                    negative=garment.get("negative", ()))
            stylized = self.stylized(garment["style"],
                                     strength=garment.get("strength", 1.0),
                                     stroke_scale=garment.get("stroke_scale", 1.0),
                                     preserve_colors=garment.get("preserve_colors", False))
            alpha = self.alpha(mask, garment.get("method", method),
                               softness=garment.get("softness", softness))
            layers.append(GarmentLayer(stylized, alpha))
        return blend_layers(self.content, layers)
