"""Soft garment boundaries: U²-Net saliency maps and offline edge-aware alphas.

Array contract: images are ``(H, W, 3) uint8`` RGB; masks, alphas and saliency maps
are ``(H, W) float32`` in [0, 1].

The blend ``I = M * S + (1 - M) * C`` needs a map ``M`` that is 1 on the garment and
falls off along its real edges. Two sources:

* :func:`u2net_saliency` (needs the ``u2net`` or ``u2netp`` weights): the upstream
  U²-Net test recipe - 320 x 320 input divided by its own maximum, ImageNet
  statistics, d0 min-max normalised and resized back bilinearly.
* :func:`edge_aware_alpha` (offline default): the binary garment mask made soft along
  the image edges, with a guided filter (fast) or closed-form matting in a narrow
  band around the mask edge (slower, sharper on hair-like detail).

A runner is any callable mapping an ``(N, 3, H, W) float32`` batch to d0
``(N, C, H, W) float32`` with attribute ``output_is_logits`` (False for the saliency
networks, whose output is already a sigmoid); see ``helpers.u2net``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from helpers._checks import check_choice, check_image, check_map, check_positive_int
from helpers.images import resize_float
from helpers.u2net import INPUT_SIDES

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MATTING_MAX_SIDE",
    "METHODS",
    "SALIENCY_INPUT_SIZE",
    "default_radius",
    "edge_aware_alpha",
    "preprocess_saliency",
    "saliency_map",
    "u2net_saliency",
]

#: Side of the square saliency-network input.
SALIENCY_INPUT_SIZE = INPUT_SIDES["u2net"]
#: ImageNet per-channel statistics (RGB) used by the saliency networks.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Offline alpha methods of :func:`edge_aware_alpha`.
METHODS = ("guided", "matting")
#: Longest side of the band crop solved by closed-form matting (larger crops shrink).
MATTING_MAX_SIDE = 768

_DEFAULT_EPS = {"guided": 1e-3, "matting": 1e-7}


# --------------------------------------------------------------------------- U²-Net saliency


def preprocess_saliency(image: np.ndarray) -> np.ndarray:
    """Prepare an image for the U²-Net saliency networks (``u2net``, ``u2netp``).

    As in the upstream test script: resize to 320 x 320 ignoring the aspect ratio,
    divide by the resized image's own maximum over all channels (not by 255), then
    normalise each channel with the ImageNet mean and standard deviation. Resizing
    is bilinear (pixel centres), with area averaging when both sides shrink, which
    plays the role of scikit-image's anti-aliasing prefilter; borders replicate.

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W, 3) uint8`` RGB.

    Returns
    -------
    numpy.ndarray
        ``(1, 3, 320, 320) float32`` batch. An all-black image gives
        ``-mean / std`` in every channel.
    """
    check_image(image)
    size = SALIENCY_INPUT_SIZE
    resized = resize_float(image.astype(np.float32), (size, size))
    peak = float(resized.max())
    if peak > 0:  # all-black image: keep the zeros instead of dividing by 0
        resized = resized / np.float32(peak)
    mean = np.asarray(IMAGENET_MEAN, np.float32)
    std = np.asarray(IMAGENET_STD, np.float32)
    normalised = (resized - mean) / std
    return np.ascontiguousarray(normalised.transpose(2, 0, 1)[None], dtype=np.float32)


def u2net_saliency(image: np.ndarray, runner: Any) -> np.ndarray:
    """Saliency map from a U²-Net saliency runner, at the image's size.

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W, 3) uint8`` RGB.
    runner : callable
        Saliency runner (``output_is_logits = False``, ``arch`` ``"u2net"`` or
        ``"u2netp"``) mapping ``(1, 3, 320, 320) float32`` to d0 ``(1, C, h, w)``.

    Returns
    -------
    numpy.ndarray
        ``(H, W) float32`` in [0, 1]: channel 0 of d0, min-max normalised (a constant
        map gives zeros), resized bilinearly to ``(H, W)``.
    """
    check_image(image)
    if getattr(runner, "output_is_logits", False):
        raise ValueError(
            f"runner {getattr(runner, 'arch', 'unknown')!r} outputs class logits (cloth "
            "parsing), not a saliency map; load the 'u2net' or 'u2netp' weights"
        )
    output = np.asarray(runner(preprocess_saliency(image)))
    if output.ndim != 4 or output.shape[0] != 1 or output.shape[1] < 1:
        raise ValueError(
            f"saliency runner returned shape {output.shape}; expected (1, C, h, w)"
        )
    d0 = output[0, 0].astype(np.float32)
    if not np.all(np.isfinite(d0)):
        raise ValueError("saliency runner returned NaN or infinite values")
    low, high = float(d0.min()), float(d0.max())
    if high > low:
        normalised = (d0 - np.float32(low)) / np.float32(high - low)
    else:  # a constant map carries no saliency: zeros, not 0/0
        normalised = np.zeros_like(d0)
    from helpers.images import resize_map

    return np.clip(resize_map(np.clip(normalised, 0.0, 1.0), image.shape[:2]), 0.0, 1.0)


# --------------------------------------------------------------------------- offline alpha


def default_radius(shape_hw: Sequence[int], method: str = "guided") -> int:
    """Default filter radius / band half-width for an image size, in pixels.

    ``guided``: ``max(2, round(0.006 * diagonal))`` (4 px at 512 x 512).
    ``matting``: ``max(3, round(0.012 * diagonal))`` (9 px at 512 x 512).
    """
    check_choice(method, METHODS, "alpha method")
    diagonal = float(np.hypot(shape_hw[0], shape_hw[1]))
    if method == "guided":
        return max(2, round(0.006 * diagonal))
    return max(3, round(0.012 * diagonal))


def _square_kernel(radius: int) -> np.ndarray:
    return np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)


def _erode(binary: np.ndarray, radius: int) -> np.ndarray:
    if radius <= 0:
        return binary.copy()
    # Outside the image counts as "outside the mask" only where the mask does not reach
    # the border: replicate keeps a garment that touches the border from shrinking there.
    return cv2.erode(binary.astype(np.uint8), _square_kernel(radius),
                     borderType=cv2.BORDER_REPLICATE).astype(bool)


def _dilate(binary: np.ndarray, radius: int) -> np.ndarray:
    if radius <= 0:
        return binary.copy()
    return cv2.dilate(binary.astype(np.uint8), _square_kernel(radius),
                      borderType=cv2.BORDER_REPLICATE).astype(bool)


def _guided_alpha(image: np.ndarray, binary: np.ndarray, radius: int,
                  eps: float) -> np.ndarray:
    if not hasattr(cv2, "ximgproc"):
        raise ImportError(
            "the guided filter needs OpenCV's contrib modules (cv2.ximgproc); install "
            "`opencv-contrib-python-headless` instead of `opencv-python(-headless)`"
        )
    # eps is defined on the [0, 1] colour scale, but the guide goes in as 0..255 floats
    # with eps * 255**2 (the same filter): with a 3-channel guide in [0, 1],
    # cv2.ximgproc.guidedFilter departs from the textbook filter (tested against a numpy
    # reference in tests/test_saliency.py), while on the 0..255 scale it matches it.
    guide = image.astype(np.float32)
    filtered = cv2.ximgproc.guidedFilter(guide, binary.astype(np.float32), int(radius),
                                         float(eps) * 255.0 ** 2, -1)
    alpha = np.clip(filtered, 0.0, 1.0).astype(np.float32)
    # A pixel whose every window is uniform is unchanged in exact arithmetic; pin the
    # pixels beyond the filter's reach (2 radii) to exactly 0/1 against rounding.
    reach = 2 * int(radius) + 1
    alpha[_erode(binary, reach)] = 1.0
    alpha[~_dilate(binary, reach)] = 0.0
    return alpha


def _matting_alpha(image: np.ndarray, binary: np.ndarray, radius: int,
                   eps: float) -> np.ndarray:
    try:
        from pymatting import estimate_alpha_cf
    except ImportError as exc:
        raise ImportError(
            "method='matting' needs pymatting; install it with `pip install pymatting`"
        ) from exc
    inside = _erode(binary, radius)
    outside = ~_dilate(binary, radius)
    unknown = ~(inside | outside)
    alpha = inside.astype(np.float32)
    if not unknown.any() or not inside.any() or not outside.any():
        # Nothing to solve, or no known foreground/background sample: keep the mask.
        return binary.astype(np.float32)

    # Solve only on the bounding box of the band plus a margin of known pixels.
    rows, cols = np.nonzero(unknown)
    margin = 2 * radius + 2
    height, width = binary.shape
    r0, r1 = max(0, rows.min() - margin), min(height, rows.max() + margin + 1)
    c0, c1 = max(0, cols.min() - margin), min(width, cols.max() + margin + 1)
    crop = image[r0:r1, c0:c1].astype(np.float32) / np.float32(255.0)
    trimap = np.where(inside[r0:r1, c0:c1], 1.0, 0.0)
    trimap[unknown[r0:r1, c0:c1]] = 0.5
    crop_h, crop_w = trimap.shape
    scale = min(1.0, MATTING_MAX_SIDE / max(crop_h, crop_w))
    if scale < 1.0:  # speed cap: solve smaller, upsample the solved alpha
        small_hw = (max(1, round(crop_h * scale)), max(1, round(crop_w * scale)))
        crop = resize_float(crop, small_hw)
        # The trimap holds three labels: nearest only, never an interpolating filter.
        trimap = cv2.resize(trimap.astype(np.float32), small_hw[::-1],
                            interpolation=cv2.INTER_NEAREST)
    if not ((trimap == 1.0).any() and (trimap == 0.0).any() and (trimap == 0.5).any()):
        return binary.astype(np.float32)
    crop = np.clip(crop, 0.0, 1.0)  # area resizing can overshoot 1 by a rounding step
    solved = estimate_alpha_cf(crop.astype(np.float64), trimap.astype(np.float64),
                               laplacian_kwargs={"epsilon": float(eps)})
    solved = np.clip(np.asarray(solved, np.float32), 0.0, 1.0)
    if solved.shape != (crop_h, crop_w):
        from helpers.images import resize_map

        solved = resize_map(solved, (crop_h, crop_w))
    band = unknown[r0:r1, c0:c1]
    alpha[r0:r1, c0:c1][band] = solved[band]
    return alpha


def edge_aware_alpha(image: np.ndarray, mask: np.ndarray, *, radius: int | None = None,
                     eps: float | None = None, method: str = "guided") -> np.ndarray:
    """Soft alpha of a garment mask whose transition follows the image's edges.

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W, 3) uint8`` RGB; the guide.
    mask : numpy.ndarray
        ``(H, W) float32`` in [0, 1] (or bool); binarised at 0.5.
    radius : int, optional
        ``"guided"``: filter window radius; ``"matting"``: half-width of the unknown
        band on each side of the mask edge. Default :func:`default_radius`.
    eps : float, optional
        ``"guided"``: regularisation on the [0, 1] colour scale (default 1e-3; larger
        is smoother, smaller follows weaker edges). ``"matting"``: the matting
        Laplacian's epsilon (default 1e-7).
    method : {"guided", "matting"}
        ``"guided"``: ``cv2.ximgproc.guidedFilter`` of the binary mask with the image as
        guide. ``"matting"``: closed-form matting (pymatting) with trimap 1 inside the
        eroded mask, 0 outside the dilated mask, unknown in between, solved on the
        band's bounding box (shrunk to :data:`MATTING_MAX_SIDE` when larger).

    Returns
    -------
    numpy.ndarray
        ``(H, W) float32`` in [0, 1]. Pixels farther than the filter reach (guided:
        ``2 * radius + 1``; matting: ``radius``) inside the mask are exactly 1, outside
        exactly 0.
    """
    check_image(image)
    mask = check_map(mask, name="mask", shape=image.shape[:2])
    check_choice(method, METHODS, "alpha method")
    if radius is None:
        radius = default_radius(image.shape[:2], method)
    radius = check_positive_int(radius, "radius", "pixels")
    eps = _DEFAULT_EPS[method] if eps is None else float(eps)
    if not (np.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a positive number, got {eps!r}")
    binary = mask >= 0.5
    if binary.all() or not binary.any():  # no edge to soften
        return binary.astype(np.float32)
    if method == "guided":
        return _guided_alpha(image, binary, int(radius), eps)
    return _matting_alpha(image, binary, int(radius), eps)


def saliency_map(image: np.ndarray, *, runner: Any = None, mask: np.ndarray | None = None,
                 method: str = "guided", radius: int | None = None,
                 eps: float | None = None) -> np.ndarray:
    """The blending map M: U²-Net saliency when a runner is given, else an edge-aware alpha.

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W, 3) uint8`` RGB.
    runner : callable, optional
        Saliency runner; when given, :func:`u2net_saliency` is used and ``mask``,
        ``method``, ``radius`` and ``eps`` are ignored.
    mask : numpy.ndarray, optional
        ``(H, W) float32`` garment mask in [0, 1]; required without a runner.
    method, radius, eps
        Passed to :func:`edge_aware_alpha`.

    Returns
    -------
    numpy.ndarray
        ``(H, W) float32`` in [0, 1].
    """
    if runner is not None:
        return u2net_saliency(image, runner)
    check_choice(method, METHODS, "alpha method")
    if mask is None:
        raise ValueError(
            "saliency_map needs either a U²-Net saliency runner (runner=...) or the "
            "garment mask (mask=...) for the offline edge-aware alpha"
        )
    return edge_aware_alpha(image, mask, radius=radius, eps=eps, method=method)
