"""Input checks shared by every module: one array contract, precise messages.

Images are ``(H, W, 3) uint8`` RGB; masks, alphas and saliency maps are ``(H, W)``
float32 in [0, 1]; label maps are ``(H, W)`` uint8.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np


def read_only(array: np.ndarray | None) -> np.ndarray | None:
    """``array`` marked read-only in place (numpy's ``writeable`` flag), or None.

    Results that a cache hands out again are read-only, so that a caller's in-place edit
    (``mask[:] = 0``) raises numpy's "assignment destination is read-only" instead of
    silently changing what every later call returns; ``array.copy()`` gives an editable one.
    """
    if array is not None:
        array.flags.writeable = False
    return array


def own_read_only(array: np.ndarray) -> np.ndarray:
    """A read-only array with ``array``'s values that no caller can change: ``array``
    itself when it already is one (owning its data, as :func:`read_only` copies made by
    this function are), else a read-only copy. A photo passed from the pipeline to its
    segmentation back-end is so copied once, not twice."""
    if array.flags.owndata and not array.flags.writeable:
        return array
    return read_only(np.array(array))


def check_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Return ``image`` if it is an ``(H, W, 3) uint8`` array, else raise ``ValueError``."""
    if not isinstance(image, np.ndarray):
        raise TypeError(
            f"{name} must be a numpy array of shape (H, W, 3) and dtype uint8, got "
            f"{type(image).__name__}; load files with helpers.images.load_image()"
        )
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"{name} must have shape (H, W, 3) (RGB), got {image.shape}; "
            "convert with helpers.images.to_rgb_uint8()"
        )
    if image.dtype != np.uint8:
        raise ValueError(
            f"{name} must have dtype uint8, got {image.dtype}; "
            "convert with helpers.images.to_rgb_uint8()"
        )
    return image


#: Smallest accepted image side in pixels, for files and arrays alike (the segmentation
#: networks and GrabCut's colour models need some context).
MIN_SIDE = 16


def check_image_size(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Return ``image`` if it is an ``(H, W, 3) uint8`` array with both sides at least
    :data:`MIN_SIDE` pixels, else raise ``ValueError`` (the message loaders give files)."""
    check_image(image, name)
    height, width = image.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise ValueError(f"{name}: image is {width}x{height} px; both sides must be at "
                         f"least {MIN_SIDE} px")
    return image


def check_map(array: np.ndarray, name: str = "mask", shape: tuple[int, int] | None = None,
              ) -> np.ndarray:
    """Check a ``(H, W)`` map with values in [0, 1] and return it as float32.

    Boolean maps are accepted and converted (``True`` -> 1.0).
    """
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of shape (H, W), got {type(array).__name__}")
    if array.ndim != 2:
        raise ValueError(f"{name} must have shape (H, W), got {array.shape}")
    if shape is not None and array.shape != tuple(shape):
        raise ValueError(
            f"{name} has shape {array.shape} but the image is {tuple(shape)}; "
            "compute it on the same image or resize it with helpers.images.resize_map()"
        )
    if array.dtype == bool:
        return array.astype(np.float32)
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"{name} must be float in [0, 1] or bool, got dtype {array.dtype}")
    out = array.astype(np.float32, copy=False)
    if out.size:
        lo, hi = float(out.min()), float(out.max())
        if not (np.isfinite(lo) and np.isfinite(hi)) or lo < 0.0 or hi > 1.0:
            raise ValueError(f"{name} values must lie in [0, 1], found range [{lo:g}, {hi:g}]")
    return out


def check_labels(labels: np.ndarray, name: str = "labels",
                 shape: tuple[int, int] | None = None) -> np.ndarray:
    """Return ``labels`` if it is an ``(H, W) uint8`` label map, else raise ``ValueError``."""
    if not isinstance(labels, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of shape (H, W), got {type(labels).__name__}")
    if labels.ndim != 2:
        raise ValueError(f"{name} must have shape (H, W), got {labels.shape}")
    if labels.dtype != np.uint8:
        raise ValueError(f"{name} must have dtype uint8, got {labels.dtype}")
    if shape is not None and labels.shape != tuple(shape):
        raise ValueError(f"{name} has shape {labels.shape} but the image is {tuple(shape)}")
    return labels


def check_choice(value: str, valid: Iterable[str], what: str) -> str:
    """Return ``value`` if it is one of ``valid``, else raise a ``ValueError`` listing them."""
    valid = list(valid)
    if value not in valid:
        raise ValueError(f"unknown {what} {value!r}; valid values: {', '.join(map(repr, valid))}")
    return value


def check_unit_interval(value: float, name: str) -> float:
    """Return ``value`` as float if it lies in [0, 1], else raise ``ValueError``."""
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {value:g}")
    return value


def check_positive(value: float, name: str) -> float:
    """Return ``value`` as float if it is finite and > 0, else raise ``ValueError``."""
    value = float(value)
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number, got {value:g}")
    return value


def check_positive_int(value: Any, name: str, unit: str = "") -> int:
    """Return ``value`` as int if it is a whole number >= 1, else raise ``ValueError``.

    Booleans are refused (``True`` is not a size); ``unit`` (e.g. ``"pixels"``) goes into
    the message.
    """
    whole = (not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, float, np.number))
             and np.isfinite(value) and int(value) == value)
    if not whole or value < 1:
        what = f"a positive integer ({unit})" if unit else "a positive integer"
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return int(value)


def check_softness(value: Any, name: str = "softness") -> float:
    """Return a blend softness (Gaussian sigma in pixels) as float if finite and >= 0."""
    number = (not isinstance(value, (bool, np.bool_))
              and isinstance(value, (int, float, np.number)))
    if not number or not (np.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0 (pixels), got {value!r}")
    return float(value)

