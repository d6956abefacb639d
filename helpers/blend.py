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

from helpers._checks import check_choice, check_image, check_map, check_softness

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
# composite() works on square tiles of this side (16 bytes of uint8 alpha: two uint64
# words): tiles that need no arithmetic are copied (or left alone), runs of at least
# _LONG_RUN tiles that need it are blended in place and the scattered rest is gathered
# into batches of _TILE_BATCH tiles.
_TILE = 16
_LONG_RUN = 8
_TILE_BATCH = 512  # tiles per blendLinear call: 512 KiB of float weights
_ALL_ONES = np.uint64(0xFFFF_FFFF_FFFF_FFFF)


def default_softness(method: str, shape: tuple[int, int]) -> float:
    """The Gaussian sigma in pixels a method uses when ``softness`` is None.

    ``feather`` blurs by 0.4 % of the image diagonal (about 6 px at 1 MP); the
    other methods default to no extra blur, so ``saliency`` is the original's
    formula exactly.

    Examples
    --------
    >>> from helpers.blend import default_softness
    >>> default_softness("saliency", (1000, 1000))
    0.0
    >>> round(default_softness("feather", (1000, 1000)), 2)
    5.66
    """
    check_choice(method, BLEND_METHODS, "blend method")
    if method == "feather":
        return max(1.0, 0.004 * float(np.hypot(*shape[:2])))
    return 0.0


