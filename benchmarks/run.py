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
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
SCHEMA_VERSION = 1
CHILD_MARKER = "BENCHMARK_CHILD_RESULT "
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
MB = 1024 * 1024


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


# --------------------------------------------------------------------------- machine
def machine_info() -> dict[str, Any]:
    """CPU model, cores, RAM and the load average (other users of the machine)."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram_gb = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    return {"cpu_model": cpu, "cores": os.cpu_count(), "ram_gb": ram_gb,
            "platform": platform.platform(), "load_average_start": load_average()}


def load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages (None where the OS has none)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def versions() -> dict[str, str | None]:
    """Versions of python and the numeric stack (None for what is not installed)."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for label, module in (("numpy", "numpy"), ("torch", "torch"),
                          ("onnxruntime", "onnxruntime"), ("openvino", "openvino"),
                          ("opencv", "cv2"),
                          ("pillow", "PIL")):
        try:
            found[label] = __import__(module).__version__
        except ImportError:
            found[label] = None
    return found


# --------------------------------------------------------------------------- inputs
def content_shape(megapixels: float) -> tuple[int, int]:
    """``(H, W)`` of a 3:4 portrait photo of about ``megapixels`` (12 MP: 4000 x 3000)."""
    width = max(16, round((megapixels * 1e6 * 3 / 4) ** 0.5))
    return round(width * 4 / 3), width


def make_content(megapixels: float) -> np.ndarray:
    """The astronaut sample cropped to 3:4 and resized to ``megapixels``."""
    from helpers.images import resize_image, sample_content

    portrait = sample_content("astronaut")[:, 64:448]  # 512 x 384, the person centred
    return resize_image(np.ascontiguousarray(portrait), content_shape(megapixels))


def make_style() -> np.ndarray:
    from helpers.images import sample_style

    return sample_style("tartan")


# --------------------------------------------------------------------------- timing
def summary(runs: list[float], cpu: list[float] | None = None) -> dict[str, Any]:
    """Median, min and every run in seconds; with ``cpu``, the median process CPU time.

    CPU time (all threads) is less sensitive to other users of the machine than wall
    time; it exceeds wall time where work runs on both cores.
    """
    result = {"median_s": statistics.median(runs), "min_s": min(runs),
              "runs_s": [round(r, 6) for r in runs], "repeats": len(runs)}
    if cpu:
        result["cpu_median_s"] = statistics.median(cpu)
    return result


def time_calls(fn: Callable[[], Any], repeats: int) -> dict[str, Any]:
    runs, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        runs.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return summary(runs, cpu)


