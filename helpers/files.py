"""Atomic output files: readers see the old file or the new one, never half of one.

Every file the project writes goes through here: photos and figures
(:func:`save_image`), records (:func:`save_json`), bytes (:func:`atomic_write_bytes`)
and files that another library writes to a path (:func:`atomic_path`: a downloaded
checkpoint, an exported ONNX graph). The content goes to a temporary file in the
destination's folder, is flushed and fsynced, and ``os.replace`` moves it into place;
on any error (Ctrl-C included) the temporary file is removed and the destination is
left as it was. Input files named in ``protect`` are never overwritten.
"""

from __future__ import annotations

import io
import json
import os
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from helpers._checks import check_image
from helpers.paths import display_path, name_limit

__all__ = ["SAVE_FORMATS", "atomic_path", "atomic_write_bytes", "save_image", "save_json"]

#: Image formats :func:`save_image` writes, by file suffix.
SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def _refuse_protected(path: Path, protect: Iterable[str | os.PathLike]) -> None:
    if isinstance(protect, (str, os.PathLike)):
        protect = (protect,)
    for guarded in protect:
        if _same_file(path, Path(guarded).expanduser()):
            raise ValueError(
                f"refusing to write {path}: it is the input file {guarded}; "
                "choose another output path (input files are never overwritten)"
            )


def _ensure_parent(path: Path) -> None:
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(
            f"cannot create output directory {parent}: {exc.strerror or exc}"
        ) from exc
    if not parent.is_dir():
        raise NotADirectoryError(f"cannot write into {parent}: it is not a directory")


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *,
                       protect: Iterable[str | os.PathLike] = ()) -> Path:
    """Write ``data`` to ``path`` atomically: readers see the old file or the new one.

    The bytes go to a temporary file in the same directory, are flushed and fsynced,
    then ``os.replace`` moves it over ``path`` (see :func:`atomic_path`). On any error
    the temporary file is removed and ``path`` is left as it was. Missing parent
    directories are created.

    Parameters
    ----------
    path : str or os.PathLike
        Destination file.
    data : bytes
        Content to write.
    protect : iterable of paths
        Files that must never be overwritten (e.g. the inputs); writing to one of
        them raises ``ValueError``.

    Returns
    -------
    pathlib.Path
        The destination path.

    Raises
    ------
    ValueError
        ``path`` is one of ``protect``.
    OSError
        The name is longer than the file system allows, ``path`` is a directory, or
        the folder cannot be created or written.
    """
    with atomic_path(path, protect=protect) as temp, open(temp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return Path(path).expanduser()


@contextmanager
def atomic_path(path: str | os.PathLike, *, protect: Iterable[str | os.PathLike] = (),
                temp_prefix: str | None = None) -> Iterator[Path]:
    """A temporary path beside ``path`` that replaces it when the block ends normally.

    For a library that writes to a path itself (a downloader, ``torch.onnx.export``):
    write to the yielded path, check the file inside the block if need be (raise to
    refuse it), and on leaving the block it is fsynced and ``os.replace``-d onto
    ``path``. On any exception (KeyboardInterrupt included) the temporary file is
    removed and ``path`` is left as it was: a partial file never takes the final name.

    Parameters
    ----------
    path : str or os.PathLike
        Destination file; missing parent directories are created.
    protect : iterable of paths
        Files that must never be overwritten; targeting one raises ``ValueError``.
    temp_prefix : str, optional
        Name of the temporary file before a random part (default ``.<name>.`` and a
        ``.tmp`` suffix), e.g. ``"u2net.pth.part-"`` so that a cache can recognise it.

    Yields
    ------
    pathlib.Path
        The temporary file, created empty (with the umask's permissions).

    Raises
    ------
    ValueError, OSError
        As :func:`atomic_write_bytes`, before the block runs.
    """
    path = Path(path).expanduser()
    limit = name_limit(path.parent)
    if len(os.fsencode(path.name)) > limit:
        raise OSError(
            f"cannot write {display_path(path)}: its name is {len(os.fsencode(path.name))} "
            f"bytes, more than this file system's limit of {limit}; choose a shorter name"
        )
    _refuse_protected(path, protect)
    if path.is_dir():
        raise IsADirectoryError(f"cannot write {path}: it is a directory")
    _ensure_parent(path)
    temp = (_temp_name(path) if temp_prefix is None
            else path.with_name(f"{temp_prefix}{uuid.uuid4().hex[:12]}"))
    try:
        # os.open with 0o666 lets the umask decide the final permissions, as open() would.
        os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                         | getattr(os, "O_BINARY", 0), 0o666))
        yield temp
        with open(temp, "rb+") as handle:  # the writer may not have synced
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _temp_name(path: Path) -> Path:
    """``.<name>.<random>.tmp`` beside ``path``, its name shortened to fit the folder's
    limit (a name near the limit must still get a temporary sibling)."""
    limit = name_limit(path.parent)
    tail = f".{uuid.uuid4().hex[:12]}.tmp"
    head = "." + path.name
    while len(os.fsencode(head + tail)) > limit:
        head = head[:-1]
    return path.with_name(head + tail)


