"""U²-Net (Qin et al., 2020) in PyTorch, checkpoint loading and an inference runner.

The networks reproduce the published ``state_dict`` layout exactly, so the three public
checkpoints load unchanged:

=============== ======================================= ====================================
``arch``        network                                 checkpoint
=============== ======================================= ====================================
``u2net``       ``U2NET(3, 1)``, sigmoid saliency       ``u2net.pth`` (xuebinqin/U-2-Net)
``u2netp``      ``U2NETP(3, 1)``, sigmoid saliency      ``u2netp.pth`` (xuebinqin/U-2-Net)
``u2net_cloth`` ``U2NET(3, 4, sigmoid=False)``, logits  ``cloth_segm_u2net_latest.pth``
=============== ======================================= ====================================

Three inference engines share one interface, :class:`U2NetRunner`: a ``(N, 3, H, W)
float32`` normalised NCHW batch in, the fused map ``d0`` as ``(N, C, H, W) float32`` out:
:class:`TorchU2NetRunner` (PyTorch), :class:`OnnxU2NetRunner` (onnxruntime) and
:class:`OpenVinoU2NetRunner` (OpenVINO). Image pre- and post-processing lives in the
segmentation and saliency modules, not here.

:func:`load_runner` with ``engine="auto"`` (the default) runs the file with the engine
that is fastest *on this machine*, by measurement (:func:`select_engine`): a ``.pth`` is
converted to ONNX once (cached beside the weights as ``<file>.onnx``), every installed
engine that can run the model on the requested device is timed on one batch of the
network's working size, and the timings are remembered beside the weights
(``<file>.engines.json``, keyed by CPU, device and engine versions), so the measurement
happens once per machine and file. An int8 model is opt-in only: make one with
:func:`quantize_onnx` and pass its path (faster, not numerically equivalent).

torch, onnxruntime and openvino are imported lazily: ``import helpers.u2net`` is cheap.
The networks (``U2NET``, ``U2NETP``, ``RSU``, ``ConvBNReLU``) are defined at top level in
:mod:`helpers.u2net_networks`, imported on first use (and reachable from here too), so an
ONNX-only install can still use :class:`OnnxU2NetRunner`.
"""

from __future__ import annotations

import abc
import contextlib
import functools
import json
import os
import platform
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from helpers._checks import check_choice
from helpers._imports import require
from helpers.files import atomic_path

#: arch name -> (network class name, in_ch, out_ch, sigmoid on the outputs)
ARCHITECTURES: dict[str, tuple[str, int, int, bool]] = {
    "u2net": ("U2NET", 3, 1, True),
    "u2netp": ("U2NETP", 3, 1, True),
    "u2net_cloth": ("U2NET", 3, 4, False),
}
#: arch name -> the square input side its pre-processing feeds (the U²-Net test recipe's
#: 320 for saliency, the cloth-parsing recipe's 768); an ONNX graph with a fixed input
#: size must have this one.
INPUT_SIDES: dict[str, int] = {"u2net": 320, "u2netp": 320, "u2net_cloth": 768}
TORCH_SUFFIXES = (".pth", ".pt")
ONNX_SUFFIXES = (".onnx",)
#: Names given to the seven outputs in an exported ONNX graph (same order as forward).
OUTPUT_NAMES = ("d0", "d1", "d2", "d3", "d4", "d5", "d6")
_MODULE_PREFIX = "module."  # added by nn.DataParallel / DistributedDataParallel saves
_NETWORK_CLASSES = ("U2NET", "U2NETP", "RSU", "ConvBNReLU")


class CheckpointError(ValueError):
    """A file or state dict that is not a checkpoint of the expected network."""


def _import_torch():
    return require("torch", "U²-Net in PyTorch needs torch: pip install torch (CPU wheels: "
                            "--index-url https://download.pytorch.org/whl/cpu), or use an "
                            ".onnx model with onnxruntime instead")


def _import_openvino():
    return require("openvino", "running a U²-Net model with OpenVINO needs openvino: "
                               "pip install openvino")


def _import_onnxruntime():
    return require("onnxruntime", "running a U²-Net .onnx model needs onnxruntime: "
                                  "pip install onnxruntime")


# --------------------------------------------------------------------------- networks
def _networks():
    """:mod:`helpers.u2net_networks`, imported on first use (it imports torch)."""
    _import_torch()  # a clear install hint when torch is missing
    from helpers import u2net_networks

    return u2net_networks


def __getattr__(name: str) -> Any:
    # the network classes stay reachable here, as before they had a module of their own
    if name in _NETWORK_CLASSES:
        return getattr(_networks(), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_NETWORK_CLASSES])


def build_network(arch: str):
    """Build one of the known U²-Net variants, in eval mode, with random weights.

    Parameters
    ----------
    arch : {"u2net", "u2netp", "u2net_cloth"}
        ``u2net``/``u2netp``: saliency, 1 sigmoid channel; ``u2net_cloth``: 4 logit
        channels (0 background, 1 upper body, 2 lower body, 3 full body).

    Returns
    -------
    torch.nn.Module
        Takes ``(N, 3, H, W)`` float32 and returns 7 tensors ``(N, C, H, W)``.
    """
    check_choice(arch, ARCHITECTURES, "U²-Net architecture")
    class_name, in_ch, out_ch, sigmoid = ARCHITECTURES[arch]
    model = getattr(_networks(), class_name)(in_ch, out_ch, sigmoid=sigmoid)
    return model.eval()


