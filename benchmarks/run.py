"""Measure the pipeline's stages and the speed claims, side by side, in one run.

Usage::

    python -m benchmarks.run            # full run (about 10 minutes on 2 cores)
    python -m benchmarks.run --quick    # tiny sizes, 1 repeat (< 60 s): proves it works
    python benchmarks/run.py --out results.json --markdown results.md

A full run with the default destinations also rewrites the README's benchmark tables
(:mod:`benchmarks.readme`; ``--no-readme`` leaves the README alone).

The full run writes ``benchmarks/results/latest.json`` and ``latest.md``; ``--quick``
writes ``benchmarks/results/quick.json`` and ``quick.md`` (ignored by git) unless
``--out`` / ``--markdown`` say otherwise. The markdown is also printed.

What is measured (every comparison side by side in the same run, calls interleaved,
medians of several repeats, because the machine is shared and noisy):

* **Stages** of the offline pipeline (``classical_parsing`` segmentation, whose pass
  also gives the ``person_matte`` saliency; ``magenta_onnx`` stylization) and the whole :meth:`helpers.pipeline.Pipeline.run`
  for content sizes of 0.25, 1, 4 and 12 MP: wall time in this process (models
  loaded) and peak memory in a fresh child process per stage (``ru_maxrss`` plus
  an RSS sampler, the stage's inputs loaded from ``.npy`` files first).
* **Blend** (:func:`helpers.blend.blend`) against the original notebook's
  per-pixel loops over PIL pixel-access objects
  (:func:`benchmarks.reference_blend.original_loop_blend`), measured at the original's
  512-px working size and at a 3252 x 1860 photo; at 512 px also the older, slower
  getpixel/putpixel yardstick.
* **Stylization** through :class:`helpers.stylize.Stylizer` against two bare
  onnxruntime sessions on the same prepared inputs: the overhead of our code.
* **U²-Net** cloth parsing (768 x 768) and saliency (320 x 320): a plain PyTorch
  forward (upstream style), :class:`helpers.u2net.TorchU2NetRunner` and
  :class:`helpers.u2net.OnnxU2NetRunner`, with random weights of the identical
  architecture (timing does not depend on the weights).
* **Re-blend**: a slider change (:meth:`Pipeline.blend`: alpha + composite) at
  1 MP with every earlier stage cached, and the compositing step alone.
* **Pipeline at 1 MP** with models loaded, and the **cold start** (first call,
  models loading) in a fresh process.
* **12 MP end to end**: a 12 MP JPEG loaded and processed in a fresh process; its
  peak RSS.

The measurements live in one module per area (:mod:`benchmarks.common`,
:mod:`benchmarks.stages`, :mod:`benchmarks.stylization`, :mod:`benchmarks.engines`,
:mod:`benchmarks.interactive`, :mod:`benchmarks.sharpness`, :mod:`benchmarks.report`);
this module holds the configurations, runs them and is the child processes' entry point.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from benchmarks.common import (
    CHILD_MARKER,
    MB,
    REPO_ROOT,
    RssSampler,
    content_shape,
    load_average,
    machine_info,
    make_style,
    maxrss_bytes,
    measure_peak,
    versions,
)
from benchmarks.engines import measure_u2net
from benchmarks.interactive import measure_end_to_end, measure_pipeline_1mp, measure_reblend
from benchmarks.report import evaluate_targets, markdown
from benchmarks.sharpness import measure_sharpness
from benchmarks.stages import measure_blend_vs_original, measure_sizes, stage_callables
from benchmarks.stylization import measure_stylization

#: ``content_shape`` and ``markdown`` are imported from here by tests/ and benchmarks.readme.
__all__ = [
    "FULL", "QUICK", "RESULTS_DIR", "SCHEMA_VERSION", "SECTIONS", "Config", "Run",
    "child_main", "content_shape", "evaluate_targets", "main", "markdown", "parse_args",
    "rerun_sections", "run_benchmarks",
]

RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Config:
    """How much to measure: the full run or the quick smoke run."""

    mode: str
    sizes_mp: tuple[float, ...]
    fast_repeats: int                  # alpha, composite, blend
    slow_repeats: dict[float, int]     # segmentation, stylization, saliency, pipeline
    original_shapes: tuple[tuple[int, int], ...]  # (H, W) of the blend-vs-original rows
    loop_repeats: int
    stylize_repeats: int
    u2net: tuple[tuple[str, str, int], ...]  # (task, arch, input side)
    u2net_repeats: int
    agreement_photos: int | None       # fixture photos for the int8 agreement (None: all)
    reblend_mp: float
    reblend_repeats: int
    pipeline_mp: float                 # the "1 MP" pipeline, re-blend and cold start
    end_to_end_mp: float               # the "12 MP" peak-RSS run
    sharpness_mp: tuple[float, ...]    # guided detail vs plain upscale
    sharpness_repeats: int
    end_to_end_repeats: int            # fresh processes per mode (plain upscale, guided)
    max_side: int = 1024


FULL = Config(
    mode="full", sizes_mp=(0.25, 1.0, 4.0, 12.0), fast_repeats=15,
    slow_repeats={0.25: 3, 1.0: 3, 4.0: 2, 12.0: 2},
    original_shapes=((512, 384), (3252, 1860)), loop_repeats=3,
    stylize_repeats=7,
    u2net=(("cloth_parsing", "u2net_cloth", 768), ("saliency", "u2net", 320)),
    u2net_repeats=3, agreement_photos=None, reblend_mp=1.0, reblend_repeats=40,
    pipeline_mp=1.0,
    end_to_end_mp=12.0, sharpness_mp=(4.0, 12.0), sharpness_repeats=3, end_to_end_repeats=2,
)
QUICK = Config(
    mode="quick", sizes_mp=(0.01, 0.04), fast_repeats=1, slow_repeats={0.01: 1, 0.04: 1},
    original_shapes=((64, 48),), loop_repeats=1, stylize_repeats=1,
    u2net=(("cloth_parsing", "u2netp", 64), ("saliency", "u2netp", 64)),
    u2net_repeats=1, agreement_photos=2, reblend_mp=0.04, reblend_repeats=3,
    pipeline_mp=0.04,
    end_to_end_mp=0.04, sharpness_mp=(0.04,), sharpness_repeats=1, end_to_end_repeats=1,
)


# --------------------------------------------------------------------------- children
def child_main(spec: dict[str, Any]) -> dict[str, Any]:
    """Run inside a fresh interpreter: one stage's peak, the cold start or end to end."""
    started = time.perf_counter()
    task, folder, max_side = spec["task"], Path(spec["dir"]), spec["max_side"]
    if task == "stage":
        inputs = {p.stem: np.load(p) for p in sorted(folder.glob("*.npy"))}
        calls = stage_callables(inputs, max_side)
        if spec["stage"] in ("stylization", "pipeline"):
            from helpers.stylize import load_stylizer

            load_stylizer("magenta_onnx")  # the models' memory is not the stage's
        return measure_peak(calls[spec["stage"]])
    if task == "cold":
        import_start = time.perf_counter()
        from helpers.pipeline import Pipeline

        imported = time.perf_counter()
        content, style = np.load(folder / "content.npy"), np.load(folder / "style.npy")
        run_start = time.perf_counter()
        Pipeline("classical_parsing", "person_matte", "magenta_onnx", max_side=max_side,
                 notify=None).run(content, style)
        done = time.perf_counter()
        return {"import_s": imported - import_start, "first_run_s": done - run_start,
                "in_process_s": done - started, "peak_rss_mb": round(maxrss_bytes() / MB, 1)}
    if task == "stylize":
        from helpers.stylize import load_stylizer

        content, style = np.load(folder / "content.npy"), np.load(folder / "style.npy")
        stylizer = load_stylizer("magenta_onnx")
        stylizer.stylize(content[:64, :64], style)  # the sessions' memory is not the stage's
        return measure_peak(lambda: stylizer.stylize(content, style, max_side=max_side,
                                                     detail=spec["detail"]))
    if task == "end_to_end":
        from helpers.images import load_image
        from helpers.pipeline import Pipeline

        if spec.get("detail", "guided") != "guided":
            import functools

            from helpers.stylize import Stylizer

            # the behaviour before guided detail, for the side-by-side comparison
            Stylizer.stylize = functools.partialmethod(Stylizer.stylize, detail=spec["detail"])

        with RssSampler(0.005) as sampler:
            content = load_image(folder / "content.jpg")
            style = np.load(folder / "style.npy")
            result = Pipeline("classical_parsing", "person_matte", "magenta_onnx", max_side=max_side,
                              notify=None).run(content, style)
        return {"shape": list(content.shape[:2]), "in_process_s": time.perf_counter() - started,
                "stage_timings_s": result.timings,
                "peak_rss_mb": round(maxrss_bytes() / MB, 1),
                "sampled_peak_rss_mb": round(sampler.peak / MB, 1)}
    raise ValueError(f"unknown benchmark child task {task!r}")



