"""Offline sample images: procedural fabrics and photos that ship inside packages.

As :mod:`skimage.data` does for scikit-image: :func:`sample_content` gives person
photos from scikit-image and matplotlib (no network), :func:`sample_style` and
:func:`fabric_pattern` give styles, the fabrics generated deterministically.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from helpers._checks import check_choice, check_image
from helpers.images import _target_size, load_image, to_rgb_uint8

__all__ = ["CONTENT_SAMPLES", "FABRIC_KINDS", "STYLE_SAMPLES", "fabric_pattern",
           "list_samples", "sample_content", "sample_style"]


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