def count_parameters(model) -> int:
    """Number of trainable scalars (excludes BatchNorm running statistics)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# --------------------------------------------------------------------------- checkpoints
def _describe_shape(shape) -> str:
    return "[" + ", ".join(str(int(s)) for s in shape) + "]"


def _guess_network(state: Mapping[str, Any]) -> str | None:
    """Name the U²-Net variant a state dict looks like, from three telling shapes."""
    try:
        mid = int(state["stage1.rebnconv1.conv_s1.weight"].shape[0])
        in_ch = int(state["stage1.rebnconvin.conv_s1.weight"].shape[1])
        out_ch = int(state["outconv.weight"].shape[0])
    except (KeyError, AttributeError, IndexError, TypeError, ValueError):
        return None
    name = {32: "U2NET", 16: "U2NETP"}.get(mid)
    return f"{name}(in_ch={in_ch}, out_ch={out_ch})" if name else None


def _read_state_dict(source) -> tuple[dict, str]:
    if isinstance(source, Mapping):
        return dict(source), "state dict"
    torch = _import_torch()
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(
            f"U²-Net checkpoint not found: {path}; download it with "
            "helpers.weights.ensure_weights(name) (the README's 'Weights' section lists "
            "the files and where to place them) or pass the right path"
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types here; report one clear error
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"not a PyTorch checkpoint: {path}: {reason}") from exc
    # Some training scripts wrap the weights as {"state_dict": {...}}.
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping):
        raise CheckpointError(
            f"not a PyTorch checkpoint: {path}: holds a {type(obj).__name__}, expected a "
            "state dict (a mapping of parameter names to tensors)"
        )
    return dict(obj), str(path)


def load_checkpoint(model, source):
    """Load U²-Net weights into ``model`` strictly, with a readable error when they do not fit.

    Tolerates a ``module.`` key prefix (stripped only from keys that carry it) and
    missing ``num_batches_tracked`` entries (filled with zeros, as old PyTorch saves lack
    them). Files are read with ``torch.load(map_location="cpu", weights_only=True)``.

    Parameters
    ----------
    model : torch.nn.Module
        A network from :func:`build_network` (or any module).
    source : str, os.PathLike or Mapping[str, torch.Tensor]
        A ``.pth`` file or an already loaded state dict.

    Returns
    -------
    torch.nn.Module
        ``model`` itself, with the weights loaded (its train/eval mode is unchanged).

    Raises
    ------
    FileNotFoundError
        ``source`` is a path that does not exist.
    CheckpointError
        The file is not a PyTorch checkpoint, or its keys or shapes do not match ``model``.
    """
    torch = _import_torch()
    state, where = _read_state_dict(source)
    state = {(k[len(_MODULE_PREFIX):] if isinstance(k, str) and k.startswith(_MODULE_PREFIX)
              else k): v for k, v in state.items()}
    expected = model.state_dict()
    for key, value in expected.items():
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = torch.zeros_like(value)

    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mismatched = [
        f"{k}: expected {_describe_shape(expected[k].shape)} found "
        f"{_describe_shape(getattr(state[k], 'shape', ()))}"
        for k in expected
        if k in state and tuple(getattr(state[k], "shape", ())) != tuple(expected[k].shape)
    ]
    label = getattr(model, "arch_label", type(model).__name__)
    if missing or unexpected or mismatched:
        problems = []
        for title, items in (("missing keys", missing), ("unexpected keys", unexpected),
                             ("shape mismatches", mismatched)):
            if items:
                shown = "; ".join(map(str, items[:5]))
                more = f"; ... ({len(items) - 5} more)" if len(items) > 5 else ""
                problems.append(f"{len(items)} {title}: {shown}{more}")
        guess = _guess_network(state)
        hint = f" It looks like a {guess} checkpoint." if guess and guess != label else ""
        raise CheckpointError(
            f"{where} is not a checkpoint of {label}: " + " | ".join(problems) + "." + hint
            + " Pick the checkpoint that belongs to this architecture."
        )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # e.g. a non-tensor value under a valid key
        raise CheckpointError(f"{where} could not be loaded into {label}: {exc}") from exc
    return model


# --------------------------------------------------------------------------- devices
#: ``device`` values a torch runner takes besides explicit torch device strings.
DEVICES = ("auto", "cuda", "mps", "cpu")


def choose_device(device: str = "auto") -> str:
    """The torch device a U²-Net runner uses.

    Parameters
    ----------
    device : str
        ``"auto"``: ``"cuda"`` if torch sees a CUDA GPU, else ``"mps"`` (Apple GPU) if
        available, else ``"cpu"``. Or an explicit ``"cuda"``, ``"cuda:1"``, ``"mps"``,
        ``"cpu"``.

    Returns
    -------
    str
        The device string for ``torch.device``.

    Raises
    ------
    ValueError
        An explicit GPU that this torch cannot use (the message says what to do).
    """
    torch = _import_torch()
    if not isinstance(device, str) or not device:
        raise ValueError(f"device must be one of {', '.join(DEVICES)} (or 'cuda:N'), "
                         f"got {device!r}")
    mps = getattr(torch.backends, "mps", None)
    mps_ok = bool(mps is not None and mps.is_available())
    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if mps_ok else "cpu"
    kind = device.split(":")[0]
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r}: this torch ({torch.__version__}) sees no CUDA "
                         "GPU; use device='auto' or 'cpu', or install a CUDA build of torch")
    if kind == "mps" and not mps_ok:
        raise ValueError(f"device {device!r}: the Apple GPU (MPS) is not available; use "
                         "device='auto' or 'cpu'")
    if kind not in ("cuda", "mps", "cpu"):
        raise ValueError(f"device must be one of {', '.join(DEVICES)} (or 'cuda:N'), "
                         f"got {device!r}")
    return device


def device_label(device: str) -> str:
    """A readable name of a torch device: ``"cuda (NVIDIA H100 80GB HBM3)"``, ``"cpu"``."""
    if device.startswith("cuda"):
        torch = _import_torch()
        try:
            index = int(device.split(":")[1]) if ":" in device else torch.cuda.current_device()
            return f"{device} ({torch.cuda.get_device_name(index)})"
        except Exception:  # a name is only a courtesy
            return device
    if device == "mps":
        return "mps (Apple GPU)"
    return device


def onnx_providers(available: Sequence[str] | None = None) -> list[str]:
    """onnxruntime execution providers for U²-Net, the GPU first when the build has it.

    Parameters
    ----------
    available : sequence of str, optional
        The providers of the installed onnxruntime (default:
        ``onnxruntime.get_available_providers()``).

    Returns
    -------
    list of str
        ``["CUDAExecutionProvider", "CPUExecutionProvider"]`` with a CUDA build
        (``onnxruntime-gpu``), else ``["CPUExecutionProvider"]``.
    """
    if available is None:
        available = _import_onnxruntime().get_available_providers()
    providers = ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" in available:
        providers.insert(0, "CUDAExecutionProvider")
    return providers


def _onnx_providers_for(device: str) -> list[str] | None:
    """The onnxruntime providers for a ``device`` request; ValueError for one it lacks.

    ``"auto"``: None (:func:`onnx_providers`: CUDA first when the build has it);
    ``"cpu"``: the CPU provider; ``"cuda"`` or ``"cuda:N"``: CUDA (device N), then the CPU,
    or a clear error when the installed onnxruntime has no CUDA provider. Other devices
    (``"mps"``) have no onnxruntime provider here.
    """
    if device == "auto":
        return None
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device == "cuda" or (isinstance(device, str) and device.startswith("cuda:")
                            and device[5:].isdigit()):
        if "CUDAExecutionProvider" not in onnx_providers():
            raise ValueError(
                f"device {device!r}: this onnxruntime build has no CUDA provider; install "
                "onnxruntime-gpu, or use device='auto' or 'cpu'")
        index = int(device[5:]) if ":" in device else 0
        return [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
    raise ValueError(f"device {device!r} is not available to onnxruntime here; use 'auto', "
                     "'cpu', 'cuda' or 'cuda:N' for an .onnx model")


def provider_label(provider: str) -> str:
    """``"CUDAExecutionProvider"`` -> ``"cuda"``, ``"CPUExecutionProvider"`` -> ``"cpu"``."""
    return provider.removesuffix("ExecutionProvider").lower() or provider


# --------------------------------------------------------------------------- runners
def _check_batch(batch: np.ndarray) -> np.ndarray:
    if not isinstance(batch, np.ndarray):
        raise TypeError(f"batch must be a numpy array (N, 3, H, W) float32, got "
                        f"{type(batch).__name__}")
    if batch.ndim != 4 or batch.shape[1] != 3:
        raise ValueError(f"batch must have shape (N, 3, H, W) (normalised NCHW), got "
                         f"{batch.shape}; transpose an (H, W, 3) image with "
                         "image.transpose(2, 0, 1)[None]")
    if not np.issubdtype(batch.dtype, np.floating):
        raise ValueError(f"batch must be float32 (normalised), got dtype {batch.dtype}")
    return np.ascontiguousarray(batch, dtype=np.float32)


class U2NetRunner(abc.ABC):
    """One U²-Net inference back-end: normalised batch in, fused map ``d0`` out.

    Attributes
    ----------
    arch : str
        ``"u2net"``, ``"u2netp"`` or ``"u2net_cloth"``.
    backend : str
        ``"torch"`` or ``"onnx"``.
    output_is_logits : bool
        True for the cloth network (4 class logits), False for the saliency networks
        (1 sigmoid channel in [0, 1]).
    """

    arch: str
    backend: str
    output_is_logits: bool

    def __init__(self, arch: str):
        check_choice(arch, ARCHITECTURES, "U²-Net architecture")
        self.arch = arch
        self.output_is_logits = not ARCHITECTURES[arch][3]
        self.out_channels = ARCHITECTURES[arch][2]

    @abc.abstractmethod
    def _run(self, batch: np.ndarray) -> np.ndarray:
        """Run the network on a checked ``(N, 3, H, W)`` float32 batch, return d0."""

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """Run the network.

        Parameters
        ----------
        batch : np.ndarray
            ``(N, 3, H, W)`` float32, already normalised the way the network expects.

        Returns
        -------
        np.ndarray
            ``(N, C, H, W)`` float32 fused map d0: C = 1 sigmoid saliency in [0, 1], or
            C = 4 class logits for ``u2net_cloth``.
        """
        out = self._run(_check_batch(batch))
        return np.asarray(out, dtype=np.float32)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(arch={self.arch!r}, backend={self.backend!r})"


class TorchU2NetRunner(U2NetRunner):
    """Run a PyTorch U²-Net under ``torch.inference_mode`` on the GPU if there is one.

    The runner keeps its own inference copy of the network, made when it is created:
    every BatchNorm folded into the convolution before it (the same function in eval
    mode, up to float rounding) and the weights in ``channels_last`` layout, which
    the CPU convolutions run fastest in, on ``device``. It runs in float32 everywhere
    (half precision has not been measured against float32 on a GPU, so it is not used).
    Later changes to ``model`` do not reach it; make a new runner after loading other
    weights.

    Parameters
    ----------
    model : torch.nn.Module
        A network with loaded weights (put in eval mode here; not modified otherwise).
    arch : str
        Which variant ``model`` is (sets ``output_is_logits``).
    threads : int, optional
        torch intra-op threads during a call (restored afterwards); None keeps the default.
    device : str
        ``"auto"`` (CUDA, then MPS, then CPU; :func:`choose_device`) or an explicit torch
        device.

    Attributes
    ----------
    device : str
        The torch device the network runs on.
    """

    backend = "torch"

    def __init__(self, model, arch: str, threads: int | None = None, device: str = "auto"):
        super().__init__(arch)
        expects_sigmoid = not self.output_is_logits
        if getattr(model, "apply_sigmoid", expects_sigmoid) != expects_sigmoid:
            raise ValueError(
                f"model {getattr(model, 'arch_label', type(model).__name__)} has "
                f"sigmoid={not expects_sigmoid} but arch {arch!r} expects "
                f"sigmoid={expects_sigmoid}; build it with build_network({arch!r})"
            )
        self.model = model.eval()
        self.threads = threads
        self.device = choose_device(device)
        self._inference_model = _inference_copy(self.model).to(self.device)

    @property
    def device_label(self) -> str:
        """The device, readable: ``"cuda (NVIDIA …)"``, ``"mps (Apple GPU)"``, ``"cpu"``."""
        return device_label(self.device)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        torch = _import_torch()
        previous = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(int(self.threads))
        try:
            with torch.inference_mode():
                x = torch.from_numpy(batch).to(self.device)
                x = x.contiguous(memory_format=torch.channels_last)
                d0 = self._inference_model(x)[0]
            return d0.float().contiguous().cpu().numpy()
        finally:
            if self.threads:
                torch.set_num_threads(previous)


def _inference_copy(model):
    """A copy of ``model`` for inference: BatchNorm folded into convs, channels_last weights.

    Folds every ``conv -> BatchNorm2d`` pair that a module holds as ``conv_s1`` and
    ``bn_s1`` (U²-Net's ``ConvBNReLU``); other modules are copied unchanged.
    """
    import copy

    torch = _import_torch()
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    inference = copy.deepcopy(model).eval()
    for module in inference.modules():
        conv, norm = getattr(module, "conv_s1", None), getattr(module, "bn_s1", None)
        if (isinstance(conv, torch.nn.Conv2d) and isinstance(norm, torch.nn.BatchNorm2d)
                and norm.track_running_stats and norm.running_mean is not None):
            module.conv_s1 = fuse_conv_bn_eval(conv, norm)
            module.bn_s1 = torch.nn.Identity()
    for parameter in inference.parameters():
        parameter.requires_grad_(False)
    return inference.to(memory_format=torch.channels_last)


class OnnxU2NetRunner(U2NetRunner):
    """Run an exported U²-Net ``.onnx`` model with onnxruntime, on the GPU when it can.

    With an onnxruntime build that has ``CUDAExecutionProvider`` (``onnxruntime-gpu``)
    it comes first and the CPU second (:func:`onnx_providers`); onnxruntime itself falls
    back to the CPU when the CUDA libraries are missing, and :attr:`device` says where
    the session runs.

    Parameters
    ----------
    path_or_session : str, os.PathLike or onnxruntime.InferenceSession
        The model file, or a session already created.
    arch : str
        Which variant the model is; its output 0 must be d0.
    threads : int, optional
        onnxruntime intra-op threads (only when a path is given).
    providers : sequence of str, optional
        Execution providers in order (default :func:`onnx_providers`; only when a path
        is given).

    Attributes
    ----------
    device : str
        ``"cuda"`` or ``"cpu"``: the first provider the session really uses.
    """

    backend = "onnx"

    def __init__(self, path_or_session, arch: str, threads: int | None = None,
                 providers: Sequence[str] | None = None):
        super().__init__(arch)
        if isinstance(path_or_session, (str, os.PathLike)):
            ort = _import_onnxruntime()
            path = Path(path_or_session)
            if not path.is_file():
                raise FileNotFoundError(f"U²-Net ONNX model not found: {path}")
            options = ort.SessionOptions()
            if threads:
                options.intra_op_num_threads = int(threads)
            try:
                session = ort.InferenceSession(
                    str(path), sess_options=options,
                    providers=list(providers) if providers else onnx_providers())
            except Exception as exc:  # onnxruntime raises its own exception types
                raise CheckpointError(f"not an ONNX model: {path}: {exc}") from exc
        else:
            session = path_or_session
        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.output_name = session.get_outputs()[0].name
        where = str(path_or_session) if isinstance(path_or_session, (str, os.PathLike)) \
            else "the ONNX session"
        _check_onnx_signature(session, arch, where)
        used = session.get_providers() if hasattr(session, "get_providers") else []
        self.device = provider_label(used[0]) if used else "cpu"

    @property
    def device_label(self) -> str:
        """The device the session runs on, readable: ``"cuda"`` or ``"cpu"``."""
        return self.device

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run([self.output_name], {self.input_name: batch})[0]


def _static_dim(dim: Any) -> int | None:
    """A fixed graph dimension, or None for a symbolic one ("batch", "height", -1)."""
    return int(dim) if isinstance(dim, (int, np.integer)) and dim > 0 else None


def _describe_channels(channels: int) -> str:
    guesses = [name for name, (_, _, out_ch, _) in ARCHITECTURES.items() if out_ch == channels]
    return f" It looks like a {' or '.join(guesses)} model." if guesses else ""


def _check_onnx_signature(session, arch: str, where: str) -> None:
    """Refuse an ONNX graph that is not ``arch``: input ``(N, in_ch, S, S)`` with S the
    arch's :data:`INPUT_SIDES` when fixed, output 0 with the arch's channel count.

    The output's channels are read from the graph, or, when the graph leaves them
    symbolic, from one run on a zero batch. The same facts the ``.pth`` path checks
    through the state dict's shapes (a 4-class cloth model given as "u2net" must not
    give its background logit as saliency).
    """
    _, in_ch, out_ch, _ = ARCHITECTURES[arch]
    side = INPUT_SIDES[arch]
    in_shape = getattr(session.get_inputs()[0], "shape", None)
    out_shape = getattr(session.get_outputs()[0], "shape", None)
    if in_shape is None or out_shape is None:  # a session object that cannot say
        return
    problems = []
    if len(in_shape) != 4:
        problems.append(f"its input has shape {list(in_shape)}, expected (N, {in_ch}, H, W)")
    else:
        if _static_dim(in_shape[1]) not in (None, in_ch):
            problems.append(f"its input has {in_shape[1]} channels, expected {in_ch}")
        fixed = [_static_dim(dim) for dim in in_shape[2:]]
        if any(dim is not None and dim != side for dim in fixed):
            problems.append(f"its input is fixed at {in_shape[2]}x{in_shape[3]} px, the "
                            f"{arch} pre-processing feeds {side}x{side}")
    if len(out_shape) != 4:
        problems.append(f"its output 0 has shape {list(out_shape)}, expected (N, {out_ch}, H, W)")
    channels = _static_dim(out_shape[1]) if len(out_shape) == 4 else None
    if not problems and channels is None:
        batch = np.zeros((1, in_ch, side, side), np.float32)
        try:
            result = session.run([session.get_outputs()[0].name],
                                 {session.get_inputs()[0].name: batch})[0]
        except Exception as exc:  # onnxruntime raises its own types
            raise CheckpointError(f"{where} is not a {arch} model: it does not run on a "
                                  f"(1, {in_ch}, {side}, {side}) input ({exc})") from exc
        channels = int(np.shape(result)[1]) if np.ndim(result) == 4 else None
        if channels is None:
            problems.append(f"its output 0 has shape {list(np.shape(result))}, expected "
                            f"(N, {out_ch}, H, W)")
    if channels is not None and channels != out_ch:
        problems.append(f"its output 0 has {channels} channels, expected {out_ch}")
    if problems:
        hint = _describe_channels(channels) if channels not in (None, out_ch) else ""
        raise CheckpointError(f"{where} is not a {arch} model: " + "; ".join(problems) + "."
                              + hint + " Pick the model file that belongs to this architecture.")


class OpenVinoU2NetRunner(U2NetRunner):
    """Run a U²-Net ``.onnx`` model (or OpenVINO IR ``.xml``) with OpenVINO on the CPU.

    The model is read once; for every new input shape it is reshaped to that static shape
    and compiled (about a second at 768 x 768; the last few shapes are kept), because
    OpenVINO's CPU plugin runs static shapes faster than the graph's dynamic ones. It runs
    in float32 (``INFERENCE_PRECISION_HINT = f32``: on CPUs with bf16 units OpenVINO would
    otherwise choose bf16) with the latency hint (one request on all cores).

    Parameters
    ----------
    path : str or os.PathLike
        ``.onnx`` (as exported by :func:`export_onnx`, rembg's exports, or an int8 QDQ
        model from :func:`quantize_onnx`) or ``.xml`` IR.
    arch : str
        Which variant the model is; its output 0 must be d0.
    threads : int, optional
        Inference threads (``INFERENCE_NUM_THREADS``); None lets OpenVINO choose.
    precision : {"f32", "bf16", "f16"}
        OpenVINO's ``INFERENCE_PRECISION_HINT`` for float operations.

    Attributes
    ----------
    device : str
        ``"cpu"``.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    CheckpointError
        OpenVINO cannot read the file as a model, or the model is not ``arch`` (input
        channels, a fixed input size against :data:`INPUT_SIDES`, output channels: the
        checks of :class:`OnnxU2NetRunner`).
    """

    backend = "openvino"
    _KEEP_SHAPES = 4

    def __init__(self, path, arch: str, threads: int | None = None, precision: str = "f32"):
        super().__init__(arch)
        ov = _import_openvino()
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"U²-Net model not found: {path}")
        self.core = ov.Core()
        try:
            self.model = self.core.read_model(str(path))
        except Exception as exc:  # OpenVINO raises RuntimeError subclasses of its own
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CheckpointError(f"not a model OpenVINO can read: {path}: {reason}") from exc
        self.path = path
        self.config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": precision}
        if threads:
            self.config["INFERENCE_NUM_THREADS"] = int(threads)
        self.device = "cpu"
        self._compiled: dict[tuple[int, ...], Any] = {}
        # the same architecture check as the onnxruntime runner's, on OpenVINO's shapes
        _check_onnx_signature(self._signature(), arch, str(path))

    def _signature(self) -> SimpleNamespace:
        """The model's input and output 0, seen as onnxruntime presents a session."""
        def port(node, name):
            shape = [int(dim.get_length()) if dim.is_static else "?"
                     for dim in node.get_partial_shape()]
            return SimpleNamespace(name=name, shape=shape)

        inputs, outputs = [port(self.model.inputs[0], "input")], [port(self.model.outputs[0], "d0")]
        return SimpleNamespace(get_inputs=lambda: inputs, get_outputs=lambda: outputs,
                               run=lambda names, feeds: [self._run(feeds["input"])])

    @property
    def device_label(self) -> str:
        """``"cpu"``: OpenVINO runs on the CPU here."""
        return self.device

    def _request(self, shape: tuple[int, ...]):
        if shape not in self._compiled:
            while len(self._compiled) >= self._KEEP_SHAPES:
                self._compiled.pop(next(iter(self._compiled)))
            model = self.model.clone()
            model.reshape({model.inputs[0].any_name: list(shape)})
            compiled = self.core.compile_model(model, "CPU", self.config)
            self._compiled[shape] = (compiled.create_infer_request(), compiled.output(0))
        return self._compiled[shape]

    def _run(self, batch: np.ndarray) -> np.ndarray:
        request, output = self._request(tuple(batch.shape))
        return np.array(request.infer({0: batch})[output], copy=True)


