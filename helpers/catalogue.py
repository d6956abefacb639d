"""Restyle a catalogue of photos on a Dask cluster: resumable, recorded, measured.

``python -m helpers.run --content FOLDER_OR_GLOB --style STYLE --output DIR`` runs this
job. Each photo is one ``dask.distributed`` task; each worker process builds the
pipeline (its models) once and keeps it for every photo it is given
(:func:`restyle_photo`). By default the job starts a local cluster on this machine
(``--workers`` processes, one thread each); ``--cluster ADDRESS`` or Dask's own
``DASK_SCHEDULER_ADDRESS`` runs the same job on an existing cluster, whose workers must
have ``clothstyle`` installed and see the input and output paths (a shared file system).

What the job keeps under the output folder:

* ``photos/<stem>_<style>.png``: each finished photo, written atomically by the worker
  (a temporary file renamed into place: a killed worker or driver leaves no half-written
  output; the next run removes its stale temporary files);
* ``manifest.jsonl``: one JSON row per photo processed, appended when the photo is done:
  input path, content hash, parameters, back-ends, device, time, output path and its
  hash, status and error. A rerun skips a photo whose last row says ``ok`` for the same
  content hash and parameters and whose output files still hold the recorded bytes;
* ``.clothstyle.lock``: held for the whole run (:func:`lock_output_folder`), so two runs
  never write into one output folder at once.

Dask was chosen over Ray Data by measurement on this 2-core machine (the README has the
table): 29 MB to install against about 495 MB, a 2-worker local cluster up in 1-2 s
against 16 s (plus 9 s for Ray Data's first dataset), 2.5-7 ms per task against 24 ms,
about 0.2 GiB for the idle engine against 2 GiB, and no CPU reservation that can stall a
2-CPU node.
"""

from __future__ import annotations

import contextlib
import datetime
import glob
import hashlib
import json
import logging
import os
import re
import signal
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers.paths import display_path, fit_name

#: File suffixes taken from a ``--content`` folder or glob (a single file is always tried).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".bmp", ".gif", ".tif", ".tiff",
                  ".webp", ".avif")
MANIFEST_NAME = "manifest.jsonl"
LOCK_NAME = ".clothstyle.lock"
#: Stage files written next to an output with ``--save-stages`` (see ``run.save_stages``).
STAGE_SUFFIXES = ("labels", "mask", "saliency", "alpha", "stylized", "overview")
#: Bumped when the meaning of a manifest row or the outputs' recipe changes.
JOB_VERSION = 1
#: Dask's own variable naming an existing scheduler.
SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"
# atomic_write_bytes's temporary names: ".<name>.<12 hex>.tmp"
_TEMP_PATTERN = re.compile(r"^\..+\.[0-9a-f]{12}\.tmp$")
_GLOB_CHARS = frozenset("*?[")


class JobSetupError(Exception):
    """A problem with the job found before any work (the command exits 2)."""


class ClusterError(RuntimeError):
    """The Dask cluster cannot be reached or started."""


# --------------------------------------------------------------------------- choosing photos

@dataclass
class PhotoSelection:
    """The photos of a run, and the hidden and HEIC/HEIF files that were left out."""

    photos: list[Path]
    hidden: list[Path] = field(default_factory=list)
    unreadable: list[Path] = field(default_factory=list)


