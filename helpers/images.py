"""Image I/O, resizing, atomic output writing and offline sample images.

Array contract: images are ``(H, W, 3) uint8`` RGB (C-contiguous), masks and
saliency maps ``(H, W) float32`` in [0, 1], label maps ``(H, W) uint8``.

* :func:`load_image` reads a path, bytes, a file object, a PIL image or an array,
  applies the EXIF orientation and converts any common mode (grey, alpha, palette,
  CMYK, 1-bit, 16-bit, float) to ``(H, W, 3) uint8`` RGB. Transparent pixels are
  composited on white. Every failure is an :class:`ImageLoadError` naming the file.
* :func:`save_image`, :func:`save_json` and :func:`atomic_write_bytes` never leave a
  half-written file behind and refuse to overwrite the input files.
* :func:`sample_content`, :func:`sample_style` and :func:`fabric_pattern` give test
  images without network access (scikit-image and matplotlib ship the photos; the
  fabrics are generated).
"""

from __future__ import annotations

import io
import json
import os
import uuid
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from helpers._checks import (
    MIN_SIDE,
    check_choice,
    check_image,
    check_labels,
    check_map,
    check_positive_int,
)
from helpers.paths import display_path, name_limit

__all__ = [
    "CONTENT_SAMPLES",
    "FABRIC_KINDS",
    "MAX_PIXELS",
    "MIN_SIDE",
    "STYLE_SAMPLES",
    "ImageLoadError",
    "atomic_write_bytes",
    "fabric_pattern",
    "fit_to_cap",
    "list_samples",
    "load_image",
    "resize_image",
    "resize_labels",
    "resize_map",
    "sample_content",
    "sample_style",
    "save_image",
    "save_json",
    "to_rgb_uint8",
]

#: Largest accepted pixel count (width x height); larger files are refused before decoding.
MAX_PIXELS = 100_000_000

SUPPORTED_FORMATS = "PNG, JPEG, BMP, GIF, TIFF, WebP (anything Pillow can decode)"
_SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}


class ImageLoadError(ValueError):
    """An image could not be loaded; the message names the source and the reason."""


# --------------------------------------------------------------------------- conversion


