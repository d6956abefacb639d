"""The main command: run every notebook on the sample images, and restyle your own photos.

::

    python -m helpers.run                         # every notebook -> results/
    python -m helpers.run --quick                 # the same at 256 px (what the tests use)
    python -m helpers.run --content photos/ --style tartan --no-notebooks

What it writes under the output directory (``results/`` by default):

* ``notebooks/<name>.ipynb`` — each notebook executed with papermill (with its outputs),
  ``notebooks/<name>.log`` — what its kernel wrote to stderr;
* ``<stage>/`` — each notebook's outputs (images, maps, a ``metrics.json``), and
  ``figures/`` — the paper's figures (from ``06_paper_figures``);
* ``photos/<stem>_<style>.png`` — with ``--content``, each photo restyled, as a job on
  Dask (a local cluster, or ``--cluster ADDRESS``; see :mod:`helpers.catalogue`), and
  ``manifest.jsonl`` — a row per photo done, so that a rerun skips finished work;
* ``figures/ui/*.png`` — with ``--ui-check``, screenshots of the interactive studio
  driven in JupyterLab by headless Chromium (``tests/test_browser.py``), before and after
  a click and a slider move;
* ``metrics.json`` — the back-end of each stage, the timings, and every failure.

Exit status: 0 when everything succeeded, 1 when a notebook or a photo failed (the
others still ran), 2 for a usage error, an unusable or busy output directory, or inputs
that outputs could overwrite (nothing is computed then), 130 when Ctrl-C stopped a run of
photos (the finished ones are kept).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers import RESULTS_DIR, catalogue
from helpers.blend import BLEND_METHODS
from helpers.notebook_support import NOTEBOOK_STAGES, NOTEBOOKS_DIR
from helpers.paths import display_message, display_path
from helpers.pipeline import SALIENCY_BACKENDS, SEGMENTATION_BACKENDS, STYLIZATION_BACKENDS

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
#: Interrupted by Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130
#: ``--quick`` processing size cap.
QUICK_MAX_SIDE = 256
#: File suffixes taken from a ``--content`` folder (a single file is always tried).
IMAGE_SUFFIXES = catalogue.IMAGE_SUFFIXES
#: ``--garment`` values besides the cloth classes; "auto" is the upper body.
GARMENT_CHOICES = ("auto", "upper_body", "lower_body", "full_body", "outfit")
DEFAULT_STYLE = "tartan"
DEFAULT_METHOD = "saliency"


class UsageError(Exception):
    """A problem with the command line found before any work (exit status 2)."""


@dataclass
class NotebookRun:
    """What happened to one notebook."""

    notebook: str
    ok: bool
    seconds: float
    error: str | None = None
    executed: str | None = None
    log: str | None = None
    backends: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


# --------------------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m helpers.run`` (see ``--help``)."""
    parser = argparse.ArgumentParser(
        prog="python -m helpers.run",
        description=(
            "Run every notebook with papermill on the sample images, writing executed "
            "notebooks, stage outputs, the paper's figures and a metrics.json with the "
            "back-end of each stage and the timings; with --content, also restyle your own "
            "photos. Without pretrained weights every stage uses its offline default "
            "(classical_parsing / person_matte / magenta_onnx)."),
        epilog=(
            "Writes under the output directory: notebooks/ (executed notebooks and their "
            "kernel logs), one folder per stage, figures/, photos/ (with --content) and "
            "metrics.json, manifest.jsonl (with --content). Exit status: 0 all succeeded, 1 a "
            "notebook or photo failed (the rest still ran), 2 usage error or unusable "
            "output directory, 130 interrupted by Ctrl-C."),
    )
    parser.add_argument(
        "--content", metavar="PATH",
        help="your photo, a folder of photos, or a quoted glob ('shoots/**/*.jpg'); "
             "several photos run in parallel on Dask (see --workers, --cluster), and a "
             "rerun skips those already done. Outputs go to "
             "<output>/photos/<stem>_<style>.png. A file that fails (e.g. corrupt) is "
             "reported and the others go on")
    parser.add_argument(
        "--style", metavar="PATH_OR_NAME",
        help=f"style image: a path or a sample name (tartan, houndstooth, stripes, "
             f"polka_dots, brick, gravel, hubble_deep_field); default {DEFAULT_STYLE!r} for "
             "photos, each notebook's own otherwise")
    parser.add_argument(
        "--garment", default="auto", choices=GARMENT_CHOICES,
        help="which garment to restyle in your photos: a cloth class or 'outfit' (all); "
             "'auto' is the upper body, else the full body (a dress), else what is there. "
             "The 'grabcut' back-end has no classes and always takes the garment under "
             "the face")
    parser.add_argument(
        "--save-stages", action="store_true",
        help="with --content: also write, next to each output, the label map "
             "(<name>_labels.png, classes 0-3 shown as 0/85/170/255) or the mask, the "
             "garment mask, the alpha and the saliency map M (<name>_mask/_alpha/_saliency"
             ".png), the stylized image (<name>_stylized.png) and an overview sheet "
             "(<name>_overview.png)")
    parser.add_argument(
        "--cluster", metavar="ADDRESS", default=None,
        help="with --content: run the photos on this existing Dask cluster (e.g. "
             "tcp://10.0.0.5:8786; default $DASK_SCHEDULER_ADDRESS, else a local cluster of "
             "--workers processes). Its workers need clothstyle installed and must see "
             "the input and output paths")
    parser.add_argument(
        "--workers", type=int, default=None, metavar="N",
        help="with --content: processes of the local cluster (default: the number of "
             "CPU cores, at most 4); each loads the models once")
    parser.add_argument(
        "--method", choices=BLEND_METHODS,
        help=f"blending method (default {DEFAULT_METHOD!r})")
    parser.add_argument(
        "--segmentation", choices=SEGMENTATION_BACKENDS,
        help="segmentation back-end (default 'auto': U²-Net cloth parsing if its weights "
             "are installed, else the offline 'classical_parsing')")
    parser.add_argument(
        "--saliency", choices=SALIENCY_BACKENDS,
        help="saliency back-end (default 'auto': U²-Net if installed, else the offline "
             "'person_matte')")
    parser.add_argument(
        "--stylization", choices=STYLIZATION_BACKENDS, help="stylization back-end: 'magenta_onnx' (default) or "
                              "'magenta_hub'")
    parser.add_argument(
        "--max-side", type=int, metavar="PIXELS",
        help="processing size cap: the longest side at which stylization works (your photos "
             "keep their size); the notebooks also downscale their photo to it "
             "(default 1024)")
    parser.add_argument(
        "--quick", action="store_true",
        help=f"small and fast: --max-side {QUICK_MAX_SIDE} (what the tests use); writes to "
             f"{RESULTS_DIR / 'quick'} unless --output says otherwise, so the committed "
             "figures stay as they are")
    parser.add_argument(
        "--output", metavar="DIR", default=None,
        help=f"output directory (default {RESULTS_DIR}, with --quick {RESULTS_DIR / 'quick'}); "
             "created if missing")
    parser.add_argument(
        "--ui-check", action="store_true",
        help="also drive the quickstart's interactive studio in JupyterLab with headless "
             "Chromium and save screenshots under figures/ui/ (runs the checkout's "
             "tests/test_browser.py: needs the development set, pytest and playwright, "
             "and Debian's chromium)")
    parser.add_argument("--no-notebooks", action="store_true",
                        help="do not run the notebooks (only --content photos)")
    parser.add_argument(
        "--notebooks-dir", metavar="DIR", default=None,
        help=f"run the notebooks of this folder instead of {NOTEBOOKS_DIR}")
    parser.add_argument(
        "--cell-timeout", type=float, default=900.0, metavar="SECONDS",
        help="give up on a notebook cell after this long (default 900)")
    return parser


