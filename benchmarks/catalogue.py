"""Scaling of the catalogue job: photos per second on 1 and 2 Dask workers, against the loop.

Usage::

    python -m benchmarks.catalogue                # 24 photos of about 1 MP, --max-side 1024
    python -m benchmarks.catalogue --quick        # 4 small photos: proves it runs

The photos are made here (the two content samples upscaled to about 1 MP, mirrored and
shifted in brightness, saved as JPEG) in a temporary folder. On the same photos and
parameters it times:

* ``sequential``: the plain loop in this process (``helpers.run.process_photos``, one
  pipeline), no cluster, no manifest;
* ``dask 1 worker`` and ``dask 2 workers``: :func:`helpers.catalogue.run_job` on a fresh
  local cluster each (its start-up, the workers' model loading, hashing, the manifest
  and the writes included).

For each: the wall time, photos per second, and the peak resident memory of each worker
process (sampled every 0.1 s; for the loop, this process). The engine's overhead per
photo is measured twice: the round trip of an empty task through the 2-worker cluster,
and the 1-worker job's wall time less the cluster's start-up and less the time its
worker spent in the photos, divided by the photos. "CPU cores busy" is the CPU time of
the loop's process, or of the workers, over the wall time: how much of the machine
each run kept busy. It also checks that all three give
byte-identical outputs. Writes ``benchmarks/results/catalogue.json`` and ``.md``
(``--quick``: ``catalogue_quick.*``, ignored by git).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RESULTS = PROJECT_ROOT / "benchmarks" / "results"


def make_photos(folder: Path, count: int, megapixels: float) -> list[Path]:
    """``count`` JPEG photos of about ``megapixels`` MP from the two content samples."""
    import cv2
    import numpy as np
    from PIL import Image

    from helpers.images import sample_content

    sources = [sample_content("astronaut"), sample_content("grace_hopper")]
    photos = []
    for index in range(count):
        image = sources[index % 2]
        scale = (megapixels * 1e6 / (image.shape[0] * image.shape[1])) ** 0.5
        size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
        image = cv2.resize(image, size, interpolation=cv2.INTER_CUBIC)
        if index // 2 % 2:
            image = image[:, ::-1]
        shift = (index // 4) * 6 - 15  # brightness steps: every photo its own bytes
        image = np.clip(image.astype(np.int16) + shift, 0, 255).astype(np.uint8)
        path = folder / f"photo{index:03d}.jpg"
        Image.fromarray(np.ascontiguousarray(image)).save(path, quality=95)
        photos.append(path)
    return photos


class PeakMemory:
    """Samples the resident memory of this process's children (or of itself) every 0.1 s."""

    def __init__(self, children: bool) -> None:
        import psutil

        self._psutil = psutil
        self.children = children
        self.peaks: dict[int, int] = {}
        self.cpu: dict[int, float] = {}  # last CPU seconds (user + system) seen per process
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = self._psutil.Process()
        while not self._stop.is_set():
            processes = me.children(recursive=True) if self.children else [me]
            for process in processes:
                try:
                    if self.children and "resource_tracker" in " ".join(process.cmdline()):
                        continue  # Python's shared helper, not a worker
                    rss = process.memory_info().rss
                    times = process.cpu_times()
                except self._psutil.Error:  # gone (or a zombie) meanwhile
                    continue
                self.cpu[process.pid] = times.user + times.system
                self.peaks[process.pid] = max(self.peaks.get(process.pid, 0), rss)
            self._stop.wait(0.1)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def cpu_seconds(self) -> float:
        return sum(self.cpu.values())

    def mib(self) -> list[float]:
        return sorted(round(value / 2**20) for value in self.peaks.values())


def digests(folder: Path) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.glob("*.png"))}


def empty_task_round_trip(workers: int, tasks: int = 500) -> tuple[float, float]:
    """(cluster start-up s, seconds per empty task) on a fresh local cluster."""
    from distributed import as_completed

    from helpers.catalogue import dask_client

    start = time.perf_counter()
    with dask_client(None, workers) as client:
        startup = time.perf_counter() - start
        client.gather(client.map(abs, range(workers * 2), pure=False))  # warm
        start = time.perf_counter()
        for future in as_completed(client.map(abs, range(tasks), pure=False)):
            future.result()
        per_task = (time.perf_counter() - start) / tasks
    return startup, per_task


def run_engine(photos: list[Path], output: Path, spec: Any, style_image: Any,
               workers: int) -> dict[str, Any]:
    from helpers import catalogue

    names = catalogue.output_names(photos, spec.style_name)
    with PeakMemory(children=True) as memory:
        start = time.perf_counter()
        job = catalogue.run_job(photos, names, spec.style_name, output / "photos",
                                output / catalogue.MANIFEST_NAME, spec=spec,
                                style_image=style_image, workers=workers, protect=photos,
                                progress=False)
        wall = time.perf_counter() - start
    assert not job.failed, job.failed
    rows = [json.loads(line) for line in
            (output / catalogue.MANIFEST_NAME).read_text().splitlines()]
    return {"wall_s": wall, "photos_per_s": len(photos) / wall,
            "cpu_busy_cores": memory.cpu_seconds() / wall,
            "task_seconds_sum": sum(row["seconds"] for row in rows),
            "peak_rss_mib_per_worker": memory.mib(), "engine": job.engine}