def _composite_uint8_on_white(color: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Composite uint8 ``color`` (H, W, C) with uint8 ``alpha`` (H, W) over white, exactly.

    ``round((c * a + 255 * (255 - a)) / 255)``; the numerator is at most 255 * 255, so
    uint16 holds it, and the sum never ends in exactly .5 because 255 is odd.
    """
    a = alpha.astype(np.uint16)[..., None]
    numerator = color.astype(np.uint16) * a + 255 * (255 - a) + 127
    return (numerator // 255).astype(np.uint8)


def _unit_float_to_uint8(values: np.ndarray) -> np.ndarray:
    """Map floats in [0, 1] to uint8 with round-to-nearest."""
    return np.rint(np.clip(values, 0.0, 1.0) * 255.0).astype(np.uint8)


def _channels_to_rgb(array: np.ndarray) -> np.ndarray:
    """Turn a uint8 or [0, 1] float ``(H, W, C)`` array, C in 1..4, into ``(H, W, 3) uint8``.

    Channel meaning: 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA; alpha is composited on white.
    """
    channels = array.shape[2]
    color = array[..., :3] if channels >= 3 else array[..., :1]
    if channels in (2, 4):
        alpha = array[..., -1]
        if array.dtype == np.uint8:
            color = _composite_uint8_on_white(color, alpha)
        else:
            a = alpha[..., None]
            color = _unit_float_to_uint8(color * a + (1.0 - a))
    elif array.dtype != np.uint8:
        color = _unit_float_to_uint8(color)
    if color.shape[2] == 1:
        color = np.repeat(color, 3, axis=2)
    return np.ascontiguousarray(color, dtype=np.uint8)


def _array_to_rgb(array: np.ndarray, name: str) -> np.ndarray:
    """Convert a numpy array of any supported dtype and layout to ``(H, W, 3) uint8``."""
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4):
        raise ValueError(
            f"{name}: expected an array of shape (H, W), (H, W, 1), (H, W, 2), (H, W, 3) "
            f"or (H, W, 4), got {array.shape}"
        )
    if array.dtype == np.uint8:
        return _channels_to_rgb(array)
    if array.dtype == bool:
        return _channels_to_rgb(array.astype(np.uint8) * np.uint8(255))
    if array.dtype == np.uint16:
        # 65535 -> 255 exactly; 257 is the factor between the 16-bit and 8-bit scales.
        return _channels_to_rgb(((array.astype(np.uint32) + 128) // 257).astype(np.uint8))
    if np.issubdtype(array.dtype, np.floating):
        values = array.astype(np.float32, copy=False)
        lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise ValueError(f"{name}: float image contains NaN or infinite values")
        if lo < 0.0 or hi > 1.0:
            raise ValueError(
                f"{name}: float images must lie in [0, 1], found range [{lo:g}, {hi:g}]; "
                "divide by 255 (or by the maximum) first"
            )
        return _channels_to_rgb(values)
    if np.issubdtype(array.dtype, np.integer):
        lo, hi = (int(array.min()), int(array.max())) if array.size else (0, 0)
        if lo < 0 or hi > 255:
            raise ValueError(
                f"{name}: integer images of dtype {array.dtype} must lie in [0, 255], found "
                f"range [{lo}, {hi}]; use uint16 for 16-bit data or rescale first"
            )
        return _channels_to_rgb(array.astype(np.uint8))
    raise ValueError(
        f"{name}: unsupported array dtype {array.dtype}; use uint8, uint16, bool or float in [0, 1]"
    )


def _pil_to_rgb(image: Image.Image, name: str) -> np.ndarray:
    """Convert a decoded PIL image of any common mode to ``(H, W, 3) uint8``."""
    mode = image.mode
    if mode == "RGB":
        return np.array(image, dtype=np.uint8)  # a writeable copy (asarray is read-only)
    if mode == "L":
        return _channels_to_rgb(np.asarray(image, dtype=np.uint8)[..., None])
    if mode == "1":
        return _channels_to_rgb(np.asarray(image.convert("L"), dtype=np.uint8)[..., None])
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or image.has_transparency_data
        return _pil_to_rgb(image.convert("RGBA" if has_alpha else "RGB"), name)
    if mode in ("LA", "La", "RGBA", "RGBa"):
        # PIL un-premultiplies La/RGBa on conversion; LA -> RGBA copies grey into R, G, B.
        rgba = image if mode == "RGBA" else image.convert("RGBA")
        return _channels_to_rgb(np.asarray(rgba, dtype=np.uint8))
    if mode.startswith("I;16"):
        return _array_to_rgb(np.asarray(image).astype(np.uint16), name)
    if mode == "I":
        values = np.asarray(image)
        lo, hi = (int(values.min()), int(values.max())) if values.size else (0, 0)
        if lo < 0 or hi > 65535:
            raise ValueError(
                f"{name}: 32-bit integer image values must lie in the 16-bit range "
                f"[0, 65535], found [{lo}, {hi}]"
            )
        return _array_to_rgb(values.astype(np.uint16), name)
    if mode == "F":
        values = np.asarray(image, dtype=np.float32)
        if values.size and not np.isfinite(values).all():
            raise ValueError(f"{name}: float image contains NaN or infinite values")
        # Float files come as [0, 1] or [0, 255]; the maximum tells which (then clip).
        hi = float(values.max()) if values.size else 0.0
        scaled = values if hi <= 1.0 else values / np.float32(255.0)
        return _channels_to_rgb(np.clip(scaled, 0.0, 1.0)[..., None])
    try:  # CMYK, YCbCr, RGBX, HSV, LAB...: Pillow's own conversion.
        converted = image.convert("RGB")
    except (ValueError, OSError) as exc:
        raise ValueError(f"{name}: cannot convert image mode {mode!r} to RGB ({exc})") from exc
    return np.array(converted, dtype=np.uint8)


def to_rgb_uint8(image: Image.Image | np.ndarray, name: str = "image") -> np.ndarray:
    """Convert an in-memory PIL image or numpy array to ``(H, W, 3) uint8`` RGB.

    Parameters
    ----------
    image : PIL.Image.Image or numpy.ndarray
        PIL modes: RGB, L, 1, P (with or without transparency), LA, RGBA, CMYK,
        I;16 / I;16B / I (16-bit), F (float) and anything Pillow converts to RGB.
        Arrays: ``(H, W)``, ``(H, W, 1)`` grey, ``(H, W, 2)`` grey + alpha,
        ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA, of dtype uint8, uint16 (16-bit,
        divided by 257 with rounding), bool (True -> 255) or float in [0, 1].
    name : str
        Label used in error messages.

    Returns
    -------
    numpy.ndarray
        ``(H, W, 3) uint8`` RGB, C-contiguous. Alpha is composited on white
        (``round(c * a + 255 * (1 - a))``). A PIL float image (mode F) is read as
        [0, 1] when its maximum is <= 1, else as [0, 255], and clipped. A new array is
        returned unless the input already is a C-contiguous ``(H, W, 3) uint8`` array.

    Raises
    ------
    ValueError
        Unsupported shape or dtype, float arrays outside [0, 1] (the message gives the
        range found), NaN/inf values, or a mode that cannot be converted.
    """
    if isinstance(image, Image.Image):
        return _pil_to_rgb(image, name)
    if isinstance(image, np.ndarray):
        return _array_to_rgb(image, name)
    raise TypeError(
        f"{name}: expected a PIL image or a numpy array, got {type(image).__name__}; "
        "use load_image() for paths, bytes and file objects"
    )


# --------------------------------------------------------------------------- loading


def _describe_source(source: Any) -> str:
    if isinstance(source, (str, os.PathLike)):
        return display_path(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<{len(source)} bytes>"
    if isinstance(source, Image.Image):
        return "<PIL image>"
    if isinstance(source, np.ndarray):
        return f"<array {source.shape} {source.dtype}>"
    name = getattr(source, "name", None)
    return display_path(name) if isinstance(name, (str, bytes, os.PathLike)) else "<file object>"


def _check_size(width: int, height: int, label: str) -> None:
    """Refuse images with a side below MIN_SIDE or more than MAX_PIXELS pixels."""
    if min(width, height) < MIN_SIDE:
        raise ImageLoadError(
            f"{label}: image is {width}x{height} px; both sides must be at least "
            f"{MIN_SIDE} px"
        )
    pixels = width * height
    if pixels > MAX_PIXELS:
        raise ImageLoadError(
            f"{label}: image is {width}x{height} = {pixels:,} pixels, more than "
            f"MAX_PIXELS = {MAX_PIXELS:,}; downscale it before loading"
        )


def _open_and_decode(fp: Any, label: str) -> np.ndarray:
    """Open ``fp`` with Pillow, check its size, decode fully, orient and convert it.

    Every exception Pillow raises on the way (opening, reading the header or EXIF,
    counting frames, decoding: ``OSError``, ``SyntaxError``, ``ValueError``,
    ``TypeError``, ``struct.error``, ...) becomes an :class:`ImageLoadError` naming
    ``label``; only ``MemoryError`` passes through unchanged.
    """
    try:
        with warnings.catch_warnings():
            # MAX_PIXELS is the policy here; PIL's own (lower) warning threshold is not.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(fp)
    except Image.DecompressionBombError as exc:
        raise ImageLoadError(
            f"{label}: refused as a decompression bomb ({exc}); at most "
            f"MAX_PIXELS = {MAX_PIXELS:,} pixels are accepted"
        ) from exc
    except UnidentifiedImageError as exc:
        raise ImageLoadError(
            f"{label}: not a recognised image file; supported formats: {SUPPORTED_FORMATS}"
        ) from exc
    except OSError as exc:
        raise ImageLoadError(f"{label}: cannot read the file ({exc})") from exc
    except MemoryError:
        raise
    except Exception as exc:  # Pillow's plug-ins raise many kinds for malformed headers
        raise ImageLoadError(
            f"{label}: the image header is malformed ({type(exc).__name__}: {exc})"
        ) from exc

    with image:
        try:
            return _decode_opened(image, label)
        except (ImageLoadError, MemoryError):
            raise
        except Exception as exc:
            raise ImageLoadError(
                f"{label}: the {image.format or 'image'} data is truncated or corrupt "
                f"and cannot be decoded ({type(exc).__name__}: {exc})"
            ) from exc


def _decode_opened(image: Image.Image, label: str) -> np.ndarray:
    """Size check, first frame, full decode, EXIF orientation, RGB conversion."""
    width, height = image.size
    _check_size(width, height, label)
    frames = getattr(image, "n_frames", 1)  # counting frames reads the whole file
    if frames > 1:
        warnings.warn(
            f"{label} has {frames} frames (animation or multi-page file); "
            "using the first one",
            stacklevel=4,
        )
        image.seek(0)
    image.load()  # decode now: a truncated file fails here, not later
    oriented = _apply_exif_orientation(image, label)
    try:
        return to_rgb_uint8(oriented, label)
    except ValueError as exc:
        raise ImageLoadError(str(exc)) from exc


def _apply_exif_orientation(image: Image.Image, label: str) -> Image.Image:
    try:
        return ImageOps.exif_transpose(image)
    except Exception as exc:  # malformed EXIF must not make a good image unreadable
        warnings.warn(f"{label}: ignoring unreadable EXIF orientation ({exc})", stacklevel=4)
        return image


def load_image(source: Any, *, max_side: int | None = None, name: str | None = None,
               ) -> np.ndarray:
    """Load an image as ``(H, W, 3) uint8`` RGB, upright (EXIF orientation applied).

    Parameters
    ----------
    source : str, os.PathLike, bytes, bytearray, file object, PIL.Image.Image or numpy.ndarray
        A path to an image file, its encoded bytes, an open binary file, a PIL image or
        an array (see :func:`to_rgb_uint8` for the accepted modes and dtypes).
        Animated GIFs and multi-page TIFFs give their first frame with a warning.
    max_side : int, optional
        When given, downscale (area filter, aspect ratio kept) so the longest side is
        at most ``max_side`` pixels. Smaller images are not enlarged.
    name : str, optional
        Label for error messages (default: the path, or a description of the source).

    Returns
    -------
    numpy.ndarray
        ``(H, W, 3) uint8`` RGB, C-contiguous, writeable and never a view of
        ``source``; transparency composited on white.

    Raises
    ------
    ImageLoadError
        (a ``ValueError``) for a missing path, a directory, an empty or truncated file,
        an unsupported format, a side below ``MIN_SIDE`` (16 px), more than
        ``MAX_PIXELS`` (100 000 000) pixels, or values that cannot be converted.
        The message names the source and the reason.
    """
    label = name or _describe_source(source)
    if max_side is not None:
        check_positive_int(max_side, "max_side")

    if isinstance(source, (str, os.PathLike)):
        text = str(source)
        if text.startswith(("http://", "https://")):
            raise ImageLoadError(f"{label}: URLs are not supported; download the file first")
        path = Path(text).expanduser()
        if not path.exists():
            raise ImageLoadError(f"{label}: no such file")
        if path.is_dir():
            raise ImageLoadError(f"{label}: is a directory, not an image file")
        if path.stat().st_size == 0:
            raise ImageLoadError(f"{label}: the file is empty (0 bytes)")
        rgb = _open_and_decode(path, label)
    elif isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise ImageLoadError(f"{label}: no data (0 bytes)")
        rgb = _open_and_decode(io.BytesIO(bytes(source)), label)
    elif isinstance(source, Image.Image):
        _check_size(*source.size, label)
        try:
            frames = getattr(source, "n_frames", 1)
            source.load()
        except MemoryError:
            raise
        except Exception as exc:
            raise ImageLoadError(f"{label}: image data cannot be decoded ({exc})") from exc
        if frames > 1:
            warnings.warn(f"{label} has {frames} frames; using the current one", stacklevel=2)
        try:
            rgb = to_rgb_uint8(_apply_exif_orientation(source, label), label)
        except ValueError as exc:
            raise ImageLoadError(str(exc)) from exc
    elif isinstance(source, np.ndarray):
        if source.ndim < 2:
            raise ImageLoadError(f"{label}: expected an (H, W) or (H, W, C) array")
        _check_size(source.shape[1], source.shape[0], label)
        try:
            rgb = to_rgb_uint8(source, label)
        except ValueError as exc:
            raise ImageLoadError(str(exc)) from exc
        if np.shares_memory(rgb, source):  # never hand back a view of the caller's array
            rgb = rgb.copy()
    elif hasattr(source, "read"):
        rgb = _open_and_decode(source, label)
    else:
        raise TypeError(
            f"{label}: cannot load a {type(source).__name__}; pass a path, bytes, a binary "
            "file object, a PIL image or a numpy array"
        )

    if max_side is not None:
        rgb, _ = fit_to_cap(rgb, int(max_side))
    return rgb


# --------------------------------------------------------------------------- resizing


def _target_size(size_hw: Sequence[int]) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in size_hw)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"size_hw must be a (height, width) pair, got {size_hw!r}") from exc
    if height < 1 or width < 1:
        raise ValueError(f"size_hw must be positive, got {(height, width)}")
    return height, width


def fit_to_cap(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Downscale so the longest side is at most ``max_side``, keeping the aspect ratio.

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W, 3) uint8`` RGB.
    max_side : int
        Largest allowed side in pixels (>= 1).

    Returns
    -------
    resized : numpy.ndarray
        ``(h, w, 3) uint8``, area-filtered. When the image already fits, the input
        array itself is returned (no copy).
    scale : float
        ``max_side / max(H, W)`` when downscaled, else ``1.0``; sizes are rounded,
        so ``h / H`` may differ from it slightly.
    """
    check_image(image)
    check_positive_int(max_side, "max_side")
    height, width = image.shape[:2]
    longest = max(height, width)
    if longest <= max_side:
        return image, 1.0
    scale = max_side / longest
    new_h = min(max_side, max(1, round(height * scale)))
    new_w = min(max_side, max(1, round(width * scale)))
    return resize_image(image, (new_h, new_w)), scale


def resize_image(image: np.ndarray, size_hw: Sequence[int]) -> np.ndarray:
    """Resize an RGB image: area filter when shrinking, bicubic when enlarging.

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W, 3) uint8`` RGB.
    size_hw : (int, int)
        Target ``(height, width)``.

    Returns
    -------
    numpy.ndarray
        ``(height, width, 3) uint8``, a new C-contiguous array. When one axis shrinks
        and the other grows, each axis gets its own filter (two passes).
    """
    check_image(image)
    height, width = _target_size(size_hw)
    src_h, src_w = image.shape[:2]
    if (height, width) == (src_h, src_w):
        return np.ascontiguousarray(image).copy()

    def one_pass(array: np.ndarray, h: int, w: int) -> np.ndarray:
        shrinking = h <= array.shape[0] and w <= array.shape[1]
        method = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
        return cv2.resize(np.ascontiguousarray(array), (w, h), interpolation=method)

    if (height - src_h) * (width - src_w) < 0:  # mixed: shrink one axis, then grow the other
        if height < src_h:
            out = one_pass(one_pass(image, height, src_w), height, width)
        else:
            out = one_pass(one_pass(image, src_h, width), height, width)
    else:
        out = one_pass(image, height, width)
    return np.ascontiguousarray(out.reshape(height, width, 3), dtype=np.uint8)


def resize_map(map2d: np.ndarray, size_hw: Sequence[int]) -> np.ndarray:
    """Bilinearly resize a ``(H, W)`` float map in [0, 1] (mask, alpha, saliency).

    Uses ``cv2.INTER_LINEAR``, i.e. pixel-centre sampling (``align_corners=False``).

    Parameters
    ----------
    map2d : numpy.ndarray
        ``(H, W) float32`` in [0, 1] (bool is accepted).
    size_hw : (int, int)
        Target ``(height, width)``.

    Returns
    -------
    numpy.ndarray
        ``(height, width) float32`` in [0, 1], a new array.
    """
    values = check_map(map2d, name="map2d")
    height, width = _target_size(size_hw)
    if values.shape == (height, width):
        return values.copy()
    out = cv2.resize(np.ascontiguousarray(values), (width, height),
                     interpolation=cv2.INTER_LINEAR)
    return np.clip(out.reshape(height, width), 0.0, 1.0).astype(np.float32, copy=False)


def resize_labels(labels: np.ndarray, size_hw: Sequence[int]) -> np.ndarray:
    """Resize a label map with nearest-neighbour sampling only (no new label values).

    Each output pixel takes the label under its centre. Upsampled labels get blocky
    edges: when class probabilities are available, resize those with
    :func:`resize_map` and take the argmax instead.

    Parameters
    ----------
    labels : numpy.ndarray
        ``(H, W) uint8`` label map.
    size_hw : (int, int)
        Target ``(height, width)``.

    Returns
    -------
    numpy.ndarray
        ``(height, width) uint8``, a new array whose values all occur in ``labels``.
    """
    check_labels(labels)
    height, width = _target_size(size_hw)
    src_h, src_w = labels.shape
    rows = np.minimum(((np.arange(height) + 0.5) * (src_h / height)).astype(np.intp), src_h - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * (src_w / width)).astype(np.intp), src_w - 1)
    return np.ascontiguousarray(labels[rows[:, None], cols[None, :]])