def prepare_output_dir(path: str | os.PathLike) -> Path:
    """Create the output directory if needed and check that files can be written in it.

    Raises
    ------
    UsageError
        Naming the directory and the reason.
    """
    folder = Path(path).expanduser().absolute()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise UsageError(f"cannot write to the output directory {folder}: "
                         f"{exc.strerror or exc}") from exc
    return folder


def photo_size(path: Path) -> tuple[int, int] | None:
    """``(height, width)`` from an image file's header (nothing decoded), or None when
    the header cannot be read (loading it will then say why)."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            # MAX_PIXELS is the policy (the loader applies it); Pillow's own threshold
            # would print its warning here for photos the loader accepts
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
    except Exception:  # the loader reports an unreadable file properly (a bomb too)
        return None
    return int(height), int(width)


def check_photo_memory(path: Path) -> None:
    """Refuse a photo whose estimated peak memory exceeds the memory available, before
    it is decoded (:func:`helpers.pipeline.check_memory`).

    Raises
    ------
    helpers.pipeline.NotEnoughMemoryError
    """
    from helpers.images import MAX_PIXELS
    from helpers.pipeline import check_memory

    size = photo_size(path)
    # above MAX_PIXELS the loader refuses the photo with its own message: advice to
    # downscale to what memory allows would still be too large for it
    if size is not None and size[0] * size[1] <= MAX_PIXELS:
        check_memory(*size, label=display_path(path))


def style_spec(style: str | None) -> str:
    """A style as the notebooks take it: a sample name, or an absolute path.

    A style file is decoded here, before any work, so that an empty, truncated,
    non-image or too small file is a usage error (one line, exit 2), not a traceback
    in every notebook and photo.

    Raises
    ------
    UsageError
        Neither a sample nor a file, or a file that does not load as an image.
    """
    from helpers.images import STYLE_SAMPLES, ImageLoadError, load_image

    if style is None or style in STYLE_SAMPLES:
        return style or DEFAULT_STYLE
    path = Path(style).expanduser().absolute()
    if not path.is_file():
        raise UsageError(f"--style {style!r} is neither a sample ({', '.join(STYLE_SAMPLES)}) "
                         f"nor an existing file (looked for {display_path(path)})")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an animation's first frame is fine here
            load_image(path, max_side=1024)
    except ImageLoadError as exc:
        raise UsageError(f"--style: {exc}; give an image file or a sample name "
                         f"({', '.join(STYLE_SAMPLES)})") from exc
    return str(path)


# --------------------------------------------------------------------------- photos


class GarmentAbsentError(ValueError):
    """The ``--garment`` asked for is not in the photo's parse."""


