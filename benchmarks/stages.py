"""Stage timings by content size, and the blend against the original notebook's loops.

Each stage of the offline pipeline (and the whole :meth:`helpers.pipeline.Pipeline.run`)
is timed in this process with the models loaded, and its peak memory measured in a
fresh child process from inputs saved as ``.npy`` files. :func:`helpers.blend.blend`
is timed against :mod:`benchmarks.reference_blend`'s per-pixel loops on the same inputs,
interleaved.
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmarks.common import compare, load_average, make_content, run_child, time_calls

if TYPE_CHECKING:
    from benchmarks.run import Config

#: Stages timed and measured per content size, in pipeline order.
STAGES = ("segmentation", "stylization", "saliency", "alpha", "composite", "blend",
          "pipeline")
STAGE_NOTES = {
    "segmentation": "the offline classical parser: cloth classes and the person matte M in "
                    "one pass (helpers.segmentation.classical_parsing.parse_person)",
    "stylization": "Magenta ONNX (float32 graph), working side <= 1024, brought back to "
                   "full size with the photo's detail (detail='guided', the default)",
    "saliency": "guided edge-aware matte of the region (the matting methods' alpha; the "
                "offline M itself comes with the parse)",
    "alpha": "blend_alpha(mask, 'saliency', saliency=M)",
    "composite": "composite(C, S, alpha)",
    "blend": "helpers.blend.blend: alpha + composite",
    "pipeline": "Pipeline('classical_parsing', 'person_matte', 'magenta_onnx').run, fresh "
                "caches",
}


def stage_inputs(content: np.ndarray, style: np.ndarray, max_side: int) -> dict[str, np.ndarray]:
    """Every stage's inputs, computed once (this also warms the models up)."""
    from helpers.blend import blend_alpha
    from helpers.segmentation.classical_parsing import parse_person
    from helpers.stylize import load_stylizer

    parse = parse_person(content)
    mask = (parse.labels == 1).astype(np.float32)
    saliency = parse.person
    return {
        "content": content, "style": style, "mask": mask, "saliency": saliency,
        "stylized": load_stylizer("magenta_onnx").stylize(content, style, max_side=max_side),
        "alpha": blend_alpha(mask, "saliency", saliency=saliency),
    }