# --------------------------------------------------------------------------- engines
#: Inference engines, in the order :func:`select_engine` tries them on a tie.
ENGINES = ("openvino", "onnxruntime", "torch")
#: ``engine`` values :func:`load_runner` takes.
ENGINE_CHOICES = ("auto", *ENGINES)
#: Square input side each network runs at in the pipeline: what the engines are timed at.
WORKING_SIDES = {"u2net_cloth": 768, "u2net": 320, "u2netp": 320}
_ENGINE_MODULES = {"openvino": "openvino", "onnxruntime": "onnxruntime", "torch": "torch"}


def installed_engines() -> tuple[str, ...]:
    """The engines whose Python package is installed (nothing is imported)."""
    import importlib.util

    return tuple(e for e in ENGINES if importlib.util.find_spec(_ENGINE_MODULES[e]))


def converted_onnx_path(path) -> Path:
    """Where the ONNX conversion of a ``.pth`` file is cached: ``<file>.onnx`` beside it.

    (``u2net.pth`` -> ``u2net.pth.onnx``: never the name of a registry file.)
    """
    path = Path(path)
    return path.with_name(path.name + ".onnx")


def convert_to_onnx(arch: str, path, model=None) -> Path:
    """The ONNX graph of a ``.pth`` checkpoint, exported once and cached beside it.

    The export (:func:`export_onnx`, dynamic sizes) is redone when the checkpoint is newer
    than the cached graph. The file is written atomically, so concurrent callers each see
    a complete graph.

    Parameters
    ----------
    arch : str
        The network the checkpoint holds.
    path : str or os.PathLike
        The ``.pth``/``.pt`` checkpoint.
    model : torch.nn.Module, optional
        The network with these weights already loaded (saves loading them again).

    Returns
    -------
    Path
        ``<path>.onnx``.

    Raises
    ------
    OSError
        The folder of the weights cannot be written (the message names it).
    """
    path = Path(path)
    target = converted_onnx_path(path)
    if target.is_file() and target.stat().st_mtime_ns >= path.stat().st_mtime_ns:
        return target
    if model is None:
        model = load_checkpoint(build_network(arch), path)
    try:
        return export_onnx(model, target, size=(64, 64))
    except OSError as exc:
        raise OSError(f"cannot cache the ONNX conversion of {path.name} in {path.parent} "
                      f"({exc.strerror or exc}); make the folder writable or pass "
                      "engine='torch'") from exc


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; else what :mod:`platform` knows)."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return cpu


