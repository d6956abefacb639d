"""Atomic output files (helpers.files) and the module split of helpers.images."""

import subprocess
import sys

import pytest

from helpers.files import atomic_path, atomic_write_bytes


def test_atomic_path_replaces_the_file_when_the_block_ends(tmp_path):
    target = tmp_path / "model.onnx"
    target.write_bytes(b"old")
    with atomic_path(target) as temp:
        assert temp.parent == tmp_path and temp.exists() and temp != target
        temp.write_bytes(b"new")
        assert target.read_bytes() == b"old"  # readers still see the old file
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]


@pytest.mark.parametrize("error", [ValueError("refused"), KeyboardInterrupt()])
def test_atomic_path_keeps_the_old_file_and_no_partial_one_on_any_error(tmp_path, error):
    target = tmp_path / "u2net.pth"
    target.write_bytes(b"old")
    with pytest.raises(type(error)), atomic_path(target, temp_prefix="u2net.pth.part-") as temp:
        assert temp.name.startswith("u2net.pth.part-")
        temp.write_bytes(b"half a downl")
        raise error
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["u2net.pth"]


def test_atomic_writes_refuse_a_protected_input_before_writing(tmp_path):
    source = tmp_path / "photo.png"
    source.write_bytes(b"input")
    with pytest.raises(ValueError, match="it is the input file"):
        atomic_write_bytes(source, b"output", protect=[source])
    with pytest.raises(ValueError, match="it is the input file"), \
            atomic_path(source, protect=[source]):
        raise AssertionError("the block must not run")
    assert source.read_bytes() == b"input"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]


def test_sample_and_writer_names_are_still_importable_from_images():
    import helpers.files as files
    import helpers.images as images
    import helpers.samples as samples

    for name in ("sample_content", "sample_style", "fabric_pattern", "list_samples",
                 "CONTENT_SAMPLES", "STYLE_SAMPLES", "FABRIC_KINDS"):
        assert getattr(images, name) is getattr(samples, name)
    for name in ("save_image", "save_json", "atomic_write_bytes"):
        assert getattr(images, name) is getattr(files, name)
    with pytest.raises(AttributeError, match="has no attribute 'nothing_here'"):
        images.nothing_here  # noqa: B018


@pytest.mark.parametrize("first", ["helpers.samples", "helpers.images", "helpers.files"])
def test_each_module_imports_first_in_a_fresh_interpreter(first):
    code = (f"import {first}; from helpers.images import sample_content; "
            "print(sample_content('astronaut').shape)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(512, 512, 3)"