def check_garment_present(pipeline: Any, garment: str) -> None:
    """Refuse a ``--garment`` class that the photo's parse does not hold.

    Parameters
    ----------
    pipeline : helpers.pipeline.Pipeline
        With the photo set (``set_content``).
    garment : str
        One of :data:`GARMENT_CHOICES`. ``"auto"`` and ``"outfit"`` always pass, and so
        does everything with a back-end without cloth classes (it ignores the name).

    Raises
    ------
    GarmentAbsentError
        The class is absent; the message names the garments present.
    """
    if garment in ("auto", "outfit") or not pipeline.has_classes:
        return
    from helpers.segment import CLASS_NAMES, classes_present

    present = [CLASS_NAMES[class_id] for class_id in sorted(classes_present(
        pipeline.parsing().labels)) if class_id != 0]
    if garment not in present:
        found = ", ".join(present) if present else "none"
        hint = ("use --garment " + " or ".join(present) + ", 'auto' or 'outfit'" if present
                else "click on the garment in the quickstart's studio instead")
        raise GarmentAbsentError(f"--garment {garment}: the photo has no {garment}; "
                                 f"garments present: {found} ({hint})")


def save_stages(result: Any, style_image: Any, output: Path, *,
                protect: Sequence[Path] = ()) -> list[Path]:
    """Write a run's intermediate stages next to its output, each file atomically.

    Parameters
    ----------
    result : helpers.pipeline.PipelineResult
    style_image : (h, w, 3) uint8
    output : Path
        The output image ``<folder>/<name>.png``; stages go to ``<folder>/<name>_<stage>.png``.
    protect : sequence of Path
        Input files that must not be overwritten.

    Returns
    -------
    list of Path
        ``_labels`` (with cloth classes), ``_mask``, ``_saliency`` (M), ``_alpha``,
        ``_stylized`` and ``_overview`` files, in that order.
    """
    import numpy as np

    from helpers.figures import pipeline_overview_figure, save_figure
    from helpers.images import save_image
    from helpers.notebook_support import map_to_uint8

    def sibling(stage: str) -> Path:
        return output.with_name(f"{output.stem}_{stage}.png")

    written = []
    if result.labels is not None:
        # Classes 0-3 spread over the grey range so that they can be told apart by eye.
        grey = (np.asarray(result.labels, dtype=np.uint16) * 85).clip(0, 255).astype(np.uint8)
        written.append(save_image(grey, sibling("labels"), protect=protect))
    for stage, values in (("mask", result.mask), ("saliency", result.saliency),
                          ("alpha", result.alpha)):
        if values is None:  # M, with a method that does not use it
            continue
        written.append(save_image(map_to_uint8(values), sibling(stage), protect=protect))
    written.append(save_image(result.stylized, sibling("stylized"), protect=protect))
    written.append(save_figure(pipeline_overview_figure(result, style_image),
                               sibling("overview")))
    return written