def _engine_fingerprint(device: str, threads: int | None) -> str:
    """What an engine timing depends on: CPU, cores, device, threads, engine versions."""
    import importlib.metadata

    cpu = cpu_model()
    versions = []
    for engine in ENGINES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions.append(f"{engine}={importlib.metadata.version(_ENGINE_MODULES[engine])}")
    return "|".join([cpu, f"cores={os.cpu_count()}", f"device={device}",
                     f"threads={threads}", *versions])


def _open_engine(engine: str, arch: str, path: Path, threads: int | None, device: str,
                 model=None) -> U2NetRunner:
    """One engine's runner for a model file (``path``: .pth for torch, .onnx otherwise)."""
    if engine == "torch":
        if model is None:
            model = load_checkpoint(build_network(arch), path)
        return TorchU2NetRunner(model, arch, threads=threads, device=device)
    if engine == "onnxruntime":
        return OnnxU2NetRunner(path, arch, threads=threads,
                               providers=_onnx_providers_for(device))
    if device not in ("auto", "cpu"):
        raise ValueError(f"device {device!r}: the OpenVINO runner runs on the CPU only; "
                         "use device='auto' or 'cpu', or engine='torch'/'onnxruntime'")
    return OpenVinoU2NetRunner(path, arch, threads=threads)


