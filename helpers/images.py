"""Image loading, conversion and resizing.

Array contract: images are ``(H, W, 3) uint8`` RGB (C-contiguous), masks and
saliency maps ``(H, W) float32`` in [0, 1], label maps ``(H, W) uint8``.

* :func:`load_image` reads a path, bytes, a file object, a PIL image or an array,
  applies the EXIF orientation and converts any common mode (grey, alpha, palette,
  CMYK, 1-bit, 16-bit, float) to ``(H, W, 3) uint8`` RGB. Transparent pixels are
  composited on white. Every failure is an :class:`ImageLoadError` naming the file.
* :func:`fit_to_cap`, :func:`resize_image`, :func:`resize_map` and
  :func:`resize_labels` resize by the array contract (labels by nearest neighbour only).

Writing files lives in :mod:`helpers.files`, sample images in :mod:`helpers.samples`;
their names are re-exported here for code that imports them from this module.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from helpers._checks import (
    MIN_SIDE,
    check_image,
    check_labels,
    check_map,
    check_positive_int,
)
from helpers.paths import display_path

__all__ = [
    "MAX_PIXELS",
    "MIN_SIDE",
    "ImageLoadError",
    "atomic_write_bytes",
    "fit_to_cap",
    "load_image",
    "resize_image",
    "resize_float",
    "resize_labels",
    "resize_map",
    "save_image",
    "save_json",
    "to_rgb_uint8",
]

#: Largest accepted pixel count (width x height); larger files are refused before decoding.
MAX_PIXELS = 100_000_000

SUPPORTED_FORMATS = "PNG, JPEG, BMP, GIF, TIFF, WebP, AVIF (anything Pillow can decode)"
#: Phone photos that Pillow opens only through a plugin (pillow-heif), and what to say.
HEIC_SUFFIXES = (".heic", ".heif")
HEIC_NOTE = ("Pillow reads HEIC/HEIF only through the pillow-heif plugin, which this "
             "package does not load")


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

    Examples
    --------
    >>> import numpy as np
    >>> from helpers.images import to_rgb_uint8
    >>> to_rgb_uint8(np.array([[0.0, 1.0]]))
    array([[[  0,   0,   0],
            [255, 255, 255]]], dtype=uint8)
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
        heic = str(label).lower().endswith(HEIC_SUFFIXES)
        raise ImageLoadError(
            f"{label}: not a recognised image file; supported formats: {SUPPORTED_FORMATS}"
            + (f"; {HEIC_NOTE}: convert the photo to JPEG or PNG" if heic else "")
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

    Examples
    --------
    >>> import io
    >>> import numpy as np
    >>> from PIL import Image
    >>> from helpers.images import ImageLoadError, load_image
    >>> buffer = io.BytesIO()
    >>> Image.new("L", (40, 30), 128).save(buffer, format="PNG")
    >>> image = load_image(buffer.getvalue(), name="grey.png")
    >>> image.shape, image.dtype, image[0, 0].tolist()
    ((30, 40, 3), dtype('uint8'), [128, 128, 128])
    >>> try:
    ...     load_image(b"not an image", name="notes.txt")
    ... except ImageLoadError as exc:
    ...     print(str(exc)[:32])
    ...
    notes.txt: not a recognised imag
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
            # bytes given a name are a file's content (the catalogue reads files so)
            raise ImageLoadError(f"{label}: the file is empty (0 bytes)" if name
                                 else f"{label}: no data (0 bytes)")
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

    Examples
    --------
    >>> import numpy as np
    >>> from helpers.images import fit_to_cap
    >>> small, scale = fit_to_cap(np.zeros((200, 400, 3), np.uint8), 100)
    >>> small.shape, scale
    ((50, 100, 3), 0.25)
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

    Examples
    --------
    >>> import numpy as np
    >>> from helpers.images import resize_image
    >>> resize_image(np.zeros((20, 30, 3), np.uint8), (10, 15)).shape
    (10, 15, 3)
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

    Examples
    --------
    >>> import numpy as np
    >>> from helpers.images import resize_map
    >>> resize_map(np.array([[0.0, 1.0]], np.float32), (1, 4))
    array([[0.  , 0.25, 0.75, 1.  ]], dtype=float32)
    """
    values = check_map(map2d, name="map2d")
    height, width = _target_size(size_hw)
    if values.shape == (height, width):
        return values.copy()
    out = cv2.resize(np.ascontiguousarray(values), (width, height),
                     interpolation=cv2.INTER_LINEAR)
    return np.clip(out.reshape(height, width), 0.0, 1.0).astype(np.float32, copy=False)


def resize_float(array: np.ndarray, size_hw: Sequence[int]) -> np.ndarray:
    """Resize a float32 ``(H, W)`` or ``(H, W, C)`` array of any range (a network input,
    a crop scaled to [0, 1]): area averaging when shrinking, else bilinear; no clipping.

    Parameters
    ----------
    array : (H, W) or (H, W, C) float32
    size_hw : (int, int)
        Target ``(height, width)`` in pixels.

    Returns
    -------
    (height, width) or (height, width, C) float32, a new array.

    Examples
    --------
    >>> import numpy as np
    >>> from helpers.images import resize_float
    >>> resize_float(np.array([[0.0, 2.0, 4.0, 6.0]], np.float32), (1, 2))
    array([[1., 5.]], dtype=float32)
    """
    height, width = _target_size(size_hw)
    if array.shape[:2] == (height, width):
        return array.copy()
    shrinking = height <= array.shape[0] and width <= array.shape[1]
    method = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    out = cv2.resize(np.ascontiguousarray(array), (width, height), interpolation=method)
    return out.reshape((height, width) + array.shape[2:])


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

    Examples
    --------
    >>> import numpy as np
    >>> from helpers.images import resize_labels
    >>> resize_labels(np.array([[1, 3]], np.uint8), (1, 4))
    array([[1, 1, 3, 3]], dtype=uint8)
    """
    check_labels(labels)
    height, width = _target_size(size_hw)
    src_h, src_w = labels.shape
    rows = np.minimum(((np.arange(height) + 0.5) * (src_h / height)).astype(np.intp), src_h - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * (src_w / width)).astype(np.intp), src_w - 1)
    return np.ascontiguousarray(labels[rows[:, None], cols[None, :]])


# Re-exports: these lived here before helpers.files and helpers.samples existed.
from helpers.files import atomic_write_bytes, save_image, save_json  # noqa: E402

_SAMPLES_NAMES = ("CONTENT_SAMPLES", "FABRIC_KINDS", "STYLE_SAMPLES", "fabric_pattern",
                  "list_samples", "sample_content", "sample_style")


def __getattr__(name: str) -> Any:
    # helpers.samples imports this module, so its names are re-exported on first use
    if name in _SAMPLES_NAMES:
        from helpers import samples

        return getattr(samples, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
