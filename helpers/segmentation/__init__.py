"""Segmentation back-ends: one registry, one protocol, one module per back-end.

Every back-end follows :class:`~helpers.segmentation.base.SegmentationBackend`:
``set_image(photo)`` once (the expensive part), then ``predict(choice, positive,
negative)`` as often as a user clicks or changes the garment. What each can do is in its
:class:`~helpers.segmentation.base.Capabilities`:

===================== ========== ============ =========== =========== =================
name                  classes    clicks       person      weights     module
                                              matte
===================== ========== ============ =========== =========== =================
``u2net_cloth_onnx``  yes        yes (refine) no          yes         ``u2net_cloth``
``u2net_cloth``       yes        yes (refine) no          yes         ``u2net_cloth``
``classical_parsing`` yes        yes (refine) yes         no          ``classical_parsing``
``grabcut``           no         yes (seeds)  no          no          ``grabcut``
===================== ========== ============ =========== =========== =================

The order of :data:`BACKENDS` is the order ``"auto"`` tries them in
(:func:`auto_backend`): the first back-end whose weights are installed, else the first
one that needs none and has cloth classes. Clicks on a back-end with classes go to one
refinement engine (:class:`~helpers.segmentation.refine.ClickRefiner`), whatever made the
parse. The offline parser and the refiner move their boundaries onto the photo's edges with
one shared step, :func:`~helpers.segmentation.boundary.snap_to_edges` (GrabCut in a band).
"""

from __future__ import annotations

import importlib
from typing import Any

from helpers._checks import check_choice
from helpers.segmentation.base import (
    Capabilities,
    Click,
    ParsingBackend,
    Prediction,
    SegmentationBackend,
)

__all__ = ["BACKENDS", "Capabilities", "Click", "ParsingBackend", "Prediction",
           "SegmentationBackend", "auto_backend", "backend_class", "create_backend"]

#: Registered back-ends, in the order "auto" prefers them: name -> "module:Class".
#: The ONNX cloth parser runs faster than the torch one on CPU
#: (benchmarks/results/latest.md), so it comes first.
BACKENDS: dict[str, str] = {
    "u2net_cloth_onnx": "helpers.segmentation.u2net_cloth:U2NetClothOnnx",
    "u2net_cloth": "helpers.segmentation.u2net_cloth:U2NetCloth",
    "classical_parsing": "helpers.segmentation.classical_parsing:ClassicalParsing",
    "grabcut": "helpers.segmentation.grabcut:GrabCut",
}


def backend_class(name: str) -> type[SegmentationBackend]:
    """The class registered under ``name``.

    Raises
    ------
    ValueError
        Unknown name; the message lists the valid ones.
    """
    check_choice(name, BACKENDS, "segmentation backend")
    module, attribute = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module), attribute)


def create_backend(name: str, **options: Any) -> SegmentationBackend:
    """Build the back-end ``name`` (no photo yet: call ``set_image`` next).

    Parameters
    ----------
    name : str
        One of :data:`BACKENDS`.
    **options
        Passed to the back-end's constructor (``weights_cache=`` for U²-Net, ``box=``
        for GrabCut, ``working_side=`` for the classical parser).

    Returns
    -------
    SegmentationBackend

    Raises
    ------
    ValueError
        Unknown name (the message lists the valid ones).
    """
    return backend_class(name)(**options)


def auto_backend(*, cache: Any = None) -> tuple[str, tuple[str, ...]]:
    """The back-end ``"auto"`` picks, and the weights it looked for in vain.

    Parameters
    ----------
    cache : path, optional
        Weights cache folder (default :func:`helpers.weights.cache_dir`).

    Returns
    -------
    name : str
        The first registered back-end whose weights are installed, else the first that
        needs no weights and has cloth classes.
    missing : tuple of str
        Registry names of the weights tried before ``name`` and not installed.
    """
    from helpers import weights as weights_module

    missing = []
    for name in BACKENDS:
        capabilities = backend_class(name).capabilities
        if capabilities.needs_weights:
            weights = backend_class(name).weights
            if weights_module.is_available(weights, cache=cache):
                return name, tuple(missing)
            missing.append(weights)
        elif capabilities.has_classes:
            return name, tuple(missing)
    raise RuntimeError("no segmentation back-end without weights and with classes is "
                       "registered")  # pragma: no cover - the registry always has one
