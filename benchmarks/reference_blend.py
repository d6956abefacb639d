"""The original notebook's blend, pixel by pixel: the yardstick for :mod:`helpers.blend`.

Written for the benchmark only (nothing in ``helpers`` uses it). It mirrors the
original work's two per-pixel Python loops over PIL images with ``getpixel`` /
``putpixel``:

1. build the stylized garment image: the stylized pixel where the chosen garment's
   mask is set, black elsewhere;
2. blend ``I = M * S + (1 - M) * C`` inside the garment (``I = S`` where ``M = 1``),
   keeping the content ``C`` everywhere else.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def loop_blend(content: np.ndarray, stylized: np.ndarray, mask: np.ndarray,
               saliency: np.ndarray) -> np.ndarray:
    """Blend one garment with two per-pixel passes over PIL images.

    Parameters
    ----------
    content, stylized : (H, W, 3) uint8
        The photo C and the stylized photo S.
    mask : (H, W) float32 in {0, 1}
        The chosen garment.
    saliency : (H, W) float32 in [0, 1]
        The saliency map M.

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
