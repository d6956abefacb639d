"""Tests for helpers.images: loading/conversion, resizing, atomic writes, samples.

Every input image is generated inside the test (Pillow writes it to tmp_path), so the
expected pixel values are known exactly.
"""

from __future__ import annotations

import io
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import images
from helpers.images import (
    MIN_SIDE,
    ImageLoadError,
    atomic_write_bytes,
    fabric_pattern,
    fit_to_cap,
    list_samples,
    load_image,
    resize_image,
    resize_labels,
    resize_map,
    sample_content,
    sample_style,
    save_image,
    save_json,
    to_rgb_uint8,
)


def _write(tmp_path: Path, image: Image.Image, name: str, **save_kwargs) -> Path:
    path = tmp_path / name
    image.save(path, **save_kwargs)
    return path


def _assert_rgb(array: np.ndarray, shape_hw: tuple[int, int]) -> None:
    assert array.shape == (*shape_hw, 3)
    assert array.dtype == np.uint8
    assert array.flags.c_contiguous
    assert array.flags.writeable


# --------------------------------------------------------------------------- modes


def test_grey_l_is_replicated(tmp_path):
    path = _write(tmp_path, Image.new("L", (20, 18), 100), "grey.png")
    out = load_image(path)
    _assert_rgb(out, (18, 20))
    assert (out == 100).all()


def test_la_half_alpha_composited_on_white(tmp_path):
    # Left half grey 0 at alpha 128, right half grey 100 at alpha 128.
    data = np.zeros((16, 32, 2), np.uint8)
    data[:, :16] = (0, 128)
    data[:, 16:] = (100, 128)
    path = _write(tmp_path, Image.fromarray(data, "LA"), "la.png")
    out = load_image(path)
    # round((c*a + 255*(255-a)) / 255): 0 -> 127, 100 -> 177.2 -> 177
    assert (out[:, :16] == 127).all()
    assert (out[:, 16:] == 177).all()


def test_rgba_alpha_composited_on_white(tmp_path):
    data = np.zeros((16, 48, 4), np.uint8)
    data[:, :16] = (200, 0, 50, 128)
    data[:, 16:32] = (10, 20, 30, 0)  # fully transparent -> white
    data[:, 32:] = (10, 20, 30, 255)  # opaque -> unchanged
    path = _write(tmp_path, Image.fromarray(data, "RGBA"), "rgba.png")
    out = load_image(path)
    assert (out[:, :16] == (227, 127, 152)).all()
    assert (out[:, 16:32] == 255).all()
    assert (out[:, 32:] == (10, 20, 30)).all()


def test_palette_without_transparency(tmp_path):
    indices = np.zeros((16, 32), np.uint8)
    indices[:, 16:] = 1
    image = Image.fromarray(indices, "P")
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * (254 * 3))
    out = load_image(_write(tmp_path, image, "p.png"))
    assert (out[:, :16] == (255, 0, 0)).all()
    assert (out[:, 16:] == (0, 0, 255)).all()


def test_palette_with_transparency_becomes_white(tmp_path):
    indices = np.zeros((16, 32), np.uint8)
    indices[:, 16:] = 1
    image = Image.fromarray(indices, "P")
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * (254 * 3))
    path = _write(tmp_path, image, "pt.png", transparency=0)
    with Image.open(path) as written:
        assert written.mode == "P"
    out = load_image(path)
    assert (out[:, :16] == 255).all()  # index 0 is transparent
    assert (out[:, 16:] == (0, 0, 255)).all()


def test_cmyk_tiff_exact_and_jpeg_approximate(tmp_path):
    data = np.zeros((16, 32, 4), np.uint8)
    data[:, 16:] = (255, 0, 0, 0)  # pure cyan ink
    image = Image.fromarray(data, "CMYK")
    out = load_image(_write(tmp_path, image, "cmyk.tif"))
    _assert_rgb(out, (16, 32))
    assert (out[:, :16] == 255).all()
    assert (out[:, 16:] == (0, 255, 255)).all()

    solid = Image.new("CMYK", (32, 32), (255, 0, 0, 0))
    out_jpeg = load_image(_write(tmp_path, solid, "cmyk.jpg", quality=95))
    assert np.abs(out_jpeg.astype(int) - (0, 255, 255)).max() <= 3


