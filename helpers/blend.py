"""Blending a stylized garment into the content photo.

The original work's formula, inside the chosen garment, is

    I = M * S + (1 - M) * C        (I = S where M = 1)

with the content C everywhere else. Every method here reduces to one per-pixel
weight ``alpha`` (H, W) float32 in [0, 1] and the same compositing step
``I = alpha * S + (1 - alpha) * C``; they differ only in how alpha is built:

============== =========================================== ======================
method         alpha                                       softness (sigma, px)
============== =========================================== ======================
``hard``       the region mask (the original's pre-saliency ignored
               result)
``saliency``   ``M * mask`` — the original's formula, exactly blurs the mask first
``feather``    Gaussian-blurred mask                       the blur (default
                                                           0.4 % of the diagonal)
``matting``    the edge-aware matte of the region          blurs the matte
               (:func:`helpers.saliency.edge_aware_alpha`)
``saliency_matting`` ``M * matte``                         blurs the matte
============== =========================================== ======================

Building alpha (a blur at most) and compositing are both cheap, so a slider that
changes the method or the softness re-runs only this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from helpers._checks import check_choice, check_image, check_map

#: Valid blending method names, in the order figures and tables list them.
BLEND_METHODS = ("hard", "saliency", "feather", "matting", "saliency_matting")

# name -> (base map, multiplied by the saliency map M)
_METHOD_PARTS = {
    "hard": ("mask", False),
    "saliency": ("mask", True),
    "feather": ("mask", False),
    "matting": ("matte", False),
    "saliency_matting": ("matte", True),
}

# Above this sigma the blur runs on a downsampled map: a blurred mask is smooth, so
# bilinear upsampling loses nothing visible and a 1 MP re-blend stays interactive.
_FAST_BLUR_SIGMA = 4.0


def default_softness(method: str, shape: tuple[int, int]) -> float:
    """The Gaussian sigma in pixels a method uses when ``softness`` is None.

    ``feather`` blurs by 0.4 % of the image diagonal (about 6 px at 1 MP); the
    other methods default to no extra blur, so ``saliency`` is the original's
    formula exactly.
    """
    check_choice(method, BLEND_METHODS, "blend method")
    if method == "feather":
        return max(1.0, 0.004 * float(np.hypot(*shape[:2])))
    return 0.0


def soften(alpha: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-blur a map with standard deviation ``sigma`` pixels.

    Parameters
    ----------
    alpha : (H, W) float32 in [0, 1]
    sigma : float
        Standard deviation in pixels; 0 returns ``alpha`` unchanged.

    Returns
    -------
    (H, W) float32 in [0, 1]
    """
    if sigma < 0 or not np.isfinite(sigma):
        raise ValueError(f"softness must be a finite number >= 0 (pixels), got {sigma:g}")
    if sigma == 0:
        return alpha
    height, width = alpha.shape
    if sigma <= _FAST_BLUR_SIGMA:
        out = cv2.GaussianBlur(alpha, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
    else:
        factor = sigma / _FAST_BLUR_SIGMA
        small_size = (max(1, round(width / factor)), max(1, round(height / factor)))
        small = cv2.resize(alpha, small_size, interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (0, 0), _FAST_BLUR_SIGMA,
                                 borderType=cv2.BORDER_REPLICATE)
        out = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(out, 0.0, 1.0, out=out)


def blend_alpha(
    mask: np.ndarray,
    method: str = "saliency",
    *,
    saliency: np.ndarray | None = None,
    matte: np.ndarray | None = None,
    softness: float | None = None,
) -> np.ndarray:
    """Build the per-pixel weight of the stylized image for one garment.

    Parameters
    ----------
    mask : (H, W) float32 in [0, 1] or bool
        The chosen garment region (1 inside).
    method : str
        One of :data:`BLEND_METHODS`.
    saliency : (H, W) float32 in [0, 1], optional
        The saliency map M; required by ``saliency`` and ``saliency_matting``.
    matte : (H, W) float32 in [0, 1], optional
        The edge-aware matte of the region; required by ``matting`` and
        ``saliency_matting``.
    softness : float, optional
        Gaussian sigma in pixels (see the module table); None takes
        :func:`default_softness`.

    Returns
    -------
    (H, W) float32 in [0, 1]
        ``alpha``; the output is ``alpha * S + (1 - alpha) * C``.
    """
    check_choice(method, BLEND_METHODS, "blend method")
    mask = check_map(mask, "mask")
    base_name, uses_saliency = _METHOD_PARTS[method]
    if base_name == "matte":
        if matte is None:
            raise ValueError(
                f"blend method {method!r} needs the region's matte; compute it with "
                "helpers.saliency.edge_aware_alpha(image, mask)"
            )
        base = check_map(matte, "matte", shape=mask.shape)
    else:
        base = mask
    if uses_saliency:
        if saliency is None:
            raise ValueError(
                f"blend method {method!r} needs the saliency map M; compute it with "
                "helpers.saliency.saliency_map()"
            )
        saliency = check_map(saliency, "saliency", shape=mask.shape)
    sigma = default_softness(method, mask.shape) if softness is None else float(softness)
    alpha = base if method == "hard" else soften(base, sigma)
    if uses_saliency:
        alpha = alpha * saliency
    # Own the result: callers may keep it while the inputs change.
    return np.array(alpha, dtype=np.float32, copy=True)


def composite(content: np.ndarray, stylized: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Compute ``alpha * stylized + (1 - alpha) * content``, rounded to uint8.

    Exactly ``stylized`` where alpha is 1 and exactly ``content`` where it is 0.
    Only the bounding box of ``alpha > 0`` is computed; the rest is a copy of the
    content, which keeps a slider re-blend fast when the garment is small.

    Parameters
    ----------
    content, stylized : (H, W, 3) uint8
    alpha : (H, W) float32 in [0, 1]

    Returns
    -------
    (H, W, 3) uint8
    """
    check_image(content, "content")
    check_image(stylized, "stylized")
    if stylized.shape != content.shape:
        raise ValueError(
            f"stylized image has shape {stylized.shape} but the content is {content.shape}; "
            "stylize at the content's size (helpers.stylize returns full size)"
        )
    if alpha.shape != content.shape[:2] or alpha.dtype != np.float32:
        alpha = check_map(alpha, "alpha", shape=content.shape[:2])
    out = content.copy()
    rows = np.flatnonzero(alpha.any(axis=1))
    if rows.size == 0:
        return out
    cols = np.flatnonzero(alpha[rows[0]:rows[-1] + 1].any(axis=0))
    window = np.s_[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    weight = np.ascontiguousarray(alpha[window])
    # blendLinear computes (w1*a + w2*b) / (w1 + w2) with rounding, multi-threaded.
    out[window] = cv2.blendLinear(
        np.ascontiguousarray(stylized[window]), np.ascontiguousarray(content[window]),
        weight, 1.0 - weight,
    )
    return out


def blend(
    content: np.ndarray,
    stylized: np.ndarray,
    mask: np.ndarray,
    method: str = "saliency",
    *,
    saliency: np.ndarray | None = None,
    matte: np.ndarray | None = None,
    softness: float | None = None,
) -> np.ndarray:
    """Blend a stylized image into the content inside one garment.

    Parameters
    ----------
    content : (H, W, 3) uint8
        The photo C.
    stylized : (H, W, 3) uint8
        The stylized photo S, same size.
    mask : (H, W) float32 in [0, 1] or bool
        The garment region.
    method, saliency, matte, softness
        See :func:`blend_alpha`.

    Returns
    -------
    (H, W, 3) uint8
        The output I. An empty region returns a copy of the content with a warning.
    """
    alpha = blend_alpha(mask, method, saliency=saliency, matte=matte, softness=softness)
    _warn_if_empty(alpha)
    return composite(content, stylized, alpha)


@dataclass
class GarmentLayer:
    """One garment with its own style, for :func:`blend_layers`.

    Attributes
    ----------
    stylized : (H, W, 3) uint8
        The photo stylized with this garment's style.
    alpha : (H, W) float32 in [0, 1]
        Its blending weight (from :func:`blend_alpha`).
    """

    stylized: np.ndarray
    alpha: np.ndarray


def blend_layers(content: np.ndarray, layers: Sequence[GarmentLayer]) -> np.ndarray:
    """Blend several garments, each with its own style, in one call.

    Layers are composited in order, each over the result of the previous ones, so
    where two soft boundaries overlap the later layer wins in proportion to its
    alpha.

    Parameters
    ----------
    content : (H, W, 3) uint8
    layers : sequence of GarmentLayer

    Returns
    -------
    (H, W, 3) uint8
    """
    check_image(content, "content")
    out = content
    for layer in layers:
        out = composite(out, layer.stylized, layer.alpha)
    return out.copy() if out is content else out


def _warn_if_empty(alpha: np.ndarray) -> None:
    if not alpha.any():
        import warnings

        warnings.warn(
            "the chosen region is empty: the content is returned unchanged; "
            "pick another garment or add a positive click inside it",
            stacklevel=3,
        )
