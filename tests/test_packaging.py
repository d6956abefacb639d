"""The installable package and the runtime requirement sets (no network).

``pip install .`` must bring the runtime dependencies (``[project] dependencies`` in
pyproject.toml, the same list as ``requirements-runtime.txt``, which the Colab set-up cell
installs); that list must not fight Colab's preinstalled stack. The install test builds
the package into a folder with ``--no-deps --no-build-isolation`` (nothing downloaded)
and imports it from another folder.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from helpers import PROJECT_ROOT

RUNTIME = PROJECT_ROOT / "requirements-runtime.txt"
DEV_TOOLS = {"pytest", "ruff", "playwright", "jupyter", "jupyterlab", "setuptools"}
# Preinstalled in Colab: only lower bounds allowed, never a pin that could downgrade them.
COLAB_STACK = {"torch", "numpy", "tensorflow", "ipywidgets", "ipykernel"}


def requirement_lines(path):
    return [line.strip() for line in path.read_text().splitlines()
            if line.strip() and not line.lstrip().startswith(("#", "-"))]


def name_of(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower()


def test_pyproject_dependencies_are_the_runtime_requirements():
    tomllib = pytest.importorskip("tomllib", reason="tomllib is Python 3.11+")
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    assert project["dependencies"] == requirement_lines(RUNTIME)
    assert {name_of(r) for r in project["optional-dependencies"]["hub"]} >= {
        "tensorflow", "tensorflow-hub"}


def test_runtime_requirements_have_no_dev_tools_and_no_downgrading_pins():
    lines = requirement_lines(RUNTIME)
    names = {name_of(line) for line in lines}
    assert not names & DEV_TOOLS
    # ipykernel: python -m helpers.run runs the notebooks in it (a plain pip install . had none)
    assert {"torch", "onnxruntime", "numpy", "ipywidgets", "anywidget", "ipykernel"} <= names
    for line in lines:
        if name_of(line) in COLAB_STACK:
            assert re.fullmatch(r"[\w-]+>=[\d.]+", line), f"{line!r} may downgrade Colab's copy"


def test_development_requirements_include_the_runtime_set_and_the_package():
    text = (PROJECT_ROOT / "requirements.txt").read_text().splitlines()
    assert "-r requirements-runtime.txt" in text and "-e ." in text
    assert {"pytest>=7.4", "ruff>=0.5"} <= set(text)


@pytest.mark.slow
def test_installed_package_imports_from_any_folder(tmp_path):
    # Build from a copy: setuptools writes build/ and *.egg-info beside the sources.
    source = tmp_path / "src"
    shutil.copytree(PROJECT_ROOT / "helpers", source / "helpers",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(PROJECT_ROOT / name, source / name)
    target = tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(target), str(source)],
        capture_output=True, text=True, timeout=300)
    if build.returncode != 0 and "setuptools" in build.stderr.lower():
        pytest.skip(f"cannot build without network here: {build.stderr[-300:]}")
    assert build.returncode == 0, build.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}
    code = ("import helpers, helpers.pipeline, helpers.segmentation.classical_parsing; "
            "print(helpers.__file__)")
    run = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().startswith(str(target))