def time_runner(runner: U2NetRunner, side: int, repeats: int = 1) -> float:
    """Seconds per call of ``runner`` on a ``(1, 3, side, side)`` batch (after a warm-up).

    The fastest of ``repeats`` timed calls (the least disturbed by other processes).
    """
    batch = np.random.default_rng(0).standard_normal((1, 3, side, side)).astype(np.float32)
    runner(batch)  # warm-up: first-call allocations, OpenVINO's compile for this shape
    best = float("inf")
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        runner(batch)
        best = min(best, time.perf_counter() - start)
    return best


def select_engine(arch: str, path, threads: int | None = None, device: str = "auto",
                  side: int | None = None, repeats: int = 1,
                  engines: Sequence[str] | None = None) -> tuple[U2NetRunner, dict[str, Any]]:
    """Open ``path`` with every usable engine, time each, return the fastest runner.

    Timings are remembered in ``<path>.engines.json`` beside the weights (written
    atomically), keyed by :func:`_engine_fingerprint`; on a later call with the same key
    only the remembered fastest engine is opened. An engine that is not installed or
    cannot open the model is left out (the reason is kept in the record).

    Parameters
    ----------
    arch : str
        The network the file holds.
    path : str or os.PathLike
        ``.pth``/``.pt`` (converted once to ``<path>.onnx`` for onnxruntime and OpenVINO)
        or ``.onnx``.
    threads : int, optional
        Intra-op threads for every engine.
    device : str
        ``"auto"``, ``"cpu"`` or a GPU (``"cuda"``, ``"cuda:N"``, ``"mps"``): only the
        engines that run there are candidates (OpenVINO: the CPU).
    side : int, optional
        Square input side to time at (default :data:`WORKING_SIDES` of ``arch``).
    repeats : int
        Timed calls per engine after one warm-up.
    engines : sequence of str, optional
        Candidates (default :func:`installed_engines`).

    Returns
    -------
    (U2NetRunner, dict)
        The fastest runner, and the record: ``{"engines": {name: seconds}, "chosen":
        name, "side": side, "skipped": {name: reason}, "remembered": bool}``.

    Raises
    ------
    RuntimeError
        No engine could open the model (the message gives each one's reason).
    """
    path = Path(path)
    torch_file = path.suffix.lower() in TORCH_SUFFIXES
    side = int(side or WORKING_SIDES[arch])
    candidates = [e for e in (engines or installed_engines())
                  if e != "torch" or torch_file]
    record_path = path.with_name(path.name + ".engines.json")
    key = f"{_engine_fingerprint(device, threads)}|side={side}"
    try:
        records = json.loads(record_path.read_text())
        if not isinstance(records, dict):
            records = {}
    except (OSError, ValueError):
        records = {}
    stamp = path.stat().st_mtime_ns if path.exists() else None
    remembered = records.get(key)

    @functools.cache
    def checkpoint_model():  # loaded once, and only when an engine needs it
        return load_checkpoint(build_network(arch), path) if torch_file else None

    def source_for(engine: str) -> Path:
        if engine == "torch" or not torch_file:
            return path
        target = converted_onnx_path(path)
        if target.is_file() and target.stat().st_mtime_ns >= path.stat().st_mtime_ns:
            return target
        return convert_to_onnx(arch, path, checkpoint_model())

    def open_engine(engine: str) -> U2NetRunner:
        model = checkpoint_model() if engine == "torch" else None
        return _open_engine(engine, arch, source_for(engine), threads, device, model)

    if (isinstance(remembered, dict) and remembered.get("mtime_ns") == stamp
            and remembered.get("chosen") in candidates):
        engine = remembered["chosen"]
        try:
            return open_engine(engine), {**remembered, "remembered": True}
        except CheckpointError:  # the file is not this network: no engine can help
            raise
        except Exception:  # this engine no longer runs here: measure again
            pass
    timings: dict[str, float] = {}
    skipped: dict[str, str] = {}
    best: tuple[float, U2NetRunner] | None = None
    for engine in candidates:
        try:
            runner = open_engine(engine)
            seconds = time_runner(runner, side, repeats)
        except CheckpointError:  # the file is not this network: no engine can help
            raise
        except Exception as exc:  # any engine may fail on any machine: leave it out
            skipped[engine] = f"{type(exc).__name__}: {exc}"[:300]
            continue
        timings[engine] = seconds
        if best is None or seconds < best[0]:
            best = (seconds, runner)
        else:
            del runner
    if best is None:
        raise RuntimeError(f"no inference engine could run {path.name}: " + "; ".join(
            f"{e}: {why}" for e, why in skipped.items()) + ". Install one of torch, "
            "onnxruntime, openvino, or check the file")
    chosen = min(timings, key=timings.__getitem__)
    record = {"engines": timings, "chosen": chosen, "side": side, "skipped": skipped,
              "mtime_ns": stamp}
    records[key] = record
    try:
        from helpers.images import save_json

        save_json(records, record_path)
    except OSError:
        pass  # a read-only weights folder: measure again next time
    return best[1], {**record, "remembered": False}


