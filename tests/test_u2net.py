"""U²-Net re-implementation: layout, numerics against upstream references, loading, ONNX.

Reference data (manifests, seeded weights, upstream outputs) lives in
``../shared/fixtures/u2net`` beside the checkout; see its README for how it was made.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.engines import recipe_state_dict
from helpers import u2net

torch = pytest.importorskip("torch")

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "u2net"
PROJECT_ROOT = Path(__file__).resolve().parents[1]
MANIFESTS = {
    "u2net": "manifest_u2net_3_1.json",
    "u2netp": "manifest_u2netp_3_1.json",
    "u2net_cloth": "manifest_u2net_3_4.json",
}
# Sigmoid outputs and U2NETP logits: atol 1e-5 still catches a wrong BatchNorm eps (9.8e-5).
SIGMOID_TOL = {"atol": 1e-5, "rtol": 1e-4}


def fixture_path(name: str) -> Path:
    path = FIXTURES / name
    if not path.exists():
        pytest.skip(f"U²-Net reference fixture {path} not available (../shared is absent)")
    return path


def load_npy(name: str) -> np.ndarray:
    return np.load(fixture_path(name))


def load_manifest(arch: str) -> dict:
    return json.loads(fixture_path(MANIFESTS[arch]).read_text())


@pytest.fixture(autouse=True, scope="module")
def two_threads():
    # The references were made with 2 intra-op threads; pin it for reproducible sums.
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def u2netp_state() -> dict:
    return torch.load(fixture_path("u2netp_random_state.pth"), map_location="cpu",
                      weights_only=True)


@pytest.fixture
def u2netp_model(u2netp_state):
    return u2net.load_checkpoint(u2net.build_network("u2netp"), u2netp_state)


def run_all(model, array: np.ndarray) -> np.ndarray:
    """All seven outputs stacked: (7, N, C, H, W)."""
    with torch.inference_mode():
        return torch.stack(model(torch.from_numpy(array))).numpy()


# --------------------------------------------------------------------------- layout
@pytest.mark.needs_shared
@pytest.mark.parametrize("arch", sorted(MANIFESTS))
def test_state_dict_layout_matches_manifest(arch):
    manifest = load_manifest(arch)
    model = u2net.build_network(arch)
    layout = [[key, list(value.shape)] for key, value in model.state_dict().items()]
    assert len(layout) == manifest["num_state_dict_entries"] == 798
    assert layout == manifest["entries"]  # keys, order and shapes
    assert u2net.count_parameters(model) == manifest["param_count"]
    assert sum(1 for _ in model.parameters()) == manifest["num_parameter_tensors"]
    assert sum(v.numel() for v in model.state_dict().values()) == manifest[
        "state_dict_numel_total"]


def test_build_network_rejects_unknown_arch():
    with pytest.raises(ValueError, match=r"unknown U²-Net architecture 'u2net_human'.*"
                                         r"'u2net', 'u2netp', 'u2net_cloth'"):
        u2net.build_network("u2net_human")


def test_build_network_is_in_eval_mode_and_outputs_seven_maps():
    torch.manual_seed(0)
    model = u2net.build_network("u2netp")
    assert not model.training
    outputs = run_all(model, np.zeros((2, 3, 21, 30), np.float32))
    assert outputs.shape == (7, 2, 1, 21, 30)
    assert outputs.min() >= 0.0 and outputs.max() <= 1.0


def test_import_does_not_load_torch():
    code = "import sys, helpers, helpers.u2net; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, check=True)


# --------------------------------------------------------------------------- numerics
@pytest.mark.needs_shared
def test_u2netp_reproduces_upstream_outputs(u2netp_model):
    outputs = run_all(u2netp_model, load_npy("u2netp_input.npy"))
    np.testing.assert_allclose(outputs, load_npy("u2netp_outputs.npy"), **SIGMOID_TOL)


@pytest.mark.needs_shared
def test_u2netp_logits_without_sigmoid(u2netp_state):
    model = u2net.U2NETP(3, 1, sigmoid=False).eval()
    u2net.load_checkpoint(model, u2netp_state)
    logits = run_all(model, load_npy("u2netp_input.npy"))
    np.testing.assert_allclose(logits, load_npy("u2netp_logits.npy"), **SIGMOID_TOL)


@pytest.mark.needs_shared
def test_u2netp_odd_size_uses_ceil_mode_pooling(u2netp_model):
    # 37x53 pools to 19x27, 10x14, ...: floor pooling would differ by ~0.1.
    outputs = run_all(u2netp_model, load_npy("u2netp_input_odd.npy"))
    np.testing.assert_allclose(outputs, load_npy("u2netp_outputs_odd.npy"), **SIGMOID_TOL)


@pytest.mark.needs_shared
def test_u2net_saliency_recipe_weights_match_upstream():
    model = u2net.build_network("u2net")
    state = recipe_state_dict(load_manifest("u2net"), seed=31)
    u2net.load_checkpoint(model, state)
    del state
    outputs = run_all(model, load_npy("u2netp_input.npy"))
    del model
    np.testing.assert_allclose(outputs, load_npy("u2net_3_1_recipe_outputs.npy"), **SIGMOID_TOL)


@pytest.mark.needs_shared
def test_u2net_cloth_recipe_weights_match_upstream_logits():
    model = u2net.build_network("u2net_cloth")
    state = recipe_state_dict(load_manifest("u2net_cloth"), seed=34)
    u2net.load_checkpoint(model, state)
    del state
    logits = run_all(model, load_npy("u2net_cloth_input.npy"))
    del model
    np.testing.assert_allclose(logits, load_npy("u2net_3_4_recipe_outputs.npy"), atol=1e-4,
                               rtol=0)
    classes = logits[0, 0].argmax(axis=0)
    np.testing.assert_array_equal(np.bincount(classes.ravel(), minlength=4),
                                  [1226, 386, 2484, 0])


# --------------------------------------------------------------------------- loading
@pytest.mark.needs_shared
def test_load_checkpoint_strips_module_prefix(u2netp_state, u2netp_model):
    prefixed = {f"module.{key}": value for key, value in u2netp_state.items()}
    model = u2net.load_checkpoint(u2net.build_network("u2netp"), prefixed)
    x = load_npy("u2netp_input_odd.npy")
    np.testing.assert_array_equal(run_all(model, x), run_all(u2netp_model, x))


@pytest.mark.needs_shared
def test_load_checkpoint_does_not_strip_keys_without_prefix(u2netp_state, tmp_path):
    # Upstream dropped 7 characters from every key; unprefixed files must load as they are.
    path = tmp_path / "plain.pth"
    torch.save(dict(u2netp_state), path)
    model = u2net.load_checkpoint(u2net.build_network("u2netp"), path)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, u2netp_state[key], rtol=0, atol=0)


@pytest.mark.needs_shared
def test_load_checkpoint_tolerates_missing_num_batches_tracked(u2netp_state):
    old_style = {k: v for k, v in u2netp_state.items() if not k.endswith("num_batches_tracked")}
    assert len(old_style) == 798 - 112
    model = u2net.load_checkpoint(u2net.build_network("u2netp"), old_style)
    outputs = run_all(model, load_npy("u2netp_input.npy"))
    np.testing.assert_allclose(outputs, load_npy("u2netp_outputs.npy"), **SIGMOID_TOL)
    assert int(model.state_dict()["stage1.rebnconvin.bn_s1.num_batches_tracked"]) == 0


@pytest.mark.needs_shared
def test_u2netp_weights_into_u2net_raise_checkpoint_error(u2netp_state):
    with pytest.raises(u2net.CheckpointError) as info:
        u2net.load_checkpoint(u2net.build_network("u2net"), u2netp_state)
    message = str(info.value)
    assert "not a checkpoint of U2NET(in_ch=3, out_ch=1)" in message
    assert ("stage1.rebnconv1.conv_s1.weight: expected [32, 64, 3, 3] found [16, 64, 3, 3]"
            in message)
    assert "It looks like a U2NETP(in_ch=3, out_ch=1) checkpoint" in message
    assert isinstance(info.value, ValueError)


def test_saliency_weights_into_cloth_network_raise_checkpoint_error():
    torch.manual_seed(0)
    saliency_state = u2net.build_network("u2net").state_dict()
    cloth = u2net.build_network("u2net_cloth")
    with pytest.raises(u2net.CheckpointError,
                       match=r"not a checkpoint of U2NET\(in_ch=3, out_ch=4\).*"
                             r"14 shape mismatches: side1\.weight: expected \[4, 64, 3, 3\] "
                             r"found \[1, 64, 3, 3\].*looks like a "
                             r"U2NET\(in_ch=3, out_ch=1\)"):
        u2net.load_checkpoint(cloth, saliency_state)


def test_missing_and_unexpected_keys_are_listed():
    torch.manual_seed(0)
    state = dict(u2net.build_network("u2netp").state_dict())
    state.pop("outconv.bias")
    state["extra.weight"] = torch.zeros(3)
    with pytest.raises(u2net.CheckpointError,
                       match=r"1 missing keys: outconv\.bias \| 1 unexpected keys: extra\.weight"):
        u2net.load_checkpoint(u2net.build_network("u2netp"), state)


def test_random_bytes_file_raises_checkpoint_error(tmp_path):
    path = tmp_path / "weights.pth"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(u2net.CheckpointError, match=r"not a PyTorch checkpoint: .*weights\.pth: "):
        u2net.load_checkpoint(u2net.build_network("u2netp"), path)


@pytest.mark.needs_shared
def test_truncated_checkpoint_raises_checkpoint_error(tmp_path):
    data = fixture_path("u2netp_random_state.pth").read_bytes()
    path = tmp_path / "truncated.pth"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(u2net.CheckpointError, match=r"not a PyTorch checkpoint: .*truncated\.pth"):
        u2net.load_checkpoint(u2net.build_network("u2netp"), path)


def test_checkpoint_that_is_not_a_state_dict(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([torch.zeros(2)], path)
    with pytest.raises(u2net.CheckpointError, match=r"holds a list, expected a state dict"):
        u2net.load_checkpoint(u2net.build_network("u2netp"), path)


def test_missing_checkpoint_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"checkpoint not found: .*nothing\.pth"):
        u2net.load_checkpoint(u2net.build_network("u2netp"), tmp_path / "nothing.pth")


# --------------------------------------------------------------------------- runners, ONNX
@pytest.fixture(scope="module")
def seeded_u2netp():
    torch.manual_seed(7)
    model = u2net.build_network("u2netp")
    # Perturb BatchNorm statistics so the eval-mode normalisation really matters.
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return model


@pytest.fixture(scope="module")
def onnx_path(seeded_u2netp, tmp_path_factory):
    return u2net.export_onnx(seeded_u2netp, tmp_path_factory.mktemp("onnx") / "u2netp.onnx",
                             size=(64, 96))


def test_onnx_runner_matches_torch_runner(seeded_u2netp, onnx_path):
    pytest.importorskip("onnxruntime")
    assert onnx_path.is_file() and not list(onnx_path.parent.glob("*.tmp"))
    onnx_runner = u2net.OnnxU2NetRunner(onnx_path, "u2netp")
    torch_runner = u2net.TorchU2NetRunner(seeded_u2netp, "u2netp", threads=2)
    assert (onnx_runner.backend, torch_runner.backend) == ("onnx", "torch")
    assert onnx_runner.output_is_logits is False and torch_runner.output_is_logits is False
    # An odd size and a batch of 2 also check the graph's dynamic axes and ceil pooling.
    for shape in [(1, 3, 64, 96), (2, 3, 37, 53)]:
        batch = np.random.default_rng(1).random(shape, dtype=np.float32)
        expected = torch_runner(batch)
        assert expected.shape == (shape[0], 1, *shape[2:]) and expected.dtype == np.float32
        np.testing.assert_allclose(onnx_runner(batch), expected, atol=1e-4, rtol=1e-4)


def test_load_runner_dispatches_by_suffix(onnx_path):
    pytest.importorskip("onnxruntime")
    runner = u2net.load_runner("u2netp", onnx_path, engine="onnxruntime")
    assert isinstance(runner, u2net.OnnxU2NetRunner) and runner.arch == "u2netp"


@pytest.mark.needs_shared
def test_load_runner_torch_reproduces_fixture_d0():
    runner = u2net.load_runner("u2netp", fixture_path("u2netp_random_state.pth"),
                               engine="torch")
    assert isinstance(runner, u2net.TorchU2NetRunner) and runner.backend == "torch"
    d0 = runner(load_npy("u2netp_input.npy"))
    np.testing.assert_allclose(d0, load_npy("u2netp_outputs.npy")[0], **SIGMOID_TOL)


def test_load_runner_rejects_unknown_suffix(tmp_path):
    with pytest.raises(ValueError, match=r"suffix '\.bin'.*\.pth, \.pt, \.onnx"):
        u2net.load_runner("u2netp", tmp_path / "weights.bin")
    with pytest.raises(ValueError, match=r"valid values: 'u2net', 'u2netp', 'u2net_cloth'"):
        u2net.load_runner("basnet", tmp_path / "weights.pth")


def test_cloth_runner_returns_four_logit_channels():
    torch.manual_seed(0)
    runner = u2net.TorchU2NetRunner(u2net.build_network("u2net_cloth"), "u2net_cloth")
    assert runner.output_is_logits is True
    logits = runner(np.zeros((1, 3, 16, 16), np.float32))
    assert logits.shape == (1, 4, 16, 16) and logits.dtype == np.float32


def test_runner_rejects_mismatched_model_and_bad_batch(seeded_u2netp):
    with pytest.raises(ValueError, match=r"expects sigmoid=False"):
        u2net.TorchU2NetRunner(seeded_u2netp, "u2net_cloth")
    runner = u2net.TorchU2NetRunner(seeded_u2netp, "u2netp")
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\).*got \(16, 16, 3\)"):
        runner(np.zeros((16, 16, 3), np.float32))
    with pytest.raises(ValueError, match=r"float32.*uint8"):
        runner(np.zeros((1, 3, 16, 16), np.uint8))


# ----------------------------------------------------------------- device choice (mocked)


def _fake_gpus(monkeypatch, *, cuda: bool, mps: bool):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)


@pytest.mark.parametrize(("cuda", "mps", "expected"), [
    (True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_auto_device_prefers_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected):
    _fake_gpus(monkeypatch, cuda=cuda, mps=mps)
    assert u2net.choose_device("auto") == expected


def test_an_explicit_gpu_that_is_absent_is_a_clear_error(monkeypatch):
    _fake_gpus(monkeypatch, cuda=False, mps=False)
    with pytest.raises(ValueError, match="sees no CUDA GPU.*device='auto' or 'cpu'"):
        u2net.choose_device("cuda")
    with pytest.raises(ValueError, match="MPS"):
        u2net.choose_device("mps")
    with pytest.raises(ValueError, match="one of auto, cuda, mps, cpu"):
        u2net.choose_device("tpu")
    assert u2net.choose_device("cpu") == "cpu"


def test_cuda_device_label_names_the_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index: "NVIDIA Test GPU")
    assert u2net.device_label("cuda") == "cuda (NVIDIA Test GPU)"
    assert u2net.device_label("cpu") == "cpu"


def test_torch_runner_on_cpu_says_so_and_runs_in_float32(monkeypatch):
    _fake_gpus(monkeypatch, cuda=False, mps=False)
    runner = u2net.TorchU2NetRunner(u2net.build_network("u2netp"), "u2netp")
    assert runner.device == "cpu" and runner.device_label == "cpu"
    out = runner(np.zeros((1, 3, 32, 32), np.float32))
    assert out.dtype == np.float32 and out.shape == (1, 1, 32, 32)


def test_onnx_providers_put_cuda_first_when_the_build_has_it():
    assert u2net.onnx_providers(["CUDAExecutionProvider", "CPUExecutionProvider"]) == [
        "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert u2net.onnx_providers(["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert u2net.onnx_providers(["TensorrtExecutionProvider", "CUDAExecutionProvider",
                                 "CPUExecutionProvider"])[0] == "CUDAExecutionProvider"


def test_onnx_runner_asks_for_cuda_and_reports_the_provider_used(monkeypatch, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    seen = {}

    class FakeSession:
        def __init__(self, path, sess_options=None, providers=None):
            seen["providers"] = providers

        def get_inputs(self):
            return [type("Input", (), {"name": "input"})()]

        def get_outputs(self):
            return [type("Output", (), {"name": "d0"})()]

        def get_providers(self):
            return seen["providers"]

    monkeypatch.setattr(ort, "get_available_providers",
                        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(ort, "InferenceSession", FakeSession)
    model = tmp_path / "m.onnx"
    model.write_bytes(b"not used by the fake session")
    runner = u2net.load_runner("u2netp", model, engine="onnxruntime")
    assert seen["providers"] == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert runner.device == "cuda"
    runner = u2net.load_runner("u2netp", model, device="cpu", engine="onnxruntime")
    assert seen["providers"] == ["CPUExecutionProvider"] and runner.device == "cpu"


def test_the_real_cpu_build_runs_the_onnx_runner_on_cpu(tmp_path):
    pytest.importorskip("onnxruntime")
    path = u2net.export_onnx(u2net.build_network("u2netp"), tmp_path / "p.onnx", size=(32, 32))
    runner = u2net.load_runner("u2netp", path, engine="onnxruntime")
    assert runner.device in ("cpu", "cuda")
    assert runner(np.zeros((1, 3, 32, 32), np.float32)).shape == (1, 1, 32, 32)


def test_onnx_runner_checks_the_device_it_is_asked_for(tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    path = u2net.export_onnx(u2net.build_network("u2netp"), tmp_path / "p.onnx", size=(32, 32))
    assert u2net.load_runner("u2netp", path, device="cpu",
                             engine="onnxruntime").device == "cpu"
    monkeypatch.setattr(u2net, "onnx_providers", lambda: ["CPUExecutionProvider"])
    with pytest.raises(ValueError, match="device 'cuda:1': this onnxruntime build has no "
                                         "CUDA provider; install onnxruntime-gpu"):
        u2net.load_runner("u2netp", path, device="cuda:1", engine="onnxruntime")
    with pytest.raises(ValueError, match="device 'tpu' is not available to onnxruntime"):
        u2net.load_runner("u2netp", path, device="tpu", engine="onnxruntime")
    monkeypatch.setattr(u2net, "onnx_providers",
                        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert u2net._onnx_providers_for("cuda:1") == [
        ("CUDAExecutionProvider", {"device_id": 1}), "CPUExecutionProvider"]


def test_backend_line_names_each_device(monkeypatch):
    from helpers import pipeline

    _fake_gpus(monkeypatch, cuda=True, mps=False)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index: "NVIDIA Test GPU")
    monkeypatch.setattr(u2net, "onnx_providers", lambda: ["CPUExecutionProvider"])
    assert pipeline.backend_device("u2net") == "cuda (NVIDIA Test GPU)"
    assert pipeline.backend_device("u2net_cloth_onnx") == "cpu"
    assert pipeline.backend_device("magenta_onnx") == "cpu"  # the same picture everywhere
    assert pipeline.backend_device("classical_parsing") == "cpu"
    pipe = pipeline.Pipeline("grabcut", "u2netp", notify=None)
    assert pipe.backend_line() == ("segmentation grabcut on cpu · saliency u2netp on cuda "
                                   "(NVIDIA Test GPU) · stylization magenta_onnx on cpu")


def _conv_onnx(path, in_side, out_channels, *, symbolic_channels=False):
    """A one-layer ONNX graph (1x1 convolution) with U²-Net's input and output names."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(
        np.full((out_channels, 3, 1, 1), 0.1, np.float32), name="w")
    node = helper.make_node("Conv", ["input", "w"], ["d0"])
    side = in_side if in_side else "height"
    out_shape = [1, "classes" if symbolic_channels else out_channels, side, side]
    graph = helper.make_graph(
        [node], "conv", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                       [1, 3, side, side])],
        [helper.make_tensor_value_info("d0", TensorProto.FLOAT, out_shape)], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("engine", ["auto", "onnxruntime", "openvino"])
