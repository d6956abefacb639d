"""Measuring and showing the garment boundary: before and after saliency blending.

Three measures over a band around the region edge, each relative to the content
photo so that 1.0 for the seam, and 0.0 for the colour step and leakage, mean "no worse
than the photo itself":

* **seam** — gradient energy of the output in the band divided by the content's, both
  with a floor of one unit of squared Sobel response per band pixel (far below any
  photo's texture), so that a band where the photo is flat gives a large but finite
  ratio. A hard paste of a stylized garment adds an edge that the photo did not have
  (seam > 1); a soft, image-aligned blend stays near the photo's own edges.
* **colour step** — the mean colour difference between the two sides of the edge,
  each side averaged locally over a few pixels, in the output minus the content.
* **leakage** — how much the output changes outside the region (per pixel the largest
  change over the three channels, in 0..255 levels, averaged over the outside band; and
  the fraction of outside pixels changed by more than 2 levels).

Edges are split, where labels and a saliency map allow, by what lies across them:
another garment, the person (skin, hair: background class but salient), or the
real background.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from helpers._checks import check_image, check_labels, check_map, check_positive_int

#: Edge types reported by :func:`boundary_metrics`.
EDGE_TYPES = ("all", "background", "person", "garment")


def _distance_both_sides(region: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    inside = region.astype(np.uint8)
    # Distance of each inside pixel to the nearest outside pixel, and vice versa.
    dist_in = cv2.distanceTransform(inside, cv2.DIST_L2, 3)
    dist_out = cv2.distanceTransform(1 - inside, cv2.DIST_L2, 3)
    return dist_in, dist_out


def edge_band(mask: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The pixels within ``width`` px of the region edge, on each side.

    Parameters
    ----------
    mask : (H, W) float32 in [0, 1] or bool
        The region; values >= 0.5 count as inside.
    width : int
        Band half-width in pixels.

    Returns
    -------
    inner, outer : (H, W) bool
        Inside pixels within ``width`` of an outside pixel, and outside pixels
        within ``width`` of an inside pixel (distances by OpenCV's 3 x 3 approximation
        of the Euclidean distance, within about 2 % of it).

    Examples
    --------
    >>> import numpy as np
    >>> from helpers.boundaries import edge_band
    >>> mask = np.zeros((1, 8), np.float32)
    >>> mask[0, 4:] = 1
    >>> inside, outside = edge_band(mask, 2)
    >>> inside.astype(int)
    array([[0, 0, 0, 0, 1, 1, 0, 0]])
    >>> outside.astype(int)
    array([[0, 0, 1, 1, 0, 0, 0, 0]])
    """
    region = check_map(mask, "mask") >= 0.5
    if width < 1:
        raise ValueError(f"band width must be at least 1 pixel, got {width}")
    if region.all() or not region.any():
        empty = np.zeros(region.shape, bool)
        return empty, empty.copy()
    dist_in, dist_out = _distance_both_sides(region)
    inner = region & (dist_in <= width)
    outer = ~region & (dist_out <= width)
    return inner, outer


def _grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)


def gradient_energy(image: np.ndarray) -> np.ndarray:
    """Squared Sobel gradient magnitude of the grey image, (H, W) float32.

    Examples
    --------
    >>> import numpy as np
    >>> from helpers.boundaries import gradient_energy
    >>> image = np.zeros((3, 4, 3), np.uint8)
    >>> image[:, 2:] = 255
    >>> energy = gradient_energy(image)
    >>> energy.shape, energy.dtype
    ((3, 4), dtype('float32'))
    >>> bool(energy[1, 1] > 0), bool(energy[1, 0] == 0)
    (True, True)
    """
    grey = _grey(check_image(image))
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    return gx * gx + gy * gy


def _local_side_means(image: np.ndarray, side: np.ndarray, radius: int) -> np.ndarray:
    """Mean colour of the ``side`` pixels in a (2r+1)^2 window around every pixel."""
    weight = side.astype(np.float32)
    ksize = (2 * radius + 1, 2 * radius + 1)
    counts = cv2.boxFilter(weight, -1, ksize, normalize=False, borderType=cv2.BORDER_CONSTANT)
    sums = cv2.boxFilter(image.astype(np.float32) * weight[..., None], -1, ksize,
                         normalize=False, borderType=cv2.BORDER_CONSTANT)
    return sums / np.maximum(counts, 1e-6)[..., None]