# --------------------------------------------------------------------------- main
@dataclass
class Run:
    config: Config
    log_lines: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)

    def log(self, message: str) -> None:
        line = f"[{time.perf_counter() - self.started:7.1f} s] {message}"
        self.log_lines.append(line)
        print(line, file=sys.stderr, flush=True)


#: Sections that ``--only`` can measure again on their own.
SECTIONS = ("sizes", "blend_vs_loop", "stylization_overhead", "reblend", "pipeline_1mp",
            "end_to_end", "sharpness", "u2net")


def rerun_sections(config: Config, previous: dict[str, Any], only: list[str]) -> dict[str, Any]:
    """``previous`` results with the ``only`` sections measured again (same mode).

    The machine line records both runs' load averages; ``rerun`` says which sections
    and when, so a table never passes a partial rerun off as one run.
    """
    if previous.get("mode") != config.mode:
        raise ValueError(f"--only needs results of the same mode ({config.mode}); the file "
                         f"holds a {previous.get('mode')} run")
    run = Run(config)
    results = dict(previous)
    style = make_style()
    machine = dict(results["machine"])
    start_load = load_average()
    with tempfile.TemporaryDirectory(prefix="benchmarks-") as tmp:
        workdir = Path(tmp)
        for section in only:
            if section == "sizes":
                results["sizes"] = measure_sizes(config, style, workdir, run.log)
            elif section == "blend_vs_loop":
                results["blend_vs_loop"] = measure_blend_vs_original(config, style, run.log)
            elif section == "stylization_overhead":
                results["stylization_overhead"] = measure_stylization(config, style, run.log)
            elif section == "reblend":
                results["reblend"] = measure_reblend(config, style, run.log)
            elif section == "pipeline_1mp":
                results["pipeline_1mp"] = measure_pipeline_1mp(config, style, results["sizes"],
                                                               workdir, run.log)
            elif section == "end_to_end":
                results["end_to_end"] = measure_end_to_end(config, style, workdir, run.log)
            elif section == "sharpness":
                results["sharpness"] = measure_sharpness(config, style, workdir, run.log)
            elif section == "u2net":
                results["u2net"] = measure_u2net(config, workdir, run.log)
    reruns = list(results.get("reruns", []))
    reruns.append({"sections": only,
                   "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                   "load_average_start": start_load, "load_average_end": load_average(),
                   "total_s": time.perf_counter() - run.started})
    results["reruns"], results["machine"], results["versions"] = reruns, machine, versions()
    results["targets"] = evaluate_targets(results)
    return results