def test_one_bit_image(tmp_path):
    data = np.zeros((16, 32), bool)
    data[:, 16:] = True
    out = load_image(_write(tmp_path, Image.fromarray(data), "bits.png"))
    assert (out[:, :16] == 0).all()
    assert (out[:, 16:] == 255).all()


def test_sixteen_bit_png_scaled_by_257(tmp_path):
    data = np.zeros((16, 64), np.uint16)
    data[:, 16:32] = 65535
    data[:, 32:48] = 32896
    data[:, 48:] = 257
    image = Image.fromarray(data)
    assert image.mode == "I;16"
    out = load_image(_write(tmp_path, image, "deep.png"))
    assert [int(v) for v in out[0, ::16, 0]] == [0, 255, 128, 1]


def test_sixteen_bit_big_endian_and_int32_modes():
    data = np.full((16, 16), 32896, np.uint16)
    big_endian = Image.frombytes("I;16B", (16, 16), data.astype(">u2").tobytes())
    assert (to_rgb_uint8(big_endian) == 128).all()
    assert (to_rgb_uint8(Image.fromarray(data.astype(np.int32), "I")) == 128).all()
    with pytest.raises(ValueError, match=r"16-bit range .*found \[70000, 70000\]"):
        to_rgb_uint8(Image.fromarray(np.full((16, 16), 70000, np.int32), "I"))


def test_float_tiff_mode_f(tmp_path):
    unit = Image.fromarray(np.full((16, 16), 0.5, np.float32))
    assert unit.mode == "F"
    assert (load_image(_write(tmp_path, unit, "unit.tif")) == 128).all()
    # Maximum above 1: read as [0, 255]; negatives clipped.
    values = np.full((16, 16), 100.0, np.float32)
    values[0, 0] = -5.0
    out = load_image(_write(tmp_path, Image.fromarray(values), "byte_range.tif"))
    assert out[0, 0, 0] == 0
    assert (out[1:] == 100).all()


# --------------------------------------------------------------------------- EXIF


@pytest.mark.parametrize(
    ("orientation", "shape_hw", "red_corner"),
    [
        (1, (40, 64), (0, 0)),  # as stored: top-left
        (3, (40, 64), (-1, -1)),  # rotated 180: bottom-right
        (6, (64, 40), (0, -1)),  # rotated 90 clockwise: top-right
        (8, (64, 40), (-1, 0)),  # rotated 90 counter-clockwise: bottom-left
    ],
)
def test_exif_orientation_applied(tmp_path, orientation, shape_hw, red_corner):
    stored = np.full((40, 64, 3), 255, np.uint8)
    stored[:12, :12] = (255, 0, 0)  # big block: JPEG noise cannot move it
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = _write(tmp_path, Image.fromarray(stored), "oriented.jpg", exif=exif.tobytes(),
                  quality=95)
    out = load_image(path)
    assert out.shape == (*shape_hw, 3)
    corner = out[red_corner]
    assert corner[0] > 200 and corner[1] < 60 and corner[2] < 60
    # The other corners stay white.
    for other in [(0, 0), (0, -1), (-1, 0), (-1, -1)]:
        if other != red_corner:
            assert out[other].min() > 200


# --------------------------------------------------------------------------- frames


def test_animated_gif_gives_first_frame_with_warning(tmp_path):
    frames = [Image.new("RGB", (20, 20), color) for color in [(255, 0, 0), (0, 0, 255)]]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    with pytest.warns(UserWarning, match="2 frames.*first"):
        out = load_image(path)
    assert (out == (255, 0, 0)).all()


def test_multipage_tiff_gives_first_page_with_warning(tmp_path):
    pages = [Image.new("L", (20, 20), value) for value in (10, 200, 90)]
    path = tmp_path / "pages.tif"
    pages[0].save(path, save_all=True, append_images=pages[1:])
    with pytest.warns(UserWarning, match="3 frames.*first"):
        out = load_image(path)
    assert (out == 10).all()


