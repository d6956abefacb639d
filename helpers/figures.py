"""The paper's figures, regenerated from code: method overview, results grid, closer
look at the boundary and boundary measures per blending method.

Every figure states which back-ends produced it (:func:`backend_caption`) in its
footer or title, because the offline defaults are other methods than the pretrained
models: offline, the cloth classes come from the classical parser and the saliency map M
is its soft matte of the person rather than U²-Net saliency; ``grabcut`` gives a region
without cloth classes.

Array contract: images ``(H, W, 3) uint8`` RGB; masks, alphas and saliency maps
``(H, W) float32`` in [0, 1]; label maps ``(H, W) uint8``.

Figures are created through :mod:`matplotlib.pyplot` (so notebooks show them inline)
and never shown here; :func:`save_figure` writes one atomically and closes it. The
functions work under the non-interactive Agg back-end.
"""

from __future__ import annotations

import io
import math
import os
import textwrap
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from helpers._checks import check_choice, check_image, check_labels, check_map
from helpers.blend import BLEND_METHODS, composite
from helpers.boundaries import EDGE_TYPES, boundary_metrics, closer_look_figure, zoom_windows

#: Stage order in captions; other stages follow in their dict order.
STAGES = ("segmentation", "saliency", "stylization")
#: Measures drawn by :func:`boundary_metrics_figure`: key -> panel title.
METRIC_PANELS = {
    "seam": "seam: output / photo gradient energy\n(1 = as the photo)",
    "color_step": "colour step across the edge\n(output − photo, 0 = as the photo)",
    "leakage": "leakage: mean |change| outside\nthe region (0..255 levels)",
}
# Value drawn as a dashed "as the photo" line in each metrics panel.
_METRIC_REFERENCE = {"seam": 1.0, "color_step": 0.0, "leakage": 0.0}
_DISPLAY_NAMES = {"grabcut": "GrabCut", "classical_parsing": "classical parser",
                  "person_matte": "person matte"}
_SAVE_FORMATS = {".png": "png", ".pdf": "pdf", ".svg": "svg"}
# Tint of the chosen region in overlays (RGB) and its opacity.
_REGION_TINT = np.array([230, 40, 40], dtype=np.float32)
_REGION_OPACITY = 0.45


# --------------------------------------------------------------------------- captions


def backend_caption(backends: Mapping[str, str]) -> str:
    """One line naming the back-end of every stage, for a figure's footer.

    Parameters
    ----------
    backends : dict
        Stage name -> back-end, e.g. ``PipelineResult.backends``.

    Returns
    -------
    str
        E.g. ``"segmentation: classical_parsing (offline) · saliency: person_matte (offline) ·
        stylization: magenta_onnx"``; pretrained U²-Net back-ends are marked
        ``(pretrained)``. Stages follow :data:`STAGES`, then any others.
    """
    if not isinstance(backends, Mapping) or not backends:
        raise ValueError(
            "backends must be a non-empty dict of stage -> back-end, e.g. "
            "PipelineResult.backends or Pipeline.backends"
        )
    stages = [s for s in STAGES if s in backends] + [s for s in backends if s not in STAGES]
    parts = []
    for stage in stages:
        name = str(backends[stage])
        if stage in ("segmentation", "saliency"):
            name += " (pretrained)" if _is_pretrained(backends, stage) else " (offline)"
        parts.append(f"{stage}: {name}")
    return " · ".join(parts)


def _is_pretrained(backends: Mapping[str, str], stage: str) -> bool:
    from helpers.pipeline import needs_weights

    name = backends.get(stage)
    return name is not None and needs_weights(name)


def _add_footer(fig, caption: str) -> None:
    # supxlabel is laid out by constrained layout, so the footer never overlaps axes.
    fig.supxlabel(caption, fontsize=9, color="0.25")


# --------------------------------------------------------------------------- image helpers


def _on_background(image: np.ndarray, mask: np.ndarray, background: int = 255) -> np.ndarray:
    """``image`` inside ``mask``, a flat grey level elsewhere (soft edges kept)."""
    flat = np.full_like(image, background)
    return composite(flat, image, mask)