def run_benchmarks(config: Config) -> dict[str, Any]:
    """Every measurement of ``config``; the JSON-ready results."""
    run = Run(config)
    results: dict[str, Any] = {
        "schema": SCHEMA_VERSION, "mode": config.mode,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(), "versions": versions(),
        "config": {k: (list(map(list, val)) if k == "u2net" else
                       {str(s): n for s, n in val.items()} if isinstance(val, dict) else val)
                   for k, val in asdict(config).items()},
    }
    style = make_style()
    with tempfile.TemporaryDirectory(prefix="benchmarks-") as tmp:
        workdir = Path(tmp)
        results["sizes"] = measure_sizes(config, style, workdir, run.log)
        results["blend_vs_loop"] = measure_blend_vs_original(config, style, run.log)
        results["stylization_overhead"] = measure_stylization(config, style, run.log)
        results["reblend"] = measure_reblend(config, style, run.log)
        results["pipeline_1mp"] = measure_pipeline_1mp(config, style, results["sizes"],
                                                       workdir, run.log)
        results["end_to_end"] = measure_end_to_end(config, style, workdir, run.log)
        results["sharpness"] = measure_sharpness(config, style, workdir, run.log)
        results["u2net"] = measure_u2net(config, workdir, run.log)
    results["machine"]["load_average_end"] = load_average()
    results["total_s"] = time.perf_counter() - run.started
    results["targets"] = evaluate_targets(results)
    return results


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes, one repeat (< 60 s): proves the script works")
    parser.add_argument("--out", type=Path, help="JSON destination (default: "
                        "benchmarks/results/latest.json, quick.json with --quick)")
    parser.add_argument("--markdown", type=Path, help="markdown destination (default: "
                        "benchmarks/results/latest.md, quick.md with --quick)")
    parser.add_argument("--only", help="comma-separated sections to measure again, merged "
                        "into the existing results file (the others are kept and the "
                        f"rerun is recorded): {', '.join(SECTIONS)}")
    parser.add_argument("--no-readme", action="store_true",
                        help="do not rewrite the README's tables (a full run with the default "
                        "--out does, through benchmarks.readme)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        result = child_main(json.loads(args.child))
        print(CHILD_MARKER + json.dumps(result), flush=True)
        return 0
    from helpers.images import atomic_write_bytes, save_json

    config = QUICK if args.quick else FULL
    stem = "quick" if args.quick else "latest"
    out = args.out or RESULTS_DIR / f"{stem}.json"
    md_path = args.markdown or RESULTS_DIR / f"{stem}.md"
    if args.only:
        only = [s.strip() for s in args.only.split(",") if s.strip()]
        unknown = sorted(set(only) - set(SECTIONS))
        if unknown:
            raise SystemExit(f"unknown section(s) {', '.join(unknown)}; valid: "
                             f"{', '.join(SECTIONS)}")
        if not out.is_file():
            raise SystemExit(f"--only merges into {out}, which does not exist: run the "
                             "whole benchmark first")
        results = rerun_sections(config, json.loads(out.read_text()), only)
    else:
        results = run_benchmarks(config)
    table = markdown(results)
    save_json(results, out)
    atomic_write_bytes(md_path, table.encode("utf-8"))
    print(table)
    print(f"wrote {out} and {md_path}", file=sys.stderr)
    if not args.quick and args.out is None and not args.no_readme:
        from benchmarks.readme import update_readme

        update_readme(results)
        print("updated the README's benchmark tables", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
