"""Interactive latency and whole-pipeline runs: re-blend, the 1 MP pipeline, end to end.

A slider change with every earlier stage cached (:meth:`helpers.pipeline.Pipeline.blend`)
and the compositing step alone; the offline pipeline at 1 MP with the models loaded and
from a cold start in a fresh process; and a 12 MP JPEG processed in a fresh process,
with its peak RSS.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmarks.common import (
    make_content,
    prepare_end_to_end,
    run_child,
    summary,
    time_calls,
)
from benchmarks.stages import save_inputs, stage_callables, stage_inputs

if TYPE_CHECKING:
    from benchmarks.run import Config


def measure_reblend(config: Config, style: np.ndarray, log: Callable[[str], None],
                    ) -> dict[str, Any]:
    """A slider change with every earlier stage cached: Pipeline.blend (alpha + composite)."""
    from helpers.blend import BLEND_METHODS, composite, soften
    from helpers.pipeline import Pipeline

    log(f"re-blend latency at {config.reblend_mp:g} MP ...")
    content = make_content(config.reblend_mp)
    pipeline = Pipeline("classical_parsing", "person_matte", "magenta_onnx", max_side=config.max_side,
                        notify=None)
    result = pipeline.run(content, style)
    stylized, mask = result.stylized, result.mask
    softness = (0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0)

    def slider_runs(values: list[Callable[[], Any]]) -> dict[str, Any]:
        for fn in values[:2]:  # warm-up
            fn()
        runs = []
        for fn in values:
            start = time.perf_counter()
            fn()
            runs.append(time.perf_counter() - start)
        return {**summary(runs), "p90_s": float(np.percentile(runs, 90)), "max_s": max(runs)}

    n = config.reblend_repeats
    softness_changes, method_changes = [], []
    for i in range(n):
        sigma, method = softness[i % len(softness)], BLEND_METHODS[i % len(BLEND_METHODS)]
        softness_changes.append(
            lambda s=sigma: pipeline.blend(stylized, mask, "saliency", softness=s))
        method_changes.append(lambda m=method: pipeline.blend(stylized, mask, m))
    by_softness = slider_runs(softness_changes)
    by_method = slider_runs(method_changes)
    alpha = pipeline.alpha(mask, "saliency")
    alphas = {
        "pipeline_saliency": alpha,
        "feather": pipeline.alpha(mask, "feather"),
        "hard": pipeline.alpha(mask, "hard"),
        "soft_everywhere": np.clip(soften(mask, 2.0) * np.float32(0.9), 0, 1),
    }
    composite_only = {name: time_calls(lambda a=a: composite(content, stylized, a), n)
                      for name, a in alphas.items()}
    alpha_only = time_calls(lambda: pipeline.alpha(mask, "saliency", softness=3.0), n)
    return {
        "megapixels": config.reblend_mp, "shape": list(content.shape[:2]),
        "softness_slider": by_softness, "method_slider": by_method,
        "composite_only": composite_only, "alpha_only_softness_3": alpha_only,
        "note": ("softness_slider: Pipeline.blend(stylized, mask, 'saliency', softness=s) "
                 f"cycling s over {list(softness)}; method_slider cycles the blend methods; "
                 "composite_only: helpers.blend.composite with alpha precomputed "
                 "('soft_everywhere' is a worst case: a fractional alpha over the whole "
                 "garment)"),
    }


def measure_pipeline_1mp(config: Config, style: np.ndarray, stage_rows: list[dict],
                         workdir: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """The full offline pipeline warm (models loaded) and cold (fresh process)."""
    warm = None
    for row in stage_rows:
        if row["megapixels"] == config.pipeline_mp:
            warm = row["stages"]["pipeline"]
    content = make_content(config.pipeline_mp)
    if warm is None:
        calls = stage_callables(stage_inputs(content, style, config.max_side),
                                config.max_side)
        warm = time_calls(calls["pipeline"], 3)
    folder = workdir / "cold"
    save_inputs({"content": content, "style": style}, folder)
    log(f"cold start at {config.pipeline_mp:g} MP (fresh process) ...")
    cold = run_child({"task": "cold", "dir": str(folder), "max_side": config.max_side})
    return {"megapixels": config.pipeline_mp, "warm": warm, "cold": cold,
            "note": ("warm: a fresh Pipeline per run, models already loaded in the process; "
                     "cold: a new interpreter importing helpers, loading the models and "
                     "running once (process_wall_s includes interpreter start and exit)")}


def measure_end_to_end(config: Config, style: np.ndarray, workdir: Path,
                       log: Callable[[str], None]) -> dict[str, Any]:
    """A JPEG of ``end_to_end_mp`` loaded and processed in a fresh process: peak RSS."""
    folder = prepare_end_to_end(workdir / "end_to_end", config.end_to_end_mp, style)
    log(f"{config.end_to_end_mp:g} MP end to end (fresh process) ...")
    child = run_child({"task": "end_to_end", "dir": str(folder), "max_side": config.max_side})
    return {"megapixels": config.end_to_end_mp, **child,
            "note": "fresh interpreter: imports, load_image of the JPEG, Pipeline.run; "
                    "peak_rss_mb is the process's ru_maxrss"}
