"""The whole job: segment, saliency, stylize, blend — each expensive stage cached.

Like segment-anything's ``set_image`` / ``predict`` split, the expensive work runs once
per content image (the cloth parse, the saliency map) or once per content and style
parameters (stylization), and :meth:`Pipeline.blend` — the only step a blending slider
changes — is cheap. Every stage records which back-end served it.

Back-ends are chosen per stage. ``"auto"`` takes the pretrained U²-Net weights when
they are in the weights cache (see :mod:`helpers.weights`) and the offline defaults
otherwise, saying so in one line:

================ ================================= ==================================
stage            pretrained                        offline default (no weights)
================ ================================= ==================================
segmentation     ``u2net_cloth_onnx``,             ``classical_parsing``: the four
                 ``u2net_cloth``                   cloth classes from face, body
                                                   priors and graph cuts
                                                   (``grabcut``: clicks, no classes)
saliency         ``u2net``, ``u2netp`` (.pth),     ``person_matte``: the classical
                 ``u2net_onnx``, ``u2netp_onnx``   parser's soft matte of the person
stylization      ``magenta_hub`` (TF Hub)          ``magenta_onnx`` (Magenta, float32)
================ ================================= ==================================

Segmentation back-ends come from one registry (:mod:`helpers.segmentation`); what each
can do (cloth classes, clicks, a person matte) is in its capabilities.
"""

from __future__ import annotations

import hashlib
import time
import warnings
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from cachetools import LRUCache

from helpers import segmentation
from helpers import weights as weights_module
from helpers._checks import (
    check_choice,
    check_image_size,
    check_map,
    check_positive,
    check_softness,
    check_unit_interval,
    own_read_only,
    read_only,
)
from helpers.blend import (
    BLEND_METHODS,
    GarmentLayer,
    blend_alpha,
    blend_layers,
    composite,
    warn_if_empty,
)

#: Segmentation back-ends: "auto" and the registry's names, in auto's order.
SEGMENTATION_BACKENDS = ("auto", *segmentation.BACKENDS)
#: Saliency back-ends: pretrained U²-Net and the offline person matte.
SALIENCY_BACKENDS = ("auto", "u2net", "u2netp", "u2net_onnx", "u2netp_onnx", "person_matte")
#: Stylization back-ends.
STYLIZATION_BACKENDS = ("magenta_onnx", "magenta_hub")

# Pretrained saliency back-end -> (weights registry name, U²-Net architecture), in the
# order "auto" tries them (the torch and ONNX runners are even on CPU).
_SALIENCY_WEIGHTS = {
    "u2net": ("u2net", "u2net"),
    "u2net_onnx": ("u2net_onnx", "u2net"),
    "u2netp": ("u2netp", "u2netp"),
    "u2netp_onnx": ("u2netp_onnx", "u2netp"),
}
_OFFLINE_SALIENCY = "person_matte"


def _weights_of(backend: str) -> str | None:
    """The weights registry name a back-end loads, or None (offline back-ends)."""
    if backend in _SALIENCY_WEIGHTS:
        return _SALIENCY_WEIGHTS[backend][0]
    if backend in segmentation.BACKENDS:
        return segmentation.backend_class(backend).weights
    return None


def needs_weights(backend: str) -> bool:
    """Whether a segmentation or saliency back-end runs pretrained weights.

    The one place that knows (from the segmentation registry's capabilities and the
    saliency weights table); figures caption a back-end "pretrained" or "offline" by it.
    Unknown names (and stylization back-ends) give False.
    """
    return _weights_of(backend) is not None


def backend_device(backend: str) -> str:
    """Where a back-end runs, for the back-end line (nothing is loaded to find out).

    Parameters
    ----------
    backend : str
        A segmentation, saliency or stylization back-end name.

    Returns
    -------
    str
        For U²-Net through PyTorch: :func:`helpers.u2net.choose_device` ``("auto")``
        with the GPU's name (``"cuda (NVIDIA …)"``, ``"mps (Apple GPU)"``, ``"cpu"``);
        through onnxruntime: ``"cuda"`` when the installed build has the CUDA provider,
        else ``"cpu"``; ``magenta_hub``: ``"TensorFlow's choice"``; the offline back-ends
        and ``magenta_onnx`` (kept on the CPU so that it gives the same picture
        everywhere): ``"cpu"``.
    """
    from helpers import u2net

    weights = _weights_of(backend)
    # the registry says which framework runs each file
    framework = weights_module.REGISTRY[weights].framework if weights else None
    try:
        if framework == "torch":
            return u2net.device_label(u2net.choose_device("auto"))
        if framework == "onnx":
            return u2net.provider_label(u2net.onnx_providers()[0])
    except ImportError:
        return "not installed"
    if backend == "magenta_hub":
        return "TensorFlow's choice"
    return "cpu"

