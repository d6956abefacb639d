"""The results judged against the stated targets, and written as markdown tables.

:func:`evaluate_targets` gives each target with the measured value and whether it is
met; :func:`markdown` gives the commit-ready tables (also spliced into the README by
:mod:`benchmarks.readme`). Neither measures anything.
"""

from __future__ import annotations

from typing import Any

from benchmarks.stages import STAGE_NOTES, STAGES


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