def find_photos(content: str | os.PathLike) -> PhotoSelection:
    """The photos that ``--content`` names: a file, a folder's image files, or a glob.

    Folder mode leaves out names starting with ``"."`` (hidden files, such as the
    ``._photo.jpg`` metadata files macOS writes on shared drives, and this job's own
    temporary files) and reports them in ``hidden``; give such a photo as a file, or
    with a glob that starts with a dot (``'photos/.*.jpg'``), to process it. A glob
    follows Python's :mod:`glob` (``**`` recurses; a leading dot is needed to match
    hidden names) and keeps the image files it matches. Both leave out HEIC/HEIF photos
    (``.heic``, ``.heif``), which Pillow cannot open without a plugin, and report them in
    ``unreadable``.

    Returns
    -------
    PhotoSelection
        Absolute paths, sorted, without duplicates.

    Raises
    ------
    JobSetupError
        When nothing exists at the path, or no image file is found.
    """
    from helpers.images import HEIC_NOTE, HEIC_SUFFIXES

    text = os.fspath(content)
    path = Path(text).expanduser().absolute()
    if path.is_file():
        return PhotoSelection([path])
    if path.is_dir():
        files = [p for p in path.iterdir() if p.is_file()]
        entries = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
        selection = PhotoSelection(sorted(p for p in entries if not p.name.startswith(".")),
                                   sorted(p for p in entries if p.name.startswith(".")))
        where = "in this folder"
    elif _GLOB_CHARS & set(text):
        files = [p for p in {Path(match).absolute()
                             for match in glob.glob(os.path.expanduser(text), recursive=True)}
                 if p.is_file()]
        selection = PhotoSelection(sorted(p for p in files
                                          if p.suffix.lower() in IMAGE_SUFFIXES))
        where = "matching this pattern"
    else:
        raise JobSetupError(f"--content {path}: no such file or folder")
    selection.unreadable = sorted(p for p in files if p.suffix.lower() in HEIC_SUFFIXES
                                  and not p.name.startswith("."))
    if not selection.photos:
        hint = (f" ({len(selection.hidden)} hidden file(s) starting with '.' are left out: "
                "give one as --content FILE)" if selection.hidden else "")
        if selection.unreadable:
            hint += (f" ({len(selection.unreadable)} HEIC/HEIF photo(s) are left out: "
                     f"{HEIC_NOTE}: convert them to JPEG or PNG)")
        raise JobSetupError(f"--content {path}: no image files {where} "
                            f"({', '.join(IMAGE_SUFFIXES)}){hint}")
    return selection


def output_names(photos: Sequence[Path], style_name: str, *,
                 taken: Mapping[str, str] | None = None) -> dict[Path, str]:
    """A distinct output file name for each photo, the same for the same set of photos.

    ``<stem>_<style>.png``; photos whose names would clash (``a.jpg`` and ``a.png``, or
    ``a.JPG`` and ``a.jpg``, compared without case, as a case-insensitive file system
    would) get their suffix in the name; the leading dots of a hidden photo's name are
    dropped, so that its output is visible (``a_jpg_<style>.png``), and where that still
    clashes, a short hash of their full path (``a_JPG-3f2a1b9c_<style>.png``).

    Parameters
    ----------
    photos : sequence of Path
    style_name : str
    taken : mapping of str to str, optional
        Output file names an earlier run into the same folder wrote, to the input each
        was for (:func:`outputs_taken`). A photo whose name another input holds there
        gets the hashed form, so that a photo of the same name from another folder
        (``IMG_0001.jpg``) never overwrites it.

    Returns
    -------
    dict
        Photo path to file name.
    """
    def clashes(names: dict[Path, str]) -> set[Path]:
        seen: dict[str, list[Path]] = {}
        for photo, name in names.items():
            seen.setdefault(name.casefold(), []).append(photo)
        return {photo for group in seen.values() if len(group) > 1 for photo in group}

    def digest(photo: Path) -> str:
        return hashlib.sha256(os.fsencode(photo)).hexdigest()[:8]

    def stem(photo: Path) -> str:
        # a hidden photo named on purpose gets a visible output
        return photo.stem.lstrip(".") or "photo"

    names = {photo: _fit(stem(photo), f"_{style_name}.png", digest(photo)) for photo in photos}
    for photo in clashes(names):
        names[photo] = _fit(stem(photo), f"_{photo.suffix.lstrip('.').lower()}_{style_name}.png",
                            digest(photo))
    held = {name.casefold(): owner for name, owner in (taken or {}).items()}
    for photo in clashes(names) | {photo for photo, name in names.items()
                                   if held.get(name.casefold(), str(photo)) != str(photo)}:
        names[photo] = _fit(stem(photo), f"_{photo.suffix.lstrip('.')}-{digest(photo)}_"
                                         f"{style_name}.png", digest(photo))
    return names


