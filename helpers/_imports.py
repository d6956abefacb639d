"""Optional heavy back-ends, imported when first needed, with the command that installs them.

One helper for every lazy import (torch, onnxruntime, openvino, TensorFlow Hub): the
modules stay cheap to import, and a missing package is an ``ImportError`` that says what
needs it and how to install it, never a bare ``ModuleNotFoundError`` or ``sys.exit``.
"""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, hint: str) -> ModuleType:
    """Import ``module``, or raise ``ImportError(hint)`` chained to the original error.

    Parameters
    ----------
    module : str
        A module name, e.g. ``"onnxruntime"`` or ``"onnxruntime.quantization"``.
    hint : str
        What needs it and the install command, e.g. ``"running a U²-Net .onnx model
        needs onnxruntime: pip install onnxruntime"``.

    Returns
    -------
    types.ModuleType

    Raises
    ------
    ImportError
        With ``hint`` as its message; when ``module`` is installed but one of its own
        imports failed (``tensorflow_hub`` importing ``pkg_resources``), that failure is
        added, since installing ``module`` again would not help.

    Examples
    --------
    >>> require("json", "never shown").__name__
    'json'
    >>> require("no_such_backend", "this needs no_such_backend: pip install it")
    Traceback (most recent call last):
    ...
    ImportError: this needs no_such_backend: pip install it
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing = (exc.name or "").split(".")[0]
        if missing and missing != module.split(".")[0]:
            raise ImportError(f"{hint} (importing {module} failed: {exc})") from exc
        raise ImportError(hint) from exc