def _overlay(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The photo with the chosen region tinted (vectorised alpha blend)."""
    weight = (_REGION_OPACITY * mask)[..., None]
    tinted = image.astype(np.float32) * (1.0 - weight) + _REGION_TINT * weight
    return np.clip(tinted + 0.5, 0, 255).astype(np.uint8)


def _show(ax, image: np.ndarray, title: str, **kwargs: Any) -> None:
    ax.imshow(image, **kwargs)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])


def _show_saliency(ax, saliency: np.ndarray | None, title: str) -> None:
    """The saliency map M in grey, or a note where the run's method did not use it."""
    if saliency is not None:
        _show(ax, saliency, title, cmap="gray", vmin=0.0, vmax=1.0)
        return
    ax.text(0.5, 0.5, "M not computed:\nthis blend method\ndoes not use it", ha="center",
            va="center", fontsize=9, color="0.4", transform=ax.transAxes)
    _show(ax, np.ones((1, 1)), title, cmap="gray", vmin=0.0, vmax=1.0)


def _legend_patches(entries: Sequence[tuple[str, Any]]):
    from matplotlib.patches import Patch

    return [Patch(facecolor=color, edgecolor="0.3", label=label) for label, color in entries]


def _draw_segmentation(ax, content: np.ndarray, mask: np.ndarray,
                       labels: np.ndarray | None, backends: Mapping[str, str]) -> None:
    """Cloth classes with a class legend, or (offline) the chosen region overlay."""
    from helpers.segment import CLASS_NAMES, PALETTE, colorize_labels

    region = mask >= 0.5
    if labels is not None:
        labels = check_labels(labels, shape=content.shape[:2])
        method = backends.get("segmentation", "U²-Net")
        _show(ax, colorize_labels(labels),
              f"cloth parsing ({_DISPLAY_NAMES.get(method, method)})")
        if region.any() and not region.all():
            # Outline the garment that was chosen for stylization.
            ax.contour(region.astype(np.float32), levels=[0.5], colors="white",
                       linewidths=1.2)
        entries = [(name, PALETTE[class_id] / 255.0) for class_id, name in CLASS_NAMES.items()]
        handles = _legend_patches(entries)
        from matplotlib.lines import Line2D

        handles.append(Line2D([], [], color="white", lw=1.5, label="chosen garment"))
        legend = ax.legend(handles=handles, loc="upper right", fontsize=7, framealpha=0.85)
        legend.get_frame().set_facecolor("0.8")
        return
    method = backends.get("segmentation", "offline")
    shown = _DISPLAY_NAMES.get(method, method)
    _show(ax, _overlay(content, mask), f"segmentation ({shown}, no cloth classes)")
    if region.any() and not region.all():
        ax.contour(region.astype(np.float32), levels=[0.5], colors=[_REGION_TINT / 255.0],
                   linewidths=1.0)
    ax.legend(handles=_legend_patches([(f"chosen garment ({shown})", _REGION_TINT / 255.0)]),
              loc="lower left", fontsize=7, framealpha=0.85)


def _saliency_title(backends: Mapping[str, str]) -> str:
    backend = backends.get("saliency", "?")
    if _is_pretrained(backends, "saliency"):
        return f"saliency map M ({backend})"
    return f"M: soft matte of the person ({_DISPLAY_NAMES.get(backend, backend)})"


# --------------------------------------------------------------------------- figures


def pipeline_overview_figure(result, style: np.ndarray, *, title: str | None = None):
    """The method figure: every intermediate of one run, with a legend and back-ends.

    Panels (8 image axes, two rows of four): content C, saliency map M (grey),
    segmentation (with cloth classes: coloured with :data:`helpers.segment.PALETTE`, a
    class legend and the chosen garment outlined; ``grabcut``: the chosen region tinted
    on the photo with the legend "chosen garment (GrabCut)"), style image; stylized S, masked garment (S inside
    the region, white elsewhere), the blending weight alpha and the output I.

    Parameters
    ----------
    result : helpers.pipeline.PipelineResult
        ``content``, ``stylized``, ``output`` (H, W, 3) uint8; ``mask``, ``saliency``,
        ``alpha`` (H, W) float32 in [0, 1]; ``labels`` (H, W) uint8 or None;
        ``backends`` dict.
    style : (h, w, 3) uint8
        The style image the run used.
    title : str, optional
        Figure title (default "Method overview").

    Returns
    -------
    matplotlib.figure.Figure
        The back-ends are stated in the footer (:func:`backend_caption`).
    """
    import matplotlib.pyplot as plt

    content = check_image(result.content, "result.content")
    shape = content.shape[:2]
    stylized = check_image(result.stylized, "result.stylized")
    output = check_image(result.output, "result.output")
    check_image(style, "style")
    mask = check_map(result.mask, "result.mask", shape=shape)
    saliency = (None if result.saliency is None
                else check_map(result.saliency, "result.saliency", shape=shape))
    alpha = check_map(result.alpha, "result.alpha", shape=shape)
    backends = result.backends

    fig, axes = plt.subplots(2, 4, figsize=(14, 7.6), layout="constrained")
    (ax_content, ax_saliency, ax_segment, ax_style), (ax_stylized, ax_masked, ax_alpha,
                                                      ax_output) = axes
    _show(ax_content, content, "content C")
    _show_saliency(ax_saliency, saliency, _saliency_title(backends))
    _draw_segmentation(ax_segment, content, mask, result.labels, backends)
    _show(ax_style, style, "style")
    _show(ax_stylized, stylized, f"stylized S ({backends.get('stylization', '?')})")
    _show(ax_masked, _on_background(stylized, mask), "masked garment: S × region")
    _show(ax_alpha, alpha, "blending weight α", cmap="gray", vmin=0.0, vmax=1.0)
    _show(ax_output, output, "output I = α·S + (1 − α)·C")
    fig.suptitle(title or "Method overview", fontsize=13)
    _add_footer(fig, backend_caption(backends))
    return fig


#: Column titles of :func:`results_grid_figure`.
RESULTS_COLUMNS = ("content", "saliency M", "segmented component", "stylized", "output")


def results_row(result, style: np.ndarray, label: str = "") -> dict[str, Any]:
    """One row for :func:`results_grid_figure` from a pipeline run.

    Parameters
    ----------
    result : helpers.pipeline.PipelineResult
    style : (h, w, 3) uint8
    label : str
        Row label, e.g. ``"astronaut × tartan"``.

    Returns
    -------
    dict
        Keys ``content, style, saliency, mask, stylized, output, label, backends``.
    """
    return {"content": result.content, "style": style, "saliency": result.saliency,
            "mask": result.mask, "stylized": result.stylized, "output": result.output,
            "label": label, "backends": dict(result.backends)}


def results_grid_figure(rows: Sequence[Mapping[str, Any]], *,
                        backends: Mapping[str, str] | None = None,
                        title: str | None = None):
    """The results figure: one row per photo/style pair.

    Columns (:data:`RESULTS_COLUMNS`): content | saliency M | segmented component (the
    content inside the region, white elsewhere) | stylized (with the style image as
    an inset in its top-right corner) | output.

    Parameters
    ----------
    rows : sequence of dict
        Each with ``content``, ``stylized``, ``output`` (H, W, 3) uint8, ``saliency``
        and ``mask`` (H, W) float32 in [0, 1], ``style`` (h, w, 3) uint8 (optional:
        no inset without it), ``label`` str (optional) and ``backends`` dict
        (optional; see :func:`results_row`).
    backends : dict, optional
        Back-ends for the footer; default: the rows' own. Rows whose back-ends
        differ from the footer's get them named in their label.
    title : str, optional
        Figure title (default "Results").

    Returns
    -------
    matplotlib.figure.Figure
        ``5 * len(rows)`` image axes plus one inset per row with a style.
    """
    import matplotlib.pyplot as plt

    rows = list(rows)
    if not rows:
        raise ValueError("results_grid_figure needs at least one row (see results_row)")
    footer = dict(backends) if backends else None
    if footer is None:
        footer = next((dict(row["backends"]) for row in rows if row.get("backends")), None)
    fig, axes = plt.subplots(len(rows), len(RESULTS_COLUMNS),
                             figsize=(3.0 * len(RESULTS_COLUMNS), 3.1 * len(rows) + 0.8),
                             squeeze=False, layout="constrained")
    for index, row in enumerate(rows):
        missing = [k for k in ("content", "saliency", "mask", "stylized", "output")
                   if k not in row]
        if missing:
            raise ValueError(f"results row {index} lacks {', '.join(missing)}; "
                             "build rows with helpers.figures.results_row(result, style)")
        content = check_image(row["content"], f"rows[{index}]['content']")
        shape = content.shape[:2]
        saliency = (None if row["saliency"] is None
                    else check_map(row["saliency"], f"rows[{index}]['saliency']", shape=shape))
        mask = check_map(row["mask"], f"rows[{index}]['mask']", shape=shape)
        stylized = check_image(row["stylized"], f"rows[{index}]['stylized']")
        output = check_image(row["output"], f"rows[{index}]['output']")
        panels = (content, saliency, _on_background(content, mask), stylized, output)
        for col, (ax, image) in enumerate(zip(axes[index], panels, strict=True)):
            title = RESULTS_COLUMNS[col] if index == 0 else ""
            if col == 1:
                _show_saliency(ax, image, title)
            else:
                _show(ax, image, title)
        label = str(row.get("label", ""))
        row_backends = row.get("backends")
        if row_backends and footer and dict(row_backends) != footer:
            label = f"{label}\n{backend_caption(row_backends)}".strip()
        axes[index, 0].set_ylabel(label, fontsize=10)
        if row.get("style") is not None:
            inset = axes[index, 3].inset_axes((0.68, 0.68, 0.3, 0.3))
            inset.imshow(check_image(row["style"], f"rows[{index}]['style']"))
            inset.set_xticks([])
            inset.set_yticks([])
            for spine in inset.spines.values():
                spine.set_edgecolor("white")
                spine.set_linewidth(1.5)
    fig.suptitle(title or "Results", fontsize=13)
    _add_footer(fig, backend_caption(footer) if footer else "back-ends: not recorded")
    return fig


def closer_look_for(result, pipeline, *, before: str = "hard", after: str = "saliency",
                    count: int = 2, softness: float | None = None):
    """The "closer look" figure for one run: two blend methods, zoomed at the edge.

    Both outputs are recomputed with ``pipeline.blend`` (cheap: cached stages), the
    windows where they differ most along the region edge are picked with
    :func:`helpers.boundaries.zoom_windows`, and
    :func:`helpers.boundaries.closer_look_figure` draws them.

    Parameters
    ----------
    result : helpers.pipeline.PipelineResult
        ``content``, ``stylized`` (H, W, 3) uint8 and ``mask`` (H, W) float32.
    pipeline : helpers.pipeline.Pipeline
        The pipeline that produced ``result`` (its content is set to
        ``result.content``, a no-op when it already is).
    before, after : str
        Blend methods from :data:`helpers.blend.BLEND_METHODS`. The same method on both
        sides would compare nothing (``--method hard`` gives ``after="hard"``): then
        ``after`` is ``"saliency"`` (``"hard"`` when ``before`` is ``"saliency"``), with
        a warning.
    count : int
        Number of zoom windows (fewer if the edge is short).
    softness : float, optional
        Passed to ``pipeline.blend`` for both methods.

    Returns
    -------
    matplotlib.figure.Figure
        ``2 * (1 + windows)`` image axes; the title names the back-ends.
    """
    check_choice(before, BLEND_METHODS, "blend method")
    check_choice(after, BLEND_METHODS, "blend method")
    if after == before:
        other = "hard" if before == "saliency" else "saliency"
        warnings.warn(f"the closer look compares {before!r} with {other!r}: the chosen "
                      f"method {after!r} is the 'before' side itself", stacklevel=2)
        after = other
    pipeline.set_content(result.content)
    first = pipeline.blend(result.stylized, result.mask, before, softness=softness)
    second = pipeline.blend(result.stylized, result.mask, after, softness=softness)
    windows = zoom_windows(first, second, result.mask, count=count)
    return closer_look_figure(
        first, second, windows, labels=(f"before: {before} blend", f"after: {after} blend"),
        # two narrow columns: wrap the back-ends so the title stays inside the figure
        title="A closer look at the garment boundary\n"
              + textwrap.fill(backend_caption(result.backends), 60),
    )


# --------------------------------------------------------------------------- measures


def metrics_for_methods(pipeline, result, methods: Sequence[str] = BLEND_METHODS,
                        softness: float | None = None, *, width: int | None = None,
                        ) -> dict[str, dict[str, dict[str, float] | None]]:
    """Boundary measures of every blend method on one run.

    Each method's output is recomputed with ``pipeline.blend`` and measured with
    :func:`helpers.boundaries.boundary_metrics` against the content. Edges are split
    by cloth classes (``result.labels``) and into person and background by M (U²-Net
    saliency or the offline person matte: both are maps of the whole person).

    Parameters
    ----------
    pipeline : helpers.pipeline.Pipeline
        The pipeline that produced ``result``.
    result : helpers.pipeline.PipelineResult
        ``content``, ``stylized`` (H, W, 3) uint8, ``mask``, ``saliency`` (H, W)
        float32 in [0, 1], ``labels`` (H, W) uint8 or None.
    methods : sequence of str
        Names from :data:`helpers.blend.BLEND_METHODS`.
    softness : float, optional
        Passed to ``pipeline.blend``.
    width : int, optional
        Band half-width in pixels (default :func:`helpers.boundaries.default_band_width`).

    Returns
    -------
    dict
        method -> edge type (:data:`helpers.boundaries.EDGE_TYPES`) -> the measures
        (``seam``, ``color_step``, ``leakage``, ``leakage_fraction``, ``pixels``) or
        None where the image has no edge of that type.
    """
    methods = list(methods)
    if not methods:
        raise ValueError(f"give at least one blend method; valid: {', '.join(BLEND_METHODS)}")
    for method in methods:
        check_choice(method, BLEND_METHODS, "blend method")
    pipeline.set_content(result.content)
    # the edge types are split by M, also for a run whose method did not use it
    saliency = result.saliency if result.saliency is not None else pipeline.saliency_map()
    measured: dict[str, dict[str, dict[str, float] | None]] = {}
    for method in methods:
        output = pipeline.blend(result.stylized, result.mask, method, softness=softness)
        per_edge = boundary_metrics(result.content, output, result.mask, labels=result.labels,
                                    saliency=saliency, width=width)
        measured[method] = {edge: None if value is None else value.as_dict()
                            for edge, value in per_edge.items()}
    return measured


def _as_plain(value: Any) -> dict[str, float] | None:
    if value is None:
        return None
    return value.as_dict() if hasattr(value, "as_dict") else dict(value)


def _edge_types_to_draw(metrics: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """"all", plus each edge type measured somewhere on a band other than the whole one."""
    shown = ["all"]
    for edge in EDGE_TYPES[1:]:
        distinct = False
        for per_edge in metrics.values():
            value, whole = _as_plain(per_edge.get(edge)), _as_plain(per_edge.get("all"))
            if value is not None and (whole is None or value.get("pixels") != whole.get("pixels")):
                distinct = True
        if distinct:
            shown.append(edge)
    return shown


def boundary_metrics_figure(metrics: Mapping[str, Mapping[str, Any]],
                            backends: Mapping[str, str], *, title: str | None = None):
    """Grouped bars of seam, colour step and leakage per blend method.

    One panel per measure (:data:`METRIC_PANELS`); along x the blend methods, in each
    group one bar per edge type: ``all`` always, and ``background``, ``person``,
    ``garment`` where the labels/saliency split the edge (an edge type that covers the
    whole band, as offline, would repeat ``all`` and is left out). A dashed line marks
    the photo's own value (seam 1, colour step 0, leakage 0).

    Parameters
    ----------
    metrics : dict
        method -> edge type -> measures dict (or BoundaryMetrics) or None, as
        returned by :func:`metrics_for_methods`.
    backends : dict
        Stage -> back-end, stated in the footer.
    title : str, optional
        Figure title (default "Garment boundary per blending method").

    Returns
    -------
    matplotlib.figure.Figure
        Three axes; ``ax.containers`` holds one bar container per drawn edge type.
    """
    import matplotlib.pyplot as plt

    if not metrics:
        raise ValueError("metrics is empty: compute it with metrics_for_methods(pipeline, result)")
    methods = list(metrics)
    edges = _edge_types_to_draw(metrics)
    fig, axes = plt.subplots(1, len(METRIC_PANELS), figsize=(4.6 * len(METRIC_PANELS), 4.4),
                             layout="constrained")
    positions = np.arange(len(methods), dtype=np.float64)
    bar_width = 0.8 / len(edges)
    colors = plt.cm.tab10.colors
    for ax, (key, panel_title) in zip(axes, METRIC_PANELS.items(), strict=True):
        for index, edge in enumerate(edges):
            values = []
            for method in methods:
                measured = _as_plain(metrics[method].get(edge))
                values.append(math.nan if measured is None else float(measured[key]))
            offsets = positions + (index - (len(edges) - 1) / 2) * bar_width
            bars = ax.bar(offsets, values, bar_width, label=f"edge: {edge}",
                          color=colors[index % len(colors)])
            texts = ["" if math.isnan(v) else f"{v:.2f}" for v in values]
            ax.bar_label(bars, labels=texts, fontsize=7, padding=1)
        reference = _METRIC_REFERENCE[key]
        ax.axhline(reference, color="0.3", lw=1, ls="--")
        drawn = [v for container in ax.containers for v in container.datavalues
                 if math.isfinite(v)]
        if not drawn or max(abs(v - reference) for v in drawn) < 1e-9:
            # All bars at the reference (e.g. no leakage at all): a readable unit scale
            # instead of one autoscaled to rounding noise.
            ax.set_ylim(reference - (0.0 if key == "leakage" else 1.0), reference + 1.0)
        ax.set_xticks(positions, methods, rotation=25, ha="right")
        ax.set_title(panel_title, fontsize=10)
        ax.margins(y=0.15)
    if len(edges) > 1:
        handles, names = axes[0].get_legend_handles_labels()
        fig.legend(handles, names, loc="outside right upper", fontsize=8)
    fig.suptitle(title or "Garment boundary per blending method", fontsize=13)
    _add_footer(fig, backend_caption(backends))
    return fig


# --------------------------------------------------------------------------- saving


def save_figure(fig, path: str | os.PathLike, *, dpi: int = 110) -> Path:
    """Render a figure in memory and write it atomically, then close it.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : str or os.PathLike
        Destination ending in ``.png`` (or ``.pdf``, ``.svg``); parent directories
        are created.
    dpi : int
        Resolution of the PNG.

    Returns
    -------
    pathlib.Path
        The destination path. Readers see the old file or the whole new one, never
        a partial PNG (:func:`helpers.files.atomic_write_bytes`).
    """
    import matplotlib.pyplot as plt

    from helpers.files import atomic_write_bytes

    path = Path(path).expanduser()
    fmt = _SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        # Before rendering, and the figure stays open: retry with another name.
        raise ValueError(f"cannot save a figure as {path}: unsupported suffix "
                         f"{path.suffix!r}; use one of {', '.join(_SAVE_FORMATS)}")
    try:
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt, dpi=dpi, facecolor="white")
        return atomic_write_bytes(path, buffer.getvalue())
    finally:
        plt.close(fig)
