"""U²-Net engines against plain PyTorch, and the int8 graphs' agreement with float32.

Cloth parsing and saliency networks with recipe (or random) weights of the identical
architecture: a plain PyTorch forward as upstream runs it, the torch, onnxruntime and
OpenVINO runners of :mod:`helpers.u2net`, the engine :func:`helpers.u2net.load_runner`
chooses, and the opt-in int8 graphs, timed interleaved; the int8 outputs compared with
float32 on the cloth-parsing fixture photos from ``../shared``.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmarks.common import REPO_ROOT, compare, load_average, make_content

if TYPE_CHECKING:
    from benchmarks.run import Config


def network_batch(content: np.ndarray, side: int) -> np.ndarray:
    """The network input: the real preprocessing at 768 / 320, a resized image otherwise."""
    from helpers.saliency import preprocess_saliency
    from helpers.segmentation.u2net_cloth import CLOTH_INPUT_SIZE, preprocess_cloth

    if side == CLOTH_INPUT_SIZE:
        return preprocess_cloth(content)
    if side == 320:
        return preprocess_saliency(content)
    import cv2

    small = cv2.resize(content, (side, side), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray((small.astype(np.float32) / 127.5 - 1).transpose(2, 0, 1)[None])


SHARED = REPO_ROOT.parent / "shared" / "fixtures"
#: The U²-Net state-dict manifests (recipe weights), per architecture.
MANIFESTS = {"u2net_cloth": "manifest_u2net_3_4.json", "u2net": "manifest_u2net_3_1.json",
             "u2netp": "manifest_u2netp_3_1.json"}
#: Side of the int8 calibration batches (smaller than 768: the calibration holds every
#: activation of a batch in memory at once).
CALIBRATION_SIDE = 256


def recipe_state_dict(manifest: dict, seed: int) -> dict:
    """The fixture README's "recipe" weights for a state-dict manifest (``entries`` of
    ``[key, shape]``), from numpy's ``RandomState(seed)``: fan-in scaled normal
    convolutions, BatchNorm statistics spread out. Also what ``tests/test_u2net.py``
    checks against the upstream outputs."""
    import torch

    rs = np.random.RandomState(seed)
    state = {}
    for key, shape in manifest["entries"]:
        if key.endswith("num_batches_tracked"):
            state[key] = torch.zeros((), dtype=torch.int64)
            continue
        if len(shape) == 4:
            value = rs.standard_normal(shape) * np.sqrt(1.0 / (shape[1] * shape[2] * shape[3]))
        elif key.endswith("running_var"):
            value = rs.uniform(0.5, 2.0, shape)
        elif ".bn_s1." in key and key.endswith(".weight"):
            value = rs.uniform(0.5, 1.5, shape)
        else:
            value = rs.uniform(-0.5, 0.5, shape)
        state[key] = torch.from_numpy(np.asarray(value, dtype=np.float32))
    return state


def recipe_weights(arch: str, seed: int = 0) -> tuple[dict | None, str]:
    """The recipe weights (:func:`recipe_state_dict`) from the state-dict manifest in
    ../shared, or None and why.

    A proxy for trained weights with realistic activation statistics: trained weights
    are not available here.
    """
    path = SHARED / "u2net" / MANIFESTS[arch]
    if not path.is_file():
        return None, f"random (torch default init, seed {seed}): {path} is absent"
    state = recipe_state_dict(json.loads(path.read_text()), seed)
    return state, f"recipe (seed {seed}, from {path.name})"


def fixture_photos(limit: int | None = None) -> list[tuple[str, np.ndarray]]:
    """The cloth-parsing fixture photos from ../shared (empty when absent)."""
    from helpers.images import load_image

    folder = SHARED / "cloth_parsing"
    photos = sorted(folder.glob("*_photo.png"))[:limit] if folder.is_dir() else []
    return [(p.stem.split("_")[0], load_image(p)) for p in photos]


def network_batch_at(image: np.ndarray, side: int, arch: str) -> np.ndarray:
    """``image`` as the network's normalised batch at ``side`` (cloth or saliency style)."""
    import cv2

    from helpers.saliency import preprocess_saliency
    from helpers.segmentation.u2net_cloth import CLOTH_INPUT_SIZE, preprocess_cloth

    if arch == "u2net_cloth" and side == CLOTH_INPUT_SIZE:
        return preprocess_cloth(image)
    if arch != "u2net_cloth" and side == 320:
        return preprocess_saliency(image)
    small = cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray((small.astype(np.float32) / 127.5 - 1).transpose(2, 0, 1)[None])


