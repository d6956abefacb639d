"""Garment parsing quality with the standard interactive-segmentation protocol.

Usage::

    python -m benchmarks.parsing                   # every fixture photo, 5 clicks
    python -m benchmarks.parsing --quick           # 2 photos, 1 click: proves it works
    python -m benchmarks.parsing --segmentation grabcut
    python -m benchmarks.parsing --no-head         # each photo cut below the chin
    python -m benchmarks.parsing --jpeg 60         # each photo saved as a JPEG first

It reads ``../shared/fixtures/cloth_parsing/`` (16 photos with the labels the reference
U²-Net cloth model gave them; another folder with ``--fixtures``) and, for each photo and
each garment class covering at least 1 % of its pixels, asks the pipeline's entry points
(:meth:`~helpers.pipeline.Pipeline.set_content`,
:meth:`~helpers.pipeline.Pipeline.region_mask`) for the garment:

* the IoU with 0 clicks;
* then each next click goes to the interior (the distance-transform maximum) of the
  largest connected error region: positive where garment was missed, negative on a false
  positive; clicks accumulate, up to ``--max-clicks`` (5);
* NoC@85: the clicks needed to reach IoU >= 0.85 (``max_clicks + 1`` when never);
* the worst effect of one click (the most negative IoU change), and how many clicks lower
  the IoU by more than ``HARMFUL_DROP`` (0.01, the issue's bound);
* the time of the first mask (the parse included) and of each click, at the photo's
  size (and how many clicks take more than 0.3 s), and again with the whole protocol on
  each photo rescaled to 1 MP, the size the targets are set for; there the parse is
  timed ``PARSE_REPEATS`` times and its median counts (a shared 2-core machine's timings
  vary by 15-30 % from run to run).

The photos are split in two halves (alternate ids in sorted order: ``dev`` and
``held_out``), reported apart and together, so that a method tuned on some photos shows
whether it generalises. ``--no-head`` cuts each photo (and its labels) below the chin, as
catalogue photos often are: the parser then has no face to anchor the body on.
``--jpeg Q`` encodes each photo as a JPEG of quality Q (as most photos reach users) and
decodes it before the parse. Writes ``benchmarks/results/parsing_<backend>.json`` and
``.md`` (``--no-head``, ``--jpeg 60``: ``parsing_<backend>_no_head_jpeg60.*`` and so on;
``--quick``: ``parsing_quick*``, ignored by git) and,
per photo, an overlay sheet under ``benchmarks/results/overlays/`` (ignored by git:
pictures of the fixtures are never committed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PROJECT_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = PROJECT_ROOT.parent / "shared" / "fixtures" / "cloth_parsing"
RESULTS = PROJECT_ROOT / "benchmarks" / "results"
#: A garment class is evaluated when it covers at least this share of the photo.
MIN_CLASS_FRACTION = 0.01
#: NoC threshold.
NOC_IOU = 0.85
#: ``--no-head`` cuts this share of the garments' height below their top (under the chin).
NO_HEAD_CUT = 0.05
#: Targets of the offline parser (issue "a garment parser that works without weights").
TARGETS = {"iou_0": 0.80, "iou_3": 0.90, "noc85": 1.5, "first_mask_1mp_s": 1.5,
           "click_1mp_s": 0.3}
#: A protocol click (always a correct one) may lower the IoU by at most this much.
HARMFUL_DROP = 0.01
#: At 1 MP the parse is timed this many times and the median counts in the first mask.
PARSE_REPEATS = 3


# --------------------------------------------------------------------------- protocol
def iou(prediction: np.ndarray, reference: np.ndarray) -> float:
    """Intersection over union of two boolean masks (1.0 when both are empty)."""
    union = np.logical_or(prediction, reference).sum()
    if union == 0:
        return 1.0
    return float(np.logical_and(prediction, reference).sum() / union)


def next_click(prediction: np.ndarray, reference: np.ndarray) -> tuple[float, float, bool] | None:
    """The protocol's next click: ``(x, y, positive)``, or None when nothing is wrong.

    The largest connected region among the misses (reference but not prediction) and the
    false positives (prediction but not reference), clicked at its interior: the maximum
    of its distance transform, the image border counting as outside.
    """
    best = None
    for error, positive in ((reference & ~prediction, True), (prediction & ~reference, False)):
        components, count = ndimage.label(error)
        if count == 0:
            continue
        sizes = np.bincount(components.ravel())[1:]
        largest = int(np.argmax(sizes)) + 1
        if best is None or sizes[largest - 1] > best[0]:
            best = (int(sizes[largest - 1]), components == largest, positive)
    if best is None:
        return None
    _, region, positive = best
    distance = ndimage.distance_transform_edt(np.pad(region, 1))[1:-1, 1:-1]
    row, col = np.unravel_index(int(np.argmax(distance)), distance.shape)
    return float(col), float(row), positive


def _region(pipeline: Any, class_name: str, positive: list, negative: list) -> np.ndarray:
    try:
        return pipeline.region_mask(class_name, positive=positive, negative=negative) >= 0.5
    except ValueError:  # the class is absent from the parse: nothing chosen yet
        return np.zeros(pipeline.content.shape[:2], bool)


def evaluate_photo(pipeline: Any, photo: np.ndarray, labels: np.ndarray,
                   max_clicks: int, *, parse_repeats: int = 1) -> list[dict[str, Any]]:
    """Every garment class of one photo through the protocol (see the module docstring).

    The parse is timed ``parse_repeats`` times (the back-end's ``set_image`` redoes it)
    and the median counts in each garment's first mask."""
    from helpers.segment import CLASS_NAMES, GARMENT_CLASSES

    rows = []
    pipeline.set_content(photo)
    start = time.perf_counter()
    segmenter = pipeline.segmenter  # the per-photo parse, timed with the first mask
    parse_times = [time.perf_counter() - start]
    for _ in range(parse_repeats - 1):
        start = time.perf_counter()
        segmenter.set_image(pipeline.content)
        parse_times.append(time.perf_counter() - start)
    parse_s = statistics.median(parse_times)
    for class_id in GARMENT_CLASSES:
        reference = labels == class_id
        if reference.mean() < MIN_CLASS_FRACTION:
            continue
        name = CLASS_NAMES[class_id]
        start = time.perf_counter()
        prediction = _region(pipeline, name, [], [])
        first_s = parse_s + time.perf_counter() - start
        ious, clicks, click_s = [iou(prediction, reference)], [], []
        for _ in range(max_clicks):
            click = next_click(prediction, reference)
            if click is None:
                ious.append(ious[-1])
                continue
            clicks.append(click)
            positive = [(x, y) for x, y, pos in clicks if pos]
            negative = [(x, y) for x, y, pos in clicks if not pos]
            start = time.perf_counter()
            prediction = _region(pipeline, name, positive, negative)
            click_s.append(time.perf_counter() - start)
            ious.append(iou(prediction, reference))
        reached = [k for k, value in enumerate(ious) if value >= NOC_IOU]
        rows.append({
            "class": name, "fraction": float(reference.mean()), "iou": ious,
            "noc85": reached[0] if reached else max_clicks + 1,
            "worst_click": min(np.diff(ious)) if len(ious) > 1 else 0.0,
            "clicks": clicks, "first_mask_s": first_s, "click_s": click_s,
        })
    return rows


def at_1mp(photo: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The photo (bicubic) and its labels (nearest neighbour) rescaled to 1 MP."""
    import cv2

    scale = (1e6 / (photo.shape[0] * photo.shape[1])) ** 0.5
    size = (round(photo.shape[1] * scale), round(photo.shape[0] * scale))
    return (cv2.resize(photo, size, interpolation=cv2.INTER_CUBIC),
            cv2.resize(labels, size, interpolation=cv2.INTER_NEAREST))


def time_at_1mp(pipeline: Any, photo: np.ndarray, labels: np.ndarray,
                max_clicks: int) -> dict[str, Any]:
    """The whole protocol on the photo rescaled to 1 MP (the targets' size): the first mask
    (the parse's median over ``PARSE_REPEATS`` runs) and every click of every garment,
    timed."""
    big, big_labels = at_1mp(photo, labels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = evaluate_photo(pipeline, big, big_labels, max_clicks,
                              parse_repeats=PARSE_REPEATS)
    return {"megapixels": big.shape[0] * big.shape[1] / 1e6,
            "iou": {r["class"]: r["iou"] for r in rows},
            "first_mask_s": [r["first_mask_s"] for r in rows],
            "click_s": [t for r in rows for t in r["click_s"]]}


# --------------------------------------------------------------------------- summaries
def summarise(rows: list[dict[str, Any]], max_clicks: int) -> dict[str, Any]:
    """Mean IoU at 0/1/3/5 clicks, NoC@85, the worst click and the timings of some rows."""
    if not rows:
        return {"pairs": 0}
    at = {k: float(np.mean([r["iou"][k] for r in rows])) for k in _reported_clicks(max_clicks)}
    worst = min(rows, key=lambda r: r["worst_click"])
    clicks = [s for r in rows for s in r["click_s"]]
    effects = [d for r in rows for d in np.diff(r["iou"])]
    return {
        "pairs": len(rows),
        "mean_iou": {str(k): v for k, v in at.items()},
        "noc85": float(np.mean([r["noc85"] for r in rows])),
        "worst_click": {"delta_iou": float(worst["worst_click"]), "photo": worst["photo"],
                        "class": worst["class"]},
        # the issue's bound: no click lowers the IoU by more than 0.01
        "harmful_clicks": int(sum(d < -HARMFUL_DROP for d in effects)),
        "clicks": len(effects),
        **_timing_figures([r["first_mask_s"] for r in rows], clicks),
    }


def _timing_figures(first: list[float], clicks: list[float]) -> dict[str, Any]:
    """Median and largest first mask and click (seconds), and the clicks over the target."""
    return {"first_mask_s": {"median": statistics.median(first), "max": max(first)},
            "click_s": ({"median": statistics.median(clicks), "max": max(clicks)}
                        if clicks else None),
            "slow_clicks": int(sum(t > TARGETS["click_1mp_s"] for t in clicks)),
            "timed_clicks": len(clicks)}


def _timing_summary(timings: list[dict[str, Any]]) -> dict[str, Any]:
    """The 1 MP runs: mean IoU at 0 clicks and at the last, and :func:`_timing_figures`."""
    ious = np.array([v for t in timings for v in t["iou"].values()])
    return {"runs": timings,
            "mean_iou": {str(k): float(ious[:, k].mean()) for k in (0, ious.shape[1] - 1)},
            **_timing_figures([s for t in timings for s in t["first_mask_s"]],
                              [s for t in timings for s in t["click_s"]])}


def _reported_clicks(max_clicks: int) -> list[int]:
    """The click counts the tables show: 0, 1, 3, 5 up to ``max_clicks``, and it."""
    return sorted({k for k in (0, 1, 3, 5) if k <= max_clicks} | {max_clicks})


def markdown(results: dict[str, Any]) -> str:
    """The results as commit-ready markdown tables."""
    max_clicks = results["config"]["max_clicks"]
    lines = [f"# Garment parsing: `{results['backend']}` ({results['created']})", "",
             f"Fixtures: {results['config']['fixtures']} ({results['photos']} photos"
             + ("; each cut below the chin, --no-head" if results["config"].get("no_head")
                else "")
             + (f"; each saved as a JPEG of quality {results['config']['jpeg']}, --jpeg"
                if results["config"].get("jpeg") else "") + "); "
             f"machine: {results['machine']}.", "",
             "| photos | pairs | " + " | ".join(
                 f"IoU@{k}" for k in _reported_clicks(max_clicks)) + " | NoC@85 | worst click | "
             f"clicks lowering IoU > {HARMFUL_DROP} | first mask (median / max) | "
             f"click (median / max) | clicks > {TARGETS['click_1mp_s']} s |",
             "|---|---|" + "---|" * len(_reported_clicks(max_clicks)) + "---|---|---|---|---|---|"]
    for part in ("dev", "held_out", "all"):
        s = results["summary"][part]
        if not s.get("pairs"):
            continue
        iou_at = s["mean_iou"]
        cells = [f"{iou_at[str(k)]:.3f}" for k in _reported_clicks(max_clicks)]
        click = s["click_s"]
        lines.append(
            f"| {part}" + (f" ({results['split'][part]})" if part != "all" else "")
            + f" | {s['pairs']} | " + " | ".join(cells)
            + f" | {s['noc85']:.2f} | {s['worst_click']['delta_iou']:+.4f} "
            f"({s['worst_click']['photo']} {s['worst_click']['class']}) | "
            f"{s['harmful_clicks']} of {s['clicks']} | "
            f"{s['first_mask_s']['median']:.2f} s / {s['first_mask_s']['max']:.2f} s | "
            + (f"{click['median'] * 1e3:.0f} ms / {click['max'] * 1e3:.0f} ms | "
               f"{s['slow_clicks']} of {s['timed_clicks']} |"
               if click else "– | – |"))
    lines += ["", f"NoC@85: the clicks needed to reach IoU {NOC_IOU:.2f}, counted as "
              f"{max_clicks + 1} where {max_clicks} click(s) never reach it."]
    one = results.get("at_1mp")
    if one:
        first, click = one["first_mask_s"], one["click_s"]
        last = max(one["mean_iou"], key=int)
        lines += ["", f"At 1 MP (each photo rescaled, the same protocol): IoU@0 "
                  f"{one['mean_iou']['0']:.3f}, IoU@{last} {one['mean_iou'][last]:.3f}; "
                  f"first mask {first['median']:.2f} s median, {first['max']:.2f} s at most "
                  f"(the parse's median of {PARSE_REPEATS} runs per photo)"
                  + (f"; a click {click['median'] * 1e3:.0f} ms median, "
                     f"{click['max'] * 1e3:.0f} ms at most, {one['slow_clicks']} of "
                     f"{one['timed_clicks']} over {TARGETS['click_1mp_s']} s" if click else "")
                  + "."]
    steps = _reported_clicks(max_clicks)
    lines += ["", "Per photo and garment: IoU at " + ", ".join(map(str, steps))
              + " clicks, NoC@85", "",
              "| photo | half | class | share | " + " | ".join(f"IoU@{k}" for k in steps)
              + " | NoC@85 |", "|---|---|---|---|" + "---|" * len(steps) + "---|"]
    for row in results["rows"]:
        ious = row["iou"]
        lines.append(f"| {row['photo']} | {row['half']} | {row['class']} | "
                     f"{row['fraction'] * 100:.0f} % | "
                     + " | ".join(f"{ious[k]:.3f}" for k in steps) + f" | {row['noc85']} |")
    return "\n".join(lines) + "\n"


def overlay_sheet(photo: np.ndarray, labels: np.ndarray, pipeline: Any,
                  rows: list[dict[str, Any]]) -> np.ndarray:
    """photo | reference classes | parse at 0 clicks | each garment after the clicks."""
    import cv2

    from helpers.segment import colorize_labels

    panels = [photo, colorize_labels(labels),
              colorize_labels(pipeline.parsing().labels) if pipeline.has_classes
              else photo]
    for row in rows:
        clicks = row["clicks"][:3]
        mask = _region(pipeline, row["class"], [(x, y) for x, y, p in clicks if p],
                       [(x, y) for x, y, p in clicks if not p])
        tinted = photo.copy()
        tinted[mask] = (0.5 * tinted[mask] + [0, 110, 0]).astype(np.uint8)
        for x, y, positive in clicks:
            cv2.circle(tinted, (round(x), round(y)), 9, (0, 255, 0) if positive else
                       (255, 0, 0), -1)
        cv2.putText(tinted, f"{row['class']}, {len(clicks)} clicks", (8, 24),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 0), 2)
        panels.append(tinted)
    height = 384
    resized = [cv2.resize(p, (round(p.shape[1] * height / p.shape[0]), height),
                          interpolation=cv2.INTER_AREA) for p in panels]
    return np.concatenate(resized, axis=1)


# --------------------------------------------------------------------------- main
def load_fixture(folder: Path, photo_id: str) -> tuple[np.ndarray, np.ndarray]:
    """``(H, W, 3) uint8`` photo and ``(H, W) uint8`` reference labels of one fixture."""
    from PIL import Image

    from helpers.images import load_image

    with Image.open(folder / f"{photo_id}_labels.png") as labels:
        reference = np.asarray(labels, dtype=np.uint8)
    return load_image(folder / f"{photo_id}_photo.png"), reference


def without_head(photo: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The photo and its labels cut below the chin, as catalogue photos often are.

    Parameters
    ----------
    photo : (H, W, 3) uint8
    labels : (H, W) uint8
        Reference labels (0 background, 1-3 garments).

    Returns
    -------
    photo, labels
        Without the rows above the garments' top plus ``NO_HEAD_CUT`` of their height
        (rows from the top of the garments to the bottom of the lowest one); unchanged when
        the labels hold no garment.
    """
    rows = np.flatnonzero(labels.any(axis=1))
    if rows.size == 0:
        return photo, labels
    cut = int(rows[0] + round(NO_HEAD_CUT * (rows[-1] - rows[0] + 1)))
    return np.ascontiguousarray(photo[cut:]), np.ascontiguousarray(labels[cut:])


def as_jpeg(photo: np.ndarray, quality: int) -> np.ndarray:
    """``(H, W, 3) uint8`` photo after a round trip through a JPEG of ``quality`` (1-100,
    Pillow's encoder with its default 4:2:0 chroma subsampling)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, format="JPEG", quality=int(quality))
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"))


def variant_suffix(no_head: bool, jpeg: int | None) -> str:
    """``"_no_head"``, ``"_jpeg60"``, both or neither: what names a variant's results."""
    return ("_no_head" if no_head else "") + (f"_jpeg{jpeg}" if jpeg else "")


def run(backend: str, fixtures: Path, max_clicks: int, limit: int | None,
        overlays: Path | None, time_1mp: bool, *, no_head: bool = False,
        jpeg: int | None = None) -> dict[str, Any]:
    from helpers.files import save_image
    from helpers.pipeline import Pipeline
    from helpers.weights import WeightsCorruptError, WeightsUnavailableError

    if not fixtures.is_dir():
        raise SystemExit(f"no fixtures at {fixtures}: the cloth-parsing fixtures live in "
                         "../shared/fixtures/cloth_parsing beside the checkout; pass "
                         "--fixtures DIR")
    ids = sorted(path.name.split("_")[0] for path in fixtures.glob("*_photo.png"))
    if not ids:
        raise SystemExit(f"no NNN_photo.png files in {fixtures}")
    halves = {photo_id: ("dev" if index % 2 == 0 else "held_out")
              for index, photo_id in enumerate(ids)}
    if limit:
        ids = ids[:limit]
    rows: list[dict[str, Any]] = []
    pipeline = Pipeline(segmentation=backend, saliency="person_matte", notify=None)
    try:
        pipeline.fetch_weights()
    except (WeightsCorruptError, WeightsUnavailableError) as exc:
        raise SystemExit(f"error: {exc}") from None
    for photo_id in ids:
        photo, labels = load_fixture(fixtures, photo_id)
        if no_head:
            photo, labels = without_head(photo, labels)
        if jpeg:
            photo = as_jpeg(photo, jpeg)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "no person found" is measured, not shown
            photo_rows = evaluate_photo(pipeline, photo, labels, max_clicks)
            for row in photo_rows:
                row.update(photo=photo_id, half=halves[photo_id])
            if overlays is not None:
                save_image(overlay_sheet(photo, labels, pipeline, photo_rows),
                           overlays / f"{backend}{variant_suffix(no_head, jpeg)}_"
                                      f"{photo_id}.png")
        rows.extend(photo_rows)
        print(f"{photo_id} ({halves[photo_id]}): " + ", ".join(
            f"{r['class']} {r['iou'][0]:.2f}->{r['iou'][min(3, len(r['iou']) - 1)]:.2f}"
            for r in photo_rows), flush=True)
    timings = []
    for photo_id in ids if time_1mp else []:
        timings.append({"photo": photo_id, **time_at_1mp(
            pipeline, *load_fixture(fixtures, photo_id), max_clicks)})
    return {
        "schema": 1, "backend": backend,
        "created": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.processor() or platform.machine()}, "
                   f"{os.cpu_count()} cores",
        "config": {"fixtures": str(fixtures), "max_clicks": max_clicks,
                   "min_class_fraction": MIN_CLASS_FRACTION, "noc_iou": NOC_IOU,
                   "no_head": no_head, "jpeg": jpeg},
        "photos": len(ids), "targets": TARGETS,
        "split": {"dev": " ".join(i for i in ids if halves[i] == "dev"),
                  "held_out": " ".join(i for i in ids if halves[i] == "held_out"),
                  "all": "all"},
        "summary": {part: summarise([r for r in rows if part == "all" or r["half"] == part],
                                    max_clicks)
                    for part in ("dev", "held_out", "all")},
        "at_1mp": _timing_summary(timings) if timings else None,
        "rows": rows,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from helpers.pipeline import SEGMENTATION_BACKENDS

    parser = argparse.ArgumentParser(prog="python -m benchmarks.parsing",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--segmentation", default="classical_parsing",
                        choices=[b for b in SEGMENTATION_BACKENDS if b != "auto"],
                        help="segmentation back-end (default: the offline classical parser)")
    parser.add_argument("--fixtures", type=Path, default=FIXTURES,
                        help=f"folder of NNN_photo.png / NNN_labels.png (default {FIXTURES})")
    parser.add_argument("--max-clicks", type=int,
                        help="clicks per garment (default 5; 1 with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help="2 photos, 1 click, no 1 MP timing (what the tests run)")
    parser.add_argument("--out", type=Path, help="JSON path (default benchmarks/results/"
                        "parsing_<backend>.json; parsing_quick.json with --quick; "
                        "_no_head, _jpegQ before .json with --no-head, --jpeg Q)")
    parser.add_argument("--markdown", type=Path, help="markdown path (default beside --out)")
    parser.add_argument("--overlays", type=Path,
                        help="folder for the overlay sheets (default benchmarks/results/"
                        "overlays, ignored by git; none with --quick unless given)")
    parser.add_argument("--no-overlays", action="store_true", help="write no overlay sheets")
    parser.add_argument("--jpeg", type=int, metavar="Q",
                        help="save each photo as a JPEG of quality Q (1-100) before the parse; "
                        "no 1 MP timing")
    parser.add_argument("--no-head", action="store_true",
                        help="cut each photo below the chin (no face to anchor on), as "
                        "catalogue photos often are; no 1 MP timing")
    args = parser.parse_args(argv)
    if args.jpeg is not None and not 1 <= args.jpeg <= 100:
        parser.error(f"--jpeg must be a quality between 1 and 100, got {args.jpeg}")
    if args.max_clicks is None:
        args.max_clicks = 1 if args.quick else 5
    if not 1 <= args.max_clicks <= 20:
        parser.error(f"--max-clicks must be between 1 and 20, got {args.max_clicks}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    max_clicks = args.max_clicks
    variant = variant_suffix(args.no_head, args.jpeg)
    stem = f"parsing_quick{variant}" if args.quick else f"parsing_{args.segmentation}{variant}"
    out = args.out or RESULTS / f"{stem}.json"
    md_path = args.markdown or out.with_suffix(".md")
    overlays = None if args.no_overlays else (
        args.overlays or (None if args.quick else RESULTS / "overlays"))
    results = run(args.segmentation, args.fixtures, max_clicks, 2 if args.quick else None,
                  overlays, not (args.quick or args.no_head or args.jpeg),
                  no_head=args.no_head, jpeg=args.jpeg)
    from helpers.images import atomic_write_bytes, save_json

    save_json(results, out)
    text = markdown(results)
    atomic_write_bytes(md_path, text.encode("utf-8"))
    print(text)
    print(f"wrote {out} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