def compare(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, dict[str, Any]]:
    """Time several callables interleaved (order alternating per round): fair on a busy box."""
    runs: dict[str, list[float]] = {name: [] for name in fns}
    cpu: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for round_index in range(repeats):
        for name in (names if round_index % 2 == 0 else names[::-1]):
            start, start_cpu = time.perf_counter(), time.process_time()
            fns[name]()
            runs[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    return {name: summary(runs[name], cpu[name]) for name in fns}


# --------------------------------------------------------------------------- memory
def rss_bytes() -> int:
    """Current resident set size of this process."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return maxrss_bytes()


def maxrss_bytes() -> int:
    """Peak resident set size of this process so far (``ru_maxrss`` is KiB on Linux)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


class RssSampler:
    """Sample the RSS every ``interval`` seconds in a thread; ``peak`` is the highest seen."""

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.peak = rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            time.sleep(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())


def measure_peak(fn: Callable[[], Any]) -> dict[str, Any]:
    """Run ``fn`` once; its peak RSS, and how far that is above the RSS just before.

    ``ru_maxrss`` is exact but counts everything since the process started, so it is
    the stage's peak only when it rose during the stage; otherwise the sampled peak
    (every 2 ms) is the best estimate.
    """
    gc.collect()
    baseline, maxrss_before = rss_bytes(), maxrss_bytes()
    start = time.perf_counter()
    with RssSampler() as sampler:
        fn()
    wall = time.perf_counter() - start
    maxrss_after = maxrss_bytes()
    peak = maxrss_after if maxrss_after > maxrss_before else sampler.peak
    return {"peak_rss_mb": round(peak / MB, 1), "baseline_rss_mb": round(baseline / MB, 1),
            "increase_mb": round((peak - baseline) / MB, 1),
            "process_maxrss_mb": round(maxrss_after / MB, 1),
            "exact": maxrss_after > maxrss_before, "wall_s": wall}


def run_child(spec: dict[str, Any], timeout: float = 900) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter; return its result and wall time."""
    command = [sys.executable, "-m", "benchmarks.run", "--child", json.dumps(spec)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    wall = time.perf_counter() - start
    for line in done.stdout.splitlines():
        if line.startswith(CHILD_MARKER):
            result = json.loads(line[len(CHILD_MARKER):])
            result["process_wall_s"] = wall
            return result
    tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
    raise RuntimeError(f"benchmark child {spec.get('task')} failed (exit {done.returncode}): "
                       + " | ".join(tail))


# --------------------------------------------------------------------------- stages
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


# --------------------------------------------------------------------------- stylization
class BareMagenta:
    """The two Magenta ONNX models (float32 graph) in bare onnxruntime sessions.

    The sessions have the options :func:`helpers.stylize.make_onnx_session` gives ours, so
    the comparison measures our Python around them, not a choice of graph optimisations.
    """

    def __init__(self) -> None:
        from helpers.stylize import BOTTLENECK_SIZE, load_magenta_onnx_model, make_onnx_session

        def session(which: str):
            return make_onnx_session(load_magenta_onnx_model(which))

        self.predict = session("predict")
        self.transform = session("transform")
        self.style_name = self.predict.get_inputs()[0].name
        inputs = self.transform.get_inputs()
        self.bottleneck_name = next(i.name for i in inputs
                                    if i.shape[-1] == BOTTLENECK_SIZE and i.shape[1] == 1)
        self.content_name = next(i.name for i in inputs if i.name != self.bottleneck_name)

    def prepare(self, content: np.ndarray, style: np.ndarray, max_side: int,
                ) -> tuple[np.ndarray, np.ndarray]:
        """The networks' inputs, as :class:`helpers.stylize.Stylizer` would build them."""
        import cv2

        from helpers.stylize import STYLE_SIZE, working_size

        height, width = working_size(*content.shape[:2], max_side=max_side)
        work = cv2.resize(content, (width, height), interpolation=cv2.INTER_AREA)
        work = np.pad(work, ((0, -height % 4), (0, -width % 4), (0, 0)), mode="reflect")
        style_in = cv2.resize(style, (STYLE_SIZE, STYLE_SIZE), interpolation=cv2.INTER_AREA)
        return ((style_in.astype(np.float32) / 255)[None],
                (work.astype(np.float32) / 255)[None])

    def __call__(self, style_in: np.ndarray, content_in: np.ndarray) -> np.ndarray:
        bottleneck = self.predict.run(None, {self.style_name: style_in})[0]
        feed = {self.content_name: content_in,
                self.bottleneck_name: bottleneck.reshape(1, 1, 1, -1)}
        return self.transform.run(None, feed)[0]


def measure_stylization(config: Config, style: np.ndarray, log: Callable[[str], None],
                        ) -> dict[str, Any]:
    from helpers.stylize import load_stylizer

    stylizer = load_stylizer("magenta_onnx")
    int8 = load_stylizer("magenta_onnx", precision="int8")
    bare = BareMagenta()
    rows = []
    for megapixels in config.sizes_mp:
        log(f"stylization overhead at {megapixels:g} MP ...")
        content = make_content(megapixels)
        style_in, content_in = bare.prepare(content, style, config.max_side)
        bare(style_in, content_in)  # warm all three up at this size
        # detail="none": the same resize back as the bare sessions' comparison implies (the
        # guided detail has its own rows in measure_sharpness)
        float_out = stylizer.stylize(content, style, max_side=config.max_side, detail="none")
        int8_out = int8.stylize(content, style, max_side=config.max_side, detail="none")
        timed = compare({
            "helpers": lambda c=content: stylizer.stylize(c, style, max_side=config.max_side,
                                                          detail="none"),
            "bare_onnxruntime": lambda s=style_in, c=content_in: bare(s, c),
            "helpers_int8": lambda c=content: int8.stylize(c, style, max_side=config.max_side,
                                                           detail="none"),
        }, config.stylize_repeats)
        ours, bare_timed, int8_timed = (timed["helpers"], timed["bare_onnxruntime"],
                                        timed["helpers_int8"])
        difference = np.abs(float_out.astype(np.int16) - int8_out.astype(np.int16))
        rows.append({
            "megapixels": megapixels, "work_shape": list(content_in.shape[1:3]),
            "helpers": ours, "bare_onnxruntime": bare_timed, "helpers_int8": int8_timed,
            # the fastest run of each is the one least disturbed by other processes
            "overhead_fraction": ours["min_s"] / bare_timed["min_s"] - 1,
            "overhead_fraction_median": ours["median_s"] / bare_timed["median_s"] - 1,
            "overhead_fraction_cpu": ours["cpu_median_s"] / bare_timed["cpu_median_s"] - 1,
            "float32_vs_int8_fraction": ours["min_s"] / int8_timed["min_s"] - 1,
            "float32_vs_int8_fraction_median": ours["median_s"] / int8_timed["median_s"] - 1,
            "float32_vs_int8_mean_abs_difference": float(difference.mean()),
        })
    return {"rows": rows, "note": (
        "helpers: Stylizer.stylize with the default float32 graph (style resize + "
        "bottleneck, content resize to the working size, network, plain resize back to full "
        "size: detail='none', the guided detail is measured in its own table); helpers_int8: the same with the shipped int8 graph (CPU-dependent); bare: "
        "the two float32 session.run calls on inputs prepared beforehand, with our session "
        "options; ratios from the fastest of the interleaved runs of each (medians and CPU "
        "times in the JSON)")}


# --------------------------------------------------------------------------- U²-Net
def network_batch(content: np.ndarray, side: int) -> np.ndarray:
    """The network input: the real preprocessing at 768 / 320, a resized image otherwise."""
    from helpers.saliency import preprocess_saliency
    from helpers.segmentation.u2net_cloth import CLOTH_INPUT_SIZE, preprocess_cloth

    if side == CLOTH_INPUT_SIZE:
        return preprocess_cloth(content)
    if side == 320:
        return preprocess_saliency(content)
    import cv2

    small = cv2.resize(content, (side, side), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray((small.astype(np.float32) / 127.5 - 1).transpose(2, 0, 1)[None])


SHARED = REPO_ROOT.parent / "shared" / "fixtures"
#: The U²-Net state-dict manifests (recipe weights), per architecture.
MANIFESTS = {"u2net_cloth": "manifest_u2net_3_4.json", "u2net": "manifest_u2net_3_1.json",
             "u2netp": "manifest_u2netp_3_1.json"}
#: Side of the int8 calibration batches (smaller than 768: the calibration holds every
#: activation of a batch in memory at once).
CALIBRATION_SIDE = 256


def recipe_weights(arch: str, seed: int = 0) -> tuple[dict | None, str]:
    """The fixture README's "recipe" weights (fan-in scaled normal convolutions, BatchNorm
    statistics spread out) from the state-dict manifest in ../shared, or None and why.

    A proxy for trained weights with realistic activation statistics: trained weights
    are not available here.
    """
    import torch

    path = SHARED / "u2net" / MANIFESTS[arch]
    if not path.is_file():
        return None, f"random (torch default init, seed {seed}): {path} is absent"
    rs = np.random.RandomState(seed)
    state = {}
    for key, shape in json.loads(path.read_text())["entries"]:
        if key.endswith("num_batches_tracked"):
            state[key] = torch.zeros((), dtype=torch.int64)
            continue
        if len(shape) == 4:
            value = rs.standard_normal(shape) * np.sqrt(1.0 / (shape[1] * shape[2] * shape[3]))
        elif key.endswith("running_var"):
            value = rs.uniform(0.5, 2.0, shape)
        elif ".bn_s1." in key and key.endswith(".weight"):
            value = rs.uniform(0.5, 1.5, shape)
        else:
            value = rs.uniform(-0.5, 0.5, shape)
        state[key] = torch.from_numpy(np.asarray(value, dtype=np.float32))
    return state, f"recipe (seed {seed}, from {path.name})"


def fixture_photos(limit: int | None = None) -> list[tuple[str, np.ndarray]]:
    """The cloth-parsing fixture photos from ../shared (empty when absent)."""
    from helpers.images import load_image

    folder = SHARED / "cloth_parsing"
    photos = sorted(folder.glob("*_photo.png"))[:limit] if folder.is_dir() else []
    return [(p.stem.split("_")[0], load_image(p)) for p in photos]


def network_batch_at(image: np.ndarray, side: int, arch: str) -> np.ndarray:
    """``image`` as the network's normalised batch at ``side`` (cloth or saliency style)."""
    import cv2

    from helpers.saliency import preprocess_saliency
    from helpers.segmentation.u2net_cloth import CLOTH_INPUT_SIZE, preprocess_cloth

    if arch == "u2net_cloth" and side == CLOTH_INPUT_SIZE:
        return preprocess_cloth(image)
    if arch != "u2net_cloth" and side == 320:
        return preprocess_saliency(image)
    small = cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray((small.astype(np.float32) / 127.5 - 1).transpose(2, 0, 1)[None])


def measure_u2net(config: Config, workdir: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """Every U²-Net engine against plain PyTorch, interleaved; int8 speed and agreement."""
    import torch

    from helpers import u2net
    from helpers.images import sample_content

    content = make_content(config.pipeline_mp)
    photos = fixture_photos(config.agreement_photos)
    rows = []
    for task, arch, side in config.u2net:
        log(f"U²-Net {task} ({arch}, {side}x{side}): weights, export, int8, runners ...")
        torch.manual_seed(0)
        model = u2net.build_network(arch)
        state, weights_note = recipe_weights(arch)
        if state is not None:
            model.load_state_dict(state)
        pth = workdir / f"{arch}_{side}.pth"
        torch.save(model.state_dict(), pth)
        batch = network_batch(content, side)
        start = time.perf_counter()
        path = u2net.export_onnx(model, workdir / f"{arch}_{side}.onnx",
                                 size=(min(side, 320),) * 2)
        export_s = time.perf_counter() - start
        calibration = [network_batch_at(sample_content(name), min(side, CALIBRATION_SIDE),
                                        arch) for name in ("astronaut", "grace_hopper")]
        start = time.perf_counter()
        int8_path = u2net.quantize_onnx(path, workdir / f"{arch}_{side}_int8.onnx", calibration)
        quantize_s = time.perf_counter() - start
        start = time.perf_counter()
        auto_runner, selection = u2net.select_engine(arch, pth, side=side)
        selection_s = time.perf_counter() - start
        runners = {
            "torch_runner": u2net.TorchU2NetRunner(model, arch),
            "onnx_runner": u2net.OnnxU2NetRunner(path, arch),
            "openvino_runner": u2net.OpenVinoU2NetRunner(path, arch),
            "auto": auto_runner,
            "onnx_int8": u2net.OnnxU2NetRunner(int8_path, arch),
            "openvino_int8": u2net.OpenVinoU2NetRunner(int8_path, arch),
        }
        devices = {"torch_plain": "cpu", **{n: r.device_label for n, r in runners.items()}}
        log(f"  auto chose {selection['chosen']} "
            f"({', '.join(f'{e} {s:.2f} s' for e, s in selection['engines'].items())})")

        def plain(model=model, batch=batch) -> np.ndarray:
            with torch.no_grad():
                return model(torch.from_numpy(batch))[0].numpy()

        fns = {"torch_plain": plain,
               **{name: (lambda r=r, b=batch: r(b)) for name, r in runners.items()}}
        reference = plain()
        differences = {name: float(np.abs(fns[name]() - reference).max()) for name in runners}
        log(f"  timing {', '.join(fns)} x {config.u2net_repeats} ...")
        timed = compare(fns, config.u2net_repeats)
        float_names = ("torch_runner", "onnx_runner", "openvino_runner")
        best = min(float_names, key=lambda n: timed[n]["median_s"])
        plain_s = timed["torch_plain"]["median_s"]
        log(f"  int8 agreement on {len(photos)} fixture photos ...")
        agreement = int8_agreement(runners, photos, arch, side)
        rows.append({
            "task": task, "arch": arch, "input": [side, side], "weights": weights_note,
            "devices": devices, "onnx_export_s": export_s, "quantize_s": quantize_s,
            "auto_selection": {**selection, "first_load_s": selection_s},
            **timed, "max_abs_difference_vs_plain": differences, "fastest_runner": best,
            "speedup_vs_plain": {name: plain_s / timed[name]["median_s"] for name in runners},
            "int8_agreement": agreement, "load_average": load_average(),
        })
        del model, runners, fns, auto_runner
        gc.collect()
    return {"rows": rows, "threads": torch.get_num_threads(), "note": (
        "weights: the fixture README's recipe (or random) weights of the identical "
        "architecture: timing does not depend on them, and for int8 agreement they are "
        "only a proxy for the trained weights (not available here); torch_plain: model(x) "
        "under torch.no_grad, NCHW, as upstream runs it; torch_runner: BatchNorm folded, "
        "channels_last, inference_mode; onnx_runner: onnxruntime ORT_ENABLE_ALL on the "
        "graph from helpers.u2net.export_onnx; openvino_runner: OpenVINO CPU, f32, static "
        "shape; auto: helpers.u2net.load_runner's default engine, chosen by timing each "
        "engine once from the .pth (first_load_s includes the conversion and that "
        "measurement); *_int8: helpers.u2net.quantize_onnx (onnxruntime static QDQ, "
        "per-channel int8 weights, uint8 activations calibrated on the two package sample "
        f"photos at {CALIBRATION_SIDE} px), run by onnxruntime and by OpenVINO")}


def int8_agreement(runners: dict[str, Any], photos: list[tuple[str, np.ndarray]], arch: str,
                   side: int) -> dict[str, Any]:
    """int8 against float32 (the onnxruntime float32 runner) on the fixture photos.

    Cloth: the share of pixels whose argmax class agrees, per photo and pooled, and the
    class shares of the float32 argmax (an agreement means little if one class fills
    the picture). Saliency: the max and mean absolute difference of the sigmoid map.
    """
    if not photos:
        return {"photos": 0, "note": "../shared/fixtures/cloth_parsing is absent: not measured"}
    result: dict[str, Any] = {"photos": len(photos)}
    for name in ("onnx_int8", "openvino_int8"):
        per_photo, agree, total, max_diff, mean_diff = {}, 0, 0, 0.0, []
        class_counts = np.zeros(4, np.int64)
        for photo_id, photo in photos:
            batch = network_batch_at(photo, side, arch)
            reference, quantised = runners["onnx_runner"](batch)[0], runners[name](batch)[0]
            if arch == "u2net_cloth":
                ref_labels, q_labels = reference.argmax(0), quantised.argmax(0)
                same = int((ref_labels == q_labels).sum())
                per_photo[photo_id] = same / ref_labels.size
                agree, total = agree + same, total + ref_labels.size
                class_counts += np.bincount(ref_labels.ravel(), minlength=4)[:4]
            else:
                diff = np.abs(reference - quantised)
                max_diff = max(max_diff, float(diff.max()))
                mean_diff.append(float(diff.mean()))
        if arch == "u2net_cloth":
            result[name] = {"argmax_agreement": agree / total,
                            "worst_photo": min(per_photo.items(), key=lambda kv: kv[1]),
                            "per_photo": per_photo,
                            "float32_class_shares": (class_counts / class_counts.sum()).tolist()}
        else:
            result[name] = {"saliency_max_abs_difference": max_diff,
                            "saliency_mean_abs_difference": float(np.mean(mean_diff))}
    return result


# --------------------------------------------------------------------------- interactive
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
    from helpers.images import save_image

    content = make_content(config.end_to_end_mp)
    folder = workdir / "end_to_end"
    folder.mkdir(parents=True, exist_ok=True)
    save_image(content, folder / "content.jpg")
    np.save(folder / "style.npy", style)
    del content
    log(f"{config.end_to_end_mp:g} MP end to end (fresh process) ...")
    child = run_child({"task": "end_to_end", "dir": str(folder), "max_side": config.max_side})
    return {"megapixels": config.end_to_end_mp, **child,
            "note": "fresh interpreter: imports, load_image of the JPEG, Pipeline.run; "
                    "peak_rss_mb is the process's ru_maxrss"}


# --------------------------------------------------------------------------- sharpness
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
    content = make_content(config.end_to_end_mp)
    folder = workdir / "end_to_end_detail"
    folder.mkdir(parents=True, exist_ok=True)
    save_image(content, folder / "content.jpg")
    np.save(folder / "style.npy", style)
    del content
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


# --------------------------------------------------------------------------- targets
def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each stated target with the measured value and whether it is met."""
    targets = []

    def add(key: str, description: str, measured: float, limit: float, unit: str,
            higher_is_better: bool = False, detail: str = "") -> None:
        met = measured >= limit if higher_is_better else measured <= limit
        targets.append({"id": key, "description": description,
                        "target": f"{'>=' if higher_is_better else '<='} {limit:g} {unit}",
                        "measured": round(measured, 4), "unit": unit, "met": bool(met),
                        "detail": detail})

    reblend = results["reblend"]
    add("reblend_ms", f"re-blend after a softness change at {reblend['megapixels']:g} MP "
        "(median)", reblend["softness_slider"]["median_s"] * 1e3, 30, "ms",
        detail=f"p90 {reblend['softness_slider']['p90_s'] * 1e3:.1f} ms")
    comp = reblend["composite_only"]["pipeline_saliency"]
    add("composite_ms", f"compositing alone at {reblend['megapixels']:g} MP (pipeline alpha, "
        "median)", comp["median_s"] * 1e3, 3, "ms", detail="worst case (soft everywhere): "
        f"{reblend['composite_only']['soft_everywhere']['median_s'] * 1e3:.1f} ms")
    rows = results["blend_vs_loop"]["rows"]
    worst = min(rows, key=lambda r: r["speedup"])
    add("blend_speedup", "blend vs the original notebook's loops (lowest over sizes)",
        worst["speedup"], 25, "x", higher_is_better=True,
        detail=f"at {worst['shape'][0]}x{worst['shape'][1]}")
    style_rows = results["stylization_overhead"]["rows"]
    worst = max(style_rows, key=lambda r: r["overhead_fraction"])
    add("stylization_overhead", "our overhead over bare onnxruntime (fastest runs, highest "
        "over sizes)",
        worst["overhead_fraction"] * 100, 10, "%", detail=f"at {worst['megapixels']:g} MP")
    worst = max(style_rows, key=lambda r: r["float32_vs_int8_fraction"])
    add("float32_vs_int8", "float32 stylization graph vs the shipped int8 one (fastest runs, "
        "highest over sizes)", worst["float32_vs_int8_fraction"] * 100, 20, "%",
        detail=f"at {worst['megapixels']:g} MP; medians "
               f"{worst['float32_vs_int8_fraction_median'] * 100:+.1f} %")
    for row in results["u2net"]["rows"]:
        size = f"{row['input'][0]}x{row['input'][1]}"
        speedups = row["speedup_vs_plain"]
        if row["task"] == "cloth_parsing":
            fastest = row[row["fastest_runner"]]["median_s"]
            add("cloth_parsing_s", f"cloth parsing {size}, fastest float32 runner "
                f"({row['fastest_runner']})", fastest, 3, "s",
                detail=f"plain torch {row['torch_plain']['median_s']:.2f} s")
            add("cloth_default_speedup", f"cloth parsing {size}: load_runner's default "
                f"engine ({row['auto_selection']['chosen']}) vs plain PyTorch",
                speedups["auto"], 3.0, "x", higher_is_better=True,
                detail=f"{row['auto']['median_s']:.2f} s vs "
                       f"{row['torch_plain']['median_s']:.2f} s")
            int8 = max(("onnx_int8", "openvino_int8"), key=speedups.__getitem__)
            add("cloth_int8_speedup", f"cloth parsing {size}: opt-in int8 ({int8}) vs plain "
                "PyTorch", speedups[int8], 6.0, "x", higher_is_better=True,
                detail=f"{row[int8]['median_s']:.2f} s")
            agreement = row["int8_agreement"].get(int8)
            if agreement and "argmax_agreement" in agreement:
                add("cloth_int8_agreement", f"cloth argmax agreement of {int8} with float32 "
                    f"on {row['int8_agreement']['photos']} fixture photos (proxy weights)",
                    agreement["argmax_agreement"] * 100, 99, "%", higher_is_better=True,
                    detail=f"worst photo {agreement['worst_photo'][0]}: "
                           f"{agreement['worst_photo'][1] * 100:.2f} %")
        else:
            before = min(row["torch_runner"]["median_s"], row["onnx_runner"]["median_s"])
            add("saliency_default_vs_best", f"saliency {size}: the default engine "
                f"({row['auto_selection']['chosen']}) vs the best earlier runner (time ratio)",
                row["auto"]["median_s"] / before, 1.0, "x",
                detail=f"{row['auto']['median_s'] * 1e3:.0f} ms vs {before * 1e3:.0f} ms")
    sharp = results["sharpness"]["end_to_end"]
    add("detail_end_to_end_time_ratio", f"{sharp['megapixels']:g} MP end to end with guided "
        "detail vs the plain upscale (time ratio, fresh processes)", sharp["time_ratio"], 2.0,
        "x", detail=f"{sharp['guided']['in_process_s']:.2f} s vs "
                    f"{sharp['none']['in_process_s']:.2f} s")
    add("detail_end_to_end_peak_gb", f"{sharp['megapixels']:g} MP end to end with guided "
        "detail, peak RSS", sharp["guided"]["peak_rss_mb"] / 1024, 3, "GB",
        detail=f"plain upscale {sharp['none']['peak_rss_mb'] / 1024:.2f} GB")
    e2e = results["end_to_end"]
    add("end_to_end_peak_gb", f"{e2e['megapixels']:g} MP end to end, peak RSS",
        e2e["peak_rss_mb"] / 1024, 3, "GB")
    pipe = results["pipeline_1mp"]
    add("pipeline_s", f"full offline pipeline at {pipe['megapixels']:g} MP, models loaded "
        "(median)", pipe["warm"]["median_s"], 5, "s",
        detail=f"cold start {pipe['cold']['process_wall_s']:.1f} s")
    return targets


# --------------------------------------------------------------------------- markdown
def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def markdown(results: dict[str, Any]) -> str:
    """The results as commit-ready markdown tables."""
    m, v = results["machine"], results["versions"]
    lines = [
        f"# Benchmarks ({results['mode']} run, {results['created']})", "",
        f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['ram_gb']} GB RAM; load average "
        f"{m['load_average_start']} at the start, {m.get('load_average_end')} at the end "
        "(the machine is shared: medians of interleaved repeats, ratios measured side by "
        "side).", "",
        *[f"Measured again on {r['created']}: {', '.join(r['sections'])} (load average "
          f"{r['load_average_start']} at the start, {r['load_average_end']} at the end)."
          for r in results.get("reruns", [])],
        *([""] if results.get("reruns") else []),
        "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()), "",
        "## Stages (median wall time; peak RSS of a fresh process running the stage, "
        "and its increase over the process before the stage)", "",
    ]
    sizes = results["sizes"]
    header = "| stage | " + " | ".join(
        f"{r['megapixels']:g} MP ({r['shape'][0]}x{r['shape'][1]})" for r in sizes) + " |"
    lines += [header, "|" + "---|" * (len(sizes) + 1)]
    for stage in STAGES:
        cells = []
        for row in sizes:
            entry = row["stages"][stage]
            memory = entry.get("memory", {})
            cells.append(f"{_ms(entry['median_s'])} / {memory.get('peak_rss_mb', '?')} MB "
                         f"(+{memory.get('increase_mb', '?')})")
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    lines += ["", "Stages: " + "; ".join(f"**{k}**: {n}" for k, n in STAGE_NOTES.items()), ""]

    lines += ["## Comparisons (same run, same inputs)", "",
              "| comparison | size | ours | baseline | ratio |", "|---|---|---|---|---|"]
    for row in results["blend_vs_loop"]["rows"]:
        size = f"{row['shape'][0]}x{row['shape'][1]}"
        lines.append(f"| blend vs the original notebook's loops (pixel-access objects) | "
                     f"{size} | {_ms(row['ours']['median_s'])} | "
                     f"{_ms(row['original_loops']['median_s'])} | "
                     f"{row['speedup']:.0f}x faster |")
        if "getpixel_loops" in row:
            lines.append(f"| blend vs getpixel/putpixel loops (the older, overstated "
                         f"yardstick) | {size} | {_ms(row['ours']['median_s'])} | "
                         f"{_ms(row['getpixel_loops']['median_s'])} | "
                         f"{row['speedup_vs_getpixel']:.0f}x faster |")
    for row in results["stylization_overhead"]["rows"]:
        lines.append(f"| stylization: helpers vs bare onnxruntime (fastest; median) | "
                     f"{row['megapixels']:g} MP | {_ms(row['helpers']['min_s'])}; "
                     f"{_ms(row['helpers']['median_s'])} | "
                     f"{_ms(row['bare_onnxruntime']['min_s'])}; "
                     f"{_ms(row['bare_onnxruntime']['median_s'])} | "
                     f"{row['overhead_fraction'] * 100:+.1f} %; "
                     f"{row['overhead_fraction_median'] * 100:+.1f} % |")
    for row in results["stylization_overhead"]["rows"]:
        lines.append(f"| stylization: float32 graph vs shipped int8 (fastest; median) | "
                     f"{row['megapixels']:g} MP | {_ms(row['helpers']['min_s'])}; "
                     f"{_ms(row['helpers']['median_s'])} | "
                     f"{_ms(row['helpers_int8']['min_s'])}; "
                     f"{_ms(row['helpers_int8']['median_s'])} | "
                     f"{row['float32_vs_int8_fraction'] * 100:+.1f} %; "
                     f"{row['float32_vs_int8_fraction_median'] * 100:+.1f} % |")
    for row in results["u2net"]["rows"]:
        size = f"{row['input'][0]}x{row['input'][1]}"
        for runner in ("torch_runner", "onnx_runner", "openvino_runner", "auto", "onnx_int8",
                       "openvino_int8"):
            label = (f"auto = {row['auto_selection']['chosen']}" if runner == "auto"
                     else runner)
            cpu_ratio = (row["torch_plain"]["cpu_median_s"] / row[runner]["cpu_median_s"]
                         if row[runner].get("cpu_median_s") else float("nan"))
            lines.append(f"| U²-Net {row['task']} ({row['arch']}): {label} vs plain torch | "
                         f"{size} | {_ms(row[runner]['median_s'])} | "
                         f"{_ms(row['torch_plain']['median_s'])} | "
                         f"{row['speedup_vs_plain'][runner]:.2f}x faster (CPU time "
                         f"{cpu_ratio:.2f}x) |")
    reblend = results["reblend"]
    size = f"{reblend['megapixels']:g} MP"
    lines.append(f"| re-blend, softness slider (p90 {_ms(reblend['softness_slider']['p90_s'])})"
                 f" | {size} | {_ms(reblend['softness_slider']['median_s'])} | | |")
    lines.append(f"| re-blend, method slider | {size} | "
                 f"{_ms(reblend['method_slider']['median_s'])} | | |")
    for name, entry in reblend["composite_only"].items():
        lines.append(f"| composite only, {name} alpha | {size} | {_ms(entry['median_s'])} | | |")
    pipe = results["pipeline_1mp"]
    lines.append(f"| full offline pipeline, models loaded | {pipe['megapixels']:g} MP | "
                 f"{_ms(pipe['warm']['median_s'])} | | |")
    lines.append(f"| cold start (fresh process: imports {_ms(pipe['cold']['import_s'])}, first "
                 f"run {_ms(pipe['cold']['first_run_s'])}) | {pipe['megapixels']:g} MP | "
                 f"{_ms(pipe['cold']['process_wall_s'])} | | |")
    e2e = results["end_to_end"]
    lines.append(f"| end to end from a JPEG, fresh process: peak RSS "
                 f"{e2e['peak_rss_mb']:.0f} MB | {e2e['megapixels']:g} MP | "
                 f"{_ms(e2e['in_process_s'])} | | |")
    lines += ["", "Notes: " + " ".join(results[k]["note"] + "." for k in (
        "blend_vs_loop", "stylization_overhead", "u2net", "reblend")), ""]

    sharp = results["sharpness"]
    lines += ["## Stylization above the working size: plain upscale vs guided detail", "",
              "| size | fine detail in the garment, relative to the photo's (plain -> guided) "
              "| stylization time (plain -> guided) | peak RSS (plain -> guided) | "
              "low-frequency change |", "|---|---|---|---|---|"]
    for row in sharp["rows"]:
        energy, memory = row["hf_energy_vs_photo"], row["memory"]
        lines.append(f"| {row['megapixels']:g} MP ({row['shape'][0]}x{row['shape'][1]}) | "
                     f"{energy['none']:.2f} -> {energy['guided']:.2f} | "
                     f"{_ms(row['none']['median_s'])} -> {_ms(row['guided']['median_s'])} | "
                     f"{memory['none']['peak_rss_mb']:.0f} -> "
                     f"{memory['guided']['peak_rss_mb']:.0f} MB | "
                     f"{row['low_frequency_mean_abs_difference']:.2f} grey levels |")
    e2e_detail = sharp["end_to_end"]
    lines.append(f"| end to end {e2e_detail['megapixels']:g} MP from a JPEG (fresh processes) | "
                 f"| {_ms(e2e_detail['none']['in_process_s'])} -> "
                 f"{_ms(e2e_detail['guided']['in_process_s'])} "
                 f"({e2e_detail['time_ratio']:.2f}x) | "
                 f"{e2e_detail['none']['peak_rss_mb']:.0f} -> "
                 f"{e2e_detail['guided']['peak_rss_mb']:.0f} MB | |")
    lines += ["", "Notes: " + sharp["note"] + ".", ""]

    lines += ["## U²-Net int8 against float32 (opt-in; proxy weights)", "",
              "| network | engine | photos | agreement with float32 | weights |",
              "|---|---|---|---|---|"]
    for row in results["u2net"]["rows"]:
        agreement = row["int8_agreement"]
        for name in ("onnx_int8", "openvino_int8"):
            entry = agreement.get(name)
            if not entry:
                lines.append(f"| {row['task']} ({row['arch']}) | {name} | 0 | "
                             f"{agreement.get('note', '')} | "
                             f"{row['weights']} |")
            elif "argmax_agreement" in entry:
                shares = ", ".join(f"{s * 100:.0f}" for s in entry["float32_class_shares"])
                lines.append(f"| {row['task']} ({row['arch']}) | {name} | {agreement['photos']} | argmax "
                             f"{entry['argmax_agreement'] * 100:.2f} % of pixels (worst photo "
                             f"{entry['worst_photo'][1] * 100:.2f} %; float32 class shares "
                             f"{shares} %) | {row['weights']} |")
            else:
                lines.append(f"| {row['task']} ({row['arch']}) | {name} | {agreement['photos']} | saliency max "
                             f"abs difference {entry['saliency_max_abs_difference']:.4f} "
                             f"(mean {entry['saliency_mean_abs_difference']:.4f}) | "
                             f"{row['weights']} |")
    lines += [""]

    lines += ["## Targets", "", "| target | measured | met |", "|---|---|---|"]
    for t in results["targets"]:
        detail = f" ({t['detail']})" if t["detail"] else ""
        lines.append(f"| {t['description']} {t['target']} | {t['measured']:g} {t['unit']}"
                     f"{detail} | {'yes' if t['met'] else '**no**'} |")
    return "\n".join(lines) + "\n"


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