def outputs_taken(output_dir: Path) -> dict[str, str]:
    """Output file names that the manifest in ``output_dir`` records, to the input each
    was written for (the last row of each input; see :func:`output_names`)."""
    return {Path(row["output"]).name: row["input"]
            for row in read_manifest(output_dir / MANIFEST_NAME).values()
            if isinstance(row.get("output"), str) and isinstance(row.get("input"), str)}


#: Longest file name (bytes) an output may have: 255 (the usual limit) less what its
#: temporary name (".<name>.<12 hex>.tmp") and the longest stage suffix ("_overview") add.
MAX_NAME_BYTES = 255 - len(".") - len(".0123456789ab.tmp") - len("_overview")


def _fit(stem: str, tail: str, digest: str) -> str:
    """``stem + tail`` within :data:`MAX_NAME_BYTES`, a long stem cut (whole characters,
    odd bytes kept) and marked ``-<digest>`` (:func:`helpers.paths.fit_name`)."""
    return fit_name(stem, tail, limit=MAX_NAME_BYTES, tag="-" + digest)


def stage_paths(output: Path) -> list[Path]:
    """The ``--save-stages`` files that go with an output, in :data:`STAGE_SUFFIXES` order."""
    return [output.with_name(f"{output.stem}_{stage}.png") for stage in STAGE_SUFFIXES]


def _norm(path: Path) -> str:
    return os.path.normcase(os.path.realpath(path))


def check_apart_from_inputs(inputs: Sequence[Path], writes: Sequence[Path],
                            photos_dir: Path) -> None:
    """Refuse a run whose outputs could land on one of its inputs.

    Parameters
    ----------
    inputs : sequence of Path
        Every file the run reads (the photos and a style file).
    writes : sequence of Path
        Every file the run may write.
    photos_dir : Path
        The output's ``photos/`` folder: no input may be inside it, since the run
        writes there (a rerun over it would also restyle the results).

    Raises
    ------
    JobSetupError
        Naming the input and what to do.
    """
    folder = _norm(photos_dir) + os.sep
    by_path = {_norm(path).casefold(): path for path in inputs}
    for path in inputs:
        if _norm(path).startswith(folder):
            raise JobSetupError(
                f"--content {path} is inside the output folder {photos_dir}, where this "
                "run writes its results: give another --output (inputs are never "
                "overwritten)")
    for target in writes:
        clash = by_path.get(_norm(target).casefold())
        if clash is not None:
            raise JobSetupError(
                f"the output {target} would overwrite the input {clash}: give another "
                "--output (inputs are never overwritten)")


# --------------------------------------------------------------------------- the output folder


