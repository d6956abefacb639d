"""One registry of every pretrained file, a cache folder, and verified atomic downloads.

Every model file the project can use is listed once in :data:`REGISTRY` with where it
comes from, its size and md5 when they are known, and where those facts come from
(``note``). :func:`ensure_weights` returns the local path of a file, downloading it
into the cache when needed.

Cache folder
    :func:`cache_dir`: an explicit ``cache=`` argument, else the environment variable
    ``CLOTHSTYLE_CACHE_DIR`` (:data:`ENV_VAR`), else
    ``platformdirs.user_cache_dir("clothstyle") / "weights"``. Nothing is created at
    import; the folder is made on the first download.

Downloads
    Each source is tried in order. Bytes go to ``<filename>.part-<random>`` in the cache
    folder, are checked (size and md5 when known, and never an HTML page), and only
    then ``os.replace``-d onto ``<filename>``, so the final name never holds a partial
    file. The temporary file is deleted on any failure, ``KeyboardInterrupt`` included;
    one left by a process killed outright is deleted by the next download of the file.
    A ``filelock.FileLock`` on ``<filename>.lock`` serialises downloads of the same file
    across processes: a second process waits, then finds the finished file. The
    ``.lock`` file may stay behind; it is empty and harmless.

Verification cache
    Hashing a 176 MB file on every call is wasteful, so after a successful md5 check a
    small JSON sidecar ``<filename>.md5ok`` records ``{"md5", "size", "mtime_ns"}``.
    Later checks trust the sidecar while the file's size and mtime still match it, and
    hash again otherwise. A file passed explicitly with ``path=`` is hashed on every
    call instead (no sidecar is written beside the user's own files).

Corrupt files
    A cached file whose size or md5 is wrong is never loaded: it is renamed to
    ``<filename>.corrupt`` (``.corrupt-2``, … beside an earlier one: nothing is lost)
    and :class:`WeightsCorruptError` is raised; the next call downloads a fresh copy.

The Magenta stylization model is a TF Hub *directory* model, not one file:
:func:`resolve_hub_handle` returns a local SavedModel folder when one is given or found,
else the TF Hub URL; loading it is the stylization module's job.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import logging
import os
import socket
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from helpers._checks import check_choice
from helpers.files import atomic_path, atomic_write_bytes

log = logging.getLogger(__name__)

#: Environment variable that moves the weights cache folder.
ENV_VAR = "CLOTHSTYLE_CACHE_DIR"
#: Environment variable that points at a local copy of the Magenta SavedModel folder
#: (or at another TF Hub handle).
HUB_ENV_VAR = "CLOTHSTYLE_MAGENTA_HUB"

#: Seconds without data before an HTTP download gives up.
HTTP_TIMEOUT_S = 60.0
#: Environment variable: ``1`` (or ``true``, ``yes``, ``on``) stops ``"auto"`` from trying
#: any download (:func:`fetch_for_auto`).
OFFLINE_ENV_VAR = "CLOTHSTYLE_OFFLINE"
#: Seconds that ``"auto"`` waits for a download host to answer before it decides there is
#: no network (remembered for the rest of the process).
PROBE_TIMEOUT_S = 2.0
_CHUNK = 1 << 16
_SIDECAR_SUFFIX = ".md5ok"
_CORRUPT_SUFFIX = ".corrupt"
_LOCK_SUFFIX = ".lock"
_PART_INFIX = ".part-"

_KINDS = ("gdrive", "http")
_ARCHS = ("u2net_cloth", "u2net", "u2netp", "magenta_hub")
_FRAMEWORKS = ("torch", "onnx", "tfhub")


class WeightsUnavailableError(RuntimeError):
    """No valid local copy of a weight file exists and none could be downloaded.

    ``attempts`` holds ``(url, why)`` for each source tried (empty when none was).
    """

    attempts: tuple[tuple[str, str], ...] = ()


class WeightsCorruptError(RuntimeError):
    """A weight file exists but is not what the registry says (size, md5, or it does not
    load as its architecture); it was not used."""


class CacheFolderError(WeightsUnavailableError):
    """The cache folder cannot be used: it is a file, or it cannot be created or written."""


@dataclass(frozen=True)
class Source:
    """One place a weight file can be downloaded from.

    Attributes
    ----------
    kind : {"gdrive", "http"}
        ``"gdrive"``: ``ref`` is a Google Drive file id (downloaded with ``gdown``);
        ``"http"``: ``ref`` is a URL (``http``, ``https`` or ``file``).
    ref : str
        The Drive file id or the URL.
    """

    kind: str
    ref: str

    def __post_init__(self) -> None:
        check_choice(self.kind, _KINDS, "source kind")

    @property
    def url(self) -> str:
        """The URL a person can open: ``https://drive.google.com/uc?id=<id>`` for Drive."""
        if self.kind == "gdrive":
            return f"https://drive.google.com/uc?id={self.ref}"
        return self.ref


