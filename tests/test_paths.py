"""File names: safe display (helpers.paths) and names near the file system's length limit."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from helpers.images import atomic_write_bytes, save_image, save_json
from helpers.paths import display_message, display_path, fit_name, name_limit


@pytest.mark.parametrize(("raw", "shown"), [
    (b"caf\xe9.jpg", "caf\\xe9.jpg"),  # Latin-1, not UTF-8: the byte is shown, no error
    ("a\nb.png", "a\\nb.png"),
    ("red\x1b[31m.png", "red\\x1b[31m.png"),  # a terminal escape sequence is not run
    ("evil\u202egnp.exe", "evil\\u202egnp.exe"),  # a right-to-left override is visible
    ("café 写真 😀.png", "café 写真 😀.png"),  # printable names stay as they are
])
def test_display_path_escapes_what_cannot_be_printed(raw, shown):
    path = os.fsdecode(raw) if isinstance(raw, bytes) else raw
    assert display_path(path) == shown
    assert display_path(path).encode("utf-8")  # prints on any UTF-8 terminal
    assert display_path(os.fsencode(path)) == shown


def test_fit_name_keeps_short_names_and_shortens_long_ones_by_bytes():
    assert fit_name("me", "_tartan.png") == "me_tartan.png"
    long_a, long_b = "é" * 200 + "a", "é" * 200 + "b"  # 401 bytes each in UTF-8
    fitted_a = fit_name(long_a, "_tartan.png", limit=255, reserve=9)
    fitted_b = fit_name(long_b, "_tartan.png", limit=255, reserve=9)
    assert fitted_a != fitted_b  # the hash of the full stem keeps them apart
    for fitted in (fitted_a, fitted_b):
        assert len(fitted.encode("utf-8")) <= 255 - 9
        assert fitted.endswith("_tartan.png") and fitted.startswith("é" * 50)
        fitted.encode("utf-8")  # whole characters only: no half of a two-byte "é"
    assert fit_name(long_a, "_tartan.png", limit=255, reserve=9) == fitted_a  # stable
    with pytest.raises(ValueError, match="no room"):
        fit_name("a", "_" * 20, limit=20)


def test_name_limit_of_this_folder(tmp_path):
    assert name_limit(tmp_path) == os.pathconf(tmp_path, "PC_NAME_MAX")
    assert name_limit(tmp_path / "not" / "made" / "yet") == name_limit(tmp_path)


def test_a_name_at_the_limit_is_written_atomically(tmp_path):
    limit = name_limit(tmp_path)
    name = "x" * (limit - 4) + ".png"  # the temporary ".<name>.<hex>.tmp" is longer
    path = save_image(np.zeros((16, 16, 3), np.uint8), tmp_path / name)
    assert path.is_file() and [p.name for p in tmp_path.iterdir()] == [name]
    with pytest.raises(OSError, match=rf"is {limit + 1} bytes, more than this file "
                                      rf"system's limit of {limit}"):
        atomic_write_bytes(tmp_path / ("y" * (limit - 3) + ".png"), b"data")
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_json_keeps_a_name_that_is_not_utf8(tmp_path):
    name = os.fsdecode(b"caf\xe9.jpg")
    path = save_json({"input": str(tmp_path / name)}, tmp_path / "metrics.json")
    text = path.read_bytes().decode("utf-8")  # the file is valid UTF-8
    assert "\\udce9" in text
    assert json.loads(text)["input"] == str(tmp_path / name)  # the same name back
    assert os.fsencode(json.loads(text)["input"]).endswith(b"caf\xe9.jpg")


def test_fit_name_with_a_tag_keeps_the_odd_bytes_of_a_long_name():
    stem = os.fsdecode(b"caf\xe9" * 80)  # 320 bytes, not UTF-8
    fitted = fit_name(stem, "_tartan.png", limit=100, tag="-0123abcd")
    assert fitted.endswith("-0123abcd_tartan.png")
    assert len(os.fsencode(fitted)) <= 100
    kept = os.fsencode(fitted)[:-len("-0123abcd_tartan.png")]
    assert kept == (b"caf\xe9" * 80)[:len(kept)] and len(kept) == 100 - 20


def test_display_message_keeps_its_lines_indented_and_escapes_each():
    assert display_message("not available.\nSources:\n  - x\x1b[2J") == (
        "not available.\n    Sources:\n      - x\\x1b[2J")
    assert display_message("one line", indent="  ") == "one line"