def soften(alpha: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-blur a map with standard deviation ``sigma`` pixels.

    Only the bounding box of the non-zero values, grown by the kernel's reach, is
    filtered: outside it the map is zero and stays zero, so the result is that of
    blurring the whole frame (up to float rounding; above sigma 4 px the blur runs
    on a downsampled map, an approximation either way) while a garment covering a
    third of the photo costs a third of the work.

    Parameters
    ----------
    alpha : (H, W) float32 in [0, 1]
    sigma : float
        Standard deviation in pixels; 0 returns ``alpha`` unchanged.

    Returns
    -------
    (H, W) float32 in [0, 1]

    Examples
    --------
    >>> import numpy as np
    >>> from helpers.blend import soften
    >>> alpha = np.zeros((1, 7), np.float32)
    >>> alpha[0, 3] = 1.0
    >>> soften(alpha, 1.0).round(2)
    array([[0.  , 0.05, 0.24, 0.4 , 0.24, 0.05, 0.  ]], dtype=float32)
    >>> soften(alpha, 0.0)
    array([[0., 0., 0., 1., 0., 0., 0.]], dtype=float32)
    """
    if check_softness(sigma) == 0:
        return alpha
    return _soften_window(alpha, sigma)[0]


def _soften_window(alpha: np.ndarray, sigma: float) -> tuple[np.ndarray, tuple | None]:
    """:func:`soften` for ``sigma > 0``, also returning the window outside which it is 0."""
    if sigma <= _FAST_BLUR_SIGMA:
        reach = _kernel_size(sigma) // 2
    else:  # the downsampled blur also reaches through the two resizes
        factor = sigma / _FAST_BLUR_SIGMA
        reach = (_kernel_size(_FAST_BLUR_SIGMA) // 2 + 2) * factor + 2
    window = _nonzero_window(alpha, int(np.ceil(reach)))
    out = np.zeros(alpha.shape, np.float32)
    if window is None:
        return out, None
    blurred = out[window]  # a view: the filters write straight into the result
    _blur(alpha[window], sigma, blurred)
    np.clip(blurred, 0.0, 1.0, out=blurred)
    return out, window


def _kernel_size(sigma: float) -> int:
    # The kernel OpenCV picks for float images (radius 4 sigma), spelled out here so
    # that we know how far the blur reaches.
    return int(round(sigma * 8 + 1)) | 1


def _blur(alpha: np.ndarray, sigma: float, out: np.ndarray) -> None:
    """Gaussian blur of ``alpha`` into ``out`` (same shape; views work, no copies)."""
    height, width = alpha.shape
    if sigma <= _FAST_BLUR_SIGMA:
        size = _kernel_size(sigma)
        cv2.GaussianBlur(alpha, (size, size), sigma, dst=out, borderType=cv2.BORDER_REPLICATE)
        return
    factor = sigma / _FAST_BLUR_SIGMA
    small_size = (max(1, round(width / factor)), max(1, round(height / factor)))
    small = cv2.resize(alpha, small_size, interpolation=cv2.INTER_AREA)
    size = _kernel_size(_FAST_BLUR_SIGMA)
    small = cv2.GaussianBlur(small, (size, size), _FAST_BLUR_SIGMA,
                             borderType=cv2.BORDER_REPLICATE)
    cv2.resize(small, (width, height), dst=out, interpolation=cv2.INTER_LINEAR)


def _nonzero_window(values: np.ndarray, margin: int) -> tuple[slice, slice] | None:
    """The bounding box of ``values != 0`` grown by ``margin`` (clipped), or None."""
    rows = np.flatnonzero(values.any(axis=1))
    if rows.size == 0:
        return None
    top, bottom = rows[0], rows[-1] + 1
    cols = np.flatnonzero(values[top:bottom].any(axis=0))
    height, width = values.shape
    return (slice(max(0, top - margin), min(height, bottom + margin)),
            slice(max(0, cols[0] - margin), min(width, cols[-1] + 1 + margin)))


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

    Examples
    --------
    >>> import numpy as np
    >>> from helpers.blend import blend_alpha
    >>> mask = np.array([[0, 1, 1]], np.float32)
    >>> saliency = np.array([[1.0, 1.0, 0.5]], np.float32)
    >>> blend_alpha(mask, "hard")
    array([[0., 1., 1.]], dtype=float32)
    >>> blend_alpha(mask, "saliency", saliency=saliency)
    array([[0. , 1. , 0.5]], dtype=float32)
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
    sigma = default_softness(method, mask.shape) if softness is None else check_softness(softness)
    if method == "hard" or sigma == 0:
        if uses_saliency:
            return np.multiply(base, saliency, dtype=np.float32)
        # Own the result: callers may keep it while the inputs change.
        return base.copy()
    alpha, window = _soften_window(base, sigma)
    if uses_saliency and window is not None:
        # zero outside the window, so only the window needs the product
        np.multiply(alpha[window], saliency[window], out=alpha[window])
    return alpha


def composite(content: np.ndarray, stylized: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Compute ``alpha * stylized + (1 - alpha) * content``, rounded to uint8.

    Exactly ``stylized`` where alpha is 1 and exactly ``content`` where it is 0;
    elsewhere within one grey level of the rounded formula (``cv2.blendLinear``).
    Only the pixels that need arithmetic get it: where ``round(255 * alpha)`` is 0 the
    rounded result is the content and where it is 255 the stylized pixel (the rest of
    the formula is under half a grey level there), so those are copied; the formula
    runs on the 16 x 16 tiles that hold anything else, in place along long runs of
    them (a soft alpha across the garment) and in gathered batches elsewhere (a soft
    edge).

    Parameters
    ----------
    content, stylized : (H, W, 3) uint8
    alpha : (H, W) float32 in [0, 1]

    Returns
    -------
    (H, W, 3) uint8

    Examples
    --------
    >>> import numpy as np
    >>> from helpers.blend import composite
    >>> content = np.zeros((1, 2, 3), np.uint8)
    >>> stylized = np.full((1, 2, 3), 200, np.uint8)
    >>> composite(content, stylized, np.array([[0.0, 0.5]], np.float32))
    array([[[  0,   0,   0],
            [100, 100, 100]]], dtype=uint8)
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
    height, width = alpha.shape
    tile = _TILE
    rows, cols = height // tile, width // tile
    whole_h, whole_w = rows * tile, cols * tile
    # round(255 * alpha): 0 keeps the content (already in out), 255 takes the stylized
    # pixel; the rounded formula gives exactly those there (under half a grey level off).
    alpha8 = cv2.convertScaleAbs(alpha, alpha=255.0)
    cv2.copyTo(stylized, cv2.compare(alpha8, 255, cv2.CMP_EQ), out)
    if rows and cols:
        # A tile needs arithmetic unless its alpha8 is all 0 or all 255: OR / AND over
        # each tile's rows, then each tile's bytes read as uint64 words.
        strips = alpha8[:whole_h, :whole_w].reshape(rows, tile, whole_w)
        any_set = np.bitwise_or.reduce(strips, axis=1).view(np.uint64).reshape(rows, cols, -1)
        all_set = np.bitwise_and.reduce(strips, axis=1).view(np.uint64).reshape(rows, cols, -1)
        mixed = (any_set != 0).any(axis=2) & (all_set != _ALL_ONES).any(axis=2)
        # long runs of such tiles (a soft alpha across the garment) blend in place;
        # the scattered rest (a soft edge) is gathered into batches.
        for y, x0, x1 in zip(*_tile_runs(mixed, min_length=_LONG_RUN, clear=True), strict=True):
            window = np.s_[y:y + tile, x0:x1]
            weight = alpha[window]
            cv2.blendLinear(stylized[window], content[window], weight, 1.0 - weight,
                            dst=out[window])
        tile_y, tile_x = np.nonzero(mixed)
        if tile_y.size:
            views = [_tiles(a, rows, cols) for a in (out, content, stylized, alpha)]
            _blend_tiles(*views, tile_y, tile_x)
    # the strips below and right of the whole tiles, where alpha8 is neither 0 nor 255
    for edge in (np.s_[whole_h:, :], np.s_[:whole_h, whole_w:]):
        edge_alpha8 = alpha8[edge]
        if edge_alpha8.size and cv2.countNonZero(cv2.inRange(edge_alpha8, 1, 254)):
            # narrow strips: contiguous copies blend faster than strided views
            out[edge] = _blend_linear(*(np.ascontiguousarray(a[edge])
                                        for a in (content, stylized, alpha)))
    return out


def _tiles(array: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """A writable ``(rows, T, cols, T, ...)`` view of the whole tiles of ``array``."""
    tile = _TILE
    row_step, col_step = array.strides[:2]
    return np.lib.stride_tricks.as_strided(
        array, shape=(rows, tile, cols, tile, *array.shape[2:]),
        strides=(tile * row_step, row_step, tile * col_step, col_step, *array.strides[2:]))


def _tile_runs(marked: np.ndarray, min_length: int = 1, clear: bool = False,
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Horizontal runs of marked tiles as pixel ``(top, left, right)`` arrays.

    Only runs of at least ``min_length`` tiles; with ``clear`` they are unmarked
    in ``marked`` (modified in place).
    """
    edges = np.diff(marked.astype(np.int8), axis=1, prepend=0, append=0)
    run_y, run_start = np.nonzero(edges == 1)
    run_end = np.nonzero(edges == -1)[1]  # same row-major order as the starts
    keep = (run_end - run_start) >= min_length
    run_y, run_start, run_end = run_y[keep], run_start[keep], run_end[keep]
    if clear:
        for y, x0, x1 in zip(run_y, run_start, run_end, strict=True):
            marked[y, x0:x1] = False
    return run_y * _TILE, run_start * _TILE, run_end * _TILE


def _blend_tiles(out_tiles: np.ndarray, content_tiles: np.ndarray, stylized_tiles: np.ndarray,
                 alpha_tiles: np.ndarray, tile_y: np.ndarray, tile_x: np.ndarray) -> None:
    """``cv2.blendLinear`` on the listed tiles, gathered a batch at a time.

    Batches keep the temporaries small: large ones would be fresh memory each call,
    whose page faults cost more than the arithmetic.
    """
    tile = _TILE
    for start in range(0, tile_y.size, _TILE_BATCH):
        ys, xs = tile_y[start:start + _TILE_BATCH], tile_x[start:start + _TILE_BATCH]
        count = ys.size * tile  # the batch as one image of (count, tile) pixels
        blended = _blend_linear(content_tiles[ys, :, xs].reshape(count, tile, 3),
                                stylized_tiles[ys, :, xs].reshape(count, tile, 3),
                                alpha_tiles[ys, :, xs].reshape(count, tile))
        out_tiles[ys, :, xs] = blended.reshape(ys.size, tile, tile, 3)


def _blend_linear(content: np.ndarray, stylized: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``alpha * stylized + (1 - alpha) * content`` for (h, w, 3) images (views work)."""
    return cv2.blendLinear(stylized, content, alpha, 1.0 - alpha)


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

    Examples
    --------
    >>> import numpy as np
    >>> from helpers.blend import blend
    >>> content = np.zeros((1, 3, 3), np.uint8)
    >>> stylized = np.full((1, 3, 3), 200, np.uint8)
    >>> mask = np.array([[0, 1, 1]], np.float32)
    >>> saliency = np.array([[1.0, 1.0, 0.5]], np.float32)
    >>> blend(content, stylized, mask, "saliency", saliency=saliency)[..., 0]
    array([[  0, 200, 100]], dtype=uint8)
    """
    alpha = blend_alpha(mask, method, saliency=saliency, matte=matte, softness=softness)
    warn_if_empty(alpha, mask=mask, method=method)
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

    Examples
    --------
    >>> import numpy as np
    >>> from helpers.blend import GarmentLayer, blend_layers
    >>> content = np.zeros((1, 2, 3), np.uint8)
    >>> red = np.zeros((1, 2, 3), np.uint8)
    >>> red[..., 0] = 255
    >>> blue = np.zeros((1, 2, 3), np.uint8)
    >>> blue[..., 2] = 255
    >>> layers = [GarmentLayer(red, np.array([[1, 0]], np.float32)),
    ...           GarmentLayer(blue, np.array([[0, 1]], np.float32))]
    ...
    >>> blend_layers(content, layers)
    array([[[255,   0,   0],
            [  0,   0, 255]]], dtype=uint8)
    """
    check_image(content, "content")
    out = content
    for layer in layers:
        out = composite(out, layer.stylized, layer.alpha)
    return out.copy() if out is content else out


#: Below this weight no pixel changes: ``round(255 * alpha)`` is 0 (see :func:`composite`).
UNCHANGED_BELOW = 0.5 / 255


def empty_weight_message(alpha: np.ndarray, *, mask: np.ndarray | None = None,
                         method: str | None = None) -> str | None:
    """What to tell the user when the content comes back unchanged, else None.

    The content comes back unchanged when ``alpha`` is below 0.5/255 everywhere
    (:data:`UNCHANGED_BELOW`). The message names the cause: an empty region; else, for a
    saliency method, the saliency map M being (nearly) zero over a non-empty garment
    (use ``feather`` or ``matting``); else the method's weight vanishing over a region
    too small for it.

    Parameters
    ----------
    alpha : (H, W) float32
        The blending weight.
    mask, method : optional
        The garment region and the blend method, to name the cause.

    Returns
    -------
    str or None
        One sentence: why the content comes back unchanged and what to do.

    Examples
    --------
    >>> import numpy as np
    >>> from helpers.blend import empty_weight_message
    >>> empty_weight_message(np.ones((2, 2), np.float32)) is None
    True
    >>> print(empty_weight_message(np.zeros((2, 2), np.float32)))
    the chosen region is empty: the content is returned unchanged; pick another garment or add a positive click inside it
    """
    if (alpha > UNCHANGED_BELOW).any():
        return None
    region = 0 if mask is None else int(np.count_nonzero(np.asarray(mask) > 0))
    if mask is None or region == 0:
        return ("the chosen region is empty: the content is returned unchanged; "
                "pick another garment or add a positive click inside it")
    if method is not None and "saliency" in method:
        return (f"the saliency map M is zero (or nearly: every weight is below 0.5/255) over "
                f"the chosen garment of {region} pixels, so the content is returned "
                "unchanged (M covers the person, and this region lies outside it); use the "
                "'feather' or 'matting' method, which do not depend on M")
    return (f"the {method or 'blending'} weight is below 0.5/255 everywhere although the "
            f"garment has {region} pixels, so the content is returned unchanged; use the "
            "'hard' method or a smaller softness")


def warn_if_empty(alpha: np.ndarray, stacklevel: int = 3, *, mask: np.ndarray | None = None,
                  method: str | None = None) -> None:
    """Warn (:func:`empty_weight_message`) when the content comes back unchanged.

    Parameters
    ----------
    alpha : (H, W) float32
        The blending weight.
    stacklevel : int
        Passed to :func:`warnings.warn`.
    mask, method : optional
        The garment region and the blend method, to name the cause.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from helpers.blend import warn_if_empty
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_if_empty(np.zeros((2, 2), np.float32), mask=np.ones((2, 2), np.float32),
    ...                   method="saliency")
    ...
    >>> str(caught[0].message)[:57]
    'the saliency map M is zero (or nearly: every weight is be'
    """
    message = empty_weight_message(alpha, mask=mask, method=method)
    if message is not None:
        import warnings

        warnings.warn(message, stacklevel=stacklevel)