@dataclass(frozen=True)
class WeightSpec:
    """Everything known about one pretrained file.

    Attributes
    ----------
    name : str
        Registry key.
    filename : str
        File name inside the cache folder (a folder name for ``framework="tfhub"``).
    arch : {"u2net_cloth", "u2net", "u2netp", "magenta_hub"}
        Network the weights belong to. ``u2net_cloth`` is U2NET(in_ch=3, out_ch=4) for
        cloth parsing, ``u2net``/``u2netp`` the saliency nets with one output channel.
    framework : {"torch", "onnx", "tfhub"}
        File format: a PyTorch state dict, an ONNX graph or a TF Hub handle.
    sources : tuple of Source
        Download sources, tried in order.
    size_bytes : int or None
        Exact size in bytes, or None when no exact size is known.
    md5 : str or None
        Expected md5 hex digest, or None when none is published.
    note : str
        Provenance of the facts above (who states the size and md5, known problems).
    """

    name: str
    filename: str
    arch: str
    framework: str
    sources: tuple[Source, ...]
    size_bytes: int | None
    md5: str | None
    note: str

    def __post_init__(self) -> None:
        check_choice(self.arch, _ARCHS, "arch")
        check_choice(self.framework, _FRAMEWORKS, "framework")
        if self.md5 is not None and (len(self.md5) != 32 or self.md5 != self.md5.lower()):
            raise ValueError(f"md5 of {self.name!r} must be 32 lowercase hex digits, got {self.md5!r}")


_REMBG_RELEASE = "https://github.com/danielgatis/rembg/releases/download/v0.0.0/"
MAGENTA_HUB_URL = "https://tfhub.dev/google/magenta/arbitrary-image-stylization-v1-256/2"

#: Every pretrained file the project knows, by name.
REGISTRY: dict[str, WeightSpec] = {
    spec.name: spec
    for spec in (
        WeightSpec(
            name="cloth_segm_u2net",
            filename="cloth_segm_u2net_latest.pth",
            arch="u2net_cloth",
            framework="torch",
            sources=(
                Source("gdrive", "1mhF3yqd7R-Uje092eypktNl-RoZNuiCJ"),
                Source("gdrive", "11xTBALOeUkyuaK3l60CpkYHLTmv7k3dY"),
            ),
            size_bytes=None,
            md5=None,
            note=(
                "U2NET(in_ch=3, out_ch=4) cloth parsing (0 background, 1 upper, 2 lower, "
                "3 full body), about 165 MB, no exact size or md5 published. The first "
                "Drive link is the original 'latest' checkpoint and users report it dead; "
                "the second is the file the upstream repo's later code downloads as "
                "cloth_segm.pth (whether byte-identical is unknown). State-dict keys are "
                "expected to carry a 'module.' prefix (saved from DataParallel)."
            ),
        ),
        WeightSpec(
            name="u2net_cloth_seg_onnx",
            filename="u2net_cloth_seg.onnx",
            arch="u2net_cloth",
            framework="onnx",
            sources=(Source("http", _REMBG_RELEASE + "u2net_cloth_seg.onnx"),),
            size_bytes=None,
            md5="2434d1f3cb744e0e49386c906e5a08bb",
            note="ONNX export of the cloth-parsing U2NET from the rembg releases; md5 as published by rembg.",
        ),
        WeightSpec(
            name="u2net",
            filename="u2net.pth",
            arch="u2net",
            framework="torch",
            sources=(Source("gdrive", "1ao1ovG1Qtx4b7EoskHXmi2E9rp5CHLcZ"),),
            size_bytes=None,
            md5="347c3d51b01528e5c6c071e3cff1cb55",
            note=(
                "Saliency U2NET(3, 1) from the U-2-Net authors, 176.3 MB as stated by them "
                "(no exact byte count). md5 from rembg 1.x, third-party hint."
            ),
        ),
        WeightSpec(
            name="u2net_onnx",
            filename="u2net.onnx",
            arch="u2net",
            framework="onnx",
            sources=(Source("http", _REMBG_RELEASE + "u2net.onnx"),),
            size_bytes=None,
            md5="60024c5c889badc19c04ad937298a77b",
            note="ONNX export of the saliency U2NET from the rembg releases; md5 as published by rembg.",
        ),
        WeightSpec(
            name="u2netp",
            filename="u2netp.pth",
            arch="u2netp",
            framework="torch",
            sources=(Source("gdrive", "1rbSTGKAE-MTxBYHd-51l2hMOQPT_7EPy"),),
            size_bytes=None,
            md5="e4f636406ca4e2af789941e7f139ee2e",
            note=(
                "Small saliency U2NETP(3, 1) from the U-2-Net authors, 4.7 MB as stated by "
                "them. md5 from rembg 1.x, third-party hint."
            ),
        ),
        WeightSpec(
            name="u2netp_onnx",
            filename="u2netp.onnx",
            arch="u2netp",
            framework="onnx",
            sources=(Source("http", _REMBG_RELEASE + "u2netp.onnx"),),
            size_bytes=4574861,
            md5="8e83ca70e441ab06c318d82300c84806",
            note="ONNX export of U2NETP from the rembg releases; size and md5 as published by rembg.",
        ),
        WeightSpec(
            name="magenta_hub",
            filename="magenta_arbitrary-image-stylization-v1-256_2",
            arch="magenta_hub",
            framework="tfhub",
            sources=(Source("http", MAGENTA_HUB_URL),),
            size_bytes=None,
            md5=None,
            note=(
                "Magenta arbitrary image stylization (TF Hub SavedModel folder, not one "
                "file). Use resolve_hub_handle(); a local copy can be given as an argument, "
                f"through ${HUB_ENV_VAR}, or unpacked into <cache>/<filename>."
            ),
        ),
    )
}


