"""Every notebook runs headless through papermill, and what it writes stays as it was.

A module-scoped fixture executes each notebook once (kernel ``python3``, working
directory ``notebooks/``) with small parameters: ``max_side=256``, the offline
back-ends named explicitly (``classical_parsing`` / ``person_matte`` / ``magenta_onnx``,
so installed weights do not change the numbers) and ``output_dir`` in a temporary folder. The tests
then assert on the files each notebook writes under ``<output_dir>/<stage>/``: they
exist, the images have the capped content size, and the values of the stages'
``metrics.json`` listed in :data:`helpers.notebook_support.TRACKED_METRICS` (garment
area, saliency statistics, mean change per blend method, boundary measures ...) stay
within tolerances of the committed reference ``tests/reference/notebook_metrics.json``.

When a change in ``helpers`` alters results on purpose, regenerate the reference
(and review its diff) with::

    CLOTHSTYLE_UPDATE_REFERENCE=1 python -m pytest tests/test_notebooks.py

The static checks (no outputs, one ``parameters`` cell of literals, the Colab set-up
cell's URL) run without a kernel.
"""

from __future__ import annotations

import ast
import json
import os
import re
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from PIL import Image

from helpers import PROJECT_ROOT
from helpers.blend import BLEND_METHODS
from helpers.images import save_json
from helpers.nbcheck import notebook_problems
from helpers.notebook_support import (
    GITHUB_REPO,
    NOTEBOOK_STAGES,
    NOTEBOOKS_DIR,
    PACKAGE_URL,
    colab_url,
    tracked_metrics,
)

REFERENCE = Path(__file__).parent / "reference" / "notebook_metrics.json"
UPDATE_ENV = "CLOTHSTYLE_UPDATE_REFERENCE"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
MAX_SIDE = 256
# Parameters every run gets (each notebook receives the ones it declares).
COMMON = {"max_side": MAX_SIDE, "segmentation": "classical_parsing",
          "saliency": "person_matte", "stylization": "magenta_onnx"}
# The quickstart runs on the other sample photo (not square) and another style.
OVERRIDES = {"00_quickstart": {"content": "grace_hopper", "style": "houndstooth"}}
# Capped sizes (H, W) of the samples at MAX_SIDE: astronaut 512x512, Grace Hopper 600x512.
ASTRONAUT_HW = (256, 256)
HOPPER_HW = (256, 218)


def read_notebook(path: Path):
    return nbformat.read(path, as_version=4)


def parameters_cell(notebook):
    cells = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(cells) == 1
    return cells[0]


def declared_parameters(path: Path) -> dict:
    """Name -> literal value of the notebook's parameters cell."""
    tree = ast.parse(parameters_cell(read_notebook(path)).source)
    values = {}
    for node in tree.body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1, (
            f"{path.name}: the parameters cell may only assign literals, found "
            f"{ast.dump(node)[:80]}")
        values[node.targets[0].id] = ast.literal_eval(node.value)
    return values