def load_runner(arch: str, path, threads: int | None = None,
                device: str = "auto", engine: str = "auto") -> U2NetRunner:
    """Open a U²-Net model file with the fastest engine here, or the one named.

    Parameters
    ----------
    arch : {"u2net", "u2netp", "u2net_cloth"}
        Which network the file holds.
    path : str or os.PathLike
        ``.pth``/``.pt`` (PyTorch state dict) or ``.onnx`` (float32, or an int8 model from
        :func:`quantize_onnx`).
    threads : int, optional
        Intra-op threads for the engine.
    device : str
        ``"auto"``, ``"cpu"``, or a GPU: ``"cuda"``/``"cuda:N"`` (torch, or onnxruntime
        with the CUDA provider), ``"mps"`` (torch). OpenVINO runs on the CPU.
    engine : {"auto", "openvino", "onnxruntime", "torch"}
        ``"auto"``: the fastest engine for this file, device and machine, measured once
        and remembered (:func:`select_engine`; a ``.pth`` is converted to ONNX once for
        the ONNX engines). ``"torch"`` needs a ``.pth``.

    Returns
    -------
    U2NetRunner
        Callable: ``(N, 3, H, W) float32`` -> d0 ``(N, C, H, W) float32``; ``backend``
        says the engine, ``device`` where it runs.

    Raises
    ------
    ValueError
        Unknown suffix, arch, engine or device, or ``engine="torch"`` with an ``.onnx``.
    CheckpointError
        The file is not a model of ``arch``: a ``.pth`` whose keys or shapes differ, an
        ``.onnx`` whose input is not ``(N, 3, S, S)`` with S from :data:`INPUT_SIDES`
        (when fixed) or whose output 0 has the wrong number of channels.
    """
    check_choice(arch, ARCHITECTURES, "U²-Net architecture")
    check_choice(engine, ENGINE_CHOICES, "U²-Net inference engine")
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TORCH_SUFFIXES + ONNX_SUFFIXES:
        raise ValueError(
            f"cannot tell the back-end of {path.name!r} from its suffix {suffix!r}; valid "
            f"suffixes: {', '.join(TORCH_SUFFIXES + ONNX_SUFFIXES)} (PyTorch state dict or "
            "ONNX)"
        )
    if suffix in TORCH_SUFFIXES and not path.is_file():
        load_checkpoint(build_network(arch), path)  # raises the helpful FileNotFoundError
    if engine == "auto":
        candidates = list(installed_engines())
        if device not in ("auto", "cpu"):
            candidates = [e for e in candidates if e != "openvino"]
        if len(candidates) > 1:
            return select_engine(arch, path, threads=threads, device=device,
                                 engines=candidates)[0]
        engine = candidates[0] if candidates else ("torch" if suffix in TORCH_SUFFIXES
                                                  else "onnxruntime")
    if engine == "torch":
        if suffix not in TORCH_SUFFIXES:
            raise ValueError(f"engine 'torch' needs a .pth/.pt checkpoint, got {path.name!r}; "
                             "use engine='onnxruntime' or 'openvino' for an .onnx model")
        return _open_engine("torch", arch, path, threads, device)
    source = convert_to_onnx(arch, path) if suffix in TORCH_SUFFIXES else path
    return _open_engine(engine, arch, source, threads, device)