#: Sizes stated by the publishers where no exact byte count is known (README table only).
_STATED_SIZES = {"cloth_segm_u2net": "~165 MB", "u2net": "176.3 MB", "u2netp": "4.7 MB"}


# ----------------------------------------------------------------------------- paths


def cache_dir(path: str | os.PathLike | None = None) -> Path:
    """Return the weights cache folder (not created here).

    Parameters
    ----------
    path : str or path-like, optional
        Explicit folder; wins over everything else.

    Returns
    -------
    Path
        ``path`` if given, else ``$CLOTHSTYLE_CACHE_DIR`` if set and non-empty, else
        ``platformdirs.user_cache_dir("clothstyle") / "weights"``.
    """
    if path is not None:
        return Path(path).expanduser()
    from_env = os.environ.get(ENV_VAR, "").strip()
    if from_env:
        return Path(from_env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("clothstyle")) / "weights"


def _spec(name: str) -> WeightSpec:
    check_choice(name, tuple(REGISTRY), "weight name")
    return REGISTRY[name]


def weight_path(name: str, *, cache: str | os.PathLike | None = None) -> Path:
    """Return where the file ``name`` is, or would be, in the cache folder.

    Parameters
    ----------
    name : str
        A key of :data:`REGISTRY`.
    cache : str or path-like, optional
        Cache folder; see :func:`cache_dir`.

    Returns
    -------
    Path
        ``cache_dir(cache) / REGISTRY[name].filename`` (it may not exist).
    """
    return cache_dir(cache) / _spec(name).filename


