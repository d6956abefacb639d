"""The main command ``python -m helpers.run``: photos, failures, exit status, repeatability.

Photos run in-process through :func:`helpers.run.main` at ``--quick`` (256 px); the
notebook-failure test runs two tiny notebooks from a temporary ``--notebooks-dir``.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from PIL import Image

from helpers import PROJECT_ROOT, catalogue
from helpers import run as run_module
from helpers.images import fit_to_cap, sample_content
from helpers.run import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory):
    """Two small good photos (made from the samples) and one corrupt file."""
    folder = tmp_path_factory.mktemp("photos")
    astronaut, _ = fit_to_cap(sample_content("astronaut"), 96)
    hopper, _ = fit_to_cap(sample_content("grace_hopper"), 112)
    Image.fromarray(astronaut).save(folder / "astronaut.png")
    Image.fromarray(hopper).save(folder / "hopper.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a picture")
    (folder / "notes.txt").write_text("not an image: skipped")
    return folder


def digests(folder):
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.glob("*.png"))}


def run_photos(folder, output, capsys, cluster):
    status = main(["--no-notebooks", "--quick", "--content", str(folder), "--output",
                   str(output), "--style", "stripes", "--cluster", cluster])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_photos_are_processed_and_a_corrupt_file_is_reported(photo_folder, tmp_path, capsys,
                                                            dask_cluster):
    status, out, err = run_photos(photo_folder, tmp_path / "out", capsys, dask_cluster)
    assert status == EXIT_FAILED
    produced = sorted(path.name for path in (tmp_path / "out" / "photos").iterdir())
    assert produced == ["astronaut_stripes.png", "hopper_stripes.png"]
    # Each output keeps its photo's size.
    for name, source in (("astronaut_stripes.png", "astronaut.png"),
                         ("hopper_stripes.png", "hopper.png")):
        with Image.open(tmp_path / "out" / "photos" / name) as made, \
                Image.open(photo_folder / source) as given:
            assert made.size == given.size
    assert "broken.png" in err and "ImageLoadError" in err
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["ok"] is False
    assert [item["input"] for item in metrics["photos"]["failed"]] == [
        str(photo_folder / "broken.png")]
    assert len(metrics["photos"]["processed"]) == 2
    assert metrics["backends"]["stylization"] == "magenta_onnx"
    assert metrics["max_side"] == 256


def test_the_same_inputs_give_byte_identical_outputs(photo_folder, tmp_path, capsys,
                                                    dask_cluster):
    run_photos(photo_folder, tmp_path / "first", capsys, dask_cluster)
    run_photos(photo_folder, tmp_path / "second", capsys, dask_cluster)
    first, second = digests(tmp_path / "first" / "photos"), digests(tmp_path / "second" / "photos")
    assert len(first) == 2
    assert first == second


def test_one_good_photo_exits_zero(photo_folder, tmp_path, capsys):
    status = main(["--no-notebooks", "--quick", "--content", str(photo_folder / "hopper.png"),
                   "--output", str(tmp_path)])
    assert status == EXIT_OK
    assert (tmp_path / "photos" / "hopper_tartan.png").is_file()
    assert json.loads((tmp_path / "metrics.json").read_text())["ok"] is True


def test_missing_weights_are_reported_once_before_any_photo(photo_folder, tmp_path, capsys,
                                                             monkeypatch, unreachable_weights):
    started = []
    monkeypatch.setattr(catalogue, "run_job", lambda *a, **k: started.append(a))
    status = main(["--no-notebooks", "--quick", "--content", str(photo_folder),
                   "--output", str(tmp_path / "out"), "--segmentation", "u2net_cloth_onnx"])
    out, err = capsys.readouterr()
    assert status == EXIT_FAILED and started == []
    assert err.count("weights 'u2net_cloth_seg_onnx' (u2net_cloth_seg.onnx) are not "
                     "available") == 1
    # the message keeps its lines (indented under the first), not literal "\n"
    assert "\n    Sources:\n" in err and "\\n" not in err
    assert "(3 photo(s) not processed)" in err and "3 not finished" in out
    assert "(not started)" in out
    assert not (tmp_path / "out" / "photos").exists() or not any(
        (tmp_path / "out" / "photos").iterdir())


def test_unwritable_output_directory_is_a_clear_error_before_any_work(
        photo_folder, tmp_path, capsys, monkeypatch):
    def must_not_run(*args, **kwargs):
        raise AssertionError("work started despite the unusable output directory")

    monkeypatch.setattr(run_module, "run_photo_job", must_not_run)
    monkeypatch.setattr(run_module, "run_notebooks", must_not_run)
    blocker = tmp_path / "a_file"
    blocker.write_text("a regular file, not a folder")
    target = blocker / "results"
    status = main(["--quick", "--content", str(photo_folder), "--output", str(target)])
    err = capsys.readouterr().err
    assert status == EXIT_USAGE
    assert "cannot write to the output directory" in err and str(target) in err
    assert blocker.read_text() == "a regular file, not a folder"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a_file"]


@pytest.mark.parametrize("argv, message", [
    (["--no-notebooks"], "nothing to do"),
    (["--no-notebooks", "--content", "/no/such/photo.jpg"], "no such file or folder"),
    (["--no-notebooks", "--content", ".", "--style", "/no/such/style.png"],
     "neither a sample"),
    (["--quick", "--max-side", "512", "--no-notebooks", "--content", "."], "not both"),
    # 0 once fell through "or 1024" and ran silently at 1024
    (["--max-side", "0", "--no-notebooks", "--content", "."], "must be at least 64 pixels, got 0"),
    (["--max-side", "-5", "--no-notebooks", "--content", "."], "at least 64 pixels, got -5"),
    # "nan" once passed the "<= 0" check and reached papermill
    (["--cell-timeout", "nan"], "--cell-timeout must be a positive number of seconds, got nan"),
    (["--cell-timeout", "inf"], "--cell-timeout must be a positive number of seconds, got inf"),
    (["--cell-timeout", "0"], "--cell-timeout must be a positive number of seconds, got 0"),
    (["--notebooks-dir", "/no/such/folder"], "no notebooks (*.ipynb) in /no/such/folder"),
])
def test_usage_errors_exit_2_with_a_message(argv, message, tmp_path, capsys):
    status = main([*argv, "--output", str(tmp_path / "out")])
    assert status == EXIT_USAGE
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_empty_photo_folder_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "photos").mkdir()
    status = main(["--no-notebooks", "--content", str(tmp_path / "photos"), "--output",
                   str(tmp_path / "out")])
    assert status == EXIT_USAGE
    assert "no image files" in capsys.readouterr().err


def write_notebook(path, *sources):
    notebook = new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    parameters = new_code_cell('max_side = 1024\noutput_dir = "results"')
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [parameters, *(new_code_cell(source) for source in sources)]
    nbformat.write(notebook, path)


@pytest.mark.slow
def test_a_failing_notebook_is_reported_with_cell_and_message(tmp_path, capsys):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    write_notebook(notebooks / "a_fails.ipynb", "x = 1",
                   "# a comment first\nraise ValueError('the cell broke on purpose')")
    write_notebook(notebooks / "b_works.ipynb", "y = max_side + 1")
    status = main(["--quick", "--notebooks-dir", str(notebooks), "--output",
                   str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert status == EXIT_FAILED
    # Cell 3 of the executed notebook: papermill injects its parameters as cell 1.
    failure = next(line for line in captured.out.splitlines() if "a_fails" in line)
    assert "FAILED" in failure and "cell 3" in failure and "# a comment first" in failure
    assert "ValueError: the cell broke on purpose" in failure
    assert "b_works ... ok" in captured.out  # the next notebook still ran
    assert "a_fails" in captured.err  # and the summary names it
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert [run["ok"] for run in metrics["notebooks"]] == [False, True]
    assert (tmp_path / "out" / "notebooks" / "b_works.ipynb").is_file()


def test_help_describes_the_options():
    completed = subprocess.run([sys.executable, "-m", "helpers.run", "--help"],
                               capture_output=True, text=True, cwd=PROJECT_ROOT, check=True)
    for option in ("--content", "--style", "--garment", "--method", "--max-side", "--output",
                   "--no-notebooks", "--quick", "--notebooks-dir"):
        assert option in completed.stdout


def test_output_names_keep_photos_with_the_same_stem_apart():
    photos = [PROJECT_ROOT / name for name in ("me.jpg", "me.png", "you.png")]
    names = catalogue.output_names(photos, "tartan")
    assert list(names.values()) == ["me_jpg_tartan.png", "me_png_tartan.png",
                                    "you_tartan.png"]


def test_stderr_redirect_restores_the_descriptor(tmp_path, capfd):
    with run_module._stderr_to(tmp_path / "log"):
        subprocess.run([sys.executable, "-c", "import sys; sys.stderr.write('child says hi')"],
                       check=True)
    print("back", file=sys.stderr)
    assert (tmp_path / "log").read_text() == "child says hi"
    assert "back" in capfd.readouterr().err


def _fake_pytest(stdout, returncode, seen):
    def fake_run(command, **kwargs):
        seen.append((command, kwargs["env"]["CLOTHSTYLE_UI_SCREENSHOTS"]))
        return subprocess.CompletedProcess(command, returncode, stdout=stdout, stderr="")
    return fake_run


def test_ui_check_runs_the_browser_test_into_figures_ui(tmp_path, capsys, monkeypatch):
    seen = []
    monkeypatch.setattr(subprocess, "run", _fake_pytest("1 passed in 31.0s\n", 0, seen))
    status = main(["--ui-check", "--no-notebooks", "--output", str(tmp_path)])
    assert status == EXIT_OK
    command, shots = seen[0]
    assert command[-1].endswith("tests/test_browser.py")
    assert shots == str(tmp_path / "figures" / "ui") and (tmp_path / "figures" / "ui").is_dir()
    assert "1 passed" in capsys.readouterr().out
    recorded = json.loads((tmp_path / "metrics.json").read_text())
    assert recorded["ui_check"]["ok"] is True


def test_ui_check_without_a_browser_is_reported(tmp_path, capsys, monkeypatch):
    skipped = ("s\nSKIPPED [1] tests/test_browser.py:80: chromium not found at "
               "/usr/bin/chromium: apt-get install chromium\n1 skipped in 0.5s\n")
    monkeypatch.setattr(subprocess, "run", _fake_pytest(skipped, 0, []))
    status = main(["--ui-check", "--no-notebooks", "--output", str(tmp_path)])
    assert status == EXIT_FAILED
    assert "ui check: skipped: chromium not found" in capsys.readouterr().err


def test_save_stages_writes_each_stage_next_to_the_output(photo_folder, tmp_path, capsys):
    status = main(["--no-notebooks", "--quick", "--content", str(photo_folder / "astronaut.png"),
                   "--output", str(tmp_path / "out"), "--style", "stripes", "--save-stages"])
    out = capsys.readouterr().out
    assert status == EXIT_OK
    assert "backends: segmentation" in out and " on cpu" in out
    folder = tmp_path / "out" / "photos"
    stem = "astronaut_stripes"
    expected = {f"{stem}.png", f"{stem}_mask.png", f"{stem}_saliency.png", f"{stem}_alpha.png",
                f"{stem}_stylized.png", f"{stem}_overview.png", f"{stem}_labels.png"}
    assert {path.name for path in folder.iterdir()} == expected
    with Image.open(folder / f"{stem}.png") as output:
        size = output.size
    for stage in ("mask", "saliency", "alpha", "labels"):
        with Image.open(folder / f"{stem}_{stage}.png") as image:
            assert image.mode == "L" and image.size == size
    with Image.open(folder / f"{stem}_labels.png") as image:
        assert set(np.unique(np.asarray(image))) <= {0, 85, 170, 255}
    with Image.open(folder / f"{stem}_stylized.png") as image:
        assert image.mode == "RGB" and image.size == size
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert len(metrics["photos"]["processed"][0]["stages"]) == 6


def test_save_stages_needs_content(tmp_path, capsys):
    assert main(["--no-notebooks", "--save-stages", "--output", str(tmp_path)]) == EXIT_USAGE
    assert "--save-stages" in capsys.readouterr().err


def test_an_absent_garment_is_refused_naming_the_garments_present(photo_folder, tmp_path,
                                                                  capsys, monkeypatch):
    from helpers.pipeline import Pipeline

    # What the photo holds: find it first, then ask for a class it does not have.
    pipe = Pipeline(notify=None, max_side=256)
    image = np.asarray(Image.open(photo_folder / "astronaut.png").convert("RGB"))
    pipe.set_content(image)
    from helpers.segment import CLASS_NAMES, classes_present

    present = [CLASS_NAMES[i] for i in classes_present(pipe.parsing().labels) if i]
    absent = next(name for name in ("full_body", "lower_body", "upper_body")
                  if name not in present)
    status = main(["--no-notebooks", "--quick", "--content", str(photo_folder / "astronaut.png"),
                   "--output", str(tmp_path / "out"), "--garment", absent])
    err = capsys.readouterr().err
    assert status == EXIT_FAILED
    assert f"the photo has no {absent}; garments present: {', '.join(present)}" in err
    assert not (tmp_path / "out" / "photos").exists() or not any(
        (tmp_path / "out" / "photos").iterdir())


def test_an_installed_copy_without_notebooks_or_a_kernel_says_what_to_do(tmp_path, capsys,
                                                                        monkeypatch):
    monkeypatch.setattr(run_module, "NOTEBOOKS_DIR", tmp_path / "site-packages-has-none")
    assert main(["--quick", "--output", str(tmp_path / "out")]) == EXIT_USAGE
    assert ("an installed copy has none: give --notebooks-dir DIR (a checkout's notebooks/), "
            "or restyle photos with --no-notebooks --content PHOTOS") in capsys.readouterr().err
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    def no_kernel(self, name):
        raise NoSuchKernel(name)

    monkeypatch.setattr(KernelSpecManager, "get_kernel_spec", no_kernel)
    assert main(["--quick", "--notebooks-dir", str(PROJECT_ROOT / "notebooks"),
                 "--output", str(tmp_path / "out")]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "none named 'python3' is installed: pip install ipykernel" in err
    assert not (tmp_path / "out").exists()


def test_ui_check_outside_a_checkout_or_without_pytest_says_why(tmp_path, monkeypatch):
    import importlib.util

    import helpers

    monkeypatch.setattr(helpers, "PROJECT_ROOT", tmp_path)        # an installed copy
    ok, summary = run_module.run_ui_check(tmp_path / "out")
    assert not ok and "--ui-check runs from a checkout (an installed copy has no tests)" in summary
    monkeypatch.setattr(helpers, "PROJECT_ROOT", PROJECT_ROOT)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "pytest" else real(name, *a))
    ok, summary = run_module.run_ui_check(tmp_path / "out")
    assert not ok and "pip install -r requirements.txt" in summary
    assert not (tmp_path / "out").exists()


def test_a_missing_optional_back_end_is_one_error_before_any_work(photo_folder, tmp_path,
                                                                  capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_hub", None)      # not installed
    status = main(["--no-notebooks", "--quick", "--content", str(photo_folder),
                   "--stylization", "magenta_hub", "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == EXIT_USAGE and not (tmp_path / "out").exists()
    assert err.count("error: --stylization magenta_hub: the magenta_hub backend needs "
                     "TensorFlow and tensorflow_hub to load the model from TF Hub: pip "
                     "install") == 1
    # a named folder that holds no SavedModel: the same, before any work
    monkeypatch.setenv("CLOTHSTYLE_MAGENTA_HUB", str(tmp_path / "no-model"))
    status = main(["--no-notebooks", "--quick", "--content", str(photo_folder),
                   "--stylization", "magenta_hub", "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == EXIT_USAGE and not (tmp_path / "out").exists()
    assert err.count(f"error: --stylization magenta_hub: CLOTHSTYLE_MAGENTA_HUB="
                     f"{tmp_path / 'no-model'} is not a TF Hub SavedModel folder (no such "
                     "folder)") == 1


def _tiny_saved_model(folder, gain):
    """A SavedModel with Magenta's call signature: ``module(content, style)[0] ==
    content * gain + mean(style) * (1 - gain)``."""
    tf = pytest.importorskip("tensorflow")

    class Tiny(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32),
                                      tf.TensorSpec([1, None, None, 3], tf.float32)])
        def __call__(self, content, style):
            return [content * gain + tf.reduce_mean(style) * (1 - gain)]

    tf.saved_model.save(Tiny(), str(folder))
    return folder


def test_another_saved_model_redoes_the_photos_and_is_recorded(tmp_path, capsys,
                                                               monkeypatch):
    # the manifest's parameters name the TF Hub model: a photo done with one SavedModel is
    # not "already done" with another unpacked elsewhere (or in the same folder)
    photo = tmp_path / "astronaut.png"
    Image.fromarray(fit_to_cap(sample_content("astronaut"), 96)[0]).save(photo)
    out = tmp_path / "out"
    args = ["--no-notebooks", "--quick", "--content", str(photo), "--stylization",
            "magenta_hub", "--output", str(out)]
    first = _tiny_saved_model(tmp_path / "first", 0.5)
    monkeypatch.setenv("CLOTHSTYLE_MAGENTA_HUB", str(first))
    assert main(args) == EXIT_OK
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["backends"]["stylization_model"] == str(first)
    before = digests(out / "photos")
    assert main(args) == EXIT_OK
    assert "1 already done with these parameters" in capsys.readouterr().out
    monkeypatch.setenv("CLOTHSTYLE_MAGENTA_HUB", str(_tiny_saved_model(tmp_path / "second",
                                                                       0.0)))
    assert main(args) == EXIT_OK
    assert "already done with these parameters" not in capsys.readouterr().out
    assert digests(out / "photos") != before


def test_a_photo_without_a_person_says_what_the_command_did_and_where_to_click(tmp_path,
                                                                            capsys):
    from skimage import data

    photo = tmp_path / "coffee.png"
    Image.fromarray(data.coffee()).save(photo)
    status = main(["--no-notebooks", "--quick", "--content", str(photo),
                   "--output", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert status == EXIT_OK
    assert ("note: coffee.png: no person found: click on the garment (the automatic start "
            "is a central box); the command took that box as the garment: to choose the "
            "garment, click on it in notebooks/01_segment.ipynb or pass clicks to "
            "Pipeline.region_mask") in out
    # the notebook named there exists
    from helpers import PROJECT_ROOT

    assert (PROJECT_ROOT / "notebooks" / "01_segment.ipynb").is_file()


@pytest.mark.parametrize("raw_name, output", [
    (b"caf\xe9.png", "caf\udce9_stripes.png"),  # Latin-1 bytes: not valid UTF-8
    (b".hidden.png", "hidden_stripes.png"),  # named explicitly: processed, output visible
    (b"x" * 246 + b".png", None),  # near the limit: the output and its stages must fit
])
def test_file_names_the_file_system_accepts_work_in_photo_mode(photo_folder, tmp_path, capsys,
                                                              raw_name, output):
    import os

    photo = os.fsdecode(os.fsencode(tmp_path) + b"/" + raw_name)
    os.link(photo_folder / "astronaut.png", photo)
    status = main(["--no-notebooks", "--quick", "--content", photo, "--output",
                   str(tmp_path / "out"), "--style", "stripes", "--save-stages"])
    captured = capsys.readouterr()  # printing the name raised UnicodeEncodeError once
    assert status == EXIT_OK, captured.err
    made = sorted(path.name for path in (tmp_path / "out" / "photos").iterdir())
    assert len(made) == 7  # the output and its six stages
    main_output = min(made, key=len)
    if output is not None:
        assert main_output == output
    limit = os.pathconf(tmp_path, "PC_NAME_MAX")
    assert all(len(os.fsencode(name)) <= limit for name in made)
    assert main_output.endswith("_stripes.png")
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_bytes().decode("utf-8"))
    assert metrics["photos"]["processed"][0]["input"] == photo  # the exact name, kept


def test_control_characters_in_a_failing_name_are_escaped(tmp_path, capsys):
    bad = tmp_path / "evil\x1b[2J\nname.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not a picture")
    status = main(["--no-notebooks", "--quick", "--content", str(bad), "--output",
                   str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == EXIT_FAILED
    assert "evil\\x1b[2J\\nname.png" in err and "\x1b" not in err
    assert all("name.png" not in line or "evil" in line for line in err.splitlines())


@pytest.mark.parametrize("content, reason", [
    (b"", "the file is empty"),
    (b"just some text, not a picture\n", "not a recognised image file"),
    ("truncated", "truncated or corrupt"),
    ("tiny", "both sides must be at least 16 px"),
])
def test_a_bad_style_file_is_a_usage_error_before_any_work(photo_folder, tmp_path, capsys,
                                                           monkeypatch, content, reason):
    import io

    def must_not_run(*args, **kwargs):
        raise AssertionError("work started despite the unusable style file")

    monkeypatch.setattr(run_module, "process_photos", must_not_run)
    monkeypatch.setattr(run_module, "run_notebooks", must_not_run)
    if content == "truncated":
        noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(noise).save(buffer, "JPEG")
        content = buffer.getvalue()[:len(buffer.getvalue()) // 3]
    elif content == "tiny":
        buffer = io.BytesIO()
        Image.new("RGB", (8, 8)).save(buffer, "PNG")
        content = buffer.getvalue()
    style = tmp_path / "style.jpg"
    style.write_bytes(content)
    for mode in (["--content", str(photo_folder / "astronaut.png"), "--no-notebooks"],
                 ["--content", str(photo_folder)], []):  # photo, folder and notebooks
        status = main([*mode, "--quick", "--style", str(style), "--output",
                       str(tmp_path / "out")])
        err = capsys.readouterr().err
        assert status == EXIT_USAGE
        assert err.count("\n") == 1 and err.startswith("error: --style: ")
        assert str(style) in err and reason in err
    assert not (tmp_path / "out").exists()


def _untagged(path, source='max_side = 1024\noutput_dir = "results"'):
    notebook = new_notebook()
    notebook.cells = [new_code_cell(source), new_code_cell("y = 1")]
    nbformat.write(notebook, path)


def _tagged_without_output_dir(path):
    notebook = new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    parameters = new_code_cell("max_side = 1024")
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [parameters]
    nbformat.write(notebook, path)


@pytest.mark.parametrize("make, message", [
    (_untagged, "has no cell tagged 'parameters', so --output and --max-side would be ignored"),
    (_tagged_without_output_dir,
     "its 'parameters' cell does not set output_dir"),
])
def test_a_notebook_whose_parameters_would_be_ignored_is_refused_before_any_work(
        tmp_path, capsys, monkeypatch, make, message):
    # A lost 'parameters' tag once ran the notebook with its defaults, writing into the
    # checkout's own results/, and reported "ok".
    def must_not_run(*args, **kwargs):
        raise AssertionError("papermill ran despite the notebook's parameters")

    import papermill

    monkeypatch.setattr(papermill, "execute_notebook", must_not_run)
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    write_notebook(notebooks / "a_fine.ipynb", "x = 1")
    make(notebooks / "b_lost.ipynb")
    status = main(["--quick", "--notebooks-dir", str(notebooks), "--output",
                   str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == EXIT_USAGE
    assert "b_lost.ipynb" in err and message in err
    assert not (tmp_path / "out").exists()
    # Called directly, run_notebooks reports it as that notebook's failure.
    runs = run_module.run_notebooks([notebooks / "b_lost.ipynb"], tmp_path / "direct", {})
    assert not runs[0].ok and message in runs[0].error


@pytest.mark.slow
def test_braces_in_the_output_path_are_taken_literally(tmp_path, capsys):
    # papermill formats paths with the parameters: "{max_side}" became "256", "{x}" failed.
    notebooks = tmp_path / "in {x} {max_side}"
    notebooks.mkdir()
    write_notebook(notebooks / "a_{y}.ipynb", "import pathlib\n"
                   "pathlib.Path(output_dir, 'seen.txt').write_text(str(max_side))")
    output = tmp_path / "out {x} {max_side}"
    status = main(["--quick", "--notebooks-dir", str(notebooks), "--output", str(output)])
    captured = capsys.readouterr()
    assert status == EXIT_OK, captured.out + captured.err
    assert (output / "notebooks" / "a_{y}.ipynb").is_file()
    assert (output / "seen.txt").read_text() == "256"
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        [notebooks.name, output.name])


def test_a_photo_over_max_pixels_gets_that_error_not_advice_to_downscale_for_memory(
        tmp_path, capsys, monkeypatch):
    from helpers import images, pipeline

    big = tmp_path / "big.png"
    Image.new("RGB", (2000, 1000)).save(big, compress_level=1)
    monkeypatch.setattr(images, "MAX_PIXELS", 1_000_000)        # a 2 MP photo is too many
    monkeypatch.setattr(pipeline, "available_memory", lambda: 10**6)   # and too big
    status = main(["--no-notebooks", "--quick", "--content", str(big), "--output",
                   str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == EXIT_FAILED
    assert "more than MAX_PIXELS = 1,000,000" in err and "of memory at peak" not in err


def test_a_photo_too_large_for_the_memory_is_refused_before_decoding(photo_folder, tmp_path,
                                                                     capsys, monkeypatch):
    from helpers import images, pipeline

    big = tmp_path / "big.png"
    Image.new("RGB", (4000, 3000)).save(big, compress_level=1)  # 12 MP, a small file
    monkeypatch.setattr(pipeline, "available_memory", lambda: 10**9)  # 1 GB free
    decoded = []
    real_load = images.load_image
    monkeypatch.setattr(images, "load_image",
                        lambda source, **kw: decoded.append(source) or real_load(source, **kw))
    needed = pipeline.estimate_peak_memory(3000, 4000)
    status = main(["--no-notebooks", "--quick", "--content", str(big), "--output",
                   str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == EXIT_USAGE and not (tmp_path / "out").exists() and decoded == []
    assert (f"error: {big} is 4000x3000 px and needs about {needed / 1e9:.1f} GB of memory "
            "at peak, but only 1.0 GB is available; downscale it (at most about ") in err
    # In a list of photos it fails alone, before decoding, and the others go on.
    from helpers.pipeline import Pipeline

    processed, failed = run_module.process_photos(
        [big, photo_folder / "hopper.png"], "stripes", tmp_path / "photos", progress=False,
        pipeline=Pipeline(segmentation="classical_parsing", saliency="person_matte",
                          max_side=256, notify=None))
    assert [item["input"] for item in failed] == [str(big)]
    assert failed[0]["reason"].startswith("NotEnoughMemoryError: ")
    assert len(processed) == 1 and str(big) not in decoded
