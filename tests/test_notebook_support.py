"""What the notebooks share: the stage record and where the project root is."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from helpers.notebook_support import write_stage_record


class Result:
    backends = {"segmentation": "classical_parsing", "saliency": "person_matte"}
    timings = {"segmentation": 0.25, "blend": 0.0}


def test_the_stage_record_holds_what_ran_and_the_measures(tmp_path, capsys):
    (tmp_path / "output.png").write_bytes(b"png")
    photo = np.zeros((30, 40, 3), np.uint8)
    path = write_stage_record(tmp_path, "blend", {"style": tmp_path / "tartan.png",
                                                  "softness": None},
                              result=Result(), image=photo, alpha_mean=np.float32(0.25),
                              methods={"hard": {"mean_abs_diff": np.float64(1.5)}})
    assert path == tmp_path / "metrics.json"
    assert json.loads(path.read_text()) == {
        "stage": "blend",
        "parameters": {"style": str(tmp_path / "tartan.png"), "softness": None},
        "backends": Result.backends, "timings": Result.timings, "image_size": [30, 40],
        "alpha_mean": 0.25, "methods": {"hard": {"mean_abs_diff": 1.5}},
    }
    assert capsys.readouterr().out == "wrote metrics.json output.png\n"
    # explicit back-ends and timings win over the result's
    write_stage_record(tmp_path, "stylize", {}, result=Result(),
                       backends={"stylization": "magenta_onnx"}, timings={})
    record = json.loads(path.read_text())
    assert record["backends"] == {"stylization": "magenta_onnx"} and record["timings"] == {}
    assert "image_size" not in record


def test_the_project_root_is_the_checkout_or_for_an_installed_copy_the_current_folder(
        tmp_path):
    import helpers

    assert (helpers.PROJECT_ROOT / "notebooks").is_dir()  # this checkout
    assert Path(helpers.__file__).resolve().parent.parent == helpers.PROJECT_ROOT
    # a copy of the package alone, as pip installs it from a wheel or from git
    site = tmp_path / "site-packages"
    site.mkdir()
    (site / "helpers").mkdir()
    (site / "helpers" / "__init__.py").write_text(
        Path(helpers.__file__).read_text(encoding="utf-8"), encoding="utf-8")
    work = tmp_path / "content"
    work.mkdir()
    out = subprocess.run([sys.executable, "-c", "import helpers; print(helpers.PROJECT_ROOT)"],
                         cwd=work, env={"PYTHONPATH": str(site)}, capture_output=True,
                         text=True, check=True)
    assert Path(out.stdout.strip()) == work