def export_onnx(model, path, size: tuple[int, int] = (320, 320), dynamic: bool = True,
                opset: int = 17) -> Path:
    """Export a U²-Net to ONNX (all seven outputs, d0 first), written atomically.

    Uses the TorchScript-based exporter (``dynamo=False``), which needs no extra package.

    Parameters
    ----------
    model : torch.nn.Module
        The network (put in eval mode here).
    path : str or os.PathLike
        Destination ``.onnx`` file; parent folders are created.
    size : (int, int)
        ``(H, W)`` of the example input used for tracing.
    dynamic : bool
        Leave batch, height and width free in the graph (else fixed to ``(1, 3, H, W)``).
    opset : int
        ONNX opset version.

    Returns
    -------
    Path
        The written file.
    """
    torch = _import_torch()
    path = Path(path)
    height, width = (int(s) for s in size)
    in_ch = getattr(model, "in_ch", 3)
    example = torch.zeros(1, in_ch, height, width)
    axes = {"input": {0: "batch", 2: "height", 3: "width"}}
    axes.update({name: {0: "batch", 2: "height", 3: "width"} for name in OUTPUT_NAMES})
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # legacy exporter notice
        torch.onnx.export(model.eval(), (example,), str(tmp), dynamo=False,
                          input_names=["input"], output_names=list(OUTPUT_NAMES),
                          opset_version=opset, dynamic_axes=axes if dynamic else None)
    return path


