"""U²-Net cloth parsing (levindabhi/cloth-segmentation's model) as a segmentation back-end.

:func:`parse_clothes` runs a runner (see :mod:`helpers.u2net`) on a 768 x 768 input,
upsamples the *logits* bilinearly to the image size and only then takes softmax and
argmax. Resizing the label image itself with an interpolating filter (bicubic, Lanczos),
as the original notebook did, would invent class ids along the boundaries between classes;
it is never done here.

Runner protocol (duck-typed, see ``helpers.u2net``): ``runner(batch)`` maps an
``(N, 3, H, W) float32`` batch to the finest side output d0 ``(N, C, H, W) float32``;
attributes ``arch`` (``"u2net_cloth"``), ``backend`` (``"torch"``, ``"onnx"``, ``"openvino"``) and
``output_is_logits`` (True for cloth parsing).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from helpers._checks import check_image
from helpers.segment import CLASS_NAMES, ClothParsing
from helpers.segmentation.base import Capabilities, ParsingBackend
from helpers.u2net import INPUT_SIDES

__all__ = ["CLOTH_INPUT_SIZE", "U2NetCloth", "U2NetClothOnnx", "labels_from_logits",
           "parse_clothes", "preprocess_cloth", "upsample_logits"]

#: Side of the square cloth-parsing input.
CLOTH_INPUT_SIZE = INPUT_SIDES["u2net_cloth"]

def preprocess_cloth(image: np.ndarray) -> np.ndarray:
    """Prepare an image for the cloth-parsing network.

    The image is resized to 768 x 768 (aspect ratio ignored): area averaging when both
    sides shrink, bilinear otherwise. Values are mapped with ``(x / 255 - 0.5) / 0.5``
    per channel, i.e. to [-1, 1], which is how the cloth model was trained (it does
    *not* use ImageNet statistics).

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W, 3) uint8`` RGB.

    Returns
    -------
    numpy.ndarray
        ``(1, 3, 768, 768) float32`` batch.
    """
    check_image(image)
    size = CLOTH_INPUT_SIZE
    height, width = image.shape[:2]
    method = cv2.INTER_AREA if (height >= size and width >= size) else cv2.INTER_LINEAR
    resized = cv2.resize(np.ascontiguousarray(image), (size, size), interpolation=method)
    scaled = resized.astype(np.float32) / np.float32(255.0)
    normalised = (scaled - np.float32(0.5)) / np.float32(0.5)
    return np.ascontiguousarray(normalised.transpose(2, 0, 1)[None])


def _check_logits(logits: np.ndarray) -> np.ndarray:
    logits = np.asarray(logits)
    if logits.ndim != 3:
        raise ValueError(f"logits must have shape (C, H, W), got {logits.shape}")
    if not np.issubdtype(logits.dtype, np.floating):
        raise ValueError(f"logits must be floating point, got dtype {logits.dtype}")
    if logits.shape[0] < 2:
        raise ValueError(f"logits need at least 2 class channels, got {logits.shape[0]}")
    if not np.all(np.isfinite(logits)):
        raise ValueError("logits contain NaN or infinite values")
    return logits.astype(np.float32, copy=False)


def upsample_logits(logits: np.ndarray, size_hw: Sequence[int]) -> np.ndarray:
    """Resize every class channel bilinearly (pixel centres, ``align_corners=False``).

    Parameters
    ----------
    logits : numpy.ndarray
        ``(C, h, w)`` float class scores.
    size_hw : (int, int)
        Target ``(H, W)``.

    Returns
    -------
    numpy.ndarray
        ``(C, H, W) float32``.
    """
    logits = _check_logits(logits)
    height, width = (int(v) for v in size_hw)
    if height < 1 or width < 1:
        raise ValueError(f"size_hw must be positive, got {(height, width)}")
    channels = logits.shape[0]
    if logits.shape[1:] == (height, width):
        return logits.copy()
    # cv2.resize treats the last axis as channels (up to 512), all resized the same way.
    hwc = np.ascontiguousarray(logits.transpose(1, 2, 0))
    out = cv2.resize(hwc, (width, height), interpolation=cv2.INTER_LINEAR)
    out = out.reshape(height, width, channels)
    return np.ascontiguousarray(out.transpose(2, 0, 1), dtype=np.float32)


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=0, keepdims=True)  # stable: exp(<= 0)
    exp = np.exp(shifted)
    return (exp / exp.sum(axis=0, keepdims=True)).astype(np.float32)


def labels_from_logits(logits: np.ndarray, size_hw: Sequence[int],
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Upsample logits to ``size_hw``, then take softmax and argmax.

    Upsampling the scores before the argmax keeps every label an honest decision: a
    pixel between an ``upper_body`` and a ``lower_body`` region gets one of the two,
    never a third class, which an interpolating resize of the label image would give.

    Parameters
    ----------
    logits : numpy.ndarray
        ``(C, h, w)`` float class scores (C <= 256).
    size_hw : (int, int)
        Target ``(H, W)``.

    Returns
    -------
    labels : numpy.ndarray
        ``(H, W) uint8`` argmax class ids.
    probabilities : numpy.ndarray
        ``(C, H, W) float32`` softmax over the class axis.
    """
    upsampled = upsample_logits(logits, size_hw)
    if upsampled.shape[0] > 256:
        raise ValueError(f"at most 256 classes fit in uint8 labels, got {upsampled.shape[0]}")
    labels = np.argmax(upsampled, axis=0).astype(np.uint8)
    return labels, _softmax(upsampled)