@pytest.mark.parametrize("symbolic", [False, True])
def test_an_onnx_model_of_another_architecture_is_refused(tmp_path, symbolic, engine):
    # The 4-class cloth .onnx once loaded as "u2net": "saliency" was its background logit.
    pytest.importorskip("onnxruntime")
    if engine == "openvino":
        pytest.importorskip("openvino")
    cloth = _conv_onnx(tmp_path / "cloth.onnx", 768, 4, symbolic_channels=symbolic)
    with pytest.raises(u2net.CheckpointError, match=r"cloth\.onnx is not a u2net model: .*"
                       r"output 0 has 4 channels, expected 1\. It looks like a u2net_cloth"):
        u2net.load_runner("u2net", cloth, engine=engine)
    same_size = _conv_onnx(tmp_path / "cloth320.onnx", 320, 4, symbolic_channels=symbolic)
    with pytest.raises(u2net.CheckpointError, match=r"output 0 has 4 channels, expected 1"):
        u2net.load_runner("u2netp", same_size, engine=engine)
    # the right architecture loads
    runner = u2net.load_runner("u2net_cloth", cloth, engine=engine)
    assert runner(np.ones((1, 3, 768, 768), np.float32)).shape == (1, 4, 768, 768)


def test_an_onnx_model_with_another_fixed_input_size_is_refused(tmp_path):
    pytest.importorskip("onnxruntime")
    saliency_768 = _conv_onnx(tmp_path / "s.onnx", 768, 1)
    with pytest.raises(u2net.CheckpointError,
                       match=r"input is fixed at 768x768 px, the u2net pre-processing feeds "
                             r"320x320"):
        u2net.load_runner("u2net", saliency_768)
    free = _conv_onnx(tmp_path / "free.onnx", None, 1)  # symbolic height and width: fine
    assert u2net.load_runner("u2netp", free).out_channels == 1