def process_photos(photos: Sequence[Path], style: str, folder: Path, *, pipeline,
                   garment: str = "auto", method: str = DEFAULT_METHOD,
                   progress: bool = True,
                   stages: bool = False) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Restyle each photo in turn in this process; one failure does not stop the others.

    The plain sequential loop, without a cluster, a manifest or resumption (the command
    runs :mod:`helpers.catalogue`'s job); ``benchmarks/catalogue.py`` measures the job
    against it.

    Parameters
    ----------
    photos : sequence of Path
    style : str
        A style sample name or an image path.
    folder : Path
        Where ``<stem>_<style>.png`` go.
    pipeline : helpers.pipeline.Pipeline
    garment : str
        One of :data:`GARMENT_CHOICES` ("auto": the upper body).
    method : str
        Blending method.
    progress : bool
        Show a tqdm progress bar.
    stages : bool
        Also write each photo's stages next to its output (:func:`save_stages`).

    Returns
    -------
    processed : list of dict
        ``input``, ``output``, ``size``, ``seconds``, ``warnings`` (their messages),
        ``backends``, ``timings`` and, with ``stages``, ``stages`` (paths) per photo.
        A photo without the requested ``garment`` is a failure whose reason names the
        garments it has.
    failed : list of dict
        ``input`` and ``reason`` per photo that failed.
    """
    from tqdm.auto import tqdm

    from helpers.images import load_image, save_image
    from helpers.notebook_support import image_label, load_style

    style_image = load_style(style)
    style_name = image_label(style)
    processed: list[dict[str, Any]] = []
    failed: list[dict[str, str]] = []
    names = catalogue.output_names(photos, style_name)
    bar = tqdm(photos, desc="photos", unit="photo", disable=not progress, file=sys.stderr)
    for photo in bar:
        start = time.perf_counter()
        # Warnings (no face found, an empty region) belong to this photo: say which.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                check_photo_memory(photo)  # before decoding: no MemoryError halfway
                image = load_image(photo)
                pipeline.set_content(image)
                check_garment_present(pipeline, garment)
                region = auto_region(pipeline) if garment == "auto" else garment
                result = pipeline.run(image, style_image, region=region, method=method)
                target = save_image(result.output,
                                    folder / names[photo], protect=photos)
                stage_files = (save_stages(result, style_image, target, protect=photos)
                               if stages else [])
            except Exception as exc:  # one bad photo must not stop the batch: report it
                reason = f"{type(exc).__name__}: {exc}"
                failed.append({"input": str(photo), "reason": reason})
                bar.write(f"failed: {display_path(photo)}: {display_path(reason)}")
                continue
        notes = list(dict.fromkeys(str(item.message) for item in caught))
        for note in notes:
            bar.write(f"note: {display_path(photo.name)}: "
                      f"{display_path(catalogue.command_note(note))}")
        processed.append({"input": str(photo), "output": str(target),
                          "size": list(image.shape[:2]),
                          "seconds": time.perf_counter() - start, "warnings": notes,
                          "backends": dict(result.backends), "timings": dict(result.timings),
                          **({"stages": [str(path) for path in stage_files]} if stages else {})})
    bar.close()
    return processed, failed


def auto_region(pipeline: Any) -> str:
    """``--garment auto``: the upper body, else the full body (a dress), else what is there.

    Back-ends without classes get ``"upper_body"`` (which they ignore).
    """
    if not pipeline.has_classes:
        return "upper_body"
    from helpers.segment import CLASS_NAMES, classes_present

    present = classes_present(pipeline.parsing().labels)
    for class_id in (1, 3, 2):
        if class_id in present:
            return CLASS_NAMES[class_id]
    return "upper_body"  # none: the error lists what is present


# --------------------------------------------------------------------------- notebooks


@contextlib.contextmanager
def _stderr_to(path: Path) -> Iterator[None]:
    """Send file descriptor 2 to ``path`` for a while, so the kernel (a child process that
    inherits it) logs there instead of interleaving with the progress lines."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(path, "ab") as log:
            os.dup2(log.fileno(), 2)
            try:
                yield
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def describe_failure(exc: BaseException) -> str:
    """One line naming the failing cell (index, first source line) and the error."""
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        first = next((line.strip() for line in (exc.source or "").splitlines()
                      if line.strip()), "")
        return f"cell {exc.cell_index} ({first!r}): {exc.ename}: {exc.evalue}"
    return f"{type(exc).__name__}: {exc}"


def find_notebooks(folder: str | os.PathLike | None = None) -> list[Path]:
    """The ``*.ipynb`` files of a folder, sorted (default: the project's notebooks).

    Raises
    ------
    UsageError
        When the folder does not exist or holds no notebook.
    """
    default = folder is None
    folder = NOTEBOOKS_DIR if default else Path(folder).expanduser().absolute()
    notebooks = sorted(folder.glob("*.ipynb")) if folder.is_dir() else []
    if not notebooks:
        hint = ("; an installed copy has none: give --notebooks-dir DIR (a checkout's "
                "notebooks/), or restyle photos with --no-notebooks --content PHOTOS"
                if default else "")
        raise UsageError(f"no notebooks (*.ipynb) in {folder}{hint}")
    return notebooks


def check_notebook_kernel() -> None:
    """Raise :class:`UsageError` unless the ``python3`` Jupyter kernel the notebooks run in
    is installed (``ipykernel``), before any notebook runs."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        raise UsageError("the notebooks run in a Jupyter kernel, and none named 'python3' "
                         "is installed: pip install ipykernel (or --no-notebooks)") from None


#: Parameters every notebook's ``parameters`` cell must declare: without them the run's
#: --output and size would be silently ignored (the notebook would write into its own
#: default folder).
REQUIRED_PARAMETERS = ("output_dir", "max_side")


def _papermill_path(path: Path) -> str:
    """``path`` as papermill takes it literally: papermill formats input and output paths
    with the notebook's parameters (``str.format``), so braces are doubled."""
    return str(path).replace("{", "{{").replace("}", "}}")


def notebook_parameters(notebook: Path) -> set[str]:
    """The names a notebook's ``parameters`` cell declares, checked for the required ones.

    Raises
    ------
    UsageError
        No cell tagged ``parameters``, or one that lacks :data:`REQUIRED_PARAMETERS`;
        the message names the notebook.
    """
    import nbformat
    import papermill

    try:
        cells = nbformat.read(str(notebook), as_version=4).cells
    except Exception as exc:  # not JSON, not a notebook: say which file
        raise UsageError(f"notebook {display_path(notebook)} cannot be read "
                         f"({type(exc).__name__}: {exc})") from exc
    if not any("parameters" in cell.get("metadata", {}).get("tags", []) for cell in cells):
        raise UsageError(
            f"notebook {display_path(notebook)} has no cell tagged 'parameters', so "
            f"--output and --max-side would be ignored; tag the cell that sets "
            f"{' and '.join(REQUIRED_PARAMETERS)} with 'parameters' (in Jupyter: View > "
            "Cell Toolbar > Tags)")
    try:
        declared = set(papermill.inspect_notebook(_papermill_path(notebook)))
    except Exception as exc:  # e.g. no kernel name in its metadata
        raise UsageError(f"notebook {display_path(notebook)}: papermill cannot read its "
                         f"parameters ({type(exc).__name__}: {exc})") from exc
    missing = [name for name in REQUIRED_PARAMETERS if name not in declared]
    if missing:
        raise UsageError(
            f"notebook {display_path(notebook)}: its 'parameters' cell does not set "
            f"{', '.join(missing)}, so the run's value would be ignored; add "
            f"{' and '.join(missing)} to that cell")
    return declared


def run_notebooks(notebooks: Sequence[Path], output_dir: Path, parameters: dict[str, Any], *,
                  cell_timeout: float | None = None) -> list[NotebookRun]:
    """Execute each notebook with papermill; a failing one is reported and the rest go on.

    Each notebook gets the entries of ``parameters`` that its ``parameters`` cell
    declares; a notebook without such a cell, or whose cell lacks
    :data:`REQUIRED_PARAMETERS`, fails without running (:func:`notebook_parameters`).
    Paths are passed to papermill literally (braces in a folder name are kept).
    Executed notebooks go to ``<output_dir>/notebooks/``; one line per notebook is
    printed with its elapsed time (and the failing cell and error).

    Returns
    -------
    list of NotebookRun
    """
    import papermill

    executed_dir = output_dir / "notebooks"
    executed_dir.mkdir(parents=True, exist_ok=True)
    runs = []
    for index, notebook in enumerate(notebooks, start=1):
        print(f"[{index}/{len(notebooks)}] {notebook.stem} ...", end=" ", flush=True)
        executed = executed_dir / notebook.name
        log = executed_dir / f"{notebook.stem}.log"
        log.unlink(missing_ok=True)
        start = time.perf_counter()
        error = None
        try:
            declared = notebook_parameters(notebook)
            given = {key: value for key, value in parameters.items() if key in declared}
            with _stderr_to(log):
                papermill.execute_notebook(
                    _papermill_path(notebook), _papermill_path(executed), parameters=given,
                    kernel_name="python3",
                    cwd=str(notebook.parent), progress_bar=False, log_output=False,
                    execution_timeout=cell_timeout)
        except Exception as exc:  # report and go on with the other notebooks
            error = describe_failure(exc)
        seconds = time.perf_counter() - start
        run = NotebookRun(notebook=notebook.stem, ok=error is None, seconds=seconds,
                          error=error, executed=str(executed) if executed.exists() else None,
                          log=str(log) if log.exists() else None)
        stage_metrics = output_dir / NOTEBOOK_STAGES.get(notebook.stem, "-") / "metrics.json"
        if run.ok and stage_metrics.is_file():
            recorded = json.loads(stage_metrics.read_text(encoding="utf-8"))
            run.backends = dict(recorded.get("backends", {}))
            run.timings = dict(recorded.get("timings", {}))
        if run.ok:
            print(f"ok ({seconds:.1f} s)", flush=True)
        else:
            print(f"FAILED ({seconds:.1f} s): {error}", flush=True)
        runs.append(run)
    return runs


def run_ui_check(output_dir: Path) -> tuple[bool, str]:
    """Run the browser test of the interactive studio, saving screenshots.

    Returns
    -------
    (ok, summary)
        ``ok`` is False when the test failed or could not run (no chromium, say);
        ``summary`` is pytest's closing line or the reason it was skipped.
    """
    import subprocess

    from helpers import PROJECT_ROOT

    test = PROJECT_ROOT / "tests" / "test_browser.py"
    if not test.is_file():
        return False, (f"skipped: the browser test {test} is not here: --ui-check runs from "
                       "a checkout (an installed copy has no tests)")
    import importlib.util

    if importlib.util.find_spec("pytest") is None:
        return False, ("skipped: --ui-check needs the development set: "
                       "python -m pip install -r requirements.txt")
    shots = output_dir / "figures" / "ui"
    shots.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CLOTHSTYLE_UI_SCREENSHOTS": str(shots)}
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(test)],
        cwd=str(PROJECT_ROOT), env=env, capture_output=True, text=True, check=False)
    lines = [line for line in completed.stdout.splitlines() if line.strip()]
    skipped = [line for line in lines if line.startswith("SKIPPED")]
    if skipped:
        return False, "skipped: " + skipped[0].split(": ", 1)[-1]
    summary = lines[-1] if lines else completed.stderr.strip()[-500:]
    return completed.returncode == 0, summary