def color_step_map(image: np.ndarray, region: np.ndarray, radius: int) -> np.ndarray:
    """Colour difference across the region edge, per pixel.

    Parameters
    ----------
    image : (H, W, 3) uint8
    region : (H, W) bool
    radius : int
        Each side is averaged over a (2r+1)^2 window.

    Returns
    -------
    (H, W) float32
        The Euclidean RGB distance (0..441) between the local mean inside and the
        local mean outside the region; meaningful on edge pixels.

    Examples
    --------
    >>> import numpy as np
    >>> from helpers.boundaries import color_step_map
    >>> image = np.zeros((1, 6, 3), np.uint8)
    >>> image[:, 3:] = 100
    >>> region = np.zeros((1, 6), bool)
    >>> region[:, 3:] = True
    >>> color_step_map(image, region, 1)
    array([[  0.     ,   0.     , 173.20508, 173.20508, 173.20508, 173.20508]],
          dtype=float32)
    """
    inside = _local_side_means(image, region, radius)
    outside = _local_side_means(image, ~region, radius)
    return np.linalg.norm(inside - outside, axis=2)


def edge_types(
    mask: np.ndarray,
    width: int,
    *,
    labels: np.ndarray | None = None,
    saliency: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Split the region's edge by what lies across it.

    Parameters
    ----------
    mask : (H, W) float32 in [0, 1] or bool
    width : int
        Band half-width in pixels.
    labels : (H, W) uint8, optional
        Cloth classes; a neighbour with a garment class (1..3) not in the region is
        "garment".
    saliency : (H, W) float32 in [0, 1], optional
        A neighbour with background class and saliency >= 0.5 is "person" (skin,
        hair), below 0.5 "background". Without it, non-garment neighbours are all
        "background".

    Returns
    -------
    dict of (H, W) bool
        For every name in :data:`EDGE_TYPES`, the band pixels (both sides) whose
        outside neighbourhood is of that type; ``"all"`` is the whole band. An inside
        pixel near outside pixels of two types counts in both, so the types may
        overlap.

    Examples
    --------
    >>> import numpy as np
    >>> from helpers.boundaries import edge_types
    >>> mask = np.zeros((8, 8), np.float32)
    >>> mask[2:6, 2:6] = 1
    >>> sorted(edge_types(mask, 1))
    ['all', 'background', 'garment', 'person']
    """
    region = check_map(mask, "mask") >= 0.5
    inner, outer = edge_band(region.astype(np.float32), width)
    band = inner | outer
    result = {"all": band}
    if labels is None and saliency is None:
        result["background"] = band
        result["person"] = np.zeros_like(band)
        result["garment"] = np.zeros_like(band)
        return result
    outside_type = np.zeros(region.shape, np.uint8)  # 0 background, 1 person, 2 garment
    if saliency is not None:
        saliency = check_map(saliency, "saliency", shape=region.shape)
        outside_type[saliency >= 0.5] = 1
    if labels is not None:
        labels = check_labels(labels, shape=region.shape)
        outside_type[(labels > 0) & ~region] = 2
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1))
    for code, name in enumerate(("background", "person", "garment")):
        # The outer pixels of this type, then the inner pixels next to them.
        outer_of_type = outer & (outside_type == code)
        near = cv2.dilate(outer_of_type.astype(np.uint8), kernel).astype(bool)
        result[name] = outer_of_type | (inner & near)
    return result


@dataclass(frozen=True)
class BoundaryMetrics:
    """Boundary measures for one output over one edge type.

    Attributes
    ----------
    seam : float
        Output / content gradient energy in the band, each with a floor of 1 per band
        pixel (1.0 = as the photo).
    color_step : float
        Mean colour step across the edge, output minus content (0..441 scale;
        positive = a sharper colour jump than the photo had).
    leakage : float
        Mean change outside the region within the band (per pixel the largest over the
        three channels), 0..255 levels.
    leakage_fraction : float
        Fraction of outside band pixels changed by more than 2 levels.
    pixels : int
        Band pixels measured.
    """

    seam: float
    color_step: float
    leakage: float
    leakage_fraction: float
    pixels: int

    def as_dict(self) -> dict[str, float]:
        return {"seam": self.seam, "color_step": self.color_step, "leakage": self.leakage,
                "leakage_fraction": self.leakage_fraction, "pixels": self.pixels}


def default_band_width(shape: tuple[int, int]) -> int:
    """Band half-width used when none is given: 1 % of the diagonal, at least 3 px.

    Examples
    --------
    >>> from helpers.boundaries import default_band_width
    >>> default_band_width((100, 100))
    3
    >>> default_band_width((3000, 4000))
    50
    """
    return max(3, round(0.01 * float(np.hypot(*shape[:2]))))


def boundary_metrics(
    content: np.ndarray,
    output: np.ndarray,
    mask: np.ndarray,
    *,
    labels: np.ndarray | None = None,
    saliency: np.ndarray | None = None,
    width: int | None = None,
) -> dict[str, BoundaryMetrics | None]:
    """Measure the garment boundary of one output against the content photo.

    Parameters
    ----------
    content : (H, W, 3) uint8
        The photo C.
    output : (H, W, 3) uint8
        A blended result I.
    mask : (H, W) float32 in [0, 1] or bool
        The garment region the output was blended in.
    labels : (H, W) uint8, optional
    saliency : (H, W) float32 in [0, 1], optional
        See :func:`edge_types`.
    width : int, optional
        Band half-width in pixels, a whole number >= 1; default
        :func:`default_band_width`.

    Returns
    -------
    dict
        For every name in :data:`EDGE_TYPES`, a :class:`BoundaryMetrics`, or None
        where the image has no edge of that type.

    Raises
    ------
    ValueError
        An image or map of the wrong shape or type, or a ``width`` that is not a whole
        number of pixels >= 1.

    Examples
    --------
    >>> import numpy as np
    >>> from helpers.boundaries import boundary_metrics
    >>> content = np.full((40, 40, 3), 120, np.uint8)
    >>> mask = np.zeros((40, 40), np.float32)
    >>> mask[10:30, 10:30] = 1
    >>> metrics = boundary_metrics(content, content.copy(), mask, width=3)
    >>> sorted(metrics)
    ['all', 'background', 'garment', 'person']
    >>> metrics["all"].pixels, metrics["all"].leakage
    (460, 0.0)
    """
    check_image(content, "content")
    check_image(output, "output")
    if output.shape != content.shape:
        raise ValueError(f"output has shape {output.shape} but the content is {content.shape}")
    region = check_map(mask, "mask", shape=content.shape[:2]) >= 0.5
    width = (default_band_width(content.shape) if width is None
             else check_positive_int(width, "width", "pixels"))
    types = edge_types(region, width, labels=labels, saliency=saliency)
    energy_out = gradient_energy(output)
    energy_in = gradient_energy(content)
    radius = max(1, width // 2)
    step_out = color_step_map(output, region, radius)
    step_in = color_step_map(content, region, radius)
    change = np.abs(output.astype(np.int16) - content.astype(np.int16)).max(axis=2)
    # The colour step is read on the pixels right at the edge, where both sides meet.
    inner1, outer1 = edge_band(region.astype(np.float32), 1)
    edge_pixels = inner1 | outer1
    result: dict[str, BoundaryMetrics | None] = {}
    for name in EDGE_TYPES:
        band = types[name]
        if not band.any():
            result[name] = None
            continue
        at_edge = band & edge_pixels
        outside = band & ~region
        # the floor (1 per band pixel) keeps a band where the photo is flat finite
        floor = float(band.sum())
        result[name] = BoundaryMetrics(
            seam=float((energy_out[band].sum() + floor) / (energy_in[band].sum() + floor)),
            color_step=float(step_out[at_edge].mean() - step_in[at_edge].mean())
            if at_edge.any() else 0.0,
            leakage=float(change[outside].mean()) if outside.any() else 0.0,
            leakage_fraction=float((change[outside] > 2).mean()) if outside.any() else 0.0,
            pixels=int(band.sum()),
        )
    return result


@dataclass(frozen=True)
class ZoomWindow:
    """A square crop ``image[top:top+size, left:left+size]`` along the edge."""

    top: int
    left: int
    size: int
    score: float

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.top, self.top + self.size), slice(self.left, self.left + self.size)


def zoom_windows(
    first: np.ndarray,
    second: np.ndarray,
    mask: np.ndarray,
    *,
    size: int | None = None,
    count: int = 2,
) -> list[ZoomWindow]:
    """Windows along the region edge where two outputs differ most.

    Parameters
    ----------
    first, second : (H, W, 3) uint8
        Two outputs of the same photo (e.g. ``hard`` and ``saliency`` blends).
    mask : (H, W) float32 in [0, 1] or bool
        The garment region; window centres lie on its edge.
    size : int, optional
        Window side in pixels; default 1/6 of the shorter image side (at least 16).
    count : int
        Number of windows; they do not overlap.

    Returns
    -------
    list of ZoomWindow
        Highest difference first; fewer than ``count`` if the edge is short.

    Examples
    --------
    >>> import numpy as np
    >>> from helpers.boundaries import zoom_windows
    >>> first = np.zeros((64, 64, 3), np.uint8)
    >>> second = first.copy()
    >>> second[20:40, 20:40] = 255
    >>> mask = np.zeros((64, 64), np.float32)
    >>> mask[20:40, 20:40] = 1
    >>> windows = zoom_windows(first, second, mask, size=16, count=2)
    >>> [(w.top, w.left, w.size) for w in windows]
    [(20, 31, 16), (20, 12, 16)]
    """
    check_image(first, "first")
    check_image(second, "second")
    if first.shape != second.shape:
        raise ValueError(f"outputs differ in shape: {first.shape} vs {second.shape}")
    height, width = first.shape[:2]
    region = check_map(mask, "mask", shape=(height, width)) >= 0.5
    size = max(16, min(height, width) // 6) if size is None else int(size)
    size = min(size, height, width)
    diff = np.abs(first.astype(np.float32) - second.astype(np.float32)).sum(axis=2)
    window_sum = cv2.boxFilter(diff, -1, (size, size), normalize=False,
                               borderType=cv2.BORDER_CONSTANT)
    inner, outer = edge_band(region.astype(np.float32), 1)
    half = size // 2
    candidates = np.zeros((height, width), bool)
    # Centres must keep the whole window inside the image.
    candidates[half:height - (size - half) + 1, half:width - (size - half) + 1] = True
    score = np.where((inner | outer) & candidates, window_sum, -1.0)
    windows: list[ZoomWindow] = []
    for _ in range(count):
        flat = int(np.argmax(score))
        best = float(score.flat[flat])
        if best < 0:
            break
        cy, cx = divmod(flat, width)
        top, left = cy - half, cx - half
        windows.append(ZoomWindow(top=top, left=left, size=size, score=best))
        # Suppress centres whose windows would overlap this one.
        score[max(0, cy - size + 1):cy + size, max(0, cx - size + 1):cx + size] = -1.0
    return windows


def closer_look_figure(
    before: np.ndarray,
    after: np.ndarray,
    windows: list[ZoomWindow],
    *,
    labels: tuple[str, str] = ("before saliency blending", "after saliency blending"),
    title: str | None = None,
):
    """A side-by-side "closer look" figure, like the original's.

    The top row shows both outputs with the zoom windows outlined; below, each
    window is magnified, before on the left, after on the right.

    Parameters
    ----------
    before, after : (H, W, 3) uint8
    windows : list of ZoomWindow
        From :func:`zoom_windows`.
    labels : (str, str)
        Column titles.
    title : str, optional
        Figure title (say which back-ends produced the images).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    rows = 1 + len(windows)
    fig, axes = plt.subplots(rows, 2, figsize=(8, 4 * rows), squeeze=False)
    colors = plt.cm.tab10.colors
    for col, (image, label) in enumerate(zip((before, after), labels, strict=True)):
        ax = axes[0, col]
        ax.imshow(image)
        ax.set_title(label)
        for index, window in enumerate(windows):
            ax.add_patch(Rectangle((window.left, window.top), window.size, window.size,
                                   fill=False, lw=2, ec=colors[index % 10]))
        for row, window in enumerate(windows, start=1):
            crop_ax = axes[row, col]
            crop_ax.imshow(image[window.slices], interpolation="nearest")
            for spine in crop_ax.spines.values():
                spine.set_edgecolor(colors[(row - 1) % 10])
                spine.set_linewidth(3)
            crop_ax.set_title(f"{label}, zoom {row}", fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