def stage_callables(inputs: dict[str, np.ndarray], max_side: int,
                    ) -> dict[str, Callable[[], Any]]:
    """One zero-argument callable per stage, over precomputed inputs."""
    from helpers.blend import blend, blend_alpha, composite
    from helpers.pipeline import Pipeline
    from helpers.saliency import edge_aware_alpha
    from helpers.segmentation.classical_parsing import parse_person
    from helpers.stylize import load_stylizer

    c, s, m = inputs["content"], inputs["style"], inputs["mask"]
    saliency, stylized, alpha = inputs["saliency"], inputs["stylized"], inputs["alpha"]
    stylizer = load_stylizer("magenta_onnx")

    def pipeline() -> Any:
        fresh = Pipeline("classical_parsing", "person_matte", "magenta_onnx",
                         max_side=max_side, notify=None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # synthetic content: "no person found"
            return fresh.run(c, s)

    return {
        "segmentation": lambda: parse_person(c),
        "stylization": lambda: stylizer.stylize(c, s, max_side=max_side),
        "saliency": lambda: edge_aware_alpha(c, m, method="guided"),
        "alpha": lambda: blend_alpha(m, "saliency", saliency=saliency),
        "composite": lambda: composite(c, stylized, alpha),
        "blend": lambda: blend(c, stylized, m, "saliency", saliency=saliency),
        "pipeline": pipeline,
    }


def save_inputs(inputs: dict[str, np.ndarray], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in inputs.items():
        np.save(folder / f"{name}.npy", array)


def measure_sizes(config: Config, style: np.ndarray, workdir: Path,
                  log: Callable[[str], None]) -> list[dict]:
    """Stage timings (this process) and peaks (children) per size."""
    rows = []
    for megapixels in config.sizes_mp:
        content = make_content(megapixels)
        pixels = content.shape[0] * content.shape[1]
        log(f"stages at {megapixels:g} MP {content.shape[:2]} ...")
        inputs = stage_inputs(content, style, config.max_side)
        calls = stage_callables(inputs, config.max_side)
        slow = config.slow_repeats[megapixels]
        stages: dict[str, dict[str, Any]] = {}
        for name in STAGES:
            repeats = config.fast_repeats if name in ("alpha", "composite", "blend") else slow
            stages[name] = time_calls(calls[name], repeats)
        folder = workdir / f"inputs_{megapixels:g}mp"
        save_inputs(inputs, folder)
        for name in STAGES:
            log(f"  peak memory of {name} at {megapixels:g} MP (fresh process) ...")
            child = run_child({"task": "stage", "stage": name, "dir": str(folder),
                               "max_side": config.max_side})
            stages[name]["memory"] = {k: child[k] for k in (
                "peak_rss_mb", "baseline_rss_mb", "increase_mb", "process_maxrss_mb", "exact")}
        rows.append({"megapixels": megapixels, "shape": list(content.shape[:2]),
                     "pixels": pixels, "stages": stages})

        del inputs, calls, content
        gc.collect()
    return rows


def make_content_shape(shape: tuple[int, int]) -> np.ndarray:
    """The astronaut portrait (512 x 384 crop) resized to exactly ``shape`` = ``(H, W)``."""
    from helpers.images import resize_image, sample_content

    portrait = sample_content("astronaut")[:, 64:448]
    return resize_image(np.ascontiguousarray(portrait), tuple(shape))


def measure_blend_vs_original(config: Config, style: np.ndarray,
                              log: Callable[[str], None]) -> dict[str, Any]:
    """helpers.blend against the original notebook's loops, interleaved, same inputs.

    The faithful baseline (:func:`benchmarks.reference_blend.original_loop_blend`) runs at
    every size; the older getpixel/putpixel yardstick only at the smallest (six times
    slower still), to show by how much it overstated the gain.
    """
    from benchmarks.reference_blend import getpixel_loop_blend, original_loop_blend
    from helpers.blend import blend

    rows = []
    for index, shape in enumerate(config.original_shapes):
        content = make_content_shape(shape)
        log(f"blend vs the original loops at {shape[0]}x{shape[1]} ...")
        inputs = stage_inputs(content, style, config.max_side)
        c, s, m, saliency = (inputs[k] for k in ("content", "stylized", "mask", "saliency"))
        args = (c, s, m, saliency)
        fns = {"ours": lambda a=args: blend(*a[:3], "saliency", saliency=a[3]),
               "original_loops": lambda a=args: original_loop_blend(*a)}
        if index == 0:
            fns["getpixel_loops"] = lambda a=args: getpixel_loop_blend(*a)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tiny quick-run sizes: "M is zero over ..."
            ours_out = fns["ours"]()
            differences = {name: int(np.abs(fns[name]().astype(np.int16) - ours_out).max())
                           for name in fns if name != "ours"}
            timed = compare(fns, config.loop_repeats)
        row = {"shape": list(shape), "megapixels": shape[0] * shape[1] / 1e6,
               "garment_fraction": float((m > 0.5).mean()), **timed,
               "max_abs_difference_vs_ours": differences,
               "speedup": timed["original_loops"]["median_s"] / timed["ours"]["median_s"],
               "load_average": load_average()}
        if "getpixel_loops" in timed:
            row["speedup_vs_getpixel"] = (timed["getpixel_loops"]["median_s"]
                                          / timed["ours"]["median_s"])
            row["getpixel_over_original"] = (timed["getpixel_loops"]["median_s"]
                                             / timed["original_loops"]["median_s"])
        rows.append(row)
        del inputs, fns
        gc.collect()
    return {"rows": rows, "note": (
        "original_loops: benchmarks/reference_blend.original_loop_blend, the original "
        "notebook's two passes over PIL pixel-access objects (8-bit saliency, the == 255 "
        "copy, int() truncation); getpixel_loops: the older, slower yardstick "
        "(getpixel/putpixel calls, float saliency, rounding), smallest size only; all "
        "measured, interleaved, on the same inputs (the astronaut portrait resized to "
        "each shape, the classical parser's upper-body garment)")}
