"""Stylization above the working size: the plain upscale against guided detail.

On a generated textured photo, the fine detail left in the garment by each (relative
to the photo's), their stylization times interleaved, each one's peak RSS in a fresh
process, and the whole pipeline end to end from a JPEG in fresh processes with each.
"""

from __future__ import annotations

import gc
import statistics
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmarks.common import (
    REPO_ROOT,
    compare,
    load_average,
    make_content,
    prepare_end_to_end,
    run_child,
)
from benchmarks.stages import save_inputs

if TYPE_CHECKING:
    from benchmarks.run import Config

FIGURE_DIR = REPO_ROOT / "results" / "figures"


def make_detailed_content(megapixels: float) -> np.ndarray:
    """A generated high-resolution photo: the astronaut portrait at ``megapixels`` with a
    fine woven texture (1-5 px) over it, i.e. the detail a real 4-12 MP photo has and a
    resized 512-px sample lacks. Deterministic."""
    base = make_content(megapixels).astype(np.float32)
    height, width = base.shape[:2]
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    weave = np.sign(np.sin(np.pi * (x + y) / 3)) * np.sign(np.sin(np.pi * (x - y) / 5))
    grain = np.random.default_rng(0).standard_normal((height, width), dtype=np.float32)
    texture = 1 + np.float32(0.12) * weave + np.float32(0.05) * grain
    del x, y, weave, grain
    base *= texture[..., None]
    return np.clip(base, 0, 255).astype(np.uint8)


def high_frequency_energy(image: np.ndarray, mask: np.ndarray, sigma: float = 1.5) -> float:
    """Mean squared luminance detail inside ``mask``: ``Y - GaussianBlur(Y, sigma)``,
    Y in [0, 1] (what a 2-3 px blur removes: the fine detail)."""
    import cv2

    luma = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255
    detail = luma - cv2.GaussianBlur(luma, (0, 0), sigma)
    return float(np.mean(detail[mask] ** 2))


