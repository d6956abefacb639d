"""What every benchmark shares: the machine, the inputs, timing, memory, child processes.

The machine's CPU, RAM and load average and the library versions; the generated
inputs (the astronaut sample resized to a content size, the tartan style); interleaved
timing with medians and process CPU time; the peak resident set size of one call
(``ru_maxrss`` and a sampling thread); and one measurement run in a fresh interpreter
(``python -m benchmarks.run --child``).
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
CHILD_MARKER = "BENCHMARK_CHILD_RESULT "
MB = 1024 * 1024


# --------------------------------------------------------------------------- machine
def machine_info() -> dict[str, Any]:
    """CPU model, cores, RAM and the load average (other users of the machine)."""
    from helpers.u2net import cpu_model

    cpu = cpu_model()
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


def prepare_end_to_end(folder: Path, megapixels: float, style: np.ndarray) -> Path:
    """Write the inputs of an ``end_to_end`` child: a generated photo of ``megapixels`` as
    ``content.jpg`` (the child loads it as a user's file) and the style as ``style.npy``."""
    from helpers.files import save_image

    folder.mkdir(parents=True, exist_ok=True)
    save_image(make_content(megapixels), folder / "content.jpg")
    np.save(folder / "style.npy", style)
    return folder


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