Click = tuple[int, int]


def _freeze(choice: Any) -> Any:
    """A hashable form of a region choice (lists become tuples), for cache keys."""
    if isinstance(choice, (list, tuple)):  # a list is a union, a tuple may be a click
        return (type(choice).__name__, *(_freeze(item) for item in choice))
    if isinstance(choice, np.generic):
        choice = choice.item()
    if isinstance(choice, bool):
        return ("bool", choice)  # True == 1 as a key, but it is no class id
    return choice


# ----------------------------------------------------------------------- memory

#: Peak memory of loading and restyling one photo (offline back-ends, max_side 1024):
#: a fixed part (interpreter, libraries, models) plus a part per pixel of the photo
#: (full-size maps and images). Least-squares fit to ``python -m benchmarks.memory``
#: (README, Limits), rounded up.
PEAK_BYTES_BASE = 256 * 2**20
PEAK_BYTES_PER_PIXEL = 170


class NotEnoughMemoryError(MemoryError):
    """The estimated peak memory of a photo exceeds the memory available; nothing ran."""


def estimate_peak_memory(height: int, width: int) -> int:
    """Estimated peak memory, in bytes, of loading and restyling an ``height x width`` photo.

    Parameters
    ----------
    height, width : int
        The photo's size in pixels (at full size: outputs keep it).

    Returns
    -------
    int
        ``PEAK_BYTES_BASE + PEAK_BYTES_PER_PIXEL * height * width`` (about 2.3 GB at
        12 MP, 17.3 GB at the 100 MP cap), from :mod:`benchmarks.memory`.
    """
    return int(PEAK_BYTES_BASE + PEAK_BYTES_PER_PIXEL * int(height) * int(width))


def _meminfo_available(text: str) -> int | None:
    """``MemAvailable`` of a ``/proc/meminfo`` text, in bytes (None when absent)."""
    for line in text.splitlines():
        if line.startswith("MemAvailable:"):
            parts = line.split()
            return int(parts[1]) * 1024 if len(parts) >= 2 and parts[1].isdigit() else None
    return None


def available_memory() -> int | None:
    """Memory available to start new work, in bytes, or None when it cannot be told.

    ``psutil.virtual_memory().available`` when psutil is installed, else ``MemAvailable``
    of ``/proc/meminfo`` (Linux), else free pages from ``os.sysconf``.
    """
    try:
        import psutil
    except ImportError:
        pass
    else:
        return int(psutil.virtual_memory().available)
    try:
        with open("/proc/meminfo", encoding="ascii") as stream:
            found = _meminfo_available(stream.read())
        if found is not None:
            return found
    except OSError:
        pass
    import os

    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(height: int, width: int, *, label: str = "the photo",
                 available: int | None = None) -> int:
    """Refuse a photo whose estimated peak memory exceeds the memory available.

    Parameters
    ----------
    height, width : int
        The photo's size in pixels.
    label : str
        Names the photo in the message.
    available : int, optional
        Bytes available (default :func:`available_memory`; when that cannot be told, no
        check is made).

    Returns
    -------
    int
        The estimate (:func:`estimate_peak_memory`) in bytes.

    Raises
    ------
    NotEnoughMemoryError
        The estimate exceeds ``available``; the message gives both and the largest size
        of this aspect ratio that fits.
    """
    needed = estimate_peak_memory(height, width)
    available = available_memory() if available is None else int(available)
    if available is None or needed <= available:
        return needed
    room = max(available - PEAK_BYTES_BASE, 0) / PEAK_BYTES_PER_PIXEL
    scale = min(1.0, (room / (int(height) * int(width))) ** 0.5)
    fits = f"{int(width * scale)}x{int(height * scale)} px" if scale > 0 else "no size"
    raise NotEnoughMemoryError(
        f"{label} is {width}x{height} px and needs about {needed / 1e9:.1f} GB of memory at "
        f"peak, but only {available / 1e9:.1f} GB is available; downscale it (at most "
        f"about {fits} fits now) or free memory first (README, Limits)")