def image_hw(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.height, image.width


# --------------------------------------------------------------------------- static


def test_every_stage_has_its_notebook():
    assert [path.stem for path in NOTEBOOKS] == list(NOTEBOOK_STAGES)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs_and_with_one_parameters_cell(path):
    assert notebook_problems(path) == []
    notebook = read_notebook(path)
    nbformat.validate(notebook)
    assert notebook.metadata.kernelspec.name == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_are_literals_with_size_cap_and_output_dir(path):
    values = declared_parameters(path)
    assert values["max_side"] == 1024
    assert values["output_dir"] == "results"
    if "interactive" in values:
        assert values["interactive"] is False  # headless by default


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_setup_cell_installs_the_package_only_in_colab(path):
    notebook = read_notebook(path)
    setup = next(cell.source for cell in notebook.cells if cell.cell_type == "code")
    # The first code cell runs before helpers can be imported, so it repeats the URL.
    package = re.search(r'PACKAGE = "([^"]+)"', setup).group(1)
    assert package == PACKAGE_URL == f"git+https://github.com/{GITHUB_REPO}"
    assert '"google.colab" in sys.modules' in setup
    assert "requirements" not in setup.split("\n", 3)[-1]  # the package's runtime set only
    assert "sys.path" not in setup  # nothing to bootstrap: the package is installed
    assert "output.enable_custom_widget_manager()" in setup
    assert len(setup.splitlines()) <= 20
    code = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    assert "%cd" not in code and "os.chdir" not in code
    assert "/content/drive" not in code and "drive.mount" not in code


def test_readme_has_a_colab_badge_per_notebook():
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    for path in NOTEBOOKS:
        assert colab_url(path.stem) in readme, f"README lacks the Colab badge of {path.name}"
        assert "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)" in readme


# --------------------------------------------------------------------------- executed


def parameters_for(path: Path, output_dir: Path) -> dict:
    wanted = {**COMMON, **OVERRIDES.get(path.stem, {}), "output_dir": str(output_dir)}
    declared = declared_parameters(path)
    return {key: value for key, value in wanted.items() if key in declared}


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Run every notebook once; name -> the error (None when it ran), plus the folder."""
    import papermill

    output_dir = tmp_path_factory.mktemp("notebook_outputs")
    errors = {}
    for path in NOTEBOOKS:
        try:
            papermill.execute_notebook(
                str(path), str(output_dir / f"executed_{path.name}"),
                parameters=parameters_for(path, output_dir), kernel_name="python3",
                cwd=str(NOTEBOOKS_DIR), progress_bar=False, execution_timeout=600)
            errors[path.stem] = None
        except Exception as exc:  # keep going: each notebook gets its own failing test
            errors[path.stem] = f"{type(exc).__name__}: {exc}"
    return output_dir, errors


def stage(executed, notebook: str) -> Path:
    output_dir, errors = executed
    if errors[notebook] is not None:
        pytest.fail(f"{notebook} failed under papermill: {errors[notebook]}")
    return output_dir / NOTEBOOK_STAGES[notebook]


def load_metrics(folder: Path) -> dict:
    return json.loads((folder / "metrics.json").read_text(encoding="utf-8"))


@pytest.mark.slow
@pytest.mark.parametrize("notebook", list(NOTEBOOK_STAGES))
def test_notebook_runs_headless_and_writes_metrics(executed, notebook):
    folder = stage(executed, notebook)
    metrics = load_metrics(folder)
    assert metrics["stage"] == NOTEBOOK_STAGES[notebook]
    assert metrics["backends"]
    # The executed copy carries outputs; the committed one does not.
    output_dir, _ = executed
    executed_nb = read_notebook(output_dir / f"executed_{notebook}.ipynb")
    assert any(cell.get("outputs") for cell in executed_nb.cells if cell.cell_type == "code")


@pytest.mark.slow
def test_segment_writes_the_capped_photo_and_a_binary_mask(executed):
    folder = stage(executed, "01_segment")
    assert image_hw(folder / "content.png") == ASTRONAUT_HW
    mask = np.asarray(Image.open(folder / "mask.png"))
    assert mask.shape == ASTRONAUT_HW
    assert set(np.unique(mask)) == {0, 255}
    metrics = load_metrics(folder)
    assert metrics["backends"] == {"segmentation": "classical_parsing"}
    assert (folder / "labels.png").is_file()  # the offline parser has the cloth classes
    assert metrics["image_size"] == list(ASTRONAUT_HW)
    assert metrics["mask_area_fraction"] == pytest.approx((mask == 255).mean())


@pytest.mark.slow
def test_saliency_writes_maps_of_the_photo_size(executed):
    folder = stage(executed, "02_saliency")
    for name in ("saliency.png", "weight.png", "mask.png", "saliency_overview.png"):
        assert (folder / name).is_file()
    assert image_hw(folder / "saliency.png") == ASTRONAUT_HW
    metrics = load_metrics(folder)
    assert metrics["backends"]["saliency"] == "person_matte"
    # The offline M is a matte of the whole person: about 1 on the garment, and lower
    # outside it (the background, but also the face and hair, which are person too).
    assert metrics["saliency_mean_inside"] > 0.9
    assert metrics["saliency_mean_outside"] < 0.5


@pytest.mark.slow
def test_stylize_keeps_the_photo_size(executed):
    folder = stage(executed, "03_stylize")
    assert image_hw(folder / "stylized.png") == ASTRONAUT_HW
    assert (folder / "variants.png").is_file()
    assert load_metrics(folder)["backends"] == {"stylization": "magenta_onnx"}


@pytest.mark.slow
def test_blend_changes_only_the_garment(executed):
    folder = stage(executed, "04_blend")
    output = np.asarray(Image.open(folder / "output.png").convert("RGB"))
    assert output.shape[:2] == ASTRONAUT_HW
    for method in BLEND_METHODS:
        assert image_hw(folder / f"output_{method}.png") == ASTRONAUT_HW
    # Outside the garment the saliency blend is exactly the photo.
    content = np.asarray(Image.open(stage(executed, "01_segment") / "content.png"))
    mask = np.asarray(Image.open(stage(executed, "01_segment") / "mask.png")) == 255
    np.testing.assert_array_equal(output[~mask], content[~mask])
    metrics = load_metrics(folder)
    assert metrics["mean_abs_diff_outside"] == 0.0
    assert metrics["mean_abs_diff_inside"] > 10  # the garment did change
    assert set(metrics["methods"]) == set(BLEND_METHODS)


@pytest.mark.slow
def test_compare_boundaries_measures_every_method(executed):
    folder = stage(executed, "05_compare_boundaries")
    assert (folder / "closer_look.png").is_file()
    assert (folder / "boundary_metrics.png").is_file()
    boundary = load_metrics(folder)["boundary"]
    assert set(boundary) == set(BLEND_METHODS)
    assert boundary["hard"]["all"]["leakage"] == 0.0  # a hard cut never leaks outside
    # Saliency blending softens the cut: less gradient energy at the edge than hard.
    assert boundary["saliency"]["all"]["seam"] < boundary["hard"]["all"]["seam"]


@pytest.mark.slow
def test_paper_figures_are_regenerated(executed):
    folder = stage(executed, "06_paper_figures")
    names = ("pipeline_overview.png", "results_grid.png", "closer_look.png",
             "boundary_metrics.png")
    for name in names:
        height, width = image_hw(folder / name)
        assert height > 200 and width > 200
    metrics = load_metrics(folder)
    assert set(names) <= set(metrics["figures"])
    assert len(metrics["runs"]) == 2 * 3  # both sample photos x three styles
    # Six rows of five panels: the grid is taller than wide.
    height, width = image_hw(folder / "results_grid.png")
    assert height > width


@pytest.mark.slow
def test_paper_figures_are_byte_identical_when_regenerated(executed, tmp_path):
    """Regenerating the figures in a fresh kernel gives the same bytes.

    Guards ``python -m helpers.run`` leaving ``git status`` clean: the committed figures
    are only reproducible if every stage (the stylizer above all, whose int8 graph once
    drew other colours on other CPUs) gives the same pixels on every run.
    """
    import papermill

    first = stage(executed, "06_paper_figures")
    path = NOTEBOOKS_DIR / "06_paper_figures.ipynb"
    papermill.execute_notebook(
        str(path), str(tmp_path / path.name), parameters=parameters_for(path, tmp_path),
        kernel_name="python3", cwd=str(NOTEBOOKS_DIR), progress_bar=False,
        execution_timeout=600)
    second = tmp_path / NOTEBOOK_STAGES["06_paper_figures"]
    figures = sorted(item.name for item in first.glob("*.png"))
    assert len(figures) >= 4
    differing = [name for name in figures
                 if (first / name).read_bytes() != (second / name).read_bytes()]
    assert not differing, f"regenerated figures differ: {differing}"


@pytest.mark.slow
def test_quickstart_output_has_the_capped_size_of_a_portrait_photo(executed):
    folder = stage(executed, "00_quickstart")
    assert image_hw(folder / "output.png") == HOPPER_HW
    metrics = load_metrics(folder)
    assert metrics["image_size"] == list(HOPPER_HW)
    assert metrics["parameters"]["content"] == "grace_hopper"
    assert not (folder / "studio_output.png").exists()  # headless: no studio


@pytest.mark.slow
def test_quickstart_shows_the_same_call_on_a_folder_without_running_it(executed):
    output_dir, _ = executed
    stage(executed, "00_quickstart")
    notebook = nbformat.read(output_dir / "executed_00_quickstart.ipynb", as_version=4)
    printed = "".join(output.get("text", "") for output in notebook.cells[-1].outputs)
    assert printed.startswith("python -m helpers.run --no-notebooks --content my_photos/ "
                              "--style houndstooth --garment upper_body")
    assert f"--output {output_dir / 'catalogue'}" in printed
    assert not (output_dir / "catalogue").exists()  # photo_folder = None: shown, not run


@pytest.mark.slow
def test_metrics_match_the_reference(executed):
    output_dir, errors = executed
    failed = {name: error for name, error in errors.items() if error}
    if failed:
        pytest.fail(f"notebooks failed: {failed}")
    measured = tracked_metrics(output_dir)
    parameters = {"common": COMMON, "overrides": OVERRIDES}
    if os.environ.get(UPDATE_ENV):
        save_json({"regenerate": f"{UPDATE_ENV}=1 python -m pytest tests/test_notebooks.py",
                   "parameters": parameters, "tolerance": {"rel": 0.03, "abs": 0.02},
                   "values": measured}, REFERENCE)
        pytest.skip(f"reference rewritten: {REFERENCE}")
    reference = json.loads(REFERENCE.read_text(encoding="utf-8"))
    assert reference["parameters"] == json.loads(json.dumps(parameters)), (
        "the reference was made with other parameters: regenerate it")
    tolerance = reference["tolerance"]
    assert set(measured) == set(reference["values"])
    off = {key: (value, reference["values"][key]) for key, value in measured.items()
           if value != pytest.approx(reference["values"][key], rel=tolerance["rel"],
                                     abs=tolerance["abs"])}
    assert not off, (f"notebook results moved away from {REFERENCE.name} (measured, "
                     f"reference): {off}; if intended, regenerate it with {UPDATE_ENV}=1")


@pytest.mark.slow
def test_quickstart_shows_the_studio_when_interactive(tmp_path):
    """With ``interactive=True`` the studio widget is displayed."""
    import papermill

    path = NOTEBOOKS_DIR / "00_quickstart.ipynb"
    parameters = {**parameters_for(path, tmp_path), "interactive": True}
    executed_path = tmp_path / "executed.ipynb"
    papermill.execute_notebook(str(path), str(executed_path), parameters=parameters,
                               kernel_name="python3", cwd=str(NOTEBOOKS_DIR),
                               progress_bar=False, execution_timeout=600)
    outputs = [output for cell in read_notebook(executed_path).cells
               if cell.cell_type == "code" for output in cell.get("outputs", [])]
    assert any("application/vnd.jupyter.widget-view+json" in output.get("data", {})
               for output in outputs)
    assert image_hw(tmp_path / "quickstart" / "studio_output.png") == HOPPER_HW


def setup_cells() -> dict[str, str]:
    return {path.stem: next(cell.source for cell in read_notebook(path).cells
                            if cell.cell_type == "code") for path in NOTEBOOKS}


def test_every_notebook_has_the_same_setup_cell():
    cells = setup_cells()
    assert len(set(cells.values())) == 1, sorted(cells)


def test_a_failed_install_in_colab_says_what_to_do(monkeypatch, capsys):
    """The set-up cell as Colab runs it, with a pip that cannot reach GitHub."""
    import subprocess
    import types

    calls = []

    def failing_pip(command, **kwargs):
        calls.append(command)
        return subprocess.CompletedProcess(command, 1, "", "ERROR: Could not resolve host")

    monkeypatch.setattr(subprocess, "run", failing_pip)
    enabled = []
    colab = types.ModuleType("google.colab")
    colab.output = types.SimpleNamespace(enable_custom_widget_manager=lambda: enabled.append(1))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    setup = next(iter(setup_cells().values()))
    with pytest.raises(SystemExit, match="set-up stopped"):
        exec(compile(setup, "setup-cell", "exec"), {"__name__": "__main__"})
    assert calls == [[sys.executable, "-m", "pip", "install", "-q", PACKAGE_URL]]
    printed = capsys.readouterr().out
    assert f"Installing {PACKAGE_URL} failed" in printed and "Could not resolve host" in printed
    assert "upload the clothstyle folder" in printed and "set PACKAGE" in printed
    assert enabled == []


def test_outside_colab_the_setup_cell_does_nothing(monkeypatch):
    import subprocess

    def no_run(*args, **kwargs):
        raise AssertionError("the set-up cell ran a command outside Colab")

    monkeypatch.setattr(subprocess, "run", no_run)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    namespace = {"__name__": "__main__"}
    exec(compile(next(iter(setup_cells().values())), "setup-cell", "exec"), namespace)
    assert "PACKAGE" not in namespace