def test_the_networks_live_at_top_level_and_load_with_torch_only_on_first_use():
    import subprocess
    import sys

    code = ("import sys, helpers.u2net as u; before = 'torch' in sys.modules; "
            "cls = u.U2NETP; print(before, 'torch' in sys.modules, cls.__module__, "
            "cls.__qualname__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["False", "True", "helpers.u2net_networks", "U2NETP"]
    from helpers import u2net_networks

    assert u2net.RSU is u2net_networks.RSU and u2net.U2NET is u2net_networks.U2NET


# --------------------------------------------------------------------------- OpenVINO, engines
@pytest.fixture(scope="module")
def u2netp_pth(seeded_u2netp, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pth") / "u2netp.pth"
    torch.save(seeded_u2netp.state_dict(), path)
    return path


def test_openvino_runner_matches_torch_runner(seeded_u2netp, onnx_path):
    pytest.importorskip("openvino")
    runner = u2net.OpenVinoU2NetRunner(onnx_path, "u2netp", threads=2)
    torch_runner = u2net.TorchU2NetRunner(seeded_u2netp, "u2netp", threads=2)
    assert (runner.backend, runner.device, runner.output_is_logits) == ("openvino", "cpu", False)
    # an odd size and a batch of 2: each shape is compiled statically, then reused
    for shape in [(1, 3, 64, 96), (2, 3, 37, 53), (1, 3, 64, 96)]:
        batch = np.random.default_rng(1).random(shape, dtype=np.float32)
        out = runner(batch)
        assert out.shape == (shape[0], 1, *shape[2:]) and out.dtype == np.float32
        np.testing.assert_allclose(out, torch_runner(batch), atol=1e-4, rtol=1e-4)
    assert len(runner._compiled) == 2


def test_openvino_runner_rejects_files_it_cannot_read(tmp_path):
    pytest.importorskip("openvino")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(u2net.CheckpointError, match="not a model OpenVINO can read: .*junk.onnx"):
        u2net.OpenVinoU2NetRunner(junk, "u2netp")
    with pytest.raises(FileNotFoundError, match="U²-Net model not found"):
        u2net.OpenVinoU2NetRunner(tmp_path / "absent.onnx", "u2netp")


def test_named_engines_from_a_pth_convert_once_beside_the_weights(seeded_u2netp, u2netp_pth):
    pytest.importorskip("openvino")
    pytest.importorskip("onnxruntime")
    batch = np.random.default_rng(2).random((1, 3, 48, 40), dtype=np.float32)
    expected = u2net.TorchU2NetRunner(seeded_u2netp, "u2netp")(batch)
    runner = u2net.load_runner("u2netp", u2netp_pth, engine="openvino")
    converted = u2netp_pth.with_name("u2netp.pth.onnx")
    assert isinstance(runner, u2net.OpenVinoU2NetRunner) and converted.is_file()
    np.testing.assert_allclose(runner(batch), expected, atol=1e-4, rtol=1e-4)
    stamp = converted.stat().st_mtime_ns
    runner = u2net.load_runner("u2netp", u2netp_pth, engine="onnxruntime")
    assert isinstance(runner, u2net.OnnxU2NetRunner)
    assert converted.stat().st_mtime_ns == stamp  # reused, not exported again
    np.testing.assert_allclose(runner(batch), expected, atol=1e-4, rtol=1e-4)
    assert not list(u2netp_pth.parent.glob("*.tmp"))


def test_auto_engine_takes_the_fastest_and_remembers_it(u2netp_pth, monkeypatch):
    pytest.importorskip("openvino")
    pytest.importorskip("onnxruntime")
    measured = {"torch": 0.3, "onnxruntime": 0.2, "openvino": 0.1}
    sides = []

    def fake_time(runner, side, repeats=1):
        sides.append(side)
        return measured[{"torch": "torch", "onnx": "onnxruntime",
                         "openvino": "openvino"}[runner.backend]]

    monkeypatch.setattr(u2net, "time_runner", fake_time)
    runner = u2net.load_runner("u2netp", u2netp_pth)
    assert isinstance(runner, u2net.OpenVinoU2NetRunner)
    assert sides == [320, 320, 320]  # every engine timed at the network's working size
    records = json.loads(u2netp_pth.with_name("u2netp.pth.engines.json").read_text())
    (record,) = records.values()
    assert record["chosen"] == "openvino" and record["engines"] == measured

    def no_timing(*args, **kwargs):
        raise AssertionError("the remembered choice must not be measured again")

    monkeypatch.setattr(u2net, "time_runner", no_timing)
    runner, record = u2net.select_engine("u2netp", u2netp_pth)
    assert isinstance(runner, u2net.OpenVinoU2NetRunner) and record["remembered"] is True
    # a GPU request leaves OpenVINO out (CPU only): measured anew for that device
    monkeypatch.setattr(u2net, "time_runner", fake_time)
    runner, record = u2net.select_engine("u2netp", u2netp_pth, device="cpu",
                                         engines=["torch", "onnxruntime"])
    assert isinstance(runner, u2net.OnnxU2NetRunner) and set(record["engines"]) == {
        "torch", "onnxruntime"}


def test_auto_engine_leaves_out_engines_that_fail(onnx_path, tmp_path, monkeypatch):
    pytest.importorskip("openvino")
    pytest.importorskip("onnxruntime")
    model = tmp_path / "m.onnx"
    model.write_bytes(onnx_path.read_bytes())

    def broken(*args, **kwargs):
        raise RuntimeError("no such kernel here")

    monkeypatch.setattr(u2net, "OpenVinoU2NetRunner", broken)
    runner, record = u2net.select_engine("u2netp", model, side=32)
    assert isinstance(runner, u2net.OnnxU2NetRunner)  # torch cannot run an .onnx
    assert set(record["engines"]) == {"onnxruntime"}
    assert "no such kernel here" in record["skipped"]["openvino"]
    monkeypatch.setattr(u2net, "OnnxU2NetRunner", broken)
    with pytest.raises(RuntimeError, match="no inference engine could run m.onnx: openvino: "
                                           "RuntimeError: no such kernel here"):
        u2net.select_engine("u2netp", model, side=32, engines=["openvino", "onnxruntime"])


def test_engine_choices_are_checked(onnx_path):
    with pytest.raises(ValueError, match="engine 'torch' needs a .pth/.pt checkpoint"):
        u2net.load_runner("u2netp", onnx_path, engine="torch")
    with pytest.raises(ValueError, match="unknown U²-Net inference engine 'tensorrt'"):
        u2net.load_runner("u2netp", onnx_path, engine="tensorrt")
    with pytest.raises(ValueError, match="the OpenVINO runner runs on the CPU only"):
        u2net.load_runner("u2netp", onnx_path, engine="openvino", device="cuda")


def test_quantize_onnx_writes_an_int8_graph_both_onnx_engines_run(onnx_path, seeded_u2netp,
                                                                   tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("openvino")
    onnx = pytest.importorskip("onnx")
    rng = np.random.default_rng(4)
    calibration = [rng.random((1, 3, 32, 32), dtype=np.float32) * 2 - 1 for _ in range(2)]
    target = u2net.quantize_onnx(onnx_path, tmp_path / "int8" / "u2netp_int8.onnx",
                                 calibration)
    assert target.is_file() and not list(target.parent.glob("*.tmp"))
    ops = {node.op_type for node in onnx.load(str(target)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops  # a QDQ graph
    batch = calibration[0]
    expected = u2net.TorchU2NetRunner(seeded_u2netp, "u2netp")(batch)
    for runner in (u2net.OnnxU2NetRunner(target, "u2netp"),
                   u2net.OpenVinoU2NetRunner(target, "u2netp")):
        out = runner(batch)
        assert out.shape == expected.shape
        # quantised: close to float32 (sigmoid outputs), not equal
        assert np.abs(out - expected).max() < 0.1
    with pytest.raises(ValueError, match="at least one calibration batch"):
        u2net.quantize_onnx(onnx_path, tmp_path / "none.onnx", [])
    # the output head stays float: its convolutions read float weights, the body's int8
    model = onnx.load(str(target))
    initializers = {init.name: init.data_type for init in model.graph.initializer}
    convs = {node.name: node.input[1] for node in model.graph.node if node.op_type == "Conv"}
    head = [f"/side{i}/Conv" for i in range(1, 7)] + ["/outconv/Conv"]
    assert all(initializers[convs[name]] == onnx.TensorProto.FLOAT for name in head)
    assert initializers.get(convs["/stage1/rebnconvin/conv_s1/Conv"]) is None  # dequantized


def test_output_head_nodes_are_the_side_and_fusing_convs_and_what_follows(onnx_path):
    onnx = pytest.importorskip("onnx")
    model = onnx.load(str(onnx_path))
    head = u2net.output_head_nodes(model)
    assert sorted(c for c in head if c.endswith("/Conv")) == sorted(
        [f"/side{i}/Conv" for i in range(1, 7)] + ["/outconv/Conv"])
    assert "/Sigmoid" in head  # d0's sigmoid is downstream of the head
    body = [n.name for n in model.graph.node if n.name not in head]
    assert any(name.startswith("/stage1/") for name in body)
    assert not any(name.startswith("/stage1/") for name in head)