# --------------------------------------------------------------------------- atomic writes


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
    then ``os.replace`` moves it over ``path``. On any error the temporary file is
    removed and ``path`` is left as it was. Missing parent directories are created.

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
    temp = _temp_name(path)
    try:
        # os.open with 0o666 lets the umask decide the final permissions, as open() would.
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                     0o666)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)
    return path


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
    fmt = _SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(
            f"cannot save {path}: unsupported suffix {path.suffix!r}; "
            f"use one of {', '.join(sorted(_SAVE_FORMATS))}"
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


# --------------------------------------------------------------------------- fabrics

#: Procedural fabric kinds accepted by :func:`fabric_pattern`.
FABRIC_KINDS = ("tartan", "houndstooth", "stripes", "polka_dots")

# Palettes (RGB) the seed picks from; chosen to look like real cloth.
_TARTAN_PALETTES = (
    ((16, 32, 74), (20, 82, 48), (176, 24, 36), (18, 18, 20), (226, 190, 60)),   # Black Watch-ish
    ((170, 20, 32), (20, 24, 60), (16, 70, 40), (236, 230, 214), (230, 180, 40)),  # royal red
    ((46, 84, 140), (230, 226, 210), (30, 36, 46), (120, 150, 190), (196, 60, 50)),  # blue dress
    ((96, 64, 40), (190, 150, 96), (44, 56, 40), (220, 206, 170), (140, 36, 30)),  # hunting
)
_TWO_TONE_PALETTES = (
    ((24, 24, 28), (236, 232, 220)),   # black / cream
    ((30, 46, 88), (226, 220, 200)),   # navy / ecru
    ((120, 24, 36), (232, 216, 196)),  # burgundy / sand
    ((46, 70, 50), (214, 200, 160)),   # bottle green / camel
)
_STRIPE_PALETTES = (
    ((28, 44, 90), (240, 236, 226), (190, 40, 44), (240, 236, 226)),
    ((232, 180, 60), (40, 40, 44), (236, 232, 220), (90, 130, 170)),
    ((30, 96, 110), (238, 220, 196), (214, 120, 70), (238, 220, 196)),
    ((70, 40, 90), (220, 200, 230), (40, 40, 44), (180, 150, 200)),
)


def _palette(colors: Any, default: Sequence[Sequence[int]], minimum: int) -> np.ndarray:
    """Return the palette as an ``(n, 3)`` float32 array, validating user colours."""
    chosen = default if colors is None else colors
    palette = np.asarray(chosen, dtype=np.float64)
    if palette.ndim != 2 or palette.shape[1] != 3 or palette.shape[0] < minimum:
        raise ValueError(
            f"colors must be a sequence of at least {minimum} RGB triples, got shape "
            f"{palette.shape}"
        )
    if not np.isfinite(palette).all() or palette.min() < 0 or palette.max() > 255:
        raise ValueError("colors must hold RGB values in [0, 255]")
    return palette.astype(np.float32)


def _twill(height: int, width: int, thread: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """2/2 twill weave on ``thread``-pixel threads.

    Returns the warp (vertical thread) index per column, the weft (horizontal thread)
    index per row, and a boolean ``(H, W)`` map that is True where the warp is on top.
    """
    warp = np.arange(width) // thread
    weft = np.arange(height) // thread
    warp_on_top = (warp[None, :] + weft[:, None]) % 4 < 2
    return warp, weft, warp_on_top


def _thread_shading(height: int, width: int, thread: int, warp_on_top: np.ndarray,
                    ) -> np.ndarray:
    """Brightness factor ``(H, W)`` that makes threads look round (darker at their edges)."""
    if thread < 2:
        return np.ones((height, width), dtype=np.float32)
    # Offset of the pixel centre from its thread's centre, in [-1, 1].
    across_x = ((np.arange(width) % thread) + 0.5) / thread * 2.0 - 1.0
    across_y = ((np.arange(height) % thread) + 0.5) / thread * 2.0 - 1.0
    shade_x = 1.0 - 0.16 * across_x.astype(np.float32) ** 2
    shade_y = 1.0 - 0.16 * across_y.astype(np.float32) ** 2
    return np.where(warp_on_top, shade_x[None, :], shade_y[:, None]).astype(np.float32)


def _woven(warp_colors: np.ndarray, weft_colors: np.ndarray, thread: int,
           height: int, width: int) -> np.ndarray:
    """Weave per-thread colours (``(n_warp, 3)``, ``(n_weft, 3)``) into a float image."""
    warp, weft, on_top = _twill(height, width, thread)
    colored = np.where(on_top[..., None], warp_colors[warp][None, :, :],
                       weft_colors[weft][:, None, :])
    return colored * _thread_shading(height, width, thread, on_top)[..., None]


def _tartan(height: int, width: int, rng: np.random.Generator, colors: Any) -> np.ndarray:
    palette = _palette(colors, _TARTAN_PALETTES[rng.integers(len(_TARTAN_PALETTES))], 2)
    n_bands = max(int(rng.integers(4, 7)), len(palette))  # every given colour appears
    band_colors = rng.permutation(np.resize(np.arange(len(palette)), n_bands))
    relative = rng.choice(np.array([1, 2, 3, 4, 6, 8, 12]), size=n_bands).astype(float)
    thread = max(1, min(height, width) // 128)
    # Scale the half-sett so one full (mirrored) repeat spans about half the short side.
    half_sett_threads = max(2 * n_bands, min(height, width) / (4 * thread))
    counts = np.maximum(1, np.round(relative / relative.sum() * half_sett_threads)).astype(int)
    half = np.repeat(band_colors, counts)
    sett = np.concatenate([half, half[-2:0:-1]])  # symmetric sett: pivot on both ends
    warp_idx = sett[np.arange(width // thread + 1) % sett.size]
    weft_idx = sett[np.arange(height // thread + 1) % sett.size]
    return _woven(palette[warp_idx], palette[weft_idx], thread, height, width)


def _houndstooth(height: int, width: int, rng: np.random.Generator, colors: Any) -> np.ndarray:
    # Classic houndstooth = 2/2 twill with threads in the order 4 dark, 4 light,
    # in both warp and weft; the twill turns the checks into the four-step "teeth".
    palette = _palette(colors, _TWO_TONE_PALETTES[rng.integers(len(_TWO_TONE_PALETTES))], 2)
    thread = max(1, min(height, width) // 64)
    order = (np.arange(max(height, width) // thread + 8) // 4) % 2
    warp_colors = palette[order[: width // thread + 1]]
    weft_colors = palette[order[: height // thread + 1]]
    return _woven(warp_colors, weft_colors, thread, height, width)


def _coverage_blend(position: np.ndarray, edges: np.ndarray, palette_idx: np.ndarray,
                    palette: np.ndarray) -> np.ndarray:
    """Colour periodic bands ``[edges[k], edges[k+1])`` with anti-aliased boundaries.

    ``position`` is measured in pixels along the band normal and already wrapped into
    ``[0, edges[-1])``. A pixel within half a pixel of a boundary mixes both bands.
    """
    n = palette_idx.size
    k = np.clip(np.searchsorted(edges, position, side="right") - 1, 0, n - 1)
    to_start = position - edges[k]
    to_end = edges[k + 1] - position
    w_prev = np.clip(0.5 - to_start, 0.0, 0.5)[..., None]
    w_next = np.clip(0.5 - to_end, 0.0, 0.5)[..., None]
    current = palette[palette_idx[k]]
    previous = palette[palette_idx[(k - 1) % n]]
    following = palette[palette_idx[(k + 1) % n]]
    return (1.0 - w_prev - w_next) * current + w_prev * previous + w_next * following


def _stripes(height: int, width: int, rng: np.random.Generator, colors: Any) -> np.ndarray:
    palette = _palette(colors, _STRIPE_PALETTES[rng.integers(len(_STRIPE_PALETTES))], 2)
    n_bands = max(len(palette), 4)
    band_idx = np.resize(np.arange(len(palette)), n_bands)
    unit = max(2.0, min(height, width) / 32)
    widths = unit * rng.choice(np.array([1.0, 1.5, 2.0, 3.0]), size=n_bands)
    edges = np.concatenate([[0.0], np.cumsum(widths)])
    # Diagonal (45 degrees) bands: distance along the normal of pixel centres.
    y = np.arange(height, dtype=np.float64)[:, None] + 0.5
    x = np.arange(width, dtype=np.float64)[None, :] + 0.5
    position = np.mod((x + y) / np.sqrt(2.0), edges[-1])
    image = _coverage_blend(position, edges, band_idx, palette.astype(np.float64))
    # A fine twill texture so it reads as cloth, not as a vector graphic.
    thread = max(1, min(height, width) // 128)
    _, _, on_top = _twill(height, width, thread)
    return image * _thread_shading(height, width, thread, on_top)[..., None]


def _polka_dots(height: int, width: int, rng: np.random.Generator, colors: Any) -> np.ndarray:
    palette = _palette(colors, _TWO_TONE_PALETTES[rng.integers(len(_TWO_TONE_PALETTES))], 2)
    background, dot = (palette[1], palette[0]) if colors is None else (palette[0], palette[1])
    spacing = max(8.0, min(height, width) / float(rng.choice(np.array([6, 8, 10]))))
    radius = spacing * float(rng.choice(np.array([0.22, 0.28, 0.33])))
    y = np.arange(height, dtype=np.float64)[:, None] + 0.5
    x = np.arange(width, dtype=np.float64)[None, :] + 0.5

    def lattice_distance(y0: float, x0: float) -> np.ndarray:
        # Rectangular lattice of centres (y0 + 2*spacing*m, x0 + spacing*n).
        dy = np.mod(y - y0, 2 * spacing)
        dx = np.mod(x - x0, spacing)
        dy = np.minimum(dy, 2 * spacing - dy)
        dx = np.minimum(dx, spacing - dx)
        return np.hypot(dy, dx)

    # Staggered rows (every other row shifted by half a spacing) = two lattices.
    half = spacing / 2
    distance = np.minimum(lattice_distance(half, half),
                          lattice_distance(half + spacing, spacing))
    coverage = np.clip(radius - distance + 0.5, 0.0, 1.0)[..., None]  # anti-aliased edge
    image = coverage * dot + (1.0 - coverage) * background
    thread = max(1, min(height, width) // 128)
    _, _, on_top = _twill(height, width, thread)
    return image * _thread_shading(height, width, thread, on_top)[..., None]


_FABRICS: dict[str, Callable[..., np.ndarray]] = {
    "tartan": _tartan,
    "houndstooth": _houndstooth,
    "stripes": _stripes,
    "polka_dots": _polka_dots,
}


def fabric_pattern(kind: str, size: Sequence[int] = (256, 256), seed: int = 0,
                   colors: Sequence[Sequence[int]] | None = None) -> np.ndarray:
    """Generate a woven fabric texture, deterministically (byte-identical per arguments).

    Parameters
    ----------
    kind : {"tartan", "houndstooth", "stripes", "polka_dots"}
        ``tartan``: a symmetric sett of coloured bands on warp and weft, woven in
        2/2 twill. ``houndstooth``: 2/2 twill with 4 dark / 4 light threads, the
        classic broken check. ``stripes``: diagonal (45 degree) bands of varying
        width with anti-aliased edges. ``polka_dots``: staggered anti-aliased discs.
        All get a subtle thread shading so they read as cloth.
    size : (int, int)
        Output ``(height, width)``.
    seed : int
        Picks the palette and the band widths / dot spacing.
    colors : sequence of RGB triples, optional
        Overrides the palette (values in [0, 255], at least two colours). Tartan and
        stripes use all of them; houndstooth and polka dots the first two
        (houndstooth: dark, light; polka dots: background, dot).

    Returns
    -------
    numpy.ndarray
        ``(height, width, 3) uint8`` RGB, C-contiguous.
    """
    check_choice(kind, FABRIC_KINDS, "fabric kind")
    height, width = _target_size(size)
    rng = np.random.default_rng(seed)
    image = _FABRICS[kind](height, width, rng, colors)
    return np.ascontiguousarray(np.clip(np.rint(image), 0, 255).astype(np.uint8))


# --------------------------------------------------------------------------- samples


def _skimage_sample(name: str) -> np.ndarray:
    try:
        import skimage.data
    except ImportError as exc:
        raise ImportError(
            f"sample {name!r} needs scikit-image; install it with `pip install scikit-image`"
        ) from exc
    return to_rgb_uint8(getattr(skimage.data, name)(), name)


def _grace_hopper() -> np.ndarray:
    try:
        from matplotlib import cbook
    except ImportError as exc:
        raise ImportError(
            "sample 'grace_hopper' needs matplotlib; install it with `pip install matplotlib`"
        ) from exc
    try:
        path = Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    except (OSError, ValueError) as exc:
        raise FileNotFoundError(
            "sample 'grace_hopper' is not shipped with the installed matplotlib "
            f"({exc}); use sample_content('astronaut') or load your own photo"
        ) from exc
    if not path.is_file():
        raise FileNotFoundError(
            f"sample 'grace_hopper' is not shipped with the installed matplotlib (looked "
            f"for {path}); use sample_content('astronaut') or load your own photo"
        )
    return load_image(path, name="grace_hopper sample")


#: Person photos for the content side, name -> zero-argument loader.
CONTENT_SAMPLES: dict[str, Callable[[], np.ndarray]] = {
    "astronaut": lambda: _skimage_sample("astronaut"),
    "grace_hopper": _grace_hopper,
}

#: Style images, name -> zero-argument loader: textures and photos from scikit-image
#: plus the procedural fabrics of :func:`fabric_pattern` at 512 x 512.
STYLE_SAMPLES: dict[str, Callable[[], np.ndarray]] = {
    "hubble_deep_field": lambda: _skimage_sample("hubble_deep_field"),
    "brick": lambda: _skimage_sample("brick"),
    "gravel": lambda: _skimage_sample("gravel"),
    **{kind: (lambda kind=kind: fabric_pattern(kind, size=(512, 512))) for kind in FABRIC_KINDS},
}


def sample_content(name: str) -> np.ndarray:
    """Return a bundled person photo (no network): ``"astronaut"`` or ``"grace_hopper"``.

    Parameters
    ----------
    name : str
        One of ``list_samples()["content"]``.

    Returns
    -------
    numpy.ndarray
        ``(H, W, 3) uint8`` RGB, C-contiguous, a fresh array on every call.
    """
    check_choice(name, CONTENT_SAMPLES, "content sample")
    return np.ascontiguousarray(check_image(CONTENT_SAMPLES[name](), name))


def sample_style(name: str) -> np.ndarray:
    """Return a style image (no network): scikit-image textures or a generated fabric.

    Parameters
    ----------
    name : str
        One of ``list_samples()["style"]``: ``"hubble_deep_field"``, ``"brick"``,
        ``"gravel"`` (grey, returned as RGB), ``"tartan"``, ``"houndstooth"``,
        ``"stripes"``, ``"polka_dots"``.

    Returns
    -------
    numpy.ndarray
        ``(H, W, 3) uint8`` RGB, C-contiguous, a fresh array on every call.
    """
    check_choice(name, STYLE_SAMPLES, "style sample")
    return np.ascontiguousarray(check_image(STYLE_SAMPLES[name](), name))


def list_samples() -> dict[str, list[str]]:
    """Names accepted by :func:`sample_content` and :func:`sample_style`.

    Returns
    -------
    dict
        ``{"content": [...], "style": [...]}``.
    """
    return {"content": list(CONTENT_SAMPLES), "style": list(STYLE_SAMPLES)}
