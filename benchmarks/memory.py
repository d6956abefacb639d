"""Peak memory of one photo through the main command's path, by photo size.

Usage::

    python -m benchmarks.memory                     # 1, 4, 12 and 48 MP (about a minute, 8 GB free)
    python -m benchmarks.memory --sizes 1 4         # megapixels to measure

Each size runs in a fresh process: a JPEG of that size (the astronaut sample, resized,
with noise so that it does not compress to nothing) is loaded with
:func:`helpers.images.load_image` and restyled by
``Pipeline('classical_parsing', 'person_matte', 'magenta_onnx', max_side=1024).run``
(what ``python -m helpers.run --content`` does offline); the child reports its
``ru_maxrss``. A least-squares line ``peak = base + per_pixel * pixels`` through the
points is printed next to :func:`helpers.pipeline.estimate_peak_memory`, whose
constants come from this run. Writes ``benchmarks/results/memory.json`` and ``memory.md``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"

_CHILD = r"""
import resource, sys, warnings
warnings.simplefilter("ignore")
from helpers.images import load_image
from helpers.samples import sample_style
from helpers.pipeline import Pipeline
image = load_image(sys.argv[1])
pipe = Pipeline("classical_parsing", "person_matte", "magenta_onnx", max_side=1024,
                notify=None)
pipe.run(image, sample_style("tartan"))
print("PEAK_KIB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _photo(megapixels: float, folder: Path) -> tuple[Path, tuple[int, int]]:
    from PIL import Image

    from helpers.images import resize_image
    from helpers.samples import sample_content

    width = int(round((megapixels * 1e6 * 4 / 3) ** 0.5))
    height = int(round(width * 3 / 4))
    image = resize_image(sample_content("astronaut"), (height, width))
    noise = np.random.default_rng(0).integers(-8, 9, image.shape, dtype=np.int16)
    image = np.clip(image.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    path = folder / f"photo_{width}x{height}.jpg"
    Image.fromarray(image).save(path, quality=92)
    return path, (height, width)


def measure(megapixels: float, folder: Path) -> dict:
    """Peak RSS (bytes) of a fresh process loading and restyling one photo of this size."""
    path, (height, width) = _photo(megapixels, folder)
    completed = subprocess.run([sys.executable, "-c", _CHILD, str(path)], cwd=REPO_ROOT,
                               capture_output=True, text=True, check=True)
    line = next(line for line in completed.stdout.splitlines() if line.startswith("PEAK_KIB"))
    return {"height": height, "width": width, "pixels": height * width,
            "peak_bytes": int(line.split()[1]) * 1024}


def main(argv: list[str] | None = None) -> int:
    """Measure, fit, print and write the results (see the module docstring)."""
    from helpers.pipeline import estimate_peak_memory

    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory")
    parser.add_argument("--sizes", type=float, nargs="+", default=[1, 4, 12, 48],
                        metavar="MP", help="photo sizes in megapixels (default 1 4 12 48)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        rows = [measure(size, Path(folder)) for size in args.sizes]
    pixels = np.array([row["pixels"] for row in rows], float)
    peaks = np.array([row["peak_bytes"] for row in rows], float)
    per_pixel, base = np.polyfit(pixels, peaks, 1) if len(rows) > 1 else (peaks[0] / pixels[0], 0)
    lines = ["| photo | pixels | peak RSS | estimate_peak_memory |", "|---|---|---|---|"]
    for row in rows:
        estimate = estimate_peak_memory(row["height"], row["width"])
        row["estimate_bytes"] = estimate
        lines.append(f"| {row['width']}x{row['height']} | {row['pixels'] / 1e6:.1f} MP | "
                     f"{row['peak_bytes'] / 2**30:.2f} GiB | {estimate / 2**30:.2f} GiB |")
    lines.append("")
    lines.append(f"Least-squares fit: peak = {base / 2**20:.0f} MiB + {per_pixel:.0f} bytes "
                 "per pixel.")
    text = "\n".join(lines)
    print(text)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "memory.json").write_text(json.dumps(
        {"rows": rows, "fit": {"base_bytes": base, "bytes_per_pixel": per_pixel}}, indent=2)
        + "\n")
    (RESULTS_DIR / "memory.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