def _fsync_directory(directory: Path) -> None:
    """Persist the rename itself (POSIX); best effort, silently skipped elsewhere."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_image(image: np.ndarray, path: str | os.PathLike, *,
               protect: Iterable[str | os.PathLike] = (), jpeg_quality: int = 95) -> Path:
    """Encode an image as PNG or JPEG (chosen by suffix) and write it atomically.

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W, 3) uint8`` RGB, or ``(H, W) uint8`` greyscale (e.g. a scaled mask).
    path : str or os.PathLike
        Destination ending in ``.png``, ``.jpg`` or ``.jpeg``.
    protect : iterable of paths
        Input files that must not be overwritten; targeting one raises ``ValueError``.
    jpeg_quality : int
        JPEG quality (1-100) for ``.jpg`` / ``.jpeg``.

    Returns
    -------
    pathlib.Path
        The destination path.
    """
    path = Path(path).expanduser()
    fmt = SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(
            f"cannot save {path}: unsupported suffix {path.suffix!r}; "
            f"use one of {', '.join(sorted(SAVE_FORMATS))}"
        )
    if isinstance(image, np.ndarray) and image.ndim == 2 and image.dtype == np.uint8:
        pil = Image.fromarray(np.ascontiguousarray(image), mode="L")
    else:
        pil = Image.fromarray(np.ascontiguousarray(check_image(image)), mode="RGB")
    protect = (protect,) if isinstance(protect, (str, os.PathLike)) else tuple(protect)
    _refuse_protected(path, protect)  # before encoding: fail fast
    buffer = io.BytesIO()
    if fmt == "JPEG":
        pil.save(buffer, format=fmt, quality=int(jpeg_quality))
    else:
        pil.save(buffer, format=fmt)
    return atomic_write_bytes(path, buffer.getvalue(), protect=protect)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"object of type {type(value).__name__} is not JSON serialisable")


def save_json(obj: Any, path: str | os.PathLike, *,
              protect: Iterable[str | os.PathLike] = ()) -> Path:
    """Write ``obj`` as JSON atomically (sorted keys, indent 2, trailing newline).

    Numpy scalars and arrays and paths are converted to plain JSON values. Strings
    holding surrogate escapes (file names that are not UTF-8) are written as
    ``\\udcNN`` escapes: the file stays valid UTF-8 and ``json.loads`` gives the same
    string back.

    Parameters
    ----------
    obj : Any
        JSON-serialisable object.
    path : str or os.PathLike
        Destination file.
    protect : iterable of paths
        Input files that must not be overwritten; targeting one raises ``ValueError``.

    Returns
    -------
    pathlib.Path
        The destination path.
    """
    text = json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False, default=_json_default)
    # A file name that is not UTF-8 reaches us as lone surrogates; written as \udcNN
    # escapes they keep the JSON valid and read back as the same name.
    data = (text + "\n").encode("utf-8", errors="backslashreplace")
    return atomic_write_bytes(path, data, protect=protect)