# --------------------------------------------------------------------------- main


def default_workers() -> int:
    """Local cluster size: one worker per core, at most 4 (each holds its own models)."""
    return max(1, min(os.cpu_count() or 1, 4))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status (see the module docstring)."""
    # The stack holds the output folder's lock for the whole run.
    with contextlib.ExitStack() as stack:
        return _main(argv, stack)


def _main(argv: Sequence[str] | None, stack: contextlib.ExitStack) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    started = time.perf_counter()
    max_side = QUICK_MAX_SIDE if args.quick else (
        1024 if args.max_side is None else args.max_side)
    try:
        if args.quick and args.max_side is not None:
            raise UsageError("give either --quick or --max-side, not both")
        if max_side < 64:
            raise UsageError(f"--max-side must be at least 64 pixels, got {max_side}")
        if args.save_stages and not args.content:
            raise UsageError("--save-stages writes the stages of your photos: give --content")
        if args.no_notebooks and not args.content and not args.ui_check:
            raise UsageError("nothing to do: --no-notebooks without --content or --ui-check")
        if not (math.isfinite(args.cell_timeout) and args.cell_timeout > 0):
            # "nan" and "inf" parse as floats: nan > 0 is False but so is nan <= 0
            raise UsageError(f"--cell-timeout must be a positive number of seconds, got "
                             f"{args.cell_timeout:g}")
        workers = default_workers() if args.workers is None else args.workers
        if workers < 1:
            raise UsageError(f"--workers must be at least 1, got {workers}")
        style = style_spec(args.style)
        if args.stylization == "magenta_hub":
            # an optional back-end missing: one line now, not one failure per photo
            from helpers.stylize import check_hub_installed

            try:
                check_hub_installed()
            except (ImportError, FileNotFoundError) as exc:
                raise UsageError(f"--stylization magenta_hub: {exc}") from None
        if args.content:
            catalogue.scheduler_address(args.cluster)
        selection = (catalogue.find_photos(args.content) if args.content
                     else catalogue.PhotoSelection([]))
        photos = selection.photos
        if args.content and Path(args.content).expanduser().is_file():
            try:
                check_photo_memory(photos[0])
            except MemoryError as exc:  # a photo this machine cannot hold: say so now
                raise UsageError(str(exc)) from exc
        notebooks = [] if args.no_notebooks else find_notebooks(args.notebooks_dir)
        if notebooks:
            check_notebook_kernel()
        for notebook in notebooks:
            notebook_parameters(notebook)
        # --quick keeps its small pictures away from the committed figures in results/.
        default_output = RESULTS_DIR / "quick" if args.quick else RESULTS_DIR
        output_dir = prepare_output_dir(args.output or default_output)
        if photos:
            names, protect = plan_photo_outputs(photos, style, output_dir, args.save_stages)
        stack.enter_context(catalogue.lock_output_folder(output_dir))
    except (UsageError, catalogue.JobSetupError) as exc:
        print(f"error: {display_path(str(exc))}", file=sys.stderr)
        return EXIT_USAGE

    backend_args = {key: getattr(args, key) for key in ("segmentation", "saliency",
                                                       "stylization")
                    if getattr(args, key) is not None}
    summary: dict[str, Any] = {"command": ["python", "-m", "helpers.run",
                                           *(sys.argv[1:] if argv is None else argv)],
                               "max_side": max_side, "output_dir": str(output_dir)}
    backends: dict[str, str] = {}
    failures: list[str] = []
    job_errors: set[str] = set()

    if notebooks:
        print(f"notebooks: {len(notebooks)} from {display_path(notebooks[0].parent)} -> "
              f"{display_path(output_dir / 'notebooks')}")
        parameters: dict[str, Any] = {"max_side": max_side, "output_dir": str(output_dir),
                                      **backend_args}
        if args.style is not None:
            parameters["style"] = style
        if args.method is not None:
            parameters["method"] = args.method
        runs = run_notebooks(notebooks, output_dir, parameters, cell_timeout=args.cell_timeout)
        summary["notebooks"] = [vars(run) for run in runs]
        for run in runs:
            backends.update(run.backends)
            if not run.ok:
                failures.append(f"notebook {run.notebook}: {run.error}")

    if args.ui_check:
        print("ui: driving the studio in JupyterLab with headless Chromium ...", end=" ",
              flush=True)
        ok, ui_summary = run_ui_check(output_dir)
        print(ui_summary, flush=True)
        summary["ui_check"] = {"ok": ok, "summary": ui_summary,
                               "screenshots": str(output_dir / "figures" / "ui")}
        if not ok:
            failures.append(f"ui check: {ui_summary}")

    interrupted = False
    if photos:
        if selection.hidden:
            print(f"note: {len(selection.hidden)} hidden file(s) (names starting with '.') "
                  "left out of the folder; give one as --content FILE to process it")
        if selection.unreadable:
            from helpers.images import HEIC_NOTE

            print(f"note: {len(selection.unreadable)} HEIC/HEIF photo(s) left out "
                  f"({', '.join(p.name for p in selection.unreadable[:3])}"
                  f"{', ...' if len(selection.unreadable) > 3 else ''}): "
                  f"{HEIC_NOTE}: convert them to JPEG or PNG")
        try:
            job = run_photo_job(photos, names, protect, style, output_dir, args,
                                backend_args=backend_args, max_side=max_side,
                                workers=workers, backends=backends)
        except KeyboardInterrupt:  # before the job started: nothing finished
            job = catalogue.JobResult(not_finished=[str(photo) for photo in photos],
                                      interrupted=True)
        interrupted = job.interrupted
        summary["photos"] = {"processed": job.processed, "failed": job.failed,
                             "skipped": job.skipped, "not_finished": job.not_finished,
                             "interrupted": job.interrupted, "engine": job.engine,
                             "seconds": job.seconds, "photos_per_second": job.throughput,
                             "manifest": str(output_dir / catalogue.MANIFEST_NAME)}
        for line in job.summary_lines():
            print(line, file=sys.stderr if job.interrupted else sys.stdout)
        failures.extend(display_path(f"photo {item['input']}: {item['reason']}")
                        for item in job.failed)
        if job.error:
            summary["photos"]["error"] = job.error
            failures.append(f"{job.error} ({len(job.not_finished)} photo(s) not processed)")
            job_errors.add(failures[-1])
        if job.interrupted:
            failures.extend(display_path(f"photo {path}: not finished (interrupted)")
                            for path in job.not_finished)

    from helpers.images import save_json

    seconds = time.perf_counter() - started
    summary.update(backends=backends, failures=failures, ok=not failures,
                   total_seconds=seconds)
    try:
        metrics_path: Path | str = save_json(summary, output_dir / "metrics.json")
        write_error = None
    except OSError as exc:  # e.g. the disk is full: the summary below still tells all
        metrics_path = "not written"
        write_error = (f"error: could not write {output_dir / 'metrics.json'}: "
                       f"{exc.strerror or exc}")
    status = (EXIT_INTERRUPTED if interrupted else EXIT_FAILED if failures or write_error
              else EXIT_OK)
    shown = [line for line in failures if not line.endswith("(interrupted)")]
    if shown:
        print(f"FAILED: {len(shown)} problem(s) in {seconds:.1f} s:", file=sys.stderr)
        for line in shown:
            # a photo's message may hold its name, which must stay on one line; the job's
            # own messages (the sources of a missing weight file) keep their lines
            shown_line = display_message(line) if line in job_errors else display_path(line)
            print(f"  {shown_line}", file=sys.stderr)
    if failures:
        print(f"metrics: {display_path(metrics_path)}", file=sys.stderr)
    else:
        print(f"done in {seconds:.1f} s; metrics: {display_path(metrics_path)}")
    if write_error:
        print(write_error, file=sys.stderr)
    return status


def plan_photo_outputs(photos: Sequence[Path], style: str, output_dir: Path,
                       stages: bool) -> tuple[dict[Path, str], list[Path]]:
    """Output names for the photos, checked against every input before any work.

    Returns
    -------
    names : dict
        Photo to output file name (unique within the run, and never a name an earlier
        run into the folder gave another input; see
        :func:`helpers.catalogue.output_names`).
    protect : list of Path
        Every input of the run (the photos and a style file), never to be written.

    Raises
    ------
    helpers.catalogue.JobSetupError
        When an output would land on an input, or an input lies in the output's
        ``photos/`` folder.
    """
    from helpers.notebook_support import image_label

    photos_dir = output_dir / "photos"
    # names an earlier run into this folder gave to other inputs stay theirs
    names = catalogue.output_names(photos, image_label(style),
                                   taken=catalogue.outputs_taken(output_dir))
    protect = [*photos, *([Path(style)] if Path(style).is_absolute() else [])]
    writes = [output_dir / "metrics.json", output_dir / catalogue.MANIFEST_NAME,
              output_dir / catalogue.LOCK_NAME]
    for name in names.values():
        writes.append(photos_dir / name)
        if stages:
            writes.extend(catalogue.stage_paths(photos_dir / name))
    catalogue.check_apart_from_inputs(protect, writes, photos_dir)
    return names, protect


def run_photo_job(photos: Sequence[Path], names: dict[Path, str], protect: Sequence[Path],
                  style: str, output_dir: Path, args: argparse.Namespace, *,
                  backend_args: dict[str, str], max_side: int, workers: int,
                  backends: dict[str, str]) -> catalogue.JobResult:
    """Resolve the back-ends and fetch their weights here, then run
    :func:`helpers.catalogue.run_job` (whose ``error`` says why no photo ran when the
    weights cannot be had)."""
    import hashlib

    from helpers.notebook_support import image_label, load_style
    from helpers.pipeline import Pipeline
    from helpers.stylize import saved_model_digest
    from helpers.weights import WeightsCorruptError, WeightsUnavailableError

    pipeline = Pipeline(max_side=max_side, **backend_args)
    if args.garment != "auto" and not pipeline.has_classes:
        print(f"note: --garment {args.garment} needs a back-end with cloth classes; "
              f"{pipeline.backends['segmentation']!r} restyles the garment under the face")
    print(f"backends: {pipeline.backend_line()}")
    backends.update(pipeline.backends)
    if pipeline.hub_handle:
        backends["stylization_model"] = pipeline.hub_handle   # which SavedModel or URL
    try:
        # here, once: each worker would otherwise fail on it photo by photo
        pipeline.fetch_weights()
    except (WeightsUnavailableError, WeightsCorruptError) as exc:
        return catalogue.JobResult(not_finished=[str(photo) for photo in photos],
                                   engine="not started", error=str(exc))
    style_image = load_style(style)
    spec = catalogue.JobSpec(
        style_name=image_label(style),
        style_sha256=hashlib.sha256(repr(style_image.shape).encode()
                                    + style_image.tobytes()).hexdigest(),
        garment=args.garment, method=args.method or DEFAULT_METHOD, max_side=max_side,
        # every worker runs the back-ends resolved here, whatever its own cache holds
        backends=tuple(pipeline.backends.items()), save_stages=args.save_stages,
        hub_handle=pipeline.hub_handle,
        hub_model_sha256=pipeline.hub_handle and saved_model_digest(pipeline.hub_handle))
    del pipeline  # the workers build their own
    print(f"photos: {len(photos)} -> {output_dir / 'photos'} (style {style})")
    return catalogue.run_job(
        photos, names, style, output_dir / "photos", output_dir / catalogue.MANIFEST_NAME,
        spec=spec, style_image=style_image, cluster=args.cluster, workers=workers,
        protect=protect)


if __name__ == "__main__":
    sys.exit(main())