def array_digest(array: np.ndarray) -> str:
    """A short content hash of an array (shape, dtype and bytes), for cache keys."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr((array.shape, str(array.dtype))).encode())
    digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()


# Per-parameter caches of the current photo (cachetools LRU, dropped with the photo). Each
# entry is a full-size array (a (H, W) float32 mask is 4 MB at 1 MP, a (H, W, 3) uint8
# stylization 3 MB), so the bounds hold what one session goes back and forth between:
#: region masks: a few garments, each with the click history an undo walks back through
MASKS_CACHED = 8
#: stylizations: a few styles x the strength / stroke-scale values a slider revisits
STYLIZED_CACHED = 6
#: edge-aware mattes: one per garment of a multi-garment run
MATTES_CACHED = 4


def _check_run_parameters(style: Any, method: str, strength: float, stroke_scale: float,
                          softness: float | None) -> None:
    """The parameters of one stylized garment (:meth:`Pipeline.run`, or one of
    :meth:`Pipeline.run_garments`), checked before any stage runs."""
    check_choice(method, BLEND_METHODS, "blend method")
    check_unit_interval(strength, "strength")
    check_positive(stroke_scale, "stroke_scale")
    if softness is not None:
        check_softness(softness)
    check_image_size(style, "style")


#: the keys a garment of :meth:`Pipeline.run_garments` may have
GARMENT_KEYS = ("style", "region", "positive", "negative", "strength", "stroke_scale",
                "preserve_colors", "method", "softness")


def _check_garments(garments: Any, shape_hw: tuple[int, int], method: str,
                    softness: float | None) -> list[dict[str, Any]]:
    """Every garment of :meth:`Pipeline.run_garments` checked before any stage runs."""
    from helpers.segmentation.base import check_clicks

    check_choice(method, BLEND_METHODS, "blend method")
    if softness is not None:
        check_softness(softness)
    if isinstance(garments, (dict, str, bytes)) or not isinstance(garments, Sequence):
        raise ValueError(f"garments must be a list of dicts, one per garment, got "
                         f"{type(garments).__name__}: write [{{'style': ..., 'region': ...}}]")
    checked = []
    for number, garment in enumerate(garments, start=1):
        if not isinstance(garment, dict):
            raise ValueError(f"garment {number} must be a dict with 'style' and 'region', "
                             f"got {garment!r}")
        unknown = [key for key in garment if key not in GARMENT_KEYS]
        if unknown:
            raise ValueError(f"garment {number}: unknown key(s) "
                             f"{', '.join(repr(k) for k in unknown)}; valid keys: "
                             f"{', '.join(GARMENT_KEYS)}")
        if "style" not in garment:
            raise ValueError(f"garment {number} has no 'style': give its style image, "
                             "(h, w, 3) uint8")
        try:
            _check_run_parameters(garment["style"], garment.get("method", method),
                                  garment.get("strength", 1.0),
                                  garment.get("stroke_scale", 1.0), garment.get("softness"))
            for kind in ("positive", "negative"):
                check_clicks(garment.get(kind, ()), shape_hw, kind)
        except ValueError as exc:
            raise ValueError(f"garment {number}: {exc}") from None
        checked.append(garment)
    return checked


def _fetch_first(candidates: Sequence[tuple[str, str]], *, cache: Any,
                 download: bool) -> tuple[str | None, str | None]:
    """Download the first candidate's weights that can be had; ``(backend, why_not)``.

    ``why_not`` is the last candidate's reason, led by what happened to any corrupt
    cached file on the way (moved aside), so the note never calls it missing.
    """
    why = None
    for backend, weights in candidates:
        path, why = weights_module.fetch_for_auto(weights, cache=cache, download=download)
        if path is not None:
            return backend, None
    corrupt = [weights_module.moved_aside(weights) for _, weights in candidates]
    corrupt = [what for what in corrupt if what and what not in (why or "")]
    return None, "; ".join([*corrupt, why or ""]).strip("; ") or None


def _absence(label: str, first: str, why: str | None, cache: Any, candidates: Sequence[str]
             ) -> str:
    """The clause of the fall-back note: missing weights, or corrupt ones moved aside."""
    if any(weights_module.moved_aside(weights) for weights in candidates):
        return f"the {label} weights are unusable ({why})"
    where = weights_module.weight_path(first, cache=cache).parent
    return f"no {label} weights in {where} ({why})"


def resolve_backend(stage: str, name: str, *, cache: Any = None,
                    allow_offline: bool = True, download: bool = True,
                    notify: Callable[[str], None] | None = print) -> str:
    """Turn a requested back-end (maybe ``"auto"``) into the one that will run.

    ``"auto"`` takes, in order: a pretrained back-end whose weights are in the cache
    (in the order of :data:`SEGMENTATION_BACKENDS` / :data:`SALIENCY_BACKENDS`); else
    the first of them whose weights download now (:func:`helpers.weights.fetch_for_auto`:
    only when the network answers within 2 s, never with ``download=False`` or
    ``$CLOTHSTYLE_OFFLINE=1``; a failure is remembered for the process); else the
    offline default, saying so in one line.

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
    download : bool
        With ``"auto"``, try to download missing weights (True) or only look in the cache.
    notify : callable, optional
        Receives the one-line explanation when ``"auto"`` falls back.

    Returns
    -------
    str
        A concrete back-end name.

    Raises
    ------
    ValueError
        Unknown stage or back-end name (the message lists the valid ones).
    """
    check_choice(stage, ("segmentation", "saliency"), "stage")
    valid = SEGMENTATION_BACKENDS if stage == "segmentation" else SALIENCY_BACKENDS
    check_choice(name, valid, f"{stage} backend")
    if name != "auto":
        return name
    note = None
    if stage == "segmentation":
        chosen, missing = segmentation.auto_backend(cache=cache)
        first = missing[0] if missing else None
        if segmentation.backend_class(chosen).capabilities.needs_weights is False and missing:
            by_weights = {segmentation.backend_class(backend).weights: backend
                          for backend in segmentation.BACKENDS
                          if segmentation.backend_class(backend).capabilities.needs_weights}
            fetched, why = _fetch_first([(by_weights[weights], weights) for weights in missing],
                                        cache=cache, download=download)
            if fetched is not None:
                chosen = fetched
            else:
                absence = _absence("U²-Net cloth", first, why, cache, missing)
                note = (f"segmentation: {absence}, using the offline {chosen!r} parser (see "
                        "helpers.weights to install them)")
    else:
        chosen = next((candidate for candidate, (weights, _) in _SALIENCY_WEIGHTS.items()
                       if weights_module.is_available(weights, cache=cache)), None)
        first = next(iter(_SALIENCY_WEIGHTS.values()))[0]
        if chosen is None:
            chosen, why = _fetch_first(
                [(candidate, weights) for candidate, (weights, _) in _SALIENCY_WEIGHTS.items()],
                cache=cache, download=download)
        if chosen is None:
            absence = _absence("U²-Net", first, why, cache,
                               [weights for weights, _ in _SALIENCY_WEIGHTS.values()])
            chosen = _OFFLINE_SALIENCY
            note = (f"saliency: {absence}, using the offline {chosen!r} (see helpers.weights "
                    "to install them)")
    if note is not None and not allow_offline:
        # Raises WeightsUnavailableError with the URLs and the path to place the file in.
        weights_module.ensure_weights(first, cache=cache, download=False)
    if note is not None and notify is not None:
        notify(note)
    return chosen


@dataclass
class PipelineResult:
    """Everything one run produced, at the content's full size.

    Attributes
    ----------
    content, stylized, output : (H, W, 3) uint8
    mask : (H, W) float32 in [0, 1]
        The chosen garment region.
    saliency : (H, W) float32 in [0, 1], or None
        None for a method that does not use M (``hard``, ``feather``, ``matting``);
        else the saliency map M of the whole person (U²-Net saliency or the offline person
        matte).
    alpha : (H, W) float32 in [0, 1]
        The final blending weight of the stylized image.
    labels : (H, W) uint8 or None
        Cloth classes (back-ends with classes; None for ``grabcut``).
    backends : dict
        Stage name -> back-end that served it.
    timings : dict
        Stage name -> seconds, for every stage the run used (0.0 when served from the
        cache or the photo's state).
    """

    content: np.ndarray
    stylized: np.ndarray
    output: np.ndarray
    mask: np.ndarray
    saliency: np.ndarray | None
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
    hub_handle : str or os.PathLike, optional
        ``magenta_hub`` only: a local SavedModel folder or a TF Hub URL (default
        ``$CLOTHSTYLE_MAGENTA_HUB``, else the cache's copy, else the URL; see
        :func:`helpers.weights.resolve_hub_handle`). Resolved, and what it needs to load
        checked, when the pipeline is built: before any stage runs (``ImportError`` with
        the install command, ``FileNotFoundError`` for a folder without a SavedModel).
    max_side : int
        Processing size cap: the longest side at which stylization and the matte work;
        results are mapped back to the content's full size, where blending happens.
    allow_offline : bool
        With ``"auto"``, fall back to the offline defaults when weights are missing.
    download : bool
        With ``"auto"``, download missing weights when the network answers (see
        :func:`resolve_backend`); False looks only in the cache. ``$CLOTHSTYLE_OFFLINE=1``
        turns downloads off too.
    weights_cache : path, optional
        Weights cache directory (default: :func:`helpers.weights.cache_dir`).
    segmentation_options : dict, optional
        Keyword arguments for the segmentation back-end's constructor (see
        :func:`helpers.segmentation.create_backend`), e.g. ``{"runner": ...}`` for a
        loaded U²-Net runner or ``{"box": ...}`` for GrabCut.
    saliency_runner : object, optional
        A loaded U²-Net runner (:func:`helpers.u2net.load_runner`, or any object with
        the same ``__call__``) for a U²-Net saliency back-end, used instead of loading
        its weights from the cache.
    notify : callable, optional
        Where the one-line notes on the back-ends ``"auto"`` chose go (``print`` by
        default; None silences them). What segmentation finds worth saying about a photo
        (for example "no person found: click on the garment") is a warning, and stays
        in :attr:`notes`.

    Attributes
    ----------
    backends : dict
        Stage -> the back-end that serves it.
    hub_handle : str or None
        The resolved TF Hub handle with ``magenta_hub``, else None.
    notes : list of str
        The segmentation back-end's notes on the current photo.
    timings : dict
        Stage -> seconds of its last request: the computation's time, or 0.0 when the
        cache (or the current photo's state) served it. :meth:`run` starts it afresh,
        so its result lists every stage it used.
    """

    def __init__(self, segmentation: str = "auto", saliency: str = "auto",
                 stylization: str = "magenta_onnx", *, hub_handle: Any = None,
                 max_side: int = 1024,
                 allow_offline: bool = True, download: bool = True, weights_cache: Any = None,
                 segmentation_options: dict[str, Any] | None = None,
                 saliency_runner: Any = None,
                 notify: Callable[[str], None] | None = print) -> None:
        check_choice(stylization, STYLIZATION_BACKENDS, "stylization backend")
        self.hub_handle: str | None = None
        if stylization == "magenta_hub":
            from helpers.stylize import check_hub_installed

            # an optional back-end that cannot load fails here, not after the other stages
            self.hub_handle = check_hub_installed(hub_handle)
        elif hub_handle is not None:
            raise ValueError("hub_handle applies to stylization='magenta_hub' only")
        if isinstance(max_side, bool) or not isinstance(max_side, (int, np.integer)) \
                or max_side < 64:
            raise ValueError(f"max_side must be an integer of at least 64 pixels, got "
                             f"{max_side!r}")
        self.max_side = int(max_side)
        self.backends = {
            "segmentation": resolve_backend("segmentation", segmentation, cache=weights_cache,
                                            allow_offline=allow_offline, download=download,
                                            notify=notify),
            "saliency": resolve_backend("saliency", saliency, cache=weights_cache,
                                        allow_offline=allow_offline, download=download,
                                        notify=notify),
            "stylization": stylization,
        }
        self._notify = notify
        self._weights_cache = weights_cache
        # download=False also holds for back-ends named explicitly: their weights must
        # then already be in the cache (the error says where to put them)
        self._download = bool(download)
        self._saliency_runner = saliency_runner
        self._content: np.ndarray | None = None
        self._content_key: str | None = None
        self._segmenter = self._make_segmenter(dict(segmentation_options or {}))
        self._segmenter_key: str | None = None
        # Per-photo work is state of the current photo, set by set_content (as
        # segment-anything's set_image): the parse lives in the segmentation back-end,
        # M here; both are computed on first use and dropped with the photo.
        self._saliency: np.ndarray | None = None
        self._masks: MutableMapping[Any, Any] = LRUCache(MASKS_CACHED)
        self._stylized: MutableMapping[Any, Any] = LRUCache(STYLIZED_CACHED)
        self._mattes: MutableMapping[Any, Any] = LRUCache(MATTES_CACHED)
        self.notes: list[str] = []
        self.timings: dict[str, float] = {}

    def backend_line(self) -> str:
        """One line naming each stage's back-end and the device it runs on.

        Returns
        -------
        str
            E.g. ``"segmentation u2net_cloth_onnx on cpu · saliency u2net on cuda (NVIDIA
            A100) · stylization magenta_onnx on cpu"``.
        """
        return " · ".join(f"{stage} {backend} on {backend_device(backend)}"
                          for stage, backend in self.backends.items())

    def fetch_weights(self) -> dict[str, Any]:
        """Make sure the weights of each pretrained back-end chosen are in the cache.

        Back-ends load their weights on first use; call this before handing work to
        other processes (``helpers.run``'s Dask workers), so that a download happens once
        and a missing file is reported once, before any photo.

        Returns
        -------
        dict
            Stage name to the ``pathlib.Path`` of its weights file; stages on offline
            back-ends are absent.

        Raises
        ------
        helpers.weights.WeightsUnavailableError
            No valid copy in the cache and none could be downloaded (or ``download=False``);
            the message lists the sources and where to place the file.
        helpers.weights.WeightsCorruptError
            The file is there but is not the registered one.
        """
        paths = {}
        for stage, backend in self.backends.items():
            name = _weights_of(backend)
            if name is not None:
                paths[stage] = weights_module.ensure_weights(
                    name, cache=self._weights_cache, download=self._download)
        return paths

    def _make_segmenter(self, options: dict[str, Any]) -> segmentation.SegmentationBackend:
        name = self.backends["segmentation"]
        if segmentation.backend_class(name).capabilities.needs_weights:
            options.setdefault("weights_cache", self._weights_cache)
            options.setdefault("download", self._download)
        return segmentation.create_backend(name, **options)

    # ------------------------------------------------------------------ set-up
    @property
    def content(self) -> np.ndarray:
        """The current content image, (H, W, 3) uint8."""
        if self._content is None:
            raise RuntimeError("no content image yet: call pipeline.set_content(image) first")
        return self._content

    @property
    def capabilities(self) -> segmentation.Capabilities:
        """What the segmentation back-end can do (cloth classes, clicks, a person matte)."""
        return self._segmenter.capabilities

    @property
    def has_classes(self) -> bool:
        """True when the segmentation back-end parses the four cloth classes."""
        return self.capabilities.has_classes

    def set_content(self, image: np.ndarray) -> None:
        """Set the content photo; expensive per-image stages run lazily and once.

        Parameters
        ----------
        image : (H, W, 3) uint8
            Both sides at least :data:`helpers.images.MIN_SIDE` (16) pixels, as for files.

        Raises
        ------
        ValueError
            Not an RGB uint8 image, or smaller than the minimum size.
        """
        check_image_size(image, "content")
        key = array_digest(image)
        if key != self._content_key:
            # its own read-only copy: the caller may go on editing theirs, and the caches
            # are keyed on what was set
            self._content = own_read_only(image)
            self._content_key = key
            self.notes = []
            # everything computed for the previous photo goes with it
            self._saliency = None
            for cache in (self._masks, self._stylized, self._mattes):
                cache.clear()

    def _timed(self, stage: str, compute: Callable[[], Any]) -> Any:
        """Compute, recording the seconds in :attr:`timings`."""
        start = time.perf_counter()
        value = compute()
        self.timings[stage] = time.perf_counter() - start
        return value

    def _served(self, stage: str) -> None:
        """Record a stage served without computing (0.0 s) unless timed already."""
        self.timings.setdefault(stage, 0.0)

    def _cached(self, cache: MutableMapping[Any, Any], key: Any, stage: str,
                compute: Callable[[], Any]) -> Any:
        """``cache[key]``, computed (and timed) on a miss."""
        try:
            value = cache[key]
        except KeyError:
            value = self._timed(stage, compute)
            if isinstance(value, np.ndarray):
                read_only(value)   # handed out again on every hit: see helpers._checks
            cache[key] = value
            return value
        self._served(stage)
        return value

    # ------------------------------------------------------------------ stages
    @property
    def segmenter(self) -> segmentation.SegmentationBackend:
        """The segmentation back-end, holding the current photo (set on first use)."""
        if self._segmenter_key != self.content_key:
            self._timed("segmentation", lambda: self._segmenter.set_image(self.content))
            self._segmenter_key = self.content_key
            self.notes = list(self._segmenter.notes)
            for note in self.notes:  # a warning, so each photo's caller sees its own
                warnings.warn(note, stacklevel=3)
        else:
            self._served("segmentation")
        return self._segmenter

    @property
    def content_key(self) -> str:
        """Digest of the current content image (cache key)."""
        self.content  # noqa: B018 - raises the clear error when there is none
        return self._content_key

    def parsing(self):
        """The cloth parse of the content (back-ends with classes), computed once.

        Returns
        -------
        helpers.segment.ClothParsing
            ``labels`` (H, W) uint8 and ``probabilities`` (4, H, W) float32, read-only.

        Raises
        ------
        RuntimeError
            The segmentation back-end has no cloth classes (``grabcut``).
        """
        if not self.has_classes:
            raise RuntimeError(
                f"the {self.backends['segmentation']!r} back-end has no cloth classes: choose "
                "the garment with clicks (region_mask(positive=...)), or use the "
                "'classical_parsing' back-end (offline) or a U²-Net cloth parser")
        return self.segmenter.parsing

    def prediction(self, choice: Any = "upper_body", *, positive: Sequence[Click] = (),
                   negative: Sequence[Click] = ()) -> segmentation.Prediction:
        """The segmentation back-end's answer for a choice and clicks, cached.

        See :meth:`region_mask` for the arguments.

        Returns
        -------
        helpers.segmentation.Prediction
        """
        from helpers.segmentation.base import check_clicks

        shape = self.content.shape[:2]
        if isinstance(choice, np.ndarray):
            choice = choice.tolist()  # an array reads as the list it holds (a union)
        positive = check_clicks(positive, shape, "positive")
        negative = check_clicks(negative, shape, "negative")
        if self.has_classes and positive and negative:
            from helpers.segment import click_pixel

            both = sorted({click_pixel(p, shape) for p in positive}
                          & {click_pixel(n, shape) for n in negative})
            if both:
                warnings.warn(
                    f"{len(both)} click(s) given both as positive and negative (pixel "
                    f"{', '.join(map(str, both[:3]))}{', ...' if len(both) > 3 else ''}): "
                    "the two cancel, and the mask keeps its state there; drop one of them",
                    stacklevel=3)
        key = (_freeze(choice), positive, negative)
        try:
            hash(key)
        except TypeError:  # a dict, a set...: nothing a region can be
            raise ValueError(f"cannot interpret region {choice!r}: give a class name, a class "
                             "id, a click as a tuple (x, y) or a list of those") from None
        segmenter = self.segmenter
        return self._cached(self._masks, key, "region",
                            lambda: segmenter.predict(choice, positive, negative))

    def region_mask(self, choice: Any = "upper_body", *, positive: Sequence[Click] = (),
                    negative: Sequence[Click] = ()) -> np.ndarray:
        """The chosen garment region at full size.

        Parameters
        ----------
        choice : str, int, (x, y), list or None
            Back-ends with classes: a class name or id, a click ``(x, y)`` (the class
            under it), a list of those (a union; a numpy array reads as its list) or
            ``"outfit"``; None means ``"upper_body"``. Ignored by ``grabcut`` (with a
            warning when a class is named).
        positive, negative : sequence of (x, y), or None
            Clicks in full-size pixel coordinates (x = column, y = row). With classes:
            a positive click grows the chosen garment by the part around it, a negative
            click removes the wrong part it lands on (the same refinement engine for
            every parser). ``grabcut``: its seeds.

        Returns
        -------
        (H, W) float32 in {0, 1}
            Read-only: the same array is handed out again for the same arguments
            (``.copy()`` gives an editable one).

        Raises
        ------
        ValueError
            Unknown class, a click outside the image, or (without positive clicks) a
            class absent from the photo: the message lists the classes present.
        """
        return self.prediction(choice, positive=positive, negative=negative).mask

    def person_matte(self) -> np.ndarray:
        """Soft matte of the whole person, ``(H, W) float32`` in [0, 1], computed once.

        From the segmentation back-end when it gives one (``classical_parsing``), else
        from the offline classical parser run for it alone.
        """
        segmenter = self.segmenter
        if segmenter.capabilities.gives_matte and segmenter.person is not None:
            self._served("saliency")  # computed with the parse
            return segmenter.person
        from helpers.segmentation.classical_parsing import parse_person

        return self._photo_saliency(lambda: parse_person(self.content).person)

    def _photo_saliency(self, compute: Callable[[], np.ndarray]) -> np.ndarray:
        if self._saliency is None:
            self._saliency = read_only(self._timed("saliency", compute))
        else:
            self._served("saliency")
        return self._saliency

    def _runner(self, backend: str):
        if self._saliency_runner is None:
            from helpers.u2net import load_runner

            weight_name, arch = _SALIENCY_WEIGHTS[backend]
            path = weights_module.ensure_weights(weight_name, cache=self._weights_cache,
                                                 download=self._download)
            self._saliency_runner = load_runner(arch, path)
        return self._saliency_runner

    def saliency_map(self) -> np.ndarray:
        """The saliency map M of the whole person, computed once per photo.

        U²-Net saliency with the pretrained back-ends; offline (``person_matte``) the
        classical parser's soft person matte. Both are independent of the garment.

        Returns
        -------
        (H, W) float32 in [0, 1]
            Read-only (``.copy()`` gives an editable one).
        """
        backend = self.backends["saliency"]
        if backend == _OFFLINE_SALIENCY:
            return self.person_matte()
        from helpers.saliency import u2net_saliency

        return self._photo_saliency(lambda: u2net_saliency(self.content, self._runner(backend)))

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
        return self._cached(self._mattes, (array_digest(mask), method), "matte",
                            lambda: edge_aware_alpha(self.content, mask, method=method))

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
            Read-only (``.copy()`` gives an editable one).
        """
        from helpers.stylize import load_stylizer

        check_image_size(style, "style")
        backend = self.backends["stylization"]
        key = (array_digest(style), float(strength), float(stroke_scale),
               bool(preserve_colors), backend, self.hub_handle, self.max_side)
        options = {"hub_handle": self.hub_handle} if self.hub_handle else {}
        return self._cached(self._stylized, key, "stylization", lambda: load_stylizer(
            backend, **options).stylize(self.content, style, strength=strength,
                                        stroke_scale=stroke_scale,
                                        preserve_colors=preserve_colors,
                                        max_side=self.max_side))

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
        saliency = self.saliency_map() if "saliency" in method else None
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
        out = self._composite(stylized, self.alpha(mask, method, softness=softness), mask,
                              method)
        self.timings["blend"] = time.perf_counter() - start
        return out

    def _composite(self, stylized: np.ndarray, alpha: np.ndarray, mask: np.ndarray,
                   method: str) -> np.ndarray:
        warn_if_empty(alpha, stacklevel=4, mask=mask, method=method)
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

        Raises
        ------
        ValueError
            A bad parameter or image (before any stage runs).
        NotEnoughMemoryError
            The content's estimated peak memory (:func:`estimate_peak_memory`) exceeds
            the memory available (before any stage runs).
        """
        # Check every parameter before any expensive stage runs.
        _check_run_parameters(style, method, strength, stroke_scale, softness)
        self.set_content(content)
        # Refuse up front rather than fail with MemoryError halfway through the stages.
        check_memory(*self.content.shape[:2], label="content")
        self.timings = {}
        prediction = self.prediction(region, positive=positive, negative=negative)
        mask = prediction.mask
        stylized = self.stylized(style, strength=strength, stroke_scale=stroke_scale,
                                 preserve_colors=preserve_colors)
        # M only where the method uses it (hard, feather and matting do not)
        saliency = self.saliency_map() if "saliency" in method else None
        start = time.perf_counter()
        alpha = self.alpha(mask, method, softness=softness)
        output = self._composite(stylized, alpha, mask, method)
        self.timings["blend"] = time.perf_counter() - start
        return PipelineResult(content=self.content, stylized=stylized, output=output, mask=mask,
                              saliency=saliency, alpha=alpha, labels=prediction.labels,
                              backends=dict(self.backends), timings=dict(self.timings))

    def run_garments(self, content: np.ndarray, garments: Sequence[dict[str, Any]], *,
                     method: str = "saliency", softness: float | None = None) -> np.ndarray:
        """Several garments at once, each with its own style.

        Parameters
        ----------
        content : (H, W, 3) uint8
        garments : list of dict
            Each with ``style`` ((h, w, 3) uint8, required), ``region`` (as in
            :meth:`region_mask`; default ``"upper_body"``), and optionally
            ``positive``/``negative`` clicks, ``strength``, ``stroke_scale``,
            ``preserve_colors``, ``method`` and ``softness`` (default: the arguments
            below). Where garments overlap, the later one is on top.
        method, softness
            The blend of every garment that sets none (see :meth:`alpha`).

        Returns
        -------
        (H, W, 3) uint8
            A new array (a copy of the content when ``garments`` is empty).

        Raises
        ------
        ValueError
            Before any stage runs: ``garments`` is not a list of dicts, a garment has an
            unknown key (the message lists the valid ones), no ``style`` or a bad
            parameter. After the parse: a garment's region is absent from the photo. The
            message names the garment by its position (``garment 2``, counting from 1).
        NotEnoughMemoryError
            As for :meth:`run`, before any stage runs.
        """
        check_image_size(content, "content")
        garments = _check_garments(garments, content.shape[:2], method, softness)
        self.set_content(content)
        check_memory(*self.content.shape[:2], label="content")
        layers = []
        for number, garment in enumerate(garments, start=1):
            try:
                mask = self.region_mask(garment.get("region", "upper_body"),
                                        positive=garment.get("positive", ()),
                                        negative=garment.get("negative", ()))
            except ValueError as exc:
                raise ValueError(f"garment {number}: {exc}") from None
            stylized = self.stylized(garment["style"],
                                     strength=garment.get("strength", 1.0),
                                     stroke_scale=garment.get("stroke_scale", 1.0),
                                     preserve_colors=garment.get("preserve_colors", False))
            alpha = self.alpha(mask, garment.get("method", method),
                               softness=garment.get("softness", softness))
            layers.append(GarmentLayer(stylized, alpha))
        return blend_layers(self.content, layers)