def measure_u2net(config: Config, workdir: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """Every U²-Net engine against plain PyTorch, interleaved; int8 speed and agreement."""
    import torch

    from helpers import u2net
    from helpers.images import sample_content

    content = make_content(config.pipeline_mp)
    photos = fixture_photos(config.agreement_photos)
    rows = []
    for task, arch, side in config.u2net:
        log(f"U²-Net {task} ({arch}, {side}x{side}): weights, export, int8, runners ...")
        torch.manual_seed(0)
        model = u2net.build_network(arch)
        state, weights_note = recipe_weights(arch)
        if state is not None:
            model.load_state_dict(state)
        pth = workdir / f"{arch}_{side}.pth"
        torch.save(model.state_dict(), pth)
        batch = network_batch(content, side)
        start = time.perf_counter()
        path = u2net.export_onnx(model, workdir / f"{arch}_{side}.onnx",
                                 size=(min(side, 320),) * 2)
        export_s = time.perf_counter() - start
        calibration = [network_batch_at(sample_content(name), min(side, CALIBRATION_SIDE),
                                        arch) for name in ("astronaut", "grace_hopper")]
        start = time.perf_counter()
        int8_path = u2net.quantize_onnx(path, workdir / f"{arch}_{side}_int8.onnx", calibration)
        quantize_s = time.perf_counter() - start
        start = time.perf_counter()
        auto_runner, selection = u2net.select_engine(arch, pth, side=side)
        selection_s = time.perf_counter() - start
        runners = {
            "torch_runner": u2net.TorchU2NetRunner(model, arch),
            "onnx_runner": u2net.OnnxU2NetRunner(path, arch),
            "openvino_runner": u2net.OpenVinoU2NetRunner(path, arch),
            "auto": auto_runner,
            "onnx_int8": u2net.OnnxU2NetRunner(int8_path, arch),
            "openvino_int8": u2net.OpenVinoU2NetRunner(int8_path, arch),
        }
        devices = {"torch_plain": "cpu", **{n: r.device_label for n, r in runners.items()}}
        log(f"  auto chose {selection['chosen']} "
            f"({', '.join(f'{e} {s:.2f} s' for e, s in selection['engines'].items())})")

        def plain(model=model, batch=batch) -> np.ndarray:
            with torch.no_grad():
                return model(torch.from_numpy(batch))[0].numpy()

        fns = {"torch_plain": plain,
               **{name: (lambda r=r, b=batch: r(b)) for name, r in runners.items()}}
        reference = plain()
        differences = {name: float(np.abs(fns[name]() - reference).max()) for name in runners}
        log(f"  timing {', '.join(fns)} x {config.u2net_repeats} ...")
        timed = compare(fns, config.u2net_repeats)
        float_names = ("torch_runner", "onnx_runner", "openvino_runner")
        best = min(float_names, key=lambda n: timed[n]["median_s"])
        plain_s = timed["torch_plain"]["median_s"]
        log(f"  int8 agreement on {len(photos)} fixture photos ...")
        agreement = int8_agreement(runners, photos, arch, side)
        rows.append({
            "task": task, "arch": arch, "input": [side, side], "weights": weights_note,
            "devices": devices, "onnx_export_s": export_s, "quantize_s": quantize_s,
            "auto_selection": {**selection, "first_load_s": selection_s},
            **timed, "max_abs_difference_vs_plain": differences, "fastest_runner": best,
            "speedup_vs_plain": {name: plain_s / timed[name]["median_s"] for name in runners},
            "int8_agreement": agreement, "load_average": load_average(),
        })
        del model, runners, fns, auto_runner
        gc.collect()
    return {"rows": rows, "threads": torch.get_num_threads(), "note": (
        "weights: the fixture README's recipe (or random) weights of the identical "
        "architecture: timing does not depend on them, and for int8 agreement they are "
        "only a proxy for the trained weights (not available here); torch_plain: model(x) "
        "under torch.no_grad, NCHW, as upstream runs it; torch_runner: BatchNorm folded, "
        "channels_last, inference_mode; onnx_runner: onnxruntime ORT_ENABLE_ALL on the "
        "graph from helpers.u2net.export_onnx; openvino_runner: OpenVINO CPU, f32, static "
        "shape; auto: helpers.u2net.load_runner's default engine, chosen by timing each "
        "engine once from the .pth (first_load_s includes the conversion and that "
        "measurement); *_int8: helpers.u2net.quantize_onnx (onnxruntime static QDQ, "
        "per-channel int8 weights, uint8 activations calibrated on the two package sample "
        f"photos at {CALIBRATION_SIDE} px), run by onnxruntime and by OpenVINO")}


def int8_agreement(runners: dict[str, Any], photos: list[tuple[str, np.ndarray]], arch: str,
                   side: int) -> dict[str, Any]:
    """int8 against float32 (the onnxruntime float32 runner) on the fixture photos.

    Cloth: the share of pixels whose argmax class agrees, per photo and pooled, and the
    class shares of the float32 argmax (an agreement means little if one class fills
    the picture). Saliency: the max and mean absolute difference of the sigmoid map.
    """
    if not photos:
        return {"photos": 0, "note": "../shared/fixtures/cloth_parsing is absent: not measured"}
    result: dict[str, Any] = {"photos": len(photos)}
    for name in ("onnx_int8", "openvino_int8"):
        per_photo, agree, total, max_diff, mean_diff = {}, 0, 0, 0.0, []
        class_counts = np.zeros(4, np.int64)
        for photo_id, photo in photos:
            batch = network_batch_at(photo, side, arch)
            reference, quantised = runners["onnx_runner"](batch)[0], runners[name](batch)[0]
            if arch == "u2net_cloth":
                ref_labels, q_labels = reference.argmax(0), quantised.argmax(0)
                same = int((ref_labels == q_labels).sum())
                per_photo[photo_id] = same / ref_labels.size
                agree, total = agree + same, total + ref_labels.size
                class_counts += np.bincount(ref_labels.ravel(), minlength=4)[:4]
            else:
                diff = np.abs(reference - quantised)
                max_diff = max(max_diff, float(diff.max()))
                mean_diff.append(float(diff.mean()))
        if arch == "u2net_cloth":
            result[name] = {"argmax_agreement": agree / total,
                            "worst_photo": min(per_photo.items(), key=lambda kv: kv[1]),
                            "per_photo": per_photo,
                            "float32_class_shares": (class_counts / class_counts.sum()).tolist()}
        else:
            result[name] = {"saliency_max_abs_difference": max_diff,
                            "saliency_mean_abs_difference": float(np.mean(mean_diff))}
    return result