@contextlib.contextmanager
def lock_output_folder(folder: Path) -> Iterator[Path]:
    """Hold ``<folder>/.clothstyle.lock`` for a run, so no second run writes there at once.

    An operating-system lock (``filelock``): it goes with the process, so a killed run
    never leaves the folder locked.

    Raises
    ------
    JobSetupError
        When another run holds the lock.
    """
    from filelock import FileLock, Timeout

    path = folder / LOCK_NAME
    lock = FileLock(path, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise JobSetupError(
            f"another run is writing into {folder} (it holds {path}): wait for it to "
            "finish, or give another --output") from None
    try:
        yield path
    finally:
        lock.release()


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete temporary files left by a killed run (``.<name>.<hex>.tmp``); returns them."""
    if not folder.is_dir():
        return []
    stale = [path for path in folder.iterdir() if _TEMP_PATTERN.match(path.name)]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, read in 1 MiB blocks (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(path: Path) -> dict[str, dict[str, Any]]:
    """The last row of each input in a manifest; a torn last line (killed run) is ignored."""
    rows: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return rows
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and "input" in row:
                rows[row["input"]] = row
    return rows


class Manifest:
    """Append-only JSON-lines record of a job; one flushed and synced line per photo."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.previous = read_manifest(path)
        self._handle = open(path, "a+b")  # noqa: SIM115  (kept open for the whole run)
        # A killed run can leave a torn last line: start ours on a fresh one.
        self._handle.seek(0, os.SEEK_END)
        if self._handle.tell():
            self._handle.seek(-1, os.SEEK_END)
            if self._handle.read(1) != b"\n":
                self._handle.write(b"\n")

    def append(self, row: dict[str, Any]) -> None:
        """Write one row (raises ``OSError`` when the disk is full)."""
        # ASCII with \u escapes: a file name that is not UTF-8 (kept as lone surrogates)
        # stays valid JSON and reads back to the same path
        line = json.dumps(row, sort_keys=True, ensure_ascii=True) + "\n"
        self._handle.write(line.encode("ascii"))
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        self._handle.close()


def is_done(row: dict[str, Any] | None, content_sha256: str,
            parameters: dict[str, Any]) -> bool:
    """Whether a manifest row shows this photo finished with these parameters, its output
    files still holding the bytes that were recorded."""
    if not row or row.get("status") != "ok" or row.get("content_sha256") != content_sha256 \
            or row.get("parameters") != parameters:
        return False
    recorded = row.get("files") or {}
    if not recorded:
        return False
    for path, digest in recorded.items():
        try:
            if file_sha256(path) != digest:
                return False
        except OSError:
            return False
    return True


# --------------------------------------------------------------------------- the task


@dataclass(frozen=True)
class JobSpec:
    """What every photo of a job is done with (sent to each worker)."""

    style_name: str
    style_sha256: str
    garment: str
    method: str
    max_side: int
    backends: tuple[tuple[str, str], ...]
    save_stages: bool
    #: ``magenta_hub``: the resolved handle, and the SavedModel's digest for a folder
    hub_handle: str | None = None
    hub_model_sha256: str | None = None

    def parameters(self) -> dict[str, Any]:
        """The manifest's ``parameters``: equal ones mean equal outputs."""
        parameters = {"job_version": JOB_VERSION, "style": self.style_name,
                      "style_sha256": self.style_sha256, "garment": self.garment,
                      "method": self.method, "max_side": self.max_side,
                      "backends": dict(self.backends), "save_stages": self.save_stages}
        if self.hub_handle is not None:
            # another SavedModel (or another folder) draws other pictures
            parameters["hub_model"] = {"handle": self.hub_handle,
                                       "sha256": self.hub_model_sha256}
        return parameters


# One pipeline per worker process, built on its first photo and kept: the models load once.
_WORKER_STATE: dict[tuple[Any, ...], Any] = {}


def _worker_pipeline(spec: JobSpec) -> Any:
    key = (spec.max_side, spec.backends, spec.hub_handle)
    pipeline = _WORKER_STATE.get(key)
    if pipeline is None:
        from helpers.pipeline import Pipeline

        _WORKER_STATE.clear()  # one configuration at a time: the models are large
        pipeline = Pipeline(max_side=spec.max_side, notify=None, hub_handle=spec.hub_handle,
                            **dict(spec.backends))
        _WORKER_STATE[key] = pipeline
    return pipeline


def restyle_photo(photo: str, output: str, style_image: Any, spec: JobSpec,
                  protect: Sequence[str] = ()) -> dict[str, Any]:
    """Restyle one photo and write its output (the task each worker runs).

    Parameters
    ----------
    photo : str
        The input file.
    output : str
        Where the ``.png`` goes (written atomically; with ``spec.save_stages`` its stage
        files go next to it).
    style_image : (h, w, 3) uint8
    spec : JobSpec
    protect : sequence of str
        Files that must never be written (every input of the run).

    Returns
    -------
    dict
        ``status`` (``"ok"`` or ``"failed"``), ``error``, ``content_sha256`` (of the bytes
        read), ``size`` ``[H, W]``, ``files`` (path to SHA-256 of each file written),
        ``backends``, ``device`` (per stage), ``timings``, ``warnings``, ``seconds`` and
        ``worker`` (host:pid). Errors of the photo are returned, not raised, so that the
        others go on.
    """
    import socket

    from helpers.images import ImageLoadError, load_image, save_image
    from helpers.pipeline import backend_device
    from helpers.run import auto_region, check_garment_present, save_stages

    start = time.perf_counter()
    report: dict[str, Any] = {"status": "failed", "error": None, "content_sha256": None,
                              "size": None, "files": {}, "backends": dict(spec.backends),
                              "device": {}, "timings": {}, "warnings": [],
                              "worker": f"{socket.gethostname()}:{os.getpid()}"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            pipeline = _worker_pipeline(spec)
            report["backends"] = dict(pipeline.backends)
            report["device"] = {stage: backend_device(name)
                                for stage, name in pipeline.backends.items()}
            try:
                data = Path(photo).read_bytes()
            except OSError as exc:  # as load_image says it for a path
                raise ImageLoadError(f"{display_path(photo)}: cannot read the file "
                                     f"({exc.strerror or exc})") from None
            report["content_sha256"] = hashlib.sha256(data).hexdigest()
            image = load_image(data, name=photo)
            report["size"] = list(image.shape[:2])
            pipeline.set_content(image)
            check_garment_present(pipeline, spec.garment)
            region = auto_region(pipeline) if spec.garment == "auto" else spec.garment
            result = pipeline.run(image, style_image, region=region, method=spec.method)
            written = [save_image(result.output, output, protect=protect)]
            if spec.save_stages:
                written += save_stages(result, style_image, Path(output), protect=protect)
            report["files"] = {str(path): file_sha256(path) for path in written}
            report["timings"] = dict(result.timings)
            report["status"] = "ok"
        except Exception as exc:  # a bad photo is reported; the others go on
            report["error"] = f"{type(exc).__name__}: {exc}"
    report["warnings"] = list(dict.fromkeys(str(item.message) for item in caught))
    report["seconds"] = time.perf_counter() - start
    return report


# --------------------------------------------------------------------------- the job


@dataclass
class JobResult:
    """What a job did; ``processed``/``failed`` keep ``helpers.run``'s metrics format."""

    processed: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    not_finished: list[str] = field(default_factory=list)
    interrupted: bool = False
    seconds: float = 0.0
    engine: str = ""
    #: Why the job could not run at all (e.g. the cluster cannot be reached).
    error: str | None = None

    @property
    def throughput(self) -> float:
        """Photos processed (ok or failed) per second of the job's wall time."""
        done = len(self.processed) + len(self.failed)
        return done / self.seconds if self.seconds > 0 else 0.0

    def summary_lines(self) -> list[str]:
        """The closing summary: counts, throughput, and what was left undone."""
        lines = [f"photos: {len(self.processed)} done, {len(self.skipped)} skipped "
                 f"(already done), {len(self.failed)} failed, {len(self.not_finished)} "
                 f"not finished; {self.throughput:.2f} photos/s over {self.seconds:.1f} s"
                 + (f" ({self.engine})" if self.engine else "")]
        if self.interrupted:
            lines.append(f"interrupted: {len(self.processed) + len(self.failed)} photo(s) "
                         f"finished and kept, {len(self.not_finished)} not finished "
                         "(run the same command again to finish them)")
        return lines


def command_note(note: str) -> str:
    """A pipeline note as the command line prints it.

    The command takes no clicks, so the offline parser's "no person found: click on the
    garment" note also says what the command did and where clicks can be given.
    """
    from helpers.segmentation.classical_parsing import NO_PERSON_NOTE

    if note == NO_PERSON_NOTE:
        return (f"{note}; the command took that box as the garment: to choose the garment, "
                "click on it in notebooks/01_segment.ipynb or pass clicks to "
                "Pipeline.region_mask")
    return note


def scheduler_address(cluster: str | None = None) -> str | None:
    """The Dask scheduler address a job will use, checked: ``cluster`` (``--cluster``),
    else ``$DASK_SCHEDULER_ADDRESS``, else None (a local cluster).

    Only the address's form is checked (``distributed.comm``'s ``normalize_address`` and
    ``get_address_host_port``), so a mistyped one is refused before any work; whether
    the scheduler answers is known only when :func:`dask_client` connects.

    Raises
    ------
    JobSetupError
        If the address has no port or an unknown scheme; the message names where it came
        from and gives an example.
    """
    address = cluster or os.environ.get(SCHEDULER_ENV) or None
    if address is None:
        return None
    from distributed.comm import get_address_host_port, normalize_address

    try:
        normal = normalize_address(address)
        get_address_host_port(normal)      # the host and port Dask's Client will need
        return normal
    except ValueError as exc:
        where = "--cluster" if cluster else f"${SCHEDULER_ENV}"
        raise JobSetupError(f"{where} {address!r} is not a Dask scheduler address ({exc}); "
                            f"give one like tcp://10.0.0.5:8786") from None


@contextlib.contextmanager
def dask_client(cluster: str | None = None, workers: int = 2) -> Iterator[Any]:
    """A ``dask.distributed`` client: to ``cluster`` (or ``$DASK_SCHEDULER_ADDRESS``), else
    to a local cluster of ``workers`` processes with one thread each, closed on exit.

    Raises
    ------
    ImportError
        With the install hint, when ``distributed`` is missing.
    JobSetupError
        If the address is malformed (:func:`scheduler_address`).
    ClusterError
        If the scheduler at the address cannot be reached.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - a runtime dependency
        raise ImportError("the catalogue job needs Dask: pip install 'distributed>=2024.1'"
                          ) from exc
    address = scheduler_address(cluster)
    if address:
        try:
            client = Client(address)
        except (OSError, TimeoutError) as exc:
            where = "--cluster" if cluster else f"${SCHEDULER_ENV}"
            raise ClusterError(f"cannot reach the Dask scheduler at {address} ({where}): "
                               f"{exc}; start it (dask scheduler) or fix the address"
                               ) from None
        with client:
            yield client
        return
    # Ctrl-C in a terminal reaches the whole process group: only this driver is to act on
    # it (stop, record, close the cluster), so the local workers ignore SIGINT. They are
    # started with it ignored (inherited through exec), and a worker that Dask restarts
    # later gets the same from a plugin.
    import dask

    # Dask's workers get MALLOC_TRIM_THRESHOLD_=65536 so that they hand memory back to the
    # system at once; that also stops glibc adapting its mmap threshold, so each large
    # image array is mapped afresh and page-faulted in: photos took 10-40 % longer
    # (measured, issue 15). Here the workers keep glibc's default.
    environ = {name: value for name, value in
               dask.config.get("distributed.nanny.pre-spawn-environ", {}).items()
               if name != "MALLOC_TRIM_THRESHOLD_"}
    with _sigint_ignored(), dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
        # ":0": the scheduler's HTTP endpoint on a free port, so two clusters never clash
        # silence_logs: Dask's own log lines are not the user's: a task cancelled by Ctrl-C
        # is a warning, and a worker whose heartbeat finds the scheduler already closed
        # logs an error with a traceback; what fails reaches the user through each task
        local = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                             dashboard_address=":0", silence_logs=logging.CRITICAL,
                             env=math_threads(workers))
    with local, Client(local) as client:
        from helpers._dask_plugins import IgnoreSigint

        client.register_plugin(IgnoreSigint(), name="clothstyle-ignore-sigint")
        yield client


def math_threads(workers: int) -> dict[str, str]:
    """The thread counts of the math libraries in each local worker: the cores shared out.

    Dask sets ``OMP_NUM_THREADS`` (and the MKL and OpenBLAS ones) to 1 in its workers;
    with fewer workers than cores that leaves cores idle, so each of ``workers`` processes
    gets ``cores // workers`` threads, unless ``OMP_NUM_THREADS`` is set already.
    """
    threads = os.environ.get("OMP_NUM_THREADS") or str(max(1, (os.cpu_count() or 1)
                                                          // max(1, workers)))
    return {name: threads for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                       "OPENBLAS_NUM_THREADS")}


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold a Ctrl-C that comes within the block and act on it when the block is done."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    frames: list[Any] = []
    previous = signal.signal(signal.SIGINT, lambda _signum, frame: frames.append(frame))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if frames and callable(previous):
            previous(signal.SIGINT, frames[0])


def describe_engine(client: Any) -> str:
    """``"dask <version>, N workers at ADDRESS"``."""
    import distributed

    workers = len(client.scheduler_info().get("workers", {}))
    return f"dask {distributed.__version__}, {workers} worker(s) at {client.scheduler.address}"


def run_job(photos: Sequence[Path], names: dict[Path, str], style: str, photos_dir: Path,
            manifest_path: Path, *, spec: JobSpec, style_image: Any,
            cluster: str | None = None, workers: int = 2, protect: Sequence[Path] = (),
            progress: bool = True) -> JobResult:
    """Restyle the photos not already done, on a Dask cluster, recording each in the manifest.

    Parameters
    ----------
    photos : sequence of Path
    names : dict
        Output file name of each photo (:func:`output_names`).
    style : str
        The style as given (for messages).
    photos_dir : Path
        Where outputs go.
    manifest_path : Path
        The job's ``manifest.jsonl``.
    spec : JobSpec
    style_image : (h, w, 3) uint8
        Sent once to every worker.
    cluster : str, optional
        A scheduler address; default ``$DASK_SCHEDULER_ADDRESS``, else a local cluster.
        A run of a single photo without either runs in this process (no cluster to
        start).
    workers : int
        Processes of the local cluster.
    protect : sequence of Path
        Every input of the run (never written).
    progress : bool
        Show a tqdm bar over the photos.

    Returns
    -------
    JobResult
        ``interrupted`` is True after Ctrl-C: the photos finished so far are kept and
        recorded, the rest are in ``not_finished``.
    """
    from tqdm.auto import tqdm

    result = JobResult()
    run_id = uuid.uuid4().hex
    parameters = spec.parameters()
    protect_text = [str(path) for path in protect]
    photos_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(photos_dir)
    manifest = Manifest(manifest_path)
    start = time.perf_counter()
    pending: list[tuple[Path, str]] = []
    try:
        for photo in photos:
            try:
                digest = file_sha256(photo)
            except OSError as exc:
                _record(result, manifest, photo, None, {
                    "status": "failed", "error": f"{type(exc).__name__}: {exc}",
                    "files": {}}, parameters, run_id, names, photos_dir)
                continue
            if is_done(manifest.previous.get(str(photo)), digest, parameters):
                result.skipped.append(str(photo))
            else:
                pending.append((photo, digest))
        if result.skipped:
            print(f"photos: {len(result.skipped)} already done with these parameters "
                  f"(skipped; see {manifest_path})")
        bar = tqdm(total=len(pending), desc="photos", unit="photo", disable=not progress,
                   file=sys.stderr)
        try:
            if not pending:
                result.engine = "nothing left to run" if result.failed else "nothing to do"
            elif len(photos) == 1 and scheduler_address(cluster) is None:
                # One photo given: no cluster to start (the same photo always goes this way)
                result.engine = "in this process (one photo)"
                photo, digest = pending[0]
                report = restyle_photo(str(photo), str(photos_dir / names[photo]),
                                       style_image, spec, protect_text)
                _finish(result, manifest, bar, photo, digest, report, parameters, run_id,
                        names, photos_dir)
            else:
                _run_on_cluster(result, manifest, bar, pending, style_image, spec,
                                protect_text, parameters, run_id, names, photos_dir,
                                cluster=cluster, workers=workers)
        finally:
            bar.close()
    except KeyboardInterrupt:
        result.interrupted = True
    except ClusterError as exc:
        result.error = str(exc)
    finally:
        manifest.close()
        result.seconds = time.perf_counter() - start
        finished = {item["input"] for item in (*result.processed, *result.failed)}
        result.not_finished = [str(photo) for photo, _ in pending
                               if str(photo) not in finished]
    return result


def _run_on_cluster(result: JobResult, manifest: Manifest, bar: Any,
                    pending: list[tuple[Path, str]], style_image: Any, spec: JobSpec,
                    protect: list[str], parameters: dict[str, Any], run_id: str,
                    names: dict[Path, str], photos_dir: Path, *, cluster: str | None,
                    workers: int) -> None:
    from distributed import as_completed

    # a local cluster starts no more workers than there are photos to run
    with dask_client(cluster, min(workers, len(pending))) as client:
        result.engine = describe_engine(client)
        bar.write(f"engine: {result.engine}")
        style_future = client.scatter(style_image, broadcast=True)
        futures = {}
        for photo, digest in pending:
            future = client.submit(restyle_photo, str(photo), str(photos_dir / names[photo]),
                                   style_future, spec, protect, pure=False,
                                   key=f"restyle-{run_id[:8]}-{digest[:16]}-{len(futures)}")
            futures[future] = (photo, digest)
        try:
            for future in as_completed(futures):
                photo, digest = futures.pop(future)
                try:
                    report = future.result()
                except Exception as exc:  # the task itself was lost (e.g. KilledWorker)
                    report = {"status": "failed", "error": f"{type(exc).__name__}: {exc}",
                              "files": {}}
                _finish(result, manifest, bar, photo, digest, report, parameters, run_id,
                        names, photos_dir)
                future.release()
        finally:
            if futures:
                client.cancel(list(futures))


def _finish(result: JobResult, manifest: Manifest, bar: Any, photo: Path, digest: str,
            report: dict[str, Any], parameters: dict[str, Any], run_id: str,
            names: dict[Path, str], photos_dir: Path) -> None:
    if report.get("content_sha256") not in (None, digest) and report["status"] == "ok":
        report = {**report, "status": "failed",
                  "error": "the file changed while the run read it: run again"}
    # A Ctrl-C between the manifest row and the job's result would leave a photo that the
    # manifest calls done and the metrics call not finished: it waits until both are written
    with _sigint_deferred():
        _record(result, manifest, photo, digest, report, parameters, run_id, names,
                photos_dir)
    for note in report.get("warnings", []):
        bar.write(display_path(f"note: {photo.name}: {command_note(note)}"))
    if report["status"] != "ok":
        bar.write(display_path(f"failed: {photo}: {report['error']}"))
    bar.update(1)


def _record(result: JobResult, manifest: Manifest, photo: Path, digest: str | None,
            report: dict[str, Any], parameters: dict[str, Any], run_id: str,
            names: dict[Path, str], photos_dir: Path) -> None:
    output = photos_dir / names[photo]
    row = {"run": run_id, "time": datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds"), "input": str(photo), "content_sha256": digest,
        "parameters": parameters, "backends": report.get("backends", {}),
        "device": report.get("device", {}), "output": str(output),
        "files": report.get("files", {}), "status": report["status"],
        "error": report.get("error"), "seconds": report.get("seconds"),
        "worker": report.get("worker")}
    if report["status"] == "ok":
        try:
            manifest.append(row)
        except OSError as exc:  # disk full: the output is there but unrecorded (redone next time)
            report = {**report, "status": "failed",
                      "error": f"could not record it in {manifest.path}: "
                               f"{exc.strerror or exc}"}
    else:
        with contextlib.suppress(OSError):
            manifest.append(row)
    if report["status"] == "ok":
        entry = {"input": str(photo), "output": str(output), "size": report.get("size"),
                 "seconds": report.get("seconds"), "warnings": report.get("warnings", []),
                 "backends": report.get("backends", {}), "timings": report.get("timings", {})}
        if parameters.get("save_stages"):
            entry["stages"] = [path for path in report["files"] if path != str(output)]
        result.processed.append(entry)
    else:
        result.failed.append({"input": str(photo), "reason": report["error"]})