def _sibling(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


# ----------------------------------------------------------------------- verification


def md5sum(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Return the md5 hex digest of a file, read in ``chunk``-byte pieces.

    Parameters
    ----------
    path : str or path-like
        File to hash.
    chunk : int, default 1 MiB
        Read size, so large files are never held in memory at once.

    Returns
    -------
    str
        32 lowercase hex digits.
    """
    digest = hashlib.md5()
    with open(path, "rb") as stream:
        while block := stream.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _looks_like_html(path: Path) -> bool:
    # Drive answers quota and virus-scan warnings with an HTML page instead of the file.
    with open(path, "rb") as stream:
        # a UTF-8 byte-order mark may lead the page
        head = stream.read(512).removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html"))


def _looks_like_text_reply(path: Path) -> bool:
    """A JSON or XML error body ("quota exceeded", "access denied") instead of weights:
    model files (zip, pickle, protobuf) never start with readable text like this."""
    with open(path, "rb") as stream:
        head = stream.read(512)
    try:
        text = head.decode("utf-8-sig").lstrip()   # "-sig": without a byte-order mark
    except UnicodeDecodeError:
        return False
    return text.startswith(("{", "[", "<?xml", "<Error"))


def _needs_loading(spec: WeightSpec) -> bool:
    """Neither md5 nor size is known: the file must load as its architecture instead."""
    return spec.md5 is None and spec.size_bytes is None and spec.framework in ("torch", "onnx")


def _load_problem(path: Path, spec: WeightSpec) -> str | None:
    """Why ``path`` does not load as ``spec.arch`` (None when it does).

    Loads it the way the back-ends will: a PyTorch state dict strictly into the
    registered network, an ONNX graph into an onnxruntime CPU session whose input and
    output are checked (:func:`helpers.u2net.load_runner`'s checks). The framework is
    taken from the registry, not from the file name (a download's temporary name has
    no model suffix).

    Raises
    ------
    ImportError
        torch or onnxruntime is not installed: the file cannot be checked now.
    """
    from helpers import u2net

    try:
        if spec.framework == "torch":
            u2net.load_checkpoint(u2net.build_network(spec.arch), path)
        else:
            u2net.OnnxU2NetRunner(path, spec.arch, providers=["CPUExecutionProvider"])
    except (u2net.CheckpointError, FileNotFoundError) as exc:
        return f"it does not load as {spec.arch}: {str(exc).splitlines()[0]}"
    return None


def _problem(path: Path, spec: WeightSpec, md5: str | None = None) -> str | None:
    """Return why ``path`` is not a valid copy of ``spec`` (None when it is valid).

    ``md5`` is the digest when already known (computed while streaming).
    """
    size = path.stat().st_size
    if size == 0:
        return "the file is empty"
    if spec.size_bytes is not None and size != spec.size_bytes:
        return f"size is {size} bytes, expected {spec.size_bytes}"
    if _looks_like_html(path):
        return "the file is an HTML page, not model weights (the host sent an error or warning page)"
    if _looks_like_text_reply(path):
        return ("the file is a text reply (JSON or XML), not model weights (the host sent an "
                "error such as 'quota exceeded')")
    if spec.md5 is not None:
        found = md5 or md5sum(path)
        if found != spec.md5:
            return f"md5 is {found}, expected {spec.md5}"
    return None


def _full_problem(path: Path, spec: WeightSpec, md5: str | None = None) -> str | None:
    """:func:`_problem`, then, for a file with neither md5 nor size known, whether it
    loads as its architecture (:func:`_load_problem`; skipped, with no verdict, when
    torch/onnxruntime is missing)."""
    problem = _problem(path, spec, md5=md5)
    if problem is None and _needs_loading(spec):
        try:
            problem = _load_problem(path, spec)
        except ImportError as exc:
            log.info("cannot check %s by loading it: %s", path, exc)
    return problem


def _sidecar_matches(path: Path, spec: WeightSpec) -> bool:
    try:
        record = json.loads(_sibling(path, _SIDECAR_SUFFIX).read_text())
        stat = path.stat()
        return (
            record["size"] == stat.st_size
            and record["mtime_ns"] == stat.st_mtime_ns
            and (spec.md5 is None or record["md5"] == spec.md5)
            and (not _needs_loading(spec) or record.get("loaded_as") == spec.arch)
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _write_sidecar(path: Path, md5: str | None, stat_before: os.stat_result | None = None,
                   *, loaded_as: str | None = None) -> None:
    """Record that ``path`` (at its current size and mtime) has digest ``md5`` and, with
    ``loaded_as``, that it loaded as that architecture.

    With ``stat_before`` (taken before hashing) nothing is written if the file changed
    meanwhile, so a sidecar never vouches for bytes that were not hashed.
    """
    stat = path.stat()
    if stat_before is not None and (stat.st_size, stat.st_mtime_ns, stat.st_ino) != (
        stat_before.st_size, stat_before.st_mtime_ns, stat_before.st_ino
    ):
        return
    record = {"md5": md5, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    if loaded_as is not None:
        record["loaded_as"] = loaded_as
    sidecar = _sibling(path, _SIDECAR_SUFFIX)
    # Best effort: a read-only cache only costs a re-hash next time.
    with contextlib.suppress(OSError):
        atomic_write_bytes(sidecar, json.dumps(record).encode())


def _cached_problem(path: Path, spec: WeightSpec) -> str | None:
    """Like :func:`_full_problem` but trusts a matching ``.md5ok`` sidecar, and writes
    one: the md5 is computed, or the file loaded, once per size and mtime."""
    if (spec.md5 is not None or _needs_loading(spec)) and _sidecar_matches(path, spec):
        return None
    if spec.md5 is None and not _needs_loading(spec):
        return _problem(path, spec)
    stat_before = path.stat()
    found = md5sum(path) if spec.md5 is not None else None
    problem = _problem(path, spec, md5=found)
    if problem is not None:
        return problem
    loaded_as = None
    if _needs_loading(spec):
        try:
            problem = _load_problem(path, spec)
        except ImportError as exc:  # cannot check now: no verdict, nothing recorded
            log.info("cannot check %s by loading it: %s", path, exc)
            return None
        loaded_as = spec.arch
    if problem is None:
        _write_sidecar(path, found, stat_before, loaded_as=loaded_as)
    return problem


def is_available(name: str, *, cache: str | os.PathLike | None = None) -> bool:
    """Return whether a valid copy of ``name`` is in the cache folder.

    The file must exist, be non-empty, not be an HTML page or a JSON/XML error reply,
    have the registry size when one is known and the registry md5 when one is known;
    when neither is known, it must load as the registered architecture. The md5 (or
    the load) is checked once and remembered in a ``<file>.md5ok`` sidecar (size +
    mtime), so repeated calls are cheap. A bad file is reported as unavailable and left
    alone (:func:`ensure_weights` and :func:`fetch_for_auto` move it aside).
    For the TF Hub entry: whether :func:`resolve_hub_handle` finds a local folder.

    Parameters
    ----------
    name : str
        A key of :data:`REGISTRY`.
    cache : str or path-like, optional
        Cache folder; see :func:`cache_dir`.

    Returns
    -------
    bool
    """
    spec = _spec(name)
    if spec.framework == "tfhub":
        try:
            return not is_hub_url(resolve_hub_handle(cache=cache))
        except FileNotFoundError:
            return False
    path = weight_path(name, cache=cache)
    if not path.is_file():
        return False
    return _cached_problem(path, spec) is None


# -------------------------------------------------------------------------- download


def _download_http(url: str, tmp: Path, *, progress: bool, label: str) -> str:
    """Stream ``url`` into ``tmp`` with a progress bar; return the md5 of the bytes."""
    from tqdm.auto import tqdm

    request = urllib.request.Request(url, headers={"User-Agent": "clothstyle-weights/1"})
    digest = hashlib.md5()
    received = 0
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        with open(tmp, "wb") as out, tqdm(
            total=total, unit="B", unit_scale=True, unit_divisor=1024,
            desc=label, disable=not progress, leave=False,
        ) as bar:
            while block := response.read(_CHUNK):
                out.write(block)
                digest.update(block)
                received += len(block)
                bar.update(len(block))
    if total is not None and received != total:
        raise OSError(f"connection closed after {received} of {total} bytes")
    return digest.hexdigest()


def _download_gdrive(file_id: str, tmp: Path, *, progress: bool) -> None:
    """Download a Drive file into ``tmp`` with ``gdown`` (imported here, it is optional)."""
    try:
        import gdown
    except ImportError as exc:
        raise ImportError(
            "downloading from Google Drive needs gdown: pip install 'gdown>=5.0'"
        ) from exc
    result = gdown.download(id=file_id, output=str(tmp), quiet=not progress)
    if result is None or not tmp.is_file() or tmp.stat().st_size == 0:
        # gdown returns None (rather than raising) for some failures, e.g. a dead link.
        raise OSError("gdown did not produce a file (the link may be dead or over its quota)")


def _fetch(source: Source, spec: WeightSpec, final: Path, *, progress: bool) -> None:
    """Download one source to a temporary file, verify it, move it onto ``final``.

    :func:`helpers.files.atomic_path` removes the temporary file on every failure,
    including KeyboardInterrupt, so a partial or refused file never takes the final
    name; a partial file gdown left beside it is removed too.
    """
    tmp = None
    try:
        with atomic_path(final, temp_prefix=spec.filename + _PART_INFIX) as tmp:
            md5, loaded_as = _fetch_into(source, spec, tmp, progress=progress)
    finally:
        # gdown keeps its own "<output>XXXXXXXX.part" after a failure (for resuming).
        if tmp is not None:
            for partial in final.parent.glob(glob.escape(tmp.name) + "*.part"):
                with contextlib.suppress(FileNotFoundError):
                    partial.unlink()
    if spec.md5 is not None or loaded_as is not None:
        _write_sidecar(final, md5, loaded_as=loaded_as)


def _fetch_into(source: Source, spec: WeightSpec, tmp: Path, *,
                progress: bool) -> tuple[str, str | None]:
    """Download one source into ``tmp`` and check it there; ``(md5, loaded_as)``.

    Raises :class:`WeightsCorruptError` when the file is refused.
    """
    if source.kind == "gdrive":
        _download_gdrive(source.ref, tmp, progress=progress)
        md5 = md5sum(tmp)
    else:
        md5 = _download_http(source.url, tmp, progress=progress, label=spec.filename)
    # Every check runs on the temporary file: a partial or wrong file is never renamed.
    problem = _problem(tmp, spec, md5=md5)
    loaded_as = None
    if problem is None and _needs_loading(spec):
        try:
            problem = _load_problem(tmp, spec)
            loaded_as = spec.arch
        except ImportError as exc:  # checked by loading later, once it can be
            log.info("cannot check %s by loading it: %s", spec.filename, exc)
    if problem is not None:
        raise WeightsCorruptError(f"downloaded file rejected: {problem}")
    return md5, loaded_as


def _unavailable(spec: WeightSpec, final: Path, attempts: list[tuple[str, str]]) -> WeightsUnavailableError:
    tried = "\n".join(f"  - {url}\n      {error}" for url, error in attempts)
    error = WeightsUnavailableError(
        f"weights {spec.name!r} ({spec.filename}) are not available.\n"
        f"Sources:\n{tried}\n"
        f"To fix: download the file yourself and place it exactly at\n  {final}\n"
        f"or, from Python, pass path=<your file> to ensure_weights(), or set the "
        f"environment variable {ENV_VAR} to move the cache folder (now {final.parent}).\n"
        f"About this file: {spec.note}"
    )
    error.attempts = tuple(attempts)
    return error


def _expected(spec: WeightSpec) -> str:
    if spec.md5 is not None:
        return f"expected md5 {spec.md5}"
    if spec.size_bytes is not None:
        return f"expected {spec.size_bytes} bytes"
    return f"expected a {spec.arch} {spec.framework} model"


def _read_only_hint(folder: Path) -> str:
    return (f"the cache folder {folder} is not writable: make it writable, or set "
            f"{ENV_VAR} to a writable folder")


def _why_corrupt(problem: str, spec: WeightSpec) -> str:
    """The problem, with what was expected unless it says so already ("md5 is …, expected …")."""
    return problem if "expected" in problem else f"{problem}; {_expected(spec)}"


def _quarantine(final: Path, spec: WeightSpec, problem: str) -> tuple[Path | None, str]:
    """Move a bad cached file to ``<file>.corrupt`` (``.corrupt-2``, … when an earlier one
    is there: nothing is lost); ``(aside or None, what happened)``."""
    aside = _sibling(final, _CORRUPT_SUFFIX)
    number = 1
    while aside.exists():
        number += 1
        aside = _sibling(final, f"{_CORRUPT_SUFFIX}-{number}")
    try:
        os.replace(final, aside)
    except OSError as exc:
        return None, (f"{final} is corrupt ({_why_corrupt(problem, spec)}) and could not be "
                      f"moved aside ({exc.strerror or exc}): {_read_only_hint(final.parent)}, "
                      "or delete the file")
    with contextlib.suppress(OSError):
        _sibling(final, _SIDECAR_SUFFIX).unlink()
    return aside, (f"{final} was corrupt ({_why_corrupt(problem, spec)}) and was moved aside "
                   f"to {aside}")


def _move_aside(final: Path, spec: WeightSpec, problem: str) -> WeightsCorruptError:
    aside, what = _quarantine(final, spec, problem)
    if aside is None:
        return WeightsCorruptError(f"weights {spec.name!r}: {what}. The file was not loaded.")
    return WeightsCorruptError(
        f"weights {spec.name!r} at {final} are corrupt ({_why_corrupt(problem, spec)}). The "
        f"file was not loaded and was moved aside to {aside}; call ensure_weights() again "
        f"to download a fresh copy, or place a correct file at {final}."
    )


def _prepare_folder(folder: Path) -> None:
    """Create the cache folder, or say why it cannot be (a file in the way, no rights)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        blocker = next((parent for parent in (folder, *folder.parents)
                        if parent.exists() and not parent.is_dir()), folder)
        raise CacheFolderError(
            f"the weights cache folder {folder} cannot be used: {blocker} is a file, not a "
            f"folder; move that file away, or set {ENV_VAR} to a folder"
        ) from exc
    except OSError as exc:
        raise CacheFolderError(
            f"the weights cache folder {folder} cannot be created ({exc.strerror or exc}); "
            f"set {ENV_VAR} to a writable folder"
        ) from exc


def _acquire(lock, final: Path) -> None:
    import filelock

    try:
        lock.acquire(timeout=1)
    except filelock.Timeout:
        log.info("waiting for another process that is downloading %s", final)
        lock.acquire()


def ensure_weights(
    name: str,
    *,
    cache: str | os.PathLike | None = None,
    path: str | os.PathLike | None = None,
    download: bool = True,
    progress: bool = True,
) -> Path:
    """Return the path of a verified copy of the weight file ``name``.

    Parameters
    ----------
    name : str
        A key of :data:`REGISTRY` (file entries only; for ``"magenta_hub"`` use
        :func:`resolve_hub_handle`).
    cache : str or path-like, optional
        Cache folder; see :func:`cache_dir`.
    path : str or path-like, optional
        Use this file instead of the cache. It is checked against the registry md5 and
        size when known (hashed on every call, nothing is written beside it).
    download : bool, default True
        Download into the cache when no valid copy is there.
    progress : bool, default True
        Show a tqdm progress bar while downloading.

    Returns
    -------
    Path
        ``path`` or ``cache_dir(cache) / filename``, a file that passed verification.

    Raises
    ------
    FileNotFoundError
        ``path`` was given but is not a file.
    WeightsCorruptError
        The file has the wrong size or md5, is an HTML/JSON error reply, or (neither
        known) does not load as its architecture. A cached file is moved to
        ``<file>.corrupt`` (in a read-only folder the message says it could not be); a
        ``path=`` file is left untouched. Neither is used.
    WeightsUnavailableError
        No valid copy and every source failed (or ``download=False``). The message lists
        each URL with its error, the exact path to place the file at, and the
        environment variable that moves the cache.
    CacheFolderError
        (a ``WeightsUnavailableError``) The cache folder is a file, or cannot be created
        or written; the message names it and ``CLOTHSTYLE_CACHE_DIR``.
    """
    spec = _spec(name)
    if spec.framework == "tfhub":
        raise ValueError(
            f"{name!r} is a TF Hub folder model, not one file; use resolve_hub_handle() "
            "to get its local folder or URL"
        )

    if path is not None:
        explicit = Path(path).expanduser()
        if not explicit.is_file():
            state = "is a folder" if explicit.is_dir() else "does not exist"
            raise FileNotFoundError(
                f"weights file for {name!r} given as path={explicit} {state}; pass the path "
                f"of {spec.filename}, or leave path out to use the cache at "
                f"{weight_path(name, cache=cache)}"
            )
        problem = _full_problem(explicit, spec)
        if problem is not None:
            raise WeightsCorruptError(
                f"weights file {explicit} given for {name!r} is wrong ({problem}; expected "
                f"md5 {spec.md5 or '(none published)'}). It was left untouched and not loaded."
            )
        return explicit

    final = weight_path(name, cache=cache)
    # Fast path without the lock: a valid file is never modified in place.
    if final.is_file() and _cached_problem(final, spec) is None:
        return final
    not_tried = [(source.url, "not tried (download=False)") for source in spec.sources]
    if not download and not final.exists():
        raise _unavailable(spec, final, not_tried)

    import filelock

    _prepare_folder(final.parent)
    lock = filelock.FileLock(str(_sibling(final, _LOCK_SUFFIX)))
    try:
        _acquire(lock, final)
    except OSError as exc:  # filelock cannot create its lock file: a read-only folder
        problem = _cached_problem(final, spec) if final.is_file() else None
        if problem is not None:  # say so rather than hide the bad file behind the lock
            raise WeightsCorruptError(
                f"weights {spec.name!r}: {final} is corrupt ({_why_corrupt(problem, spec)}) "
                f"and cannot be moved aside: {_read_only_hint(final.parent)}, or delete "
                "the file") from exc
        raise CacheFolderError(
            f"weights {spec.name!r} cannot be downloaded into {final.parent} "
            f"({exc.strerror or exc}): {_read_only_hint(final.parent)}") from exc
    try:
        # A download killed outright (SIGKILL, power loss) leaves its temporary file: with
        # the lock held no other process is writing one of this file's, so any are stale.
        for stale in final.parent.glob(glob.escape(spec.filename + _PART_INFIX) + "*"):
            with contextlib.suppress(OSError):
                stale.unlink()
        # Another process may have finished (or broken) the file while we waited.
        if final.is_file():
            problem = _cached_problem(final, spec)
            if problem is None:
                return final
            raise _move_aside(final, spec, problem)
        if not download:
            raise _unavailable(spec, final, not_tried)

        attempts: list[tuple[str, str]] = []
        for source in spec.sources:
            log.info("downloading %s from %s", spec.filename, source.url)
            try:
                _fetch(source, spec, final, progress=progress)
            except Exception as exc:  # every failure moves on to the next source
                attempts.append((source.url, f"{type(exc).__name__}: {exc}"))
                continue
            return final
        raise _unavailable(spec, final, attempts)
    finally:
        lock.release()


# ------------------------------------------------------------------ downloads in "auto"

# Why the network was found unusable, remembered for the process (None: not known to be).
_network_down: str | None = None
# Target file (registry name in a cache folder) -> why its download failed in this
# process (not tried again).
_failed_downloads: dict[str, str] = {}
# Registry name -> what happened to a corrupt cached copy found by fetch_for_auto.
_moved_aside: dict[str, str] = {}


def offline_requested() -> bool:
    """Return whether ``$CLOTHSTYLE_OFFLINE`` asks ``"auto"`` never to download.

    Returns
    -------
    bool
        True for ``1``, ``true``, ``yes`` or ``on`` (any case).
    """
    return os.environ.get(OFFLINE_ENV_VAR, "").strip().lower() in {"1", "true", "yes", "on"}


def forget_network_state() -> None:
    """Forget that the network was down or a download failed (the next "auto" tries again)."""
    global _network_down
    _network_down = None
    _failed_downloads.clear()
    _moved_aside.clear()


def _endpoint(source: Source) -> tuple[str, int] | None:
    """``(host, port)`` a source is downloaded from; None for ``file://`` (no network)."""
    if source.kind == "gdrive":
        return ("drive.google.com", 443)
    parts = urllib.parse.urlsplit(source.ref)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return (parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))


def _connect(host: str, port: int, timeout: float) -> None:
    """Open and close one TCP connection (name look-up included); raise OSError if none."""
    with socket.create_connection((host, port), timeout=timeout):
        pass


def probe_sources(sources: tuple[Source, ...], timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """Return None when a host of ``sources`` accepts a connection, else why not.

    Every host is tried at once in a daemon thread and the answer is awaited for at most
    ``timeout`` seconds in all, name look-up included (a look-up that hangs without a
    network is abandoned, not waited for).

    Parameters
    ----------
    sources : tuple of Source
    timeout : float
        Seconds to wait in all.

    Returns
    -------
    str or None
        None if a host answered (or a source is a local ``file://`` URL), else a short
        reason such as ``"no answer from github.com:443 within 2.0 s"``.
    """
    endpoints = [_endpoint(source) for source in sources]
    if any(endpoint is None for endpoint in endpoints):
        return None
    endpoints = list(dict.fromkeys(endpoints))
    answered = threading.Event()
    errors: dict[str, str] = {}

    def attempt(host: str, port: int) -> None:
        try:
            _connect(host, port, timeout)
        except OSError as exc:
            errors[f"{host}:{port}"] = f"{type(exc).__name__}: {exc}"
        else:
            answered.set()

    threads = [threading.Thread(target=attempt, args=endpoint, daemon=True)
               for endpoint in endpoints]
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.start()
    while not answered.is_set() and any(thread.is_alive() for thread in threads):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        answered.wait(min(left, 0.05))
    if answered.is_set():
        return None
    hosts = ", ".join(f"{host}:{port}" for host, port in endpoints)
    detail = "; ".join(errors.values())
    return f"no answer from {hosts} within {timeout:g} s" + (f" ({detail})" if detail else "")


def fetch_for_auto(
    name: str,
    *,
    cache: str | os.PathLike | None = None,
    download: bool = True,
    progress: bool = True,
) -> tuple[Path | None, str | None]:
    """What ``"auto"`` does for one weight file: the cache, else a download if it can.

    The order: a valid copy in the cache (a bad copy is moved aside to
    ``<file>.corrupt``, and the reason returned says so); else, unless ``download=False`` or
    ``$CLOTHSTYLE_OFFLINE`` is set, a quick probe of the download hosts
    (:func:`probe_sources`, at most :data:`PROBE_TIMEOUT_S` seconds) and, when one
    answers, :func:`ensure_weights` (progress bar, checksum, atomic rename, file lock).
    A failed probe or download is remembered for the process, so later calls answer
    at once (:func:`forget_network_state` forgets it).

    Parameters
    ----------
    name : str
        A key of :data:`REGISTRY` (a file entry).
    cache : str or path-like, optional
        Cache folder; see :func:`cache_dir`.
    download : bool, default True
        False: only the cache is looked at.
    progress : bool, default True
        Show a progress bar while downloading.

    Returns
    -------
    path : Path or None
        The verified file, or None when it is not available.
    why : str or None
        None when ``path`` is a file; else why there is none (for the one-line note).
    """
    spec = _spec(name)
    path = weight_path(name, cache=cache)
    if path.is_file():
        problem = _cached_problem(path, spec)
        if problem is None:
            return path, None
        # A bad file must not count as installed, nor stay where it blocks a fresh copy.
        _moved_aside[name] = _quarantine(path, spec, problem)[1]
        log.warning("%s", _moved_aside[name])
    why = _why_not_fetched(name, spec, cache=cache, download=download, progress=progress)
    if why is None:
        return path, None
    moved = _moved_aside.get(name)
    return None, (f"{moved}; {why}" if moved and moved not in why else why)


def _why_not_fetched(name: str, spec: WeightSpec, *, cache: str | os.PathLike | None,
                     download: bool, progress: bool) -> str | None:
    """The download step of :func:`fetch_for_auto`: None when the file came, else why not."""
    if not download:
        return "downloads off (download=False)"
    if offline_requested():
        return f"downloads off ({OFFLINE_ENV_VAR}={os.environ[OFFLINE_ENV_VAR].strip()})"
    # remembered per target file: another cache folder (the fix a message suggests) is
    # tried afresh
    key = str(weight_path(name, cache=cache))
    if key in _failed_downloads:
        return _failed_downloads[key]
    global _network_down
    if _network_down is not None:
        return _network_down
    unreachable = probe_sources(spec.sources)
    if unreachable is not None:
        _network_down = f"no network: {unreachable}"
        return _network_down
    try:
        ensure_weights(name, cache=cache, download=True, progress=progress)
    except (WeightsUnavailableError, WeightsCorruptError, ImportError, OSError) as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        # the one-line note keeps why each source failed (a 404, an HTML page)
        reasons = "; ".join(f"{url}: {why.splitlines()[0] if why else '?'}"
                            for url, why in getattr(exc, "attempts", ()))
        if reasons:
            first_line = f"{first_line.rstrip('.')} ({reasons})"
        _failed_downloads[key] = f"download failed: {first_line}"
        log.info("download of %s failed: %s", name, exc)
        return _failed_downloads[key]
    return None


def moved_aside(name: str) -> str | None:
    """What :func:`fetch_for_auto` did with a corrupt cached copy of ``name`` in this
    process (``"<file> was corrupt (<why>) and was moved aside to <file>.corrupt"``),
    or None."""
    return _moved_aside.get(name)


# ----------------------------------------------------------------------------- TF Hub


def is_hub_url(handle: str) -> bool:
    """Whether a resolved TF Hub handle (:func:`resolve_hub_handle`) is a URL, not a folder."""
    return handle.startswith(("http://", "https://"))


def _is_saved_model_dir(folder: Path) -> bool:
    return (folder / "saved_model.pb").is_file() or (folder / "saved_model.pbtxt").is_file()


def resolve_hub_handle(
    local_dir: str | os.PathLike | None = None, *, cache: str | os.PathLike | None = None
) -> str:
    """Return the handle to load the Magenta stylization model from.

    Parameters
    ----------
    local_dir : str or path-like, optional
        A local SavedModel folder (holding ``saved_model.pb``), or a TF Hub URL (the
        ``hub_handle`` of :class:`helpers.stylize.Stylizer`; messages name it so).
    cache : str or path-like, optional
        Cache folder searched for ``<cache>/magenta_arbitrary-image-stylization-v1-256_2``.

    Returns
    -------
    str
        In order: ``local_dir``; else ``$CLOTHSTYLE_MAGENTA_HUB``; else the cache folder
        copy if it holds a SavedModel; else the TF Hub URL :data:`MAGENTA_HUB_URL`. A
        folder comes back as an absolute path.
        Loading it (``tensorflow_hub.load``) is the stylization module's job.

    Raises
    ------
    FileNotFoundError
        ``local_dir`` or the environment variable names a local path that is not a
        SavedModel folder (an explicit request is never silently replaced by a download).
    TypeError
        ``local_dir`` is neither a string nor a path.
    ValueError
        ``local_dir`` is an empty string.
    """
    spec = REGISTRY["magenta_hub"]
    if local_dir is not None:
        if not isinstance(local_dir, (str, os.PathLike)):
            raise TypeError(f"hub_handle must be a folder path (str or os.PathLike) or a TF "
                            f"Hub URL, got {type(local_dir).__name__} {local_dir!r}")
        if not str(local_dir).strip():
            raise ValueError("hub_handle is empty: give a SavedModel folder or a TF Hub URL, "
                             "or leave it out")
    for given, origin in ((local_dir, "hub_handle"),
                          (os.environ.get(HUB_ENV_VAR, "").strip(), HUB_ENV_VAR)):
        if not given:
            continue
        text = str(given)
        if is_hub_url(text):
            return text
        # absolute: the handle is recorded (manifest) and used later, maybe elsewhere
        folder = Path(text).expanduser().resolve()
        if _is_saved_model_dir(folder):
            return str(folder)
        if folder.name in ("saved_model.pb", "saved_model.pbtxt") and folder.is_file():
            why = f"a file; give the folder that holds it, {folder.parent}"
        elif not folder.exists():
            why = "no such folder"
        else:
            why = "no saved_model.pb inside"
        raise FileNotFoundError(
            f"{origin}={folder} is not a TF Hub SavedModel folder ({why}); unpack "
            f"{spec.sources[0].url}?tf-hub-format=compressed into a folder and point "
            f"{origin} at it, or unset it to load from TF Hub (online, with tensorflow_hub)"
        )
    cached = cache_dir(cache) / spec.filename
    if _is_saved_model_dir(cached):
        return str(cached)
    return spec.sources[0].url


# ----------------------------------------------------------------------------- table


def describe_registry(*, cache: str | os.PathLike | None = None) -> list[dict]:
    """Return one row per registry entry, for the README table.

    Parameters
    ----------
    cache : str or path-like, optional
        Cache folder used for the ``available`` column; see :func:`cache_dir`.

    Returns
    -------
    list of dict
        Keys ``name``, ``file``, ``framework``, ``arch``, ``sources`` (URLs joined by
        ``" ; "``), ``size`` (exact bytes, else the publisher's approximate size, else
        ``"unknown"``), ``md5`` (or
        ``"unknown"``), ``available`` (bool, see :func:`is_available`) and ``note``.
    """
    return [
        {
            "name": spec.name,
            "file": spec.filename,
            "framework": spec.framework,
            "arch": spec.arch,
            "sources": " ; ".join(source.url for source in spec.sources),
            "size": (
                f"{spec.size_bytes} B"
                if spec.size_bytes is not None
                else _STATED_SIZES.get(spec.name, "unknown")
            ),
            "md5": spec.md5 or "unknown",
            "available": is_available(spec.name, cache=cache),
            "note": spec.note,
        }
        for spec in REGISTRY.values()
    ]