def parse_clothes(image: np.ndarray, runner: Any) -> ClothParsing:
    """Segment garments with a cloth-parsing U²-Net runner.

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W, 3) uint8`` RGB.
    runner : callable
        Runner with ``output_is_logits = True`` (``arch == "u2net_cloth"``) mapping a
        ``(1, 3, 768, 768) float32`` batch to d0 logits ``(1, 4, h, w) float32``.

    Returns
    -------
    ClothParsing
        ``labels (H, W) uint8``, ``probabilities (4, H, W) float32`` and the backend.
    """
    check_image(image)
    arch = getattr(runner, "arch", "unknown")
    if not getattr(runner, "output_is_logits", False):
        raise ValueError(
            f"runner {arch!r} outputs saliency probabilities, not class logits: it is the "
            "wrong network for cloth parsing; load the 'u2net_cloth' weights "
            "(helpers.u2net.load_runner('u2net_cloth', ...))"
        )
    output = np.asarray(runner(preprocess_cloth(image)))
    expected = len(CLASS_NAMES)
    if output.ndim != 4 or output.shape[0] != 1 or output.shape[1] != expected:
        raise ValueError(
            f"cloth-parsing runner {arch!r} returned shape {output.shape}; expected "
            f"(1, {expected}, h, w) logits for the classes {', '.join(CLASS_NAMES.values())}"
        )
    labels, probabilities = labels_from_logits(output[0], image.shape[:2])
    return ClothParsing(labels=labels, probabilities=probabilities,
                        backend=str(getattr(runner, "backend", "unknown")))


class U2NetCloth(ParsingBackend):
    """U²-Net cloth parsing from the ``.pth`` checkpoint, through PyTorch.

    Parameters
    ----------
    weights_cache : path, optional
        Weights cache folder (default :func:`helpers.weights.cache_dir`).
    runner : callable, optional
        A loaded runner (tests, or a caller that already has one); else the weights are
        loaded (and verified) on the first photo.
    download : bool
        Download the weights when they are not in the cache (False: only the cache).
    """

    name = "u2net_cloth"
    title = "U²-Net cloth parsing (PyTorch)"
    capabilities = Capabilities(has_classes=True, takes_clicks=True, gives_matte=False,
                                needs_weights=True)
    weights = "cloth_segm_u2net"

    def __init__(self, *, weights_cache: Any = None, runner: Any = None,
                 download: bool = True) -> None:
        super().__init__()
        self._weights_cache = weights_cache
        self._runner = runner
        self._download = download

    @property
    def runner(self):
        """The U²-Net runner, loaded on first use."""
        if self._runner is None:
            from helpers import weights as weights_module
            from helpers.u2net import load_runner

            path = weights_module.ensure_weights(self.weights, cache=self._weights_cache,
                                                 download=self._download)
            self._runner = load_runner("u2net_cloth", path)
        return self._runner

    def _parse(self, image: np.ndarray) -> tuple[ClothParsing, None]:
        return parse_clothes(image, self.runner), None


class U2NetClothOnnx(U2NetCloth):
    """U²-Net cloth parsing from rembg's ONNX export, through onnxruntime."""

    name = "u2net_cloth_onnx"
    title = "U²-Net cloth parsing (ONNX)"
    weights = "u2net_cloth_seg_onnx"
