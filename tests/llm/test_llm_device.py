"""Device placement, mixed precision and device-independent checkpoints of the LLM parts.

Always (CPU): a meta-check that no tensor of rollout, scoring, learning or the warm start is
created on an implicit device in pipezero's code (the bug that puts a tensor on the CPU while
the policy is on a GPU), the devices and dtypes a learn step leaves behind, bf16 autocast
close to float32, fp16 refused on the CPU, checkpoints of CPU tensors, and the reference
model sharing the policy's weights. Tests parametrised with ``cuda`` (the marker of
tests/device) repeat the comparisons on a CUDA device and are skipped without one; their
``cpu`` variants run the same code here.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pipezero.middleware
import pytest
import torch
from llm_toy import tiny_lm
from torch.overrides import TorchFunctionMode

import pipezero
from pipezero.envs.math_reasoning import (
    ArithmeticConfig,
    ArithmeticProblemGenerator,
    ProblemSampler,
    PromptFormat,
    VecMathEnv,
)
from pipezero.policy.llm.algorithms import APPOTrainer, GRPOTrainer, TPPOTrainer
from pipezero.policy.llm.batch import build_token_batch
from pipezero.policy.llm.critic import ValueHead
from pipezero.policy.llm.evaluation import evaluate_accuracy
from pipezero.policy.llm.policy import LLMPolicy
from pipezero.policy.llm.prm import OracleArithmeticPRM, StepTagPRM
from pipezero.policy.llm.rewards import RewardConfig, StepRewards, score_rollout
from pipezero.policy.llm.rollout import Rollout, RolloutWorker
from pipezero.policy.llm.sft import SFTTrainer
from pipezero.policy.llm.trainer import OnPolicyConfig, OnPolicyTrainer
from pipezero.recipe import train

TRAINERS: dict[str, type[OnPolicyTrainer]] = {
    "appo": APPOTrainer,
    "grpo": GRPOTrainer,
    "tppo": TPPOTrainer,
}
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]
CONFIG = OnPolicyConfig(policy_lr=1e-3, critic_lr=1e-3, target_kl=None, minibatch_size=2)
#: the ratios start from a forward pass (the tests below compare it with what sampling recorded)
RECOMPUTE = dataclasses.replace(CONFIG, old_logprobs="recompute")
GENERATOR = ArithmeticProblemGenerator(ArithmeticConfig(min_ops=1, max_ops=2, style="chain"))

#: Tensor factories that put their result on the default device unless told otherwise.
FACTORIES = frozenset(
    {
        torch.tensor, torch.as_tensor, torch.zeros, torch.ones, torch.full, torch.empty,
        torch.arange, torch.randperm, torch.rand, torch.randn, torch.randint, torch.eye,
        torch.linspace,
    }
)  # fmt: skip
LIBRARY = (Path(pipezero.__file__).parent, Path(pipezero.middleware.__file__).parent)


class ImplicitDevices(TorchFunctionMode):
    """Records every tensor factory called from ``watched`` source directories without a
    ``device`` argument (``as_tensor`` of a tensor keeps its device and is not recorded)."""

    def __init__(self, watched: tuple[Path, ...] = LIBRARY) -> None:
        super().__init__()
        self.watched = tuple(p.resolve() for p in watched)
        self.sites: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        kwargs = kwargs or {}
        keeps_device = func is torch.as_tensor and args and isinstance(args[0], torch.Tensor)
        if func in FACTORIES and kwargs.get("device") is None and not keeps_device:
            frame = sys._getframe(1)
            while frame is not None and "/torch/" in frame.f_code.co_filename:
                frame = frame.f_back
            if frame is not None:
                where = Path(frame.f_code.co_filename).resolve()
                if any(where.is_relative_to(root) for root in self.watched):
                    self.sites.append(f"{where.name}:{frame.f_lineno} {func.__name__}")
        return func(*args, **kwargs)


def make_policy(
    algo: str = "appo", device: str = "cpu", amp: str | None = None, seed: int = 0
) -> LLMPolicy:
    """A tiny policy whose weights come from ``seed`` whatever the device (built on the CPU,
    then moved by :class:`LLMPolicy`)."""
    lm = tiny_lm(seed, randomize_lora=True)
    critic = ValueHead(lm.hidden_size, (16,)) if algo != "grpo" else None
    return LLMPolicy(lm, critic, max_new_tokens=6, seed=seed, device=device, amp=amp)


def collect(policy: LLMPolicy, greedy: bool = False) -> tuple[Rollout, StepRewards]:
    """Two groups of two episodes (at most 3 lines each), scored by the oracle PRM."""
    sampler = ProblemSampler(GENERATOR, seed=0, group_size=2)
    envs = VecMathEnv(4, sampler, PromptFormat(), 3, auto_reset=False)
    rollout = RolloutWorker(policy, envs, "episodes", greedy=greedy).collect()
    return rollout, score_rollout(rollout, OracleArithmeticPRM(), RewardConfig())


def trainable(trainer: OnPolicyTrainer) -> list[torch.Tensor]:
    """The adapter's and the critic's parameters (what RL trains)."""
    policy = trainer.policy
    critic = list(policy.critic.parameters()) if policy.critic is not None else []
    return [*policy.lm.adapter_parameters(), *critic]


def flat(per_step: list[list[float]]) -> list[float]:
    return [x for step in per_step for x in step]


def tensors_in(state: Any) -> Iterator[torch.Tensor]:
    if isinstance(state, torch.Tensor):
        yield state
    elif isinstance(state, dict):
        for value in state.values():
            yield from tensors_in(value)
    elif isinstance(state, (list, tuple)):
        for value in state:
            yield from tensors_in(value)


# -- the meta-check ---------------------------------------------------------------------------
def test_the_meta_check_sees_a_factory_without_a_device() -> None:
    with ImplicitDevices(watched=(Path(__file__).parent,)) as seen:
        torch.zeros(2)
        torch.zeros(2, device="cpu")
        torch.as_tensor(torch.ones(2, device="cpu"))
    assert len(seen.sites) == 1 and seen.sites[0].endswith("zeros")


@pytest.mark.parametrize("algo", sorted(TRAINERS))
def test_rollout_scoring_learning_and_warm_start_name_every_device(algo: str) -> None:
    policy = make_policy(algo)
    trainer = TRAINERS[algo](policy, CONFIG)
    sft = SFTTrainer(policy.lm, PromptFormat())
    vocab = policy.tokenizer.vocab_size
    step_tag = StepTagPRM(
        lambda ids, mask: torch.zeros(*ids.shape, vocab, device=ids.device),
        policy.tokenizer.encode,
        step_tag_id=policy.tokenizer.encode("#")[0],
        good_id=policy.tokenizer.encode("+")[0],
        bad_id=policy.tokenizer.encode("-")[0],
    )
    with ImplicitDevices() as seen:
        rollout, rewards = collect(policy)
        step_tag.score(["Q: 1+1\n"], ["1+1=2\n"])
        trainer.learn(rollout, rewards)
        sft.step([GENERATOR.generate(2, seed=1)[0]])
        evaluate_accuracy(policy, GENERATOR.generate(2, seed=2), PromptFormat(), 2)
        trainer.load_state_dict(trainer.state_dict())
    assert seen.sites == [], f"tensors created on an implicit device at {seen.sites}"


# -- placement and dtypes ---------------------------------------------------------------------
@pytest.mark.parametrize("amp", [None, "bf16"])
@pytest.mark.parametrize("device", DEVICES)
def test_a_learn_step_keeps_everything_on_the_policy_device(device: str, amp: str | None) -> None:
    policy = make_policy("appo", device, amp)
    trainer = APPOTrainer(policy, CONFIG)
    rollout, rewards = collect(policy)
    for traj in rollout.trajectories:  # recorded log-probs are plain floats, finite
        assert all(np.isfinite(lp) for step in traj.logprobs for lp in step)
    stats = trainer.learn(rollout, rewards)
    assert all(np.isfinite(v) for v in stats.values()), stats
    want = torch.device(device)
    want = torch.device(want.type, 0) if want.type == "cuda" and want.index is None else want
    params = [*policy.lm.parameters(), *policy.critic.parameters()]
    assert {p.device for p in params} == {want}
    assert {p.dtype for p in params} == {torch.float32}  # autocast leaves the weights alone
    opt_state = [*tensors_in(trainer.policy_opt.state), *tensors_in(trainer.critic_opt.state)]
    assert opt_state and {t.device for t in opt_state if t.dim()} == {want}
    assert policy.generator.device.type == want.type
    batch = build_token_batch(rollout.trajectories, rewards.rewards, policy.tokenizer.pad_id).to(
        policy.device
    )
    assert {getattr(batch, f).device for f in ("input_ids", "rewards", "done")} == {want}
    prep = trainer._prepare(batch)
    assert prep.old_logprobs.device == want and prep.old_logprobs.dtype == torch.float32
    assert prep.features is not None and prep.features.dtype == torch.float32
    with policy.precision.autocast():
        logits = policy.lm(batch.input_ids, attention_mask=batch.valid).logits
    assert logits.dtype == (torch.bfloat16 if amp == "bf16" else torch.float32)


def test_bf16_autocast_on_the_cpu_is_finite_and_close_to_float32() -> None:
    fp32, bf16 = make_policy("appo"), make_policy("appo", amp="bf16")
    rollout, rewards = collect(fp32)  # the same trajectories for both
    batch = build_token_batch(rollout.trajectories, rewards.rewards, fp32.tokenizer.pad_id)
    a, b = APPOTrainer(fp32, RECOMPUTE), APPOTrainer(bf16, RECOMPUTE)
    prep_a, prep_b = a._prepare(batch), b._prepare(batch)
    assert torch.isfinite(prep_b.old_logprobs).all()
    torch.testing.assert_close(prep_b.old_logprobs, prep_a.old_logprobs, atol=0.05, rtol=0.02)
    stats_a, stats_b = a.learn(rollout, rewards), b.learn(rollout, rewards)
    assert all(np.isfinite(v) for v in stats_b.values()), stats_b
    assert stats_b["policy_loss"] == pytest.approx(stats_a["policy_loss"], abs=0.05)
    # Adam moves each weight by about lr per step (two minibatches here): bf16 may flip the
    # sign of a tiny gradient, never more.
    for x, y in zip(trainable(a), trainable(b), strict=True):
        torch.testing.assert_close(y, x, atol=2 * 2 * CONFIG.policy_lr, rtol=0)


def test_fp16_and_unknown_amp_are_refused_on_the_cpu() -> None:
    with pytest.raises(ValueError, match=r"fp16.*needs a CUDA device"):
        make_policy(amp="fp16")
    with pytest.raises(ValueError, match=r"fp16.*needs a CUDA device"):
        SFTTrainer(tiny_lm(), PromptFormat(), amp="fp16")
    with pytest.raises(ValueError, match=r"policy.amp must be one of \[None, 'bf16', 'fp16'\]"):
        make_policy(amp="int8")


def test_the_reference_model_and_the_critic_add_no_copy_of_the_base_weights() -> None:
    policy = make_policy("appo")
    trainer = APPOTrainer(policy, CONFIG)
    sft = SFTTrainer(policy.lm, PromptFormat())
    owned = {p.data_ptr() for p in [*policy.lm.parameters(), *policy.critic.parameters()]}
    optimized = [p for o in (trainer.policy_opt, trainer.critic_opt, sft.optimizer) for g in
                 o.param_groups for p in g["params"]]  # fmt: skip
    assert {p.data_ptr() for p in optimized} <= owned
    # the reference (adapter off) is the same module: its output is the base model's
    ids = torch.tensor([policy.initial_context("Q: From 2: +3.\n")], device=policy.device)
    base = tiny_lm(0, lora=False)
    with policy.lm.disable_adapter(), torch.no_grad():
        reference = policy.lm(ids).logits
        plain = base(ids).logits
    torch.testing.assert_close(reference, plain)


# -- checkpoints ------------------------------------------------------------------------------
@pytest.mark.parametrize("device", DEVICES)
def test_checkpoints_hold_cpu_tensors_and_load_on_another_device(device: str) -> None:
    trainer = APPOTrainer(make_policy("appo", device), CONFIG)
    trainer.learn(*collect(trainer.policy))
    state = trainer.state_dict()
    assert {t.device.type for t in tensors_in(state)} == {"cpu"}
    restored = torch.load(_saved(state), weights_only=False)
    other = APPOTrainer(make_policy("appo", "cpu", seed=1), CONFIG)
    other.load_state_dict(restored)
    for x, y in zip(trainable(trainer), trainable(other), strict=True):
        torch.testing.assert_close(y, x.cpu())
    assert other.policy_opt.state_dict()["state"][0]["exp_avg"].device.type == "cpu"


def _saved(state: dict[str, Any]) -> Any:
    import io

    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return buffer


def test_a_sampling_generator_of_another_device_type_is_reseeded_reproducibly() -> None:
    state = make_policy("grpo").state_dict()
    state["generator_device"] = "cuda"  # as written on a GPU: a 16-byte Philox state
    state["generator"] = torch.arange(16, dtype=torch.uint8)
    draws = []
    for _ in range(2):
        policy = make_policy("grpo", seed=5)
        policy.load_state_dict(copy.deepcopy(state))
        draws.append(torch.rand(4, generator=policy.generator, device="cpu"))
    torch.testing.assert_close(draws[0], draws[1])
    fresh = torch.rand(4, generator=make_policy("grpo", seed=5).generator, device="cpu")
    assert not torch.equal(draws[0], fresh)


# -- the recipes ------------------------------------------------------------------------------
@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal without CUDA")
def test_recipes_take_the_device_flag_and_refuse_a_missing_gpu(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        train("grpo_math", ["--smoke", "--device", "cuda"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--device cuda" in err and "CUDA" in err and "runs on cpu" not in err


def test_recipe_refuses_fp16_on_the_cpu(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        train("tppo_math", ["--smoke", "--exp-dir", str(tmp_path), "--set", "policy.amp=fp16"])
    assert exit_info.value.code == 2
    assert "policy.amp='fp16' needs a CUDA device" in capsys.readouterr().err


#: On the CPU, bf16 autocast is emulated on most processors (the recipe's own --smoke took
#: 224 s on the 2-core test machine): the CPU variant shrinks the model and the batches.
TINY_SETS = [
    "model.d_model=32", "model.n_layer=2", "model.n_head=2", "model.d_ff=64",
    "model.critic_layers=[16]", "collect.num_prompts=2", "collect.group_size=2",
    "collect.max_new_tokens=6", "env.max_steps=3", "env.num_eval_problems=4", "sft.num_steps=2",
    "learn.minibatch_size=2", "eval.batch_size=4",
]  # fmt: skip


@pytest.mark.parametrize(
    "device, amp",
    [("cpu", "bf16"), pytest.param("cuda", None, marks=pytest.mark.cuda),
     pytest.param("cuda", "bf16", marks=pytest.mark.cuda)],
)  # fmt: skip
def test_recipe_smoke_on_a_device(device: str, amp: str | None, tmp_path: Path, capsys) -> None:
    argv = ["--smoke", "--device", device, "--exp-dir", str(tmp_path), "--log-every", "0"]
    argv += ["--set", f"policy.amp={json.dumps(amp)}"]
    if device == "cpu":
        argv += [flag for pair in TINY_SETS for flag in ("--set", pair)]
    ctx = train("grpo_math", argv)
    assert ctx.train_iter >= 8
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1][len("RESULT ") :])
    assert 0.0 <= result["best_eval_return"] <= 1.0
    state = torch.load(tmp_path / "ckpt" / "final.pt", map_location="cpu", weights_only=False)
    assert {t.device.type for t in tensors_in(state["policy"])} == {"cpu"}


# -- the same on two devices (the cuda variants are skipped without a CUDA device) ------------
@pytest.fixture
def exact(request: pytest.FixtureRequest) -> None:
    """TF32 off on CUDA (the ``exact_cuda`` fixture); nothing to do on the CPU."""
    if request.getfixturevalue("device") == "cuda":
        request.getfixturevalue("exact_cuda")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("algo", sorted(TRAINERS))
def test_a_learn_step_on_the_device_equals_the_cpu_one(algo: str, device: str, exact) -> None:
    cpu = TRAINERS[algo](make_policy(algo, "cpu"), CONFIG)
    gpu = TRAINERS[algo](make_policy(algo, device), CONFIG)
    rollout, rewards = collect(cpu.policy, greedy=True)
    stats_cpu, stats_gpu = cpu.learn(rollout, rewards), gpu.learn(rollout, rewards)
    assert stats_cpu.keys() == stats_gpu.keys()
    for key, value in stats_cpu.items():
        assert stats_gpu[key] == pytest.approx(value, abs=1e-4), key
    for x, y in zip(trainable(cpu), trainable(gpu), strict=True):
        torch.testing.assert_close(y.cpu(), x, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("device", DEVICES)
def test_a_greedy_rollout_on_the_device_equals_the_cpu_one(device: str, exact) -> None:
    cpu, gpu = make_policy("appo", "cpu"), make_policy("appo", device)
    (a, _), (b, _) = collect(cpu, greedy=True), collect(gpu, greedy=True)
    assert [t.action_ids for t in a.trajectories] == [t.action_ids for t in b.trajectories]
    for x, y in zip(a.trajectories, b.trajectories, strict=True):
        np.testing.assert_allclose(flat(y.logprobs), flat(x.logprobs), atol=1e-4)


@pytest.mark.parametrize("device", DEVICES)
def test_sampled_log_probs_match_a_forward_pass(device: str, exact) -> None:
    policy = make_policy("grpo", device)
    rollout, rewards = collect(policy)
    trainer = GRPOTrainer(policy, RECOMPUTE)
    batch = build_token_batch(rollout.trajectories, rewards.rewards, policy.tokenizer.pad_id)
    prep = trainer._prepare(batch.to(policy.device))
    recorded = torch.zeros_like(prep.old_logprobs)
    for b, traj in enumerate(rollout.trajectories):
        recorded[b, batch.action[b].to(policy.device)] = torch.tensor(
            flat(traj.logprobs), device=policy.device
        )
    action = batch.action.to(policy.device)
    torch.testing.assert_close(prep.old_logprobs[action], recorded[action], atol=1e-4, rtol=0)


@pytest.mark.cuda
@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_mixed_precision_learn_steps_on_cuda_are_finite(amp: str) -> None:
    for algo in sorted(TRAINERS):
        trainer = TRAINERS[algo](make_policy(algo, "cuda", amp), CONFIG)
        stats = trainer.learn(*collect(trainer.policy))
        # an fp16 step whose scaled gradients overflow is skipped (its norm is inf)
        finite = {k: v for k, v in stats.items() if k != "policy_grad_norm"}
        assert all(np.isfinite(v) for v in finite.values()), (algo, stats)
        assert all(torch.isfinite(p).all() for p in trainable(trainer))
        assert ("amp_scaler" in trainer.state_dict()) == (amp == "fp16")