# --------------------------------------------------------------------------- errors


def test_missing_path(tmp_path):
    with pytest.raises(ImageLoadError, match=r"nope\.png: no such file"):
        load_image(tmp_path / "nope.png")


def test_directory(tmp_path):
    with pytest.raises(ImageLoadError, match="is a directory"):
        load_image(tmp_path)


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(ImageLoadError, match=r"empty\.png: the file is empty"):
        load_image(path)


def test_text_file_lists_supported_formats(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not an image\n")
    with pytest.raises(ImageLoadError, match=r"notes\.txt: not a recognised image.*PNG, JPEG"):
        load_image(path)


def test_unsupported_format(tmp_path):
    path = tmp_path / "drawing.svg"
    path.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"/>')
    with pytest.raises(ImageLoadError, match=r"drawing\.svg: .*supported formats"):
        load_image(path)


def test_truncated_jpeg(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, "JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(ImageLoadError, match=r"cut\.jpg: the JPEG data is truncated"):
        load_image(path)
    # The global Pillow switch was not flipped to hide it.
    from PIL import ImageFile

    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


@pytest.mark.parametrize("size_wh", [(8, 8), (1, 500), (500, 15)])
def test_too_small(tmp_path, size_wh):
    path = _write(tmp_path, Image.new("RGB", size_wh), "small.png")
    with pytest.raises(ImageLoadError, match=f"at least {MIN_SIDE} px"):
        load_image(path)


def test_too_many_pixels_refused_before_decoding(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "MAX_PIXELS", 1000)
    path = _write(tmp_path, Image.new("RGB", (40, 40)), "big.png")
    with pytest.raises(ImageLoadError, match=r"40x40 = 1,600 pixels.*MAX_PIXELS = 1,000"):
        load_image(path)


def test_pillow_decompression_bomb_error_is_wrapped(tmp_path, monkeypatch):
    path = _write(tmp_path, Image.new("RGB", (40, 40)), "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 1600 > 2 * 100: Pillow raises
    with pytest.raises(ImageLoadError, match=r"bomb\.png: refused as a decompression bomb.*1600"):
        load_image(path)


def test_pillow_bomb_warning_below_max_pixels_is_not_an_error(tmp_path, monkeypatch):
    # Our MAX_PIXELS is the policy; Pillow's lower warning threshold must not leak out.
    path = _write(tmp_path, Image.new("RGB", (16, 16), (1, 2, 3)), "fine.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 200)  # 256 px: warning range
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = load_image(path)
    assert (out == (1, 2, 3)).all()


def test_twelve_megapixels_load(tmp_path):
    path = _write(tmp_path, Image.new("RGB", (4000, 3000), (9, 8, 7)), "12mp.png",
                  compress_level=1)
    out = load_image(path)
    _assert_rgb(out, (3000, 4000))
    assert out[1500, 2000].tolist() == [9, 8, 7]


def test_odd_size_loads(tmp_path):
    data = np.random.default_rng(1).integers(0, 256, (53, 37, 3), dtype=np.uint8)
    out = load_image(_write(tmp_path, Image.fromarray(data), "odd.png"))
    _assert_rgb(out, (53, 37))
    np.testing.assert_array_equal(out, data)


def _fix_png_crcs(data: bytearray) -> bytes:
    """Recompute every chunk CRC, so a mutated PNG reaches the decoder, not the CRC check."""
    import struct
    import zlib

    position = 8
    while position + 12 <= len(data):
        (length,) = struct.unpack(">I", data[position:position + 4])
        end = position + 8 + length
        if end + 4 > len(data):
            break
        data[end:end + 4] = struct.pack(">I", zlib.crc32(bytes(data[position + 4:end])))
        position = end + 4
    return bytes(data)


def _valid_files() -> dict[str, bytes]:
    pixels = np.random.default_rng(3).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    options = {"PNG": {}, "JPEG": {"exif": Image.Exif()}, "TIFF": {}, "WEBP": {},
               "GIF": {"save_all": True, "append_images": [Image.fromarray(pixels[::-1])]}}
    files = {}
    for fmt, kwargs in options.items():
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format=fmt, **kwargs)
        files[fmt] = buffer.getvalue()
    return files


def test_mutated_files_give_an_image_load_error_or_a_valid_image():
    """A seeded fuzz: flipped, deleted and inserted bytes in PNG/JPEG/GIF/TIFF/WebP files.

    Whatever Pillow raises inside (``TypeError: Missing dimensions`` from a TIFF header
    once escaped raw) must come out as an ImageLoadError that names the source.
    """
    import random

    rng = random.Random(13)
    outcomes = {"image": 0, "error": 0}
    for fmt, data in _valid_files().items():
        for _ in range(400):
            mutated = bytearray(data)
            for _ in range(rng.randint(1, 8)):
                at = rng.randrange(8, len(mutated))  # keep the signature: reach the plug-in
                kind = rng.random()
                if kind < 0.6:
                    mutated[at] = rng.randrange(256)
                elif kind < 0.8:
                    del mutated[at:at + rng.randint(1, 16)]
                else:
                    mutated[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
            blob = _fix_png_crcs(mutated) if fmt == "PNG" else bytes(mutated)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    out = load_image(blob, name=f"mutated.{fmt.lower()}")
                except ImageLoadError as exc:
                    assert str(exc).startswith(f"mutated.{fmt.lower()}: ")
                    outcomes["error"] += 1
                    continue
            assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
            assert min(out.shape[:2]) >= MIN_SIDE and out.flags.c_contiguous
            outcomes["image"] += 1
    # Both outcomes occur: the mutations reach the decoders, not only the signatures.
    assert outcomes["image"] > 200 and outcomes["error"] > 200


@pytest.mark.parametrize("raised", [TypeError("Missing dimensions"), KeyError(256),
                                    ValueError("tile cannot extend outside image")])
def test_any_pillow_exception_while_decoding_names_the_file(tmp_path, monkeypatch, raised):
    path = _write(tmp_path, Image.new("RGB", (20, 20)), "odd.tif")

    def broken_load(self):
        raise raised

    monkeypatch.setattr(Image.Image, "load", broken_load)
    with pytest.raises(ImageLoadError, match=rf"odd\.tif: the TIFF data .*{type(raised).__name__}"):
        load_image(path)
    with pytest.raises(ImageLoadError, match="odd photo: image data cannot be decoded"):
        load_image(Image.new("RGB", (20, 20)), name="odd photo")


def test_name_used_in_messages(tmp_path):
    with pytest.raises(ImageLoadError, match="^content photo: no such file"):
        load_image(tmp_path / "x.png", name="content photo")


# --------------------------------------------------------------------------- sources


def test_all_source_kinds_agree(tmp_path):
    data = np.random.default_rng(2).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    path = _write(tmp_path, Image.fromarray(data), "src.png")
    raw = path.read_bytes()
    with open(path, "rb") as handle:
        from_file_object = load_image(handle)
    sources = [path, str(path), raw, bytearray(raw), io.BytesIO(raw), Image.fromarray(data), data]
    for source in sources:
        out = load_image(source)
        np.testing.assert_array_equal(out, data)
        assert out.flags.writeable and out.flags.c_contiguous
    np.testing.assert_array_equal(from_file_object, data)
    assert not np.shares_memory(load_image(data), data)  # a copy, never a view


def test_empty_bytes_and_wrong_type():
    with pytest.raises(ImageLoadError, match=r"no data \(0 bytes\)"):
        load_image(b"")
    # bytes read from a named file: said as for the path
    with pytest.raises(ImageLoadError, match=r"^a\.png: the file is empty \(0 bytes\)$"):
        load_image(b"", name="a.png")
    with pytest.raises(TypeError, match="cannot load a int"):
        load_image(42)


def test_array_layouts_and_dtypes():
    grey = np.full((16, 16), 7, np.uint8)
    assert (to_rgb_uint8(grey) == 7).all()
    assert (to_rgb_uint8(grey[..., None]) == 7).all()
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[...] = (200, 0, 50, 128)
    assert (to_rgb_uint8(rgba) == (227, 127, 152)).all()
    assert (to_rgb_uint8(np.full((16, 16, 3), 65535, np.uint16)) == 255).all()
    assert (to_rgb_uint8(np.full((16, 16), 257, np.uint16)) == 1).all()
    assert (to_rgb_uint8(np.full((16, 16, 3), 0.5, np.float64)) == 128).all()
    mask = np.zeros((16, 16), bool)
    mask[:8] = True
    out = to_rgb_uint8(mask)
    assert (out[:8] == 255).all() and (out[8:] == 0).all()
    assert (to_rgb_uint8(np.full((16, 16), 200, np.int64)) == 200).all()


def test_float_array_outside_unit_range_is_refused():
    values = np.zeros((16, 16, 3), np.float32)
    values[0, 0, 0] = 2.0
    values[0, 1, 0] = -0.5
    with pytest.raises(ValueError, match=r"\[0, 1\], found range \[-0.5, 2\]"):
        to_rgb_uint8(values)
    with pytest.raises(ImageLoadError, match="found range"):
        load_image(values)
    with pytest.raises(ValueError, match="NaN"):
        to_rgb_uint8(np.full((16, 16), np.nan))


def test_bad_array_shape_and_type():
    with pytest.raises(ValueError, match=r"got \(16, 16, 5\)"):
        to_rgb_uint8(np.zeros((16, 16, 5), np.uint8))
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        to_rgb_uint8(np.full((16, 16), 300, np.int32))
    with pytest.raises(TypeError, match="PIL image or a numpy array"):
        to_rgb_uint8([[1, 2], [3, 4]])


def test_max_side_caps_and_keeps_aspect(tmp_path):
    path = _write(tmp_path, Image.new("RGB", (100, 60), (5, 6, 7)), "wide.png")
    out = load_image(path, max_side=50)
    _assert_rgb(out, (30, 50))
    assert (out == (5, 6, 7)).all()
    assert load_image(path, max_side=500).shape == (60, 100, 3)  # never enlarged
    with pytest.raises(ValueError, match="max_side must be a positive integer"):
        load_image(path, max_side=0)


def test_fit_to_cap():
    image = np.zeros((60, 100, 3), np.uint8)
    same, scale = fit_to_cap(image, 100)
    assert same is image and scale == 1.0
    small, scale = fit_to_cap(image, 25)
    assert small.shape == (15, 25, 3) and scale == 0.25


# --------------------------------------------------------------------------- resizing


def test_resize_image_area_down_exact_mean():
    image = np.zeros((4, 4, 3), np.uint8)
    image[:2, :2] = 100
    image[0, 0] = 0  # block mean (0 + 100 * 3) / 4 = 75
    out = resize_image(image, (2, 2))
    _assert_rgb(out, (2, 2))
    assert out[0, 0].tolist() == [75, 75, 75]
    assert out[1, 1].tolist() == [0, 0, 0]


def test_resize_image_up_and_mixed_shapes():
    image = np.random.default_rng(3).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    _assert_rgb(resize_image(image, (40, 60)), (40, 60))
    _assert_rgb(resize_image(image, (10, 90)), (10, 90))
    _assert_rgb(resize_image(image, (50, 7)), (50, 7))
    flat = np.full((20, 30, 3), 77, np.uint8)
    assert (resize_image(flat, (41, 13)) == 77).all()
    same = resize_image(image, (20, 30))
    assert same is not image and np.array_equal(same, image)


def test_resize_map_bilinear_half_pixel_centres():
    ramp = np.array([[0.0, 1.0], [0.0, 1.0]], np.float32)
    out = resize_map(ramp, (4, 4))
    assert out.dtype == np.float32 and out.shape == (4, 4)
    np.testing.assert_allclose(out[0], [0.0, 0.25, 0.75, 1.0], atol=1e-6)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        resize_map(ramp * 2, (4, 4))


def test_resize_labels_nearest_only():
    labels = np.array([[0, 3], [1, 2]], np.uint8)
    up = resize_labels(labels, (4, 6))
    assert up.dtype == np.uint8 and up.shape == (4, 6)
    np.testing.assert_array_equal(up[:2, :3], 0)
    np.testing.assert_array_equal(up[2:, 3:], 2)
    rng = np.random.default_rng(4)
    noisy = rng.choice(np.array([0, 1, 3], np.uint8), size=(37, 53))
    for size in [(11, 17), (100, 7), (74, 106)]:
        assert set(np.unique(resize_labels(noisy, size))) <= {0, 1, 3}
    np.testing.assert_array_equal(resize_labels(noisy, (74, 106))[::2, ::2], noisy)
    with pytest.raises(ValueError, match="uint8"):
        resize_labels(labels.astype(np.int32), (4, 4))


# --------------------------------------------------------------------------- writing


def test_save_image_round_trip_and_parent_creation(tmp_path):
    image = np.random.default_rng(5).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    target = tmp_path / "new" / "deeper" / "out.png"
    assert save_image(image, target) == target
    np.testing.assert_array_equal(load_image(target), image)
    jpeg = save_image(np.full((20, 24, 3), 90, np.uint8), tmp_path / "out.jpg")
    assert np.abs(load_image(jpeg).astype(int) - 90).max() <= 2
    grey = save_image(np.full((20, 24), 33, np.uint8), tmp_path / "grey.png")
    assert (load_image(grey) == 33).all()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grey.png", "new", "out.jpg"]


def test_save_image_bad_suffix(tmp_path):
    with pytest.raises(ValueError, match=r"unsupported suffix '\.bmp'.*\.png"):
        save_image(np.zeros((16, 16, 3), np.uint8), tmp_path / "out.bmp")


def test_crash_during_replace_leaves_nothing(tmp_path, monkeypatch):
    def crash(src, dst):
        raise OSError("disk vanished")

    monkeypatch.setattr(images.os, "replace", crash)
    with pytest.raises(OSError, match="disk vanished"):
        save_image(np.zeros((16, 16, 3), np.uint8), tmp_path / "out.png")
    assert list(tmp_path.iterdir()) == []


def test_crash_during_write_keeps_old_file(tmp_path, monkeypatch):
    target = tmp_path / "result.json"
    target.write_text("old\n")

    def crash(fd):
        raise KeyboardInterrupt  # even an interrupt must not leave a temp file

    monkeypatch.setattr(images.os, "fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        save_json({"a": 1}, target)
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_encoder_failure_writes_nothing(tmp_path, monkeypatch):
    def broken_save(self, fp, *args, **kwargs):
        raise OSError("encoder exploded")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="encoder exploded"):
        save_image(np.zeros((16, 16, 3), np.uint8), tmp_path / "out.png")
    assert list(tmp_path.iterdir()) == []


def test_refuses_to_overwrite_input(tmp_path):
    source = _write(tmp_path, Image.new("RGB", (16, 16), (1, 2, 3)), "input.png")
    before = source.read_bytes()
    image = np.zeros((16, 16, 3), np.uint8)
    spelled_differently = tmp_path / "sub" / ".." / "input.png"
    (tmp_path / "sub").mkdir()
    for target in (source, spelled_differently):
        with pytest.raises(ValueError, match="refusing to write .*input file"):
            save_image(image, target, protect=[source])
    link = tmp_path / "link.png"
    link.symlink_to(source)
    with pytest.raises(ValueError, match="refusing"):
        save_image(image, link, protect=[str(source)])
    with pytest.raises(ValueError, match="refusing"):
        save_json({}, source, protect=source)
    assert source.read_bytes() == before
    # A different file in the same folder is fine.
    save_image(image, tmp_path / "output.png", protect=[source])


def test_uncreatable_output_directory_is_named(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    with pytest.raises(OSError, match=r"cannot create output directory .*blocker"):
        atomic_write_bytes(blocker / "sub" / "out.bin", b"x")
    with pytest.raises(IsADirectoryError, match="is a directory"):
        atomic_write_bytes(tmp_path, b"x")


def test_atomic_write_bytes_permissions_follow_umask(tmp_path):
    path = atomic_write_bytes(tmp_path / "data.bin", b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_save_json_format(tmp_path):
    path = save_json({"b": np.float32(0.5), "a": [np.int64(1), 2], "c": np.arange(2)},
                     tmp_path / "meta.json")
    text = path.read_text()
    assert text == '{\n  "a": [\n    1,\n    2\n  ],\n  "b": 0.5,\n  "c": [\n    0,\n    1\n  ]\n}\n'
    assert json.loads(text)["b"] == 0.5


# --------------------------------------------------------------------------- samples


def test_list_samples():
    names = list_samples()
    assert names["content"] == ["astronaut", "grace_hopper"]
    assert {"hubble_deep_field", "brick", "gravel", "tartan", "houndstooth", "stripes",
            "polka_dots"} == set(names["style"])


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper"])
def test_content_samples(name):
    first = sample_content(name)
    assert first.ndim == 3 and first.shape[2] == 3 and first.dtype == np.uint8
    assert first.flags.c_contiguous and min(first.shape[:2]) >= 256
    assert np.array_equal(first, sample_content(name))


@pytest.mark.parametrize("name", list_samples()["style"])
def test_style_samples(name):
    first = sample_style(name)
    assert first.ndim == 3 and first.shape[2] == 3 and first.dtype == np.uint8
    assert first.flags.c_contiguous
    assert np.array_equal(first, sample_style(name))
    assert first.std() > 5  # a texture, not a flat colour


def test_brick_grey_becomes_rgb():
    brick = sample_style("brick")
    assert np.array_equal(brick[..., 0], brick[..., 2])


def test_unknown_sample_names():
    with pytest.raises(ValueError, match="unknown content sample 'chelsea'.*'astronaut'"):
        sample_content("chelsea")
    with pytest.raises(ValueError, match="unknown style sample 'x'.*'tartan'"):
        sample_style("x")
    with pytest.raises(ValueError, match="unknown fabric kind 'plaid'.*'houndstooth'"):
        fabric_pattern("plaid")


def test_grace_hopper_missing_is_a_clear_error(tmp_path, monkeypatch):
    from matplotlib import cbook

    monkeypatch.setattr(cbook, "get_sample_data",
                        lambda *args, **kwargs: str(tmp_path / "gone.jpg"))
    with pytest.raises(FileNotFoundError, match="not shipped with the installed matplotlib"):
        sample_content("grace_hopper")


@pytest.mark.parametrize("kind", images.FABRIC_KINDS)
def test_fabric_patterns_deterministic(kind):
    first = fabric_pattern(kind, size=(96, 160), seed=3)
    _assert_rgb(first, (96, 160))
    assert first.tobytes() == fabric_pattern(kind, size=(96, 160), seed=3).tobytes()
    assert not np.array_equal(first, fabric_pattern(kind, size=(96, 160), seed=4))


def test_fabric_colors_override():
    black_white = [(0, 0, 0), (255, 255, 255)]
    dots = fabric_pattern("polka_dots", size=(64, 64), colors=black_white)
    assert dots[..., 0].min() == 0 and dots[..., 0].max() >= 200
    assert np.array_equal(dots[..., 0], dots[..., 1])  # only greys
    primaries = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    tartan = fabric_pattern("tartan", size=(64, 64), colors=primaries)  # 1-px threads: no shading
    assert {tuple(c) for c in np.unique(tartan.reshape(-1, 3), axis=0)} == set(primaries)
    with pytest.raises(ValueError, match="at least 2 RGB triples"):
        fabric_pattern("stripes", colors=[(1, 2, 3)])
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        fabric_pattern("tartan", colors=[(0, 0, 0), (300, 0, 0)])


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "10", float("nan")])
def test_max_side_is_checked_in_one_place_with_one_message(bad):
    from helpers._checks import check_positive_int

    with pytest.raises(ValueError, match=r"max_side must be a positive integer, got "):
        check_positive_int(bad, "max_side")
    with pytest.raises(ValueError, match=r"max_side must be a positive integer, got "):
        fit_to_cap(np.zeros((20, 20, 3), np.uint8), bad)