def output_head_nodes(model) -> list[str]:
    """Names of the nodes of U²-Net's output head in an ONNX graph.

    The head is every convolution with as many output channels as the network has
    outputs (the six side convolutions and the fusing 1x1 conv: no other U²-Net conv
    has 1 or 4 output channels) and every node downstream of them (resizes, concat,
    sigmoid). Found from the graph's structure, not its node names, so rembg's exports
    work too.

    Parameters
    ----------
    model : onnx.ModelProto

    Returns
    -------
    list of str
        Node names in graph order (unnamed nodes get none and are left out); empty when
        the graph's outputs do not state their channel count.
    """
    graph = model.graph
    weights = {init.name: tuple(init.dims) for init in graph.initializer}
    out_channels = {tuple(o.type.tensor_type.shape.dim)[1].dim_value for o in graph.output
                    if len(o.type.tensor_type.shape.dim) > 1} - {0}
    head_tensors: set[str] = set()
    head: list[str] = []
    for node in graph.node:  # ONNX nodes are topologically sorted
        weight_shape = weights.get(node.input[1]) if len(node.input) > 1 else None
        is_head_conv = (node.op_type == "Conv" and bool(weight_shape)
                        and weight_shape[0] in out_channels)
        if is_head_conv or any(name in head_tensors for name in node.input):
            head_tensors.update(node.output)
            if node.name:
                head.append(node.name)
    return head


def quantize_onnx(source, target, calibration: Sequence[np.ndarray], *,
                  per_channel: bool = True, float_head: bool = True) -> Path:
    """Post-training int8 quantisation of a U²-Net ONNX graph (opt-in; not equivalent).

    onnxruntime's static quantisation (``quantize_static``) in QDQ format: weights int8
    (per output channel by default), activations uint8 with ranges from the min/max seen
    on the ``calibration`` batches. The output head (:func:`output_head_nodes`: the side
    convolutions, the fusing conv and what follows them; a few per cent of the work) stays
    in float32 by default: quantising the class logits to 256 levels flips the argmax near
    class boundaries (measured on the cloth network with recipe weights, 4 fixture
    photos: 99.27 % argmax agreement with the head quantised, 99.71 % with it in float).
    The QDQ graph runs in onnxruntime and in OpenVINO
    (both turn the QuantizeLinear/DequantizeLinear pairs into integer kernels). Results
    differ from float32 and depend on the CPU's integer kernels; check them on your photos
    (``python -m benchmarks.run`` measures the agreement with float32).

    Parameters
    ----------
    source : str or os.PathLike
        The float32 ``.onnx`` (e.g. from :func:`export_onnx` or :func:`convert_to_onnx`).
    target : str or os.PathLike
        Where the int8 ``.onnx`` goes; written atomically, parent folders created.
    calibration : sequence of np.ndarray
        ``(1, 3, H, W) float32`` batches, normalised as the network expects (a few real
        photos; their size may be smaller than the working size to save memory: the
        calibration holds every activation of a batch at once).
    per_channel : bool
        Per-output-channel weight scales (True) or one per tensor.
    float_head : bool
        Keep the output head in float32 (True) or quantise it too.

    Returns
    -------
    Path
        ``target``.

    Raises
    ------
    ValueError
        No calibration batch, or a batch of the wrong shape.
    """
    quantization = require("onnxruntime.quantization", "int8 quantisation needs onnxruntime "
                                                       "(and onnx): pip install onnxruntime onnx")
    CalibrationDataReader = quantization.CalibrationDataReader  # noqa: N806 - a class
    batches = [_check_batch(b) for b in calibration]
    if not batches:
        raise ValueError("quantize_onnx needs at least one calibration batch (1, 3, H, W) "
                         "float32: a few photos, preprocessed as for the network")
    source, target = Path(source), Path(target)
    import onnx

    graph_model = onnx.load(str(source), load_external_data=False)
    input_name = graph_model.graph.input[0].name
    excluded = output_head_nodes(graph_model) if float_head else []
    del graph_model

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches = iter(batches)

        def get_next(self):
            batch = next(self._batches, None)
            return None if batch is None else {input_name: batch}

    with atomic_path(target) as tmp:
        quantization.quantize_static(
            str(source), str(tmp), Reader(), quant_format=quantization.QuantFormat.QDQ,
            per_channel=per_channel, activation_type=quantization.QuantType.QUInt8,
            weight_type=quantization.QuantType.QInt8, nodes_to_exclude=excluded)
    return target
