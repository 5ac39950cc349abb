"""Device placement, mixed precision and device-independent checkpoints of the MuZero family.

The CPU tests always run. Those marked ``cuda`` run a learn step and a search on ``cuda``
and compare them with the same policy (same seed, same weights, same batch) on the CPU;
they are skipped without CUDA and run by ``benchmarks/gpu_check.sh``.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import policy_toy
import pytest
import torch
import unizero_toy

from pipezero.data import Batch, DeviceBatch
from pipezero.data.transfer import arrays_to_device, as_device_tensor
from pipezero.model import EfficientZeroMLP, MuZeroMLP
from pipezero.model.unizero import UniZeroModel
from pipezero.policy import EfficientZeroPolicy, MuZeroPolicy
from pipezero.policy.losses import support_cross_entropy
from pipezero.policy.precision import Precision, amp_dtype
from pipezero.policy.rezero import ReZeroPolicy
from pipezero.policy.unizero import UniZeroPolicy
from pipezero.recipe.flags import UsageError, check_device

ROOT = Path(__file__).resolve().parents[2]
KINDS = ("muzero", "efficientzero", "rezero", "unizero")
EZ_MODEL = dict(
    policy_toy.TINY_MODEL,
    lstm_hidden_size=8,
    projection_hidden_dim=16,
    projection_dim=16,
    prediction_hidden_dim=8,
)


def make_policy(kind: str, device: str = "cpu", amp: str | None = None) -> Any:
    """A tiny CartPole policy of ``kind``, its weights drawn from seed 0 (so equal across
    devices), on ``device``."""
    torch.manual_seed(0)
    if kind == "unizero":
        cfg = dict(unizero_toy.TINY_POLICY, amp=amp, model=unizero_toy.TINY_MODEL)
        return UniZeroPolicy(cfg, UniZeroModel(4, 2, **unizero_toy.TINY_MODEL), device=device)
    if kind == "efficientzero":
        cfg = dict(policy_toy.TINY_POLICY, amp=amp, model=EZ_MODEL)
        return EfficientZeroPolicy(cfg, EfficientZeroMLP(4, 2, **EZ_MODEL), device=device)
    policy_class = ReZeroPolicy if kind == "rezero" else MuZeroPolicy
    cfg = dict(policy_toy.TINY_POLICY, amp=amp, model=policy_toy.TINY_MODEL)
    return policy_class(cfg, MuZeroMLP(4, 2, **policy_toy.TINY_MODEL), device=device)


_BATCHES: dict[str, Batch[np.ndarray]] = {}


def batch_of(kind: str) -> Batch[np.ndarray]:
    """One sampled CartPole batch per kind (collected once by a CPU policy), copied."""
    if kind not in _BATCHES:
        policy = make_policy(kind)
        fill = unizero_toy.fill_buffer if kind == "unizero" else policy_toy.fill_buffer
        buffer = fill(policy)
        _BATCHES[kind] = buffer.sample(policy.cfg.batch_size, with_unroll_obs=True)
    return policy_toy.copy_batch(_BATCHES[kind])


def roots(n: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    obs = np.random.default_rng(3).normal(size=(n, 4)).astype(np.float32)
    return obs, np.ones((n, 2), dtype=bool), np.full(n, -1, dtype=np.int64)


def tensors_on(policy: Any) -> list[torch.Tensor]:
    """Every parameter, buffer and optimizer state tensor the learner owns."""
    out = [*policy.model.parameters(), *policy.model.buffers()]
    out += [*policy.target_model.parameters(), *policy.acting_model.parameters()]
    for state in policy.optimizer.state.values():
        out += [v for v in state.values() if isinstance(v, torch.Tensor) and v.dim() > 0]
    return out


# -- one host-to-device copy per batch ----------------------------------------------------


def test_arrays_to_device_packs_every_dtype_in_one_buffer():
    rng = np.random.default_rng(0)
    arrays = {
        "obs": rng.integers(0, 256, (3, 4, 5), dtype=np.uint8),
        "weights": rng.random(3).astype(np.float32),
        "mask": rng.random((3, 2)) > 0.5,
        "index": np.arange(7),
        "returns": rng.random(5),
        "empty": np.zeros((0, 3), dtype=np.float32),
        "strided": rng.random((4, 6)).astype(np.float32)[:, ::2],
        "names": np.array(["a", "b"]),  # not numeric: left on the host
    }
    packed = arrays_to_device(arrays, "cpu", pack=True)
    assert "names" not in packed
    storages = {t.untyped_storage().data_ptr() for t in packed.values() if t.numel()}
    assert len(storages) == 1, "all arrays share one staging buffer"
    for key, tensor in packed.items():
        assert tensor.dtype == torch.from_numpy(np.ascontiguousarray(arrays[key])).dtype
        np.testing.assert_array_equal(tensor.numpy(), arrays[key])
    shared = arrays_to_device(arrays, "cpu")
    assert np.shares_memory(shared["obs"].numpy(), arrays["obs"]), "the CPU copies nothing"


def test_batch_moves_every_field_in_one_copy_and_replacing_one_moves_only_it():
    host = batch_of("muzero")
    packed = arrays_to_device(host.arrays(), "cpu", pack=True)
    storages = {t.untyped_storage().data_ptr() for t in packed.values() if t.numel()}
    assert len(storages) == 1, "the whole batch travels in one staging buffer"
    batch = DeviceBatch.move(host, "cpu")
    for name, array in host.arrays().items():
        tensor = getattr(batch.tensors, name)
        assert tensor.dtype == torch.from_numpy(array).dtype, name
        np.testing.assert_array_equal(tensor.numpy(), array)
    assert batch.tensors.value_mask is None and batch.device == torch.device("cpu")
    weights = np.full(host.batch_size, 5.0, np.float32)
    newer = batch.replace(weights=weights)
    assert newer.host.weights is weights
    assert float(newer.tensors.weights.sum()) == 5.0 * host.batch_size, "no stale copy"
    assert newer.tensors.obs is batch.tensors.obs, "unchanged fields do not travel again"
    with pytest.raises(dataclasses.FrozenInstanceError):
        batch.host.weights = weights  # type: ignore[misc]


def test_as_device_tensor_casts_small_integer_frames_on_the_device():
    frames = np.full((2, 3), 200, dtype=np.uint8)
    obs = as_device_tensor(frames, "cpu", torch.float32)
    assert obs.dtype == torch.float32 and float(obs.max()) == 200.0
    assert as_device_tensor(frames, "cpu").dtype == torch.uint8


# -- placement ----------------------------------------------------------------------------


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
@pytest.mark.parametrize("kind", ["muzero", "unizero"])
def test_learn_and_search_keep_everything_on_the_policy_device(kind: str, device: str):
    policy = make_policy(kind, device)
    result = policy.learn(batch_of(kind))
    assert not result.skipped and np.isfinite(result.info["total_loss"])
    assert result.priorities is not None and result.priorities.dtype == np.float64
    assert all(t.device.type == device for t in tensors_on(policy))
    act = policy.evaluate(*roots())
    assert isinstance(act.root_value, np.ndarray) and act.visit_policy.shape == (4, 2)
    actor = policy.acting_copy(seed=5)
    assert next(actor.acting_model.parameters()).device.type == device
    actor.set_weights(policy.get_weights())
    assert all(v.device.type == "cpu" for v in policy.get_weights().values())


# -- mixed precision ----------------------------------------------------------------------


def test_amp_values_are_checked():
    assert amp_dtype(None, "cpu") is None
    assert amp_dtype("bf16", "cpu") is torch.bfloat16
    with pytest.raises(ValueError, match=r"fp16.*CUDA.*bf16"):
        make_policy("muzero", amp="fp16")
    with pytest.raises(ValueError, match=r"policy\.amp must be one of"):
        Precision("fp8", "cpu")


def test_autocast_runs_the_network_in_bf16_and_the_supports_in_float32():
    policy = make_policy("muzero", amp="bf16")
    obs = torch.as_tensor(roots()[0])
    with torch.no_grad(), policy.precision.autocast():
        out = policy.model.initial_inference(obs)
        assert out.policy_logits.dtype == torch.bfloat16  # a linear head, autocast
        assert out.value.dtype == torch.float32  # decoded from the support in float32
        support = policy.model.value_support
        logits = torch.randn(4, support.size, dtype=torch.bfloat16)
        assert support.logits_to_scalar(logits).dtype == torch.float32
        ce = support_cross_entropy(logits, torch.tensor([0.3, -2.0, 7.5, 0.0]), support)
        assert ce.dtype == torch.float32
    plain = make_policy("muzero")
    assert plain.model.initial_inference(obs).policy_logits.dtype == torch.float32


@pytest.mark.parametrize("kind", KINDS)
def test_bf16_learn_and_search_on_cpu_are_close_to_float32(kind: str):
    fp32, bf16 = make_policy(kind), make_policy(kind, amp="bf16")
    batch = batch_of(kind)
    a, b = fp32.learn(policy_toy.copy_batch(batch)), bf16.learn(policy_toy.copy_batch(batch))
    assert not b.skipped
    for key in ("total_loss", "value_loss", "policy_loss", "reward_loss"):
        assert np.isfinite(b.info[key])
        assert b.info[key] == pytest.approx(a.info[key], rel=0.03, abs=0.02), key
    np.testing.assert_allclose(b.priorities, a.priorities, rtol=0.05, atol=0.02)
    for p, q in zip(fp32.model.parameters(), bf16.model.parameters(), strict=True):
        assert p.dtype == q.dtype == torch.float32  # weights stay float32
    ea, eb = fp32.evaluate(*roots()), bf16.evaluate(*roots())
    assert np.isfinite(eb.root_value).all()
    np.testing.assert_allclose(eb.root_value, ea.root_value, atol=0.02)
    np.testing.assert_allclose(eb.predicted_value, ea.predicted_value, atol=0.02)


# -- checkpoints --------------------------------------------------------------------------


@pytest.mark.parametrize("amp", [None, "bf16"])
def test_checkpoint_is_device_independent_and_resumes_identically(amp, tmp_path: Path):
    policy = make_policy("efficientzero", amp=amp)
    policy.learn(batch_of("efficientzero"))
    state = policy.state_dict()

    def devices(x: Any) -> set[str]:
        if isinstance(x, torch.Tensor):
            return {x.device.type}
        if isinstance(x, dict):
            return set().union(*(devices(v) for v in x.values())) if x else set()
        if isinstance(x, (list, tuple)):
            return set().union(*(devices(v) for v in x)) if x else set()
        return set()

    assert devices(state) == {"cpu"}
    torch.save(state, tmp_path / "policy.pt")
    resumed = make_policy("efficientzero", amp=amp)
    resumed.load_state_dict(torch.load(tmp_path / "policy.pt", map_location="cpu"))
    batch = batch_of("efficientzero")
    a, b = policy.learn(policy_toy.copy_batch(batch)), resumed.learn(policy_toy.copy_batch(batch))
    assert a.info == b.info
    np.testing.assert_array_equal(a.priorities, b.priorities)


# -- the --device flag ----------------------------------------------------------------------


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_device_flag_without_cuda_is_a_usage_error():
    assert check_device("cpu") == "cpu"
    with pytest.raises(UsageError, match="--device cuda"):
        check_device("cuda")
    with pytest.raises(UsageError, match="not a device"):
        check_device("gpu")
    from pipezero.recipe import prepare

    with pytest.raises(SystemExit) as exc:
        prepare("muzero_cartpole", ["--smoke", "--device", "cuda"])
    assert exc.value.code == 2


# -- the GPU benchmark's helper, at CPU sizes -----------------------------------------------


def load_benchmark() -> Any:
    spec = importlib.util.spec_from_file_location(
        "gpu_throughput", ROOT / "benchmarks" / "gpu_throughput.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_throughput_runs_at_cpu_sizes(tmp_path: Path):
    out = tmp_path / "gpu.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "gpu_throughput.py"), "--cpu-smoke"]
    cmd += ["--recipe-minutes", "0", "--batches", "2", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=280)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["machine"]["torch"] == torch.__version__ and report["smoke"]
    updates = {(u["network"], u["amp"]): u for u in report["updates"]}
    networks = ("rezero_atari", "unizero_atari")
    assert set(updates) == {(n, a) for n in networks for a in (None, "bf16")}
    assert all(u["updates_per_s"] > 0 for u in updates.values())
    assert {(s["network"], s["batch"]) for s in report["search"]} >= {("rezero_atari", 8)}


def test_gpu_estimate_from_a_recipe_result():
    bench = load_benchmark()
    report = {
        "recipe": {
            "env_step": 10_000,
            "train_iter": 2_000,
            "middleware_seconds": {
                "env_collect": 100.0,
                "buffer_reanalyze": 20.0,
                "interval_eval": 10.0,
                "offpolicy_learn": 40.0,
            },
        },
        "search": [
            {"network": "rezero_atari", "batch": 8, "search_ms": 40.0},
            {"network": "unizero_atari", "batch": 8, "search_ms": 80.0},
        ],
        "updates": [{"network": "unizero_atari", "amp": None, "learn_ms": 50.0}],
    }
    est = bench.estimate(report)
    # ReZero: 100k x (0.01 + 0.002 + 0.001) s + 25k updates x 0.02 s = 1800 s
    assert est["rezero_hours"] == pytest.approx(1800 / 3600, abs=0.01)
    # UniZero: collect 0.01 - 0.005 + 0.01, reanalysis and evaluation x2, 25k x 0.05 s
    assert est["unizero_hours"] == pytest.approx((1500 + 600 + 1250) / 3600, abs=0.01)
    assert "note" in bench.estimate({})


# -- CUDA against the CPU -----------------------------------------------------------------


@pytest.mark.cuda
@pytest.mark.parametrize("kind", KINDS)
def test_cuda_learn_and_search_equal_the_cpu(kind: str, exact_cuda):
    cpu, gpu = make_policy(kind, "cpu"), make_policy(kind, "cuda")
    gpu.load_state_dict(copy.deepcopy(cpu.state_dict()))
    batch = batch_of(kind)
    a, b = cpu.learn(policy_toy.copy_batch(batch)), gpu.learn(policy_toy.copy_batch(batch))
    for key, value in a.info.items():
        assert b.info[key] == pytest.approx(value, rel=1e-4, abs=1e-5), key
    np.testing.assert_allclose(b.priorities, a.priorities, rtol=1e-4, atol=1e-5)
    for p, q in zip(cpu.model.parameters(), gpu.model.parameters(), strict=True):
        torch.testing.assert_close(q.cpu(), p, rtol=1e-4, atol=1e-5)
    ea, eb = cpu.evaluate(*roots()), gpu.evaluate(*roots())
    np.testing.assert_allclose(eb.predicted_value, ea.predicted_value, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(eb.root_value, ea.root_value, rtol=1e-3, atol=1e-4)
    np.testing.assert_array_equal(eb.action, ea.action)


@pytest.mark.cuda
@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_cuda_mixed_precision_learns_finite_and_close(amp: str):
    fp32, mixed = make_policy("efficientzero", "cuda"), make_policy("efficientzero", "cuda", amp)
    batch = batch_of("efficientzero")
    a = fp32.learn(policy_toy.copy_batch(batch))
    b = mixed.learn(policy_toy.copy_batch(batch))
    assert not b.skipped and np.isfinite(b.info["total_loss"])
    assert b.info["total_loss"] == pytest.approx(a.info["total_loss"], rel=0.03, abs=0.02)
    np.testing.assert_allclose(
        mixed.evaluate(*roots()).root_value, fp32.evaluate(*roots()).root_value, atol=0.02
    )
    if amp == "fp16":
        assert "amp_scaler" in mixed.state_dict()


@pytest.mark.cuda
def test_cuda_checkpoint_loads_on_the_cpu(tmp_path: Path, exact_cuda):
    gpu = make_policy("rezero", "cuda")
    gpu.learn(batch_of("rezero"))
    torch.save(gpu.state_dict(), tmp_path / "policy.pt")
    cpu = make_policy("rezero", "cpu")
    cpu.load_state_dict(torch.load(tmp_path / "policy.pt", map_location="cpu"))
    for p, q in zip(cpu.model.parameters(), gpu.model.parameters(), strict=True):
        torch.testing.assert_close(p, q.cpu())
    batch = batch_of("rezero")
    a, b = cpu.learn(policy_toy.copy_batch(batch)), gpu.learn(policy_toy.copy_batch(batch))
    assert b.info["total_loss"] == pytest.approx(a.info["total_loss"], rel=1e-4)


@pytest.mark.cuda
@pytest.mark.parametrize("recipe", ["muzero_cartpole", "efficientzero_cartpole", "rezero_atari"])
def test_recipe_smoke_on_cuda(recipe: str, tmp_path: Path, capsys):
    if recipe.endswith("atari"):
        pytest.importorskip("ale_py")
    from pipezero.cli import main as cli
    from pipezero.recipe.train import read_result

    cli(["train", recipe, "--smoke", "--device", "cuda", "--exp-dir", str(tmp_path)])
    result = read_result(capsys.readouterr().out)
    assert result is not None and result["train_iter"] > 0
    cli(["eval", str(tmp_path), "--ckpt", "final", "--episodes", "1", "--device", "cpu"])