def run_sequential(photos: list[Path], output: Path, style: str, max_side: int) -> dict:
    from helpers.pipeline import Pipeline
    from helpers.run import process_photos

    with PeakMemory(children=False) as memory:
        cpu = os.times()
        start = time.perf_counter()
        pipeline = Pipeline(max_side=max_side, notify=None)
        processed, failed = process_photos(photos, style, output / "photos",
                                           pipeline=pipeline, progress=False)
        wall = time.perf_counter() - start
        cpu_end = os.times()
    assert not failed, failed
    return {"wall_s": wall, "photos_per_s": len(photos) / wall,
            "cpu_busy_cores": (cpu_end.user + cpu_end.system - cpu.user - cpu.system) / wall,
            "peak_rss_mib_per_worker": memory.mib()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.catalogue",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=24)
    parser.add_argument("--megapixels", type=float, default=1.0)
    parser.add_argument("--max-side", type=int, default=1024)
    parser.add_argument("--quick", action="store_true",
                        help="4 photos of 0.1 MP at --max-side 256")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.photos, args.megapixels, args.max_side = 4, 0.1, 256
    os.environ.setdefault("CLOTHSTYLE_OFFLINE", "1")  # never wait on a download probe

    import hashlib as _hashlib

    import distributed

    from helpers.catalogue import JobSpec
    from helpers.notebook_support import load_style
    from helpers.pipeline import Pipeline

    style = "tartan"
    style_image = load_style(style)
    backends = Pipeline(max_side=args.max_side, notify=None).backends
    spec = JobSpec(style_name=style, style_sha256=_hashlib.sha256(
        style_image.tobytes()).hexdigest(), garment="auto", method="saliency",
        max_side=args.max_side, backends=tuple(backends.items()), save_stages=False)
    results: dict[str, Any] = {
        "schema": 1, "mode": "quick" if args.quick else "full",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(),
                    "load_average_start": os.getloadavg()},
        "engine": f"dask.distributed {distributed.__version__}",
        "photos": args.photos, "megapixels": args.megapixels, "max_side": args.max_side,
        "backends": backends, "runs": {}}
    with tempfile.TemporaryDirectory(prefix="catalogue-bench-") as temp:
        temp = Path(temp)
        (temp / "in").mkdir()
        photos = make_photos(temp / "in", args.photos, args.megapixels)
        print(f"{len(photos)} photos of {args.megapixels} MP, --max-side {args.max_side}, "
              f"back-ends {backends}", flush=True)
        startup, per_task = empty_task_round_trip(2)
        results["cluster_startup_s_2_workers"] = startup
        results["empty_task_round_trip_ms"] = per_task * 1e3
        outputs = {}
        for name, run in (
                ("sequential", lambda out: run_sequential(photos, out, style, args.max_side)),
                ("dask 1 worker", lambda out: run_engine(photos, out, spec, style_image, 1)),
                ("dask 2 workers", lambda out: run_engine(photos, out, spec, style_image, 2))):
            out = temp / name.replace(" ", "_")
            print(f"{name} ...", end=" ", flush=True)
            results["runs"][name] = run(out)
            outputs[name] = digests(out / "photos")
            print(f"{results['runs'][name]['photos_per_s']:.3f} photos/s", flush=True)
    one = results["runs"]["dask 1 worker"]
    startup_1, _ = empty_task_round_trip(1, tasks=10)
    results["cluster_startup_s_1_worker"] = startup_1
    results["job_overhead_per_photo_s"] = (
        one["wall_s"] - startup_1 - one["task_seconds_sum"]) / args.photos
    base = results["runs"]["sequential"]["photos_per_s"]
    for run in results["runs"].values():
        run["speed_up"] = run["photos_per_s"] / base
    results["outputs_identical"] = len({json.dumps(d, sort_keys=True)
                                        for d in outputs.values()}) == 1
    results["machine"]["load_average_end"] = os.getloadavg()

    lines = [f"# Catalogue job: {args.photos} photos of {args.megapixels} MP, --max-side "
             f"{args.max_side} ({results['date']}, {os.cpu_count()} cores, load "
             f"{results['machine']['load_average_start'][0]:.1f} at the start)", "",
             "| run | wall (s) | photos/s | speed-up vs loop | CPU cores busy | "
             "peak RSS per worker (MiB) |",
             "| --- | ---: | ---: | ---: | ---: | --- |"]
    for name, run in results["runs"].items():
        lines.append(f"| {name} | {run['wall_s']:.1f} | {run['photos_per_s']:.3f} | "
                     f"{run['speed_up']:.2f} | {run['cpu_busy_cores']:.2f} | "
                     f"{', '.join(str(v) for v in run['peak_rss_mib_per_worker'])} |")
    lines += ["", f"Engine: {results['engine']}; local cluster start-up "
              f"{results['cluster_startup_s_1_worker']:.1f} s (1 worker), "
              f"{results['cluster_startup_s_2_workers']:.1f} s (2 workers); empty task "
              f"round trip {results['empty_task_round_trip_ms']:.2f} ms; job overhead per "
              f"photo (1-worker wall - start-up - time in the photos) "
              f"{results['job_overhead_per_photo_s']:.3f} s; outputs byte-identical "
              f"across the three runs: {results['outputs_identical']}.", ""]
    markdown = "\n".join(lines)
    print(markdown)
    stem = "catalogue_quick" if args.quick else "catalogue"
    out = args.out or RESULTS / f"{stem}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    out.with_suffix(".md").write_text(markdown)
    return 0 if results["outputs_identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
