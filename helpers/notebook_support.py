"""Small shared pieces of the notebooks and of ``python -m helpers.run``.

The notebooks stay thin: they resolve their inputs (a sample name or a path), write
each stage's outputs under ``<output_dir>/<stage>/`` and show figures through the
functions here. Everything else lives in the tested modules of :mod:`helpers`.

Array contract: images are ``(H, W, 3) uint8`` RGB; masks, alphas and saliency maps
``(H, W) float32`` in [0, 1]; label maps ``(H, W) uint8``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from helpers import PROJECT_ROOT
from helpers._checks import check_image, check_map
from helpers.blend import BLEND_METHODS

#: The GitHub repository (owner/name) the Colab badges and the notebooks' set-up cell
#: point at.
GITHUB_REPO = "clothstyle/clothstyle"
#: Clone URL of :data:`GITHUB_REPO`.
REPO_URL = f"https://github.com/{GITHUB_REPO}"
#: What the notebooks' set-up cell installs in Colab: the package with its runtime
#: dependencies only (``[project] dependencies``: lower bounds, so Colab's torch, numpy,
#: TensorFlow and ipywidgets stay). The cell cannot import helpers before installing it,
#: so it repeats this as a literal; ``tests/test_notebooks.py`` checks they agree.
PACKAGE_URL = f"git+{REPO_URL}"
#: The notebooks in run order, notebook stem -> the folder under the output
#: directory that it writes to.
NOTEBOOK_STAGES: dict[str, str] = {
    "00_quickstart": "quickstart",
    "01_segment": "segment",
    "02_saliency": "saliency",
    "03_stylize": "stylize",
    "04_blend": "blend",
    "05_compare_boundaries": "compare_boundaries",
    "06_paper_figures": "figures",
}
#: Where the notebooks live.
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"


def colab_url(notebook: str, *, branch: str = "main") -> str:
    """The "Open in Colab" address of a notebook of :data:`GITHUB_REPO`.

    Parameters
    ----------
    notebook : str
        Notebook stem or file name, e.g. ``"00_quickstart"``.
    branch : str
        Git branch.

    Returns
    -------
    str
    """
    name = notebook if notebook.endswith(".ipynb") else f"{notebook}.ipynb"
    return f"https://colab.research.google.com/github/{GITHUB_REPO}/blob/{branch}/notebooks/{name}"


def colab_badge(notebook: str) -> str:
    """Markdown for an "Open in Colab" badge linking to :func:`colab_url`."""
    return ("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"({colab_url(notebook)})")


def resolve_path(path: str | os.PathLike, root: str | os.PathLike | None = None) -> Path:
    """A path as given when absolute, else relative to the project root.

    Parameters
    ----------
    path : str or os.PathLike
        E.g. the notebooks' ``output_dir = "results"`` parameter.
    root : path, optional
        Default :data:`helpers.PROJECT_ROOT`.

    Returns
    -------
    pathlib.Path
    """
    path = Path(path).expanduser()
    return path if path.is_absolute() else Path(root or PROJECT_ROOT) / path


def stage_dir(output_dir: str | os.PathLike, stage: str) -> Path:
    """Create and return ``<output_dir>/<stage>/`` (relative paths: under the project root).

    Raises
    ------
    OSError
        With the folder named, when it cannot be created.
    """
    folder = resolve_path(output_dir) / stage
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(f"cannot create the output folder {folder}: {exc.strerror or exc}; "
                      "set output_dir to a writable folder") from exc
    return folder


def image_label(spec: str | os.PathLike) -> str:
    """A short name for an image given as a sample name or a path (its file stem)."""
    from helpers.samples import CONTENT_SAMPLES, STYLE_SAMPLES

    text = os.fspath(spec)
    if text in CONTENT_SAMPLES or text in STYLE_SAMPLES:
        return text
    return Path(text).stem


def load_content(spec: str | os.PathLike, max_side: int | None = None) -> np.ndarray:
    """The content photo from a sample name (``"astronaut"``, ``"grace_hopper"``) or a path.

    Parameters
    ----------
    spec : str or os.PathLike
        A name from :data:`helpers.samples.CONTENT_SAMPLES`, or an image path (relative
        paths are taken from the project root).
    max_side : int, optional
        Downscale so the longest side is at most this (never enlarged).

    Returns
    -------
    (H, W, 3) uint8
    """
    from helpers.samples import CONTENT_SAMPLES

    return _load_sample_or_file(spec, "content", CONTENT_SAMPLES, max_side)


def load_style(spec: str | os.PathLike, max_side: int | None = 1024) -> np.ndarray:
    """The style image from a sample name (``"tartan"``, ``"hubble_deep_field"``, ...) or a path.

    Parameters
    ----------
    spec : str or os.PathLike
        A name from :data:`helpers.samples.STYLE_SAMPLES`, or an image path (relative
        paths are taken from the project root).
    max_side : int, optional
        Downscale cap; the stylizer looks at the style at 256 px anyway.

    Returns
    -------
    (h, w, 3) uint8
    """
    from helpers.samples import STYLE_SAMPLES

    return _load_sample_or_file(spec, "style", STYLE_SAMPLES, max_side)


def _load_sample_or_file(spec: str | os.PathLike, what: str,
                         samples: Mapping[str, Callable[[], np.ndarray]],
                         max_side: int | None) -> np.ndarray:
    from helpers.images import fit_to_cap, load_image

    text = os.fspath(spec)
    image = samples[text]() if text in samples else load_image(_existing(text, what, samples))
    if max_side is not None:
        image, _ = fit_to_cap(image, int(max_side))
    return image


def _existing(text: str, what: str, samples: Mapping[str, Any]) -> Path:
    path = resolve_path(text)
    if not path.exists():
        raise FileNotFoundError(
            f"{what} {text!r} is neither a sample ({', '.join(samples)}) nor an existing "
            f"file (looked for {path})"
        )
    return path


def map_to_uint8(map2d: np.ndarray) -> np.ndarray:
    """A ``(H, W) float32`` map in [0, 1] as ``(H, W) uint8`` grey levels (rounded)."""
    values = check_map(map2d, "map")
    return np.round(values * 255.0).astype(np.uint8)


def mean_abs_difference(first: np.ndarray, second: np.ndarray,
                        where: np.ndarray | None = None) -> float:
    """Mean absolute difference of two images in grey levels (0..255), over all channels.

    Parameters
    ----------
    first, second : (H, W, 3) uint8
    where : (H, W) bool, optional
        Only these pixels (0.0 when none is selected).

    Returns
    -------
    float
    """
    check_image(first, "first")
    check_image(second, "second")
    if first.shape != second.shape:
        raise ValueError(f"images differ in shape: {first.shape} vs {second.shape}")
    difference = np.abs(first.astype(np.int16) - second.astype(np.int16))
    if where is not None:
        if not where.any():
            return 0.0
        difference = difference[where]
    return float(difference.mean())


def show_images(panels: Mapping[str, np.ndarray], *, title: str | None = None,
                columns: int | None = None, panel_size: float = 3.6):
    """Show images and maps side by side (maps in grey, 0 black, 1 white).

    Parameters
    ----------
    panels : dict
        Title -> ``(H, W, 3) uint8`` image or ``(H, W) float32`` map in [0, 1].
    title : str, optional
        Figure title.
    columns : int, optional
        Panels per row (default: all in one row).
    panel_size : float
        Inches per panel.

    Returns
    -------
    matplotlib.figure.Figure
        Shown by the notebook at the end of the cell (inline back-end).
    """
    import matplotlib.pyplot as plt

    if not panels:
        raise ValueError("show_images needs at least one panel")
    count = len(panels)
    columns = min(count, columns or count)
    rows = -(-count // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(panel_size * columns, panel_size * rows),
                             squeeze=False, layout="constrained")
    for ax, (name, image) in zip(axes.flat, panels.items(), strict=False):
        kwargs = {"cmap": "gray", "vmin": 0.0, "vmax": 1.0} if image.ndim == 2 else {}
        ax.imshow(image, **kwargs)
        ax.set_title(name, fontsize=10)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.flat[count:]:
        ax.set_axis_off()
    if title:
        fig.suptitle(title)
    return fig


def show_and_save(fig, path: str | os.PathLike, *, dpi: int = 110) -> Path:
    """Display a figure in the notebook, then write it atomically and close it.

    :func:`helpers.figures.save_figure` closes the figure, so the inline back-end
    would no longer show it: display it first.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : str or os.PathLike
        Destination (``.png``, ``.pdf`` or ``.svg``).
    dpi : int
        Resolution of the PNG.

    Returns
    -------
    pathlib.Path
    """
    from IPython.display import display

    from helpers.figures import save_figure

    display(fig)
    return save_figure(fig, path, dpi=dpi)


# --------------------------------------------------------------------------- regression

#: Values of the stage ``metrics.json`` files tracked by ``tests/test_notebooks.py``:
#: key in the reference -> (stage folder, path of keys inside its metrics.json).
TRACKED_METRICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "segment/mask_area_fraction": ("segment", ("mask_area_fraction",)),
    "saliency/mean": ("saliency", ("saliency_mean",)),
    "saliency/mean_inside": ("saliency", ("saliency_mean_inside",)),
    "saliency/soft_fraction": ("saliency", ("soft_fraction",)),
    "stylize/mean_abs_diff": ("stylize", ("mean_abs_diff_vs_content",)),
    "blend/mean_abs_diff": ("blend", ("mean_abs_diff_vs_content",)),
    "blend/mean_abs_diff_outside": ("blend", ("mean_abs_diff_outside",)),
    **{f"blend/{method}/mean_abs_diff": ("blend", ("methods", method, "mean_abs_diff"))
       for method in BLEND_METHODS},
    **{f"compare_boundaries/{method}/{measure}":
       ("compare_boundaries", ("boundary", method, "all", measure))
       for method in BLEND_METHODS for measure in ("seam", "color_step", "leakage")},
    "quickstart/mean_abs_diff": ("quickstart", ("mean_abs_diff_vs_content",)),
    "quickstart/mask_area_fraction": ("quickstart", ("mask_area_fraction",)),
}


def tracked_metrics(output_dir: str | os.PathLike) -> dict[str, float]:
    """Read the :data:`TRACKED_METRICS` from the notebooks' outputs.

    Parameters
    ----------
    output_dir : path
        The ``output_dir`` the notebooks ran with.

    Returns
    -------
    dict
        Reference key -> value. Raises ``KeyError`` naming the file and the key when
        a value is missing.
    """
    root = resolve_path(output_dir)
    cache: dict[str, Any] = {}
    values: dict[str, float] = {}
    for key, (stage, keys) in TRACKED_METRICS.items():
        path = root / stage / "metrics.json"
        if stage not in cache:
            cache[stage] = json.loads(path.read_text(encoding="utf-8"))
        value: Any = cache[stage]
        for part in keys:
            if not isinstance(value, Mapping) or part not in value:
                raise KeyError(f"{path} has no {'/'.join(keys)} (for {key})")
            value = value[part]
        values[key] = float(value)
    return values


def write_stage_record(folder: str | os.PathLike, stage: str, parameters: Mapping[str, Any], *,
                       result: Any = None, backends: Mapping[str, str] | None = None,
                       timings: Mapping[str, float] | None = None,
                       image: np.ndarray | None = None, **measures: Any) -> Path:
    """Write a stage's ``metrics.json`` (atomically) and list the stage's files.

    Every notebook ends with this one call instead of a record built by hand.

    Parameters
    ----------
    folder : path
        The stage's output folder (:func:`stage_dir`).
    stage : str
        The stage's name, e.g. ``"blend"``.
    parameters : mapping
        The notebook parameters that shaped the result (paths become strings).
    result : helpers.pipeline.PipelineResult, optional
        Gives ``backends`` and ``timings`` when they are not passed.
    backends, timings : mapping, optional
        Stage -> back-end name; stage -> seconds.
    image : (H, W, 3) uint8, optional
        The photo; recorded as ``image_size`` ``[H, W]``.
    **measures
        The stage's own numbers (numpy scalars and arrays, and paths, are converted).

    Returns
    -------
    pathlib.Path
        The ``metrics.json`` written.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> path = write_stage_record(folder, "stylize", {"style": Path("tartan.png")},
    ...                           backends={"stylization": "magenta_onnx"},
    ...                           timings={"stylization": 0.5}, mean_abs_diff=np.float32(2.5))
    wrote metrics.json
    >>> json.loads(path.read_text())["parameters"], json.loads(path.read_text())["mean_abs_diff"]
    ({'style': 'tartan.png'}, 2.5)
    """
    from helpers.files import save_json

    record: dict[str, Any] = {
        "stage": stage,
        "parameters": {key: os.fspath(value) if isinstance(value, os.PathLike) else value
                       for key, value in parameters.items()},
        "backends": dict(backends if backends is not None
                         else (result.backends if result is not None else {})),
        "timings": dict(timings if timings is not None
                        else (result.timings if result is not None else {})),
    }
    if image is not None:
        record["image_size"] = list(check_image(image, "image").shape[:2])
    record.update(measures)
    path = save_json(record, Path(folder) / "metrics.json")
    print("wrote", *sorted(entry.name for entry in Path(folder).iterdir()))
    return path

