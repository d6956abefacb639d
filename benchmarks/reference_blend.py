"""The original notebook's blend, pixel by pixel: the yardsticks for :mod:`helpers.blend`.

Written for the benchmark only (nothing in ``helpers`` uses it), in our own words from
the blending formula ``I = M * S + (1 - M) * C`` (``I = S`` where ``M = 1``, ``C``
outside the chosen garment) and the description of the original notebook: two
per-pixel Python passes over PIL images.

:func:`original_loop_blend` is the faithful baseline. It does what the original did,
the way it did it: PIL *pixel-access objects* (``Image.load()``, indexed ``px[x, y]``),
the saliency map as an 8-bit grey image whose value 255 is the shortcut "copy the
stylized pixel", and the blended value truncated by ``int()``.

:func:`getpixel_loop_blend` is the first yardstick this project used: the same two
passes through ``Image.getpixel`` / ``Image.putpixel`` method calls, a float saliency and
rounding. Those method calls cost about six times the pixel-access objects, so speed-ups
measured against it overstate the gain over the original; it is kept only so that the
old figures can be traced, under a name that says what it is.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def original_loop_blend(content: np.ndarray, stylized: np.ndarray, mask: np.ndarray,
                        saliency: np.ndarray) -> np.ndarray:
    """Blend one garment as the original notebook did: two passes over pixel-access objects.

    Parameters
    ----------
    content, stylized : (H, W, 3) uint8
        The photo C and the stylized photo S.
    mask : (H, W) float32 in {0, 1}
        The chosen garment.
    saliency : (H, W) float32 in [0, 1]
        The saliency map M; quantised to an 8-bit grey image first (``round(255 M)``), as
        the original held it.

    Returns
    -------
    (H, W, 3) uint8
        The output I: S where the 8-bit saliency is 255, else
        ``int(m / 255 * S + (1 - m / 255) * C)`` per channel (truncated), inside the
        garment; C outside.
    """
    content_image = Image.fromarray(np.ascontiguousarray(content))
    stylized_image = Image.fromarray(np.ascontiguousarray(stylized))
    mask_image = Image.fromarray((np.asarray(mask) > 0.5).astype(np.uint8) * 255)
    grey = np.clip(np.rint(np.asarray(saliency, np.float32) * 255), 0, 255).astype(np.uint8)
    saliency_image = Image.fromarray(grey)
    width, height = content_image.size

    # Pass 1: the segmented stylized garment, black elsewhere.
    garment = Image.new("RGB", (width, height))
    garment_px, stylized_px, mask_px = garment.load(), stylized_image.load(), mask_image.load()
    for x in range(width):
        for y in range(height):
            if mask_px[x, y] == 255:
                garment_px[x, y] = stylized_px[x, y]

    # Pass 2: saliency blending inside the garment, the content elsewhere.
    output = content_image.copy()
    output_px, content_px, saliency_px = output.load(), content_image.load(), saliency_image.load()
    for x in range(width):
        for y in range(height):
            if mask_px[x, y] != 255:
                continue
            m = saliency_px[x, y]
            if m == 255:
                output_px[x, y] = garment_px[x, y]
            else:
                weight = m / 255
                s, c = garment_px[x, y], content_px[x, y]
                output_px[x, y] = (int(weight * s[0] + (1 - weight) * c[0]),
                                   int(weight * s[1] + (1 - weight) * c[1]),
                                   int(weight * s[2] + (1 - weight) * c[2]))
    return np.asarray(output)


def getpixel_loop_blend(content: np.ndarray, stylized: np.ndarray, mask: np.ndarray,
                        saliency: np.ndarray) -> np.ndarray:
    """The same two passes through ``getpixel``/``putpixel`` calls, rounding (slower yardstick).

    Parameters
    ----------
    content, stylized : (H, W, 3) uint8
        The photo C and the stylized photo S.
    mask : (H, W) float32 in {0, 1}
        The chosen garment.
    saliency : (H, W) float32 in [0, 1]
        The saliency map M (kept in float).

    Returns
    -------
    (H, W, 3) uint8
        The output I (rounded to the nearest grey level).
    """
    content_image = Image.fromarray(content)
    stylized_image = Image.fromarray(stylized)
    mask_image = Image.fromarray((mask > 0.5).astype(np.uint8) * 255)
    saliency_image = Image.fromarray(np.asarray(saliency, np.float32), mode="F")
    width, height = content_image.size

    # Pass 1: the stylized garment on black.
    garment = Image.new("RGB", (width, height))
    for y in range(height):
        for x in range(width):
            if mask_image.getpixel((x, y)):
                garment.putpixel((x, y), stylized_image.getpixel((x, y)))

    # Pass 2: saliency blending inside the garment, the content elsewhere.
    output = content_image.copy()
    for y in range(height):
        for x in range(width):
            if not mask_image.getpixel((x, y)):
                continue
            weight = saliency_image.getpixel((x, y))
            if weight >= 1.0:
                output.putpixel((x, y), garment.getpixel((x, y)))
            elif weight > 0.0:
                s = garment.getpixel((x, y))
                c = content_image.getpixel((x, y))
                output.putpixel((x, y), tuple(
                    int(round(weight * s[i] + (1.0 - weight) * c[i])) for i in range(3)))
    return np.asarray(output)