def garment_mask(content: np.ndarray) -> np.ndarray:
    """The classical parser's upper-body garment (a central box if it finds none)."""
    from helpers.segmentation.classical_parsing import parse_person

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mask = parse_person(content).labels == 1
    if mask.sum() < 64:
        height, width = mask.shape
        mask[height // 3: 2 * height // 3, width // 4: 3 * width // 4] = True
    return mask


def measure_sharpness(config: Config, style: np.ndarray, workdir: Path,
                      log: Callable[[str], None]) -> dict[str, Any]:
    """Guided detail vs the plain upscale above the working size: fine detail, time, RSS.

    Per size: the high-frequency energy of each output inside the garment relative to
    the photo's, stylization time of both (interleaved), and each one's peak RSS in a
    fresh process. Then the whole pipeline end to end at ``end_to_end_mp`` from a JPEG in
    fresh processes, with the plain upscale (today's behaviour until this change) and
    with guided detail, alternating.
    """
    from helpers.images import save_image
    from helpers.stylize import load_stylizer

    stylizer = load_stylizer("magenta_onnx")
    rows = []
    for megapixels in config.sharpness_mp:
        log(f"stylization detail at {megapixels:g} MP (generated textured photo) ...")
        content = make_detailed_content(megapixels)
        mask = garment_mask(content)
        outputs = {mode: stylizer.stylize(content, style, max_side=config.max_side,
                                          detail=mode) for mode in ("none", "guided")}
        photo_energy = high_frequency_energy(content, mask)
        energy = {mode: high_frequency_energy(out, mask) / photo_energy
                  for mode, out in outputs.items()}
        timed = compare({mode: (lambda m=mode, c=content: stylizer.stylize(
            c, style, max_side=config.max_side, detail=m)) for mode in ("none", "guided")},
            config.sharpness_repeats)
        folder = workdir / f"sharp_{megapixels:g}mp"
        save_inputs({"content": content, "style": style}, folder)
        memory = {}
        for mode in ("none", "guided"):
            child = run_child({"task": "stylize", "dir": str(folder), "detail": mode,
                               "max_side": config.max_side})
            memory[mode] = {k: child[k] for k in ("peak_rss_mb", "increase_mb", "exact")}
        if config.mode == "full" and megapixels == config.sharpness_mp[0]:
            figure = sharpness_figure(content, outputs, mask)
            save_image(figure, FIGURE_DIR / "stylize_detail_crop.png")
        rows.append({"megapixels": megapixels, "shape": list(content.shape[:2]),
                     "garment_fraction": float(mask.mean()),
                     "photo_hf_energy": photo_energy, "hf_energy_vs_photo": energy,
                     **timed, "memory": memory,
                     "low_frequency_mean_abs_difference": low_frequency_difference(
                         outputs["none"], outputs["guided"]),
                     "load_average": load_average()})
        del content, outputs, mask
        gc.collect()
    log(f"{config.end_to_end_mp:g} MP end to end, plain upscale vs guided detail "
        "(fresh processes) ...")
    folder = prepare_end_to_end(workdir / "end_to_end_detail", config.end_to_end_mp, style)
    runs: dict[str, list[dict]] = {"none": [], "guided": []}
    for index in range(config.end_to_end_repeats):
        for mode in (("none", "guided") if index % 2 == 0 else ("guided", "none")):
            runs[mode].append(run_child({"task": "end_to_end", "dir": str(folder),
                                         "max_side": config.max_side, "detail": mode}))
    end_to_end = {mode: {"in_process_s": statistics.median(r["in_process_s"] for r in found),
                         "peak_rss_mb": max(r["peak_rss_mb"] for r in found),
                         "runs": found} for mode, found in runs.items()}
    return {"rows": rows, "end_to_end": {"megapixels": config.end_to_end_mp, **end_to_end,
                                         "time_ratio": end_to_end["guided"]["in_process_s"]
                                         / end_to_end["none"]["in_process_s"]},
            "note": ("none: the plain bicubic upscale of the stylized working image (the "
                     "behaviour before guided detail); guided: helpers.stylize."
                     "guided_upsample (the default); hf_energy_vs_photo: mean squared "
                     "luminance detail (Y - Gaussian blur, sigma 1.5 px) inside the "
                     "classical parser's upper-body garment, relative to the photo's, on "
                     "a generated photo (the astronaut sample with a fine woven texture); "
                     "low_frequency_mean_abs_difference: grey levels between the two "
                     "outputs after a sigma-4 blur at full size (the strokes); end to "
                     "end: Pipeline.run from a JPEG in fresh processes, medians")}


def low_frequency_difference(first: np.ndarray, second: np.ndarray) -> float:
    """Mean absolute difference of two images after a sigma-4 Gaussian blur (grey levels)."""
    import cv2

    blur = [cv2.GaussianBlur(x.astype(np.float32), (0, 0), 4) for x in (first, second)]
    return float(np.abs(blur[0] - blur[1]).mean())


def sharpness_figure(content: np.ndarray, outputs: dict[str, np.ndarray],
                     mask: np.ndarray, crop: int = 160, zoom: int = 3) -> np.ndarray:
    """photo | plain upscale | guided detail, one ``crop``-px window inside the garment,
    each enlarged ``zoom`` times with nearest-neighbour (pixels stay visible)."""
    import cv2

    ys, xs = np.nonzero(mask)
    cy, cx = int(np.median(ys)), int(np.median(xs))
    top = int(np.clip(cy - crop // 2, 0, content.shape[0] - crop))
    left = int(np.clip(cx - crop // 2, 0, content.shape[1] - crop))
    panels = []
    for image in (content, outputs["none"], outputs["guided"]):
        window = image[top: top + crop, left: left + crop]
        panels.append(cv2.resize(window, (crop * zoom, crop * zoom),
                                 interpolation=cv2.INTER_NEAREST))
    gap = np.full((crop * zoom, 8, 3), 255, np.uint8)
    return np.concatenate([panels[0], gap, panels[1], gap, panels[2]], axis=1)
