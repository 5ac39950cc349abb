"""The trainers: what each optimizer touches, the KL skip, batch packing, GRPO checks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from llm_toy import tiny_policy, trajectory

from pipezero.policy.llm.advantages import gae
from pipezero.policy.llm.algorithms import APPOTrainer, GRPOTrainer, TPPOTrainer
from pipezero.policy.llm.batch import build_token_batch
from pipezero.policy.llm.rewards import StepRewards
from pipezero.policy.llm.rollout import Rollout
from pipezero.policy.llm.trainer import OnPolicyConfig


def _rollout(policy, n: int = 4) -> tuple[Rollout, StepRewards]:
    trajs = [
        trajectory(policy, ["2+3=5\n", "The answer is 5\n"], group_id=i // 2, correct=i % 2 == 0)
        for i in range(n)
    ]
    trajs[1] = trajectory(policy, ["2+3=6\n", "The answer is 6\n"], group_id=0, correct=False)
    rewards = [np.array([1.0, 1.0 if t.correct else 0.0], dtype=np.float32) for t in trajs]
    return Rollout(trajs, 2 * n), StepRewards(rewards, [r.copy() for r in rewards])


def _snapshot(params) -> list[torch.Tensor]:
    return [p.detach().clone() for p in params]


def _changed(before, params) -> bool:
    return any(not torch.equal(b, p) for b, p in zip(before, params, strict=True))


@pytest.mark.parametrize("trainer_cls", [APPOTrainer, TPPOTrainer])
def test_critic_updates_leave_base_and_lora_weights_unchanged(trainer_cls) -> None:
    policy = tiny_policy()
    cfg = OnPolicyConfig(policy_lr=1e-2, critic_lr=1e-2, target_kl=None, minibatch_size=2)
    trainer = trainer_cls(policy, cfg)
    rollout, rewards = _rollout(policy)
    lm = policy.lm
    base, lora, critic = (
        _snapshot(lm.base_parameters()),
        _snapshot(lm.adapter_parameters()),
        _snapshot(policy.critic.parameters()),
    )
    # Critic only: a negative KL threshold skips every policy step.
    trainer.config = dataclasses.replace(cfg, target_kl=-1.0)
    stats = trainer.learn(rollout, rewards)
    assert stats["policy_skipped"] == 1.0 and "value_loss" in stats
    assert _changed(critic, list(policy.critic.parameters()))
    assert not _changed(base, lm.base_parameters())
    assert not _changed(lora, lm.adapter_parameters())
    # A full update moves the adapter, never the base model.
    trainer.config = cfg
    trainer.learn(rollout, rewards)
    assert _changed(lora, lm.adapter_parameters())
    assert not _changed(base, lm.base_parameters())


@pytest.mark.parametrize(
    ("old_logprobs", "target_kl"),
    # recomputed, the first minibatch's KL is exactly 0; against the log-probs recorded while
    # sampling it is float noise (the cached incremental pass against one whole forward)
    [("recompute", 1e-9), ("rollout", 1e-5)],
)
def test_kl_skip_path_skips_policy_steps_once_the_policy_moved(
    old_logprobs: str, target_kl: float
) -> None:
    policy = tiny_policy(critic=False)
    rollout, rewards = _rollout(policy, n=8)
    # The first minibatch sees the collecting policy: it steps. After a big step every later
    # minibatch exceeds the tiny threshold and is skipped.
    cfg = OnPolicyConfig(
        policy_lr=0.5,
        target_kl=target_kl,
        minibatch_size=2,
        update_epochs=2,
        old_logprobs=old_logprobs,
    )
    trainer = GRPOTrainer(policy, cfg)
    lora = _snapshot(policy.lm.adapter_parameters())
    stats = trainer.learn(rollout, rewards)
    assert stats["updates"] == 8.0
    assert stats["policy_skipped"] == pytest.approx(7 / 8)
    assert _changed(lora, policy.lm.adapter_parameters())
    # Without the threshold nothing is skipped.
    trainer = GRPOTrainer(
        tiny_policy(critic=False), OnPolicyConfig(target_kl=None, minibatch_size=2)
    )
    assert trainer.learn(rollout, rewards)["policy_skipped"] == 0.0


def test_kl_penalty_to_the_frozen_base_is_measured_and_optional() -> None:
    policy = tiny_policy(critic=False)
    with torch.no_grad():
        for p in policy.lm.adapter_parameters():
            p.normal_(0.0, 0.3)  # the adapted policy differs from the base model
    rollout, rewards = _rollout(policy)
    with_kl = GRPOTrainer(policy, OnPolicyConfig(kl_coef=0.1, target_kl=None, minibatch_size=4))
    assert with_kl.learn(rollout, rewards)["kl_to_base"] > 0
    without = GRPOTrainer(policy, OnPolicyConfig(target_kl=None, minibatch_size=4))
    assert "kl_to_base" not in without.learn(rollout, rewards)


def test_token_batch_marks_steps_values_and_targets() -> None:
    policy = tiny_policy()
    traj = trajectory(policy, ["1+1=2\n", "ok\n"])
    batch = build_token_batch([traj], [np.array([0.5, 1.0])], policy.tokenizer.pad_id)
    n_ctx = len(traj.context)
    # targets of the generated tokens: grid indices n_ctx-1 .. n_ctx-1+len(actions)-1
    assert batch.action[0].nonzero().flatten().tolist() == list(range(n_ctx - 1, n_ctx - 1 + 9))
    assert batch.step_value_pos[0].tolist() == [n_ctx - 1, n_ctx - 1 + 6]
    assert batch.step_end[0].nonzero().flatten().tolist() == [n_ctx - 1 + 5, n_ctx - 1 + 8]
    assert batch.targets[0, n_ctx - 1 : n_ctx + 5].tolist() == traj.action_ids[0]
    assert int(batch.last_pos[0]) == traj.num_tokens - 1


def test_appo_advantages_are_step_gae_of_the_critic_values() -> None:
    policy = tiny_policy()
    cfg = OnPolicyConfig(normalize_advantages=False)
    trainer = APPOTrainer(policy, cfg)
    cut = trajectory(policy, ["1+1=2\n", "2+2=4\n"], done=False)
    done = trajectory(policy, ["The answer is 5\n"])
    rewards = [np.array([0.5, 1.0], dtype=np.float32), np.array([2.0], dtype=np.float32)]
    batch = build_token_batch([cut, done], rewards, policy.tokenizer.pad_id)
    prep = trainer._prepare(batch)
    adv, value_data = trainer.advantages(batch, prep)
    with torch.no_grad():
        feats = prep.features
        v_cut = policy.critic(feats[0, batch.step_value_pos[0]])
        boot = policy.critic(feats[0, batch.last_pos[0]])
        v_done = policy.critic(feats[1, batch.step_value_pos[1, :1]])
    want_cut, _ = gae(
        torch.tensor([[0.5], [1.0]]),
        v_cut[:, None],
        torch.zeros(2, 1, dtype=torch.bool),
        boot[None],
        0.95,
        0.95,
    )
    want_done = 2.0 - v_done[0]
    step0 = batch.step_of[0] == 0
    torch.testing.assert_close(adv[0][step0], want_cut[0, 0].expand(int(step0.sum())))
    torch.testing.assert_close(adv[1][batch.action[1]][0], want_done)
    assert len(value_data.returns) == 3


@pytest.mark.parametrize("credit", ["trajectory", "step"])
def test_grpo_favours_the_better_sample_of_a_group(credit: str) -> None:
    policy = tiny_policy(critic=False)
    rollout, rewards = _rollout(policy)
    trainer = GRPOTrainer(policy, OnPolicyConfig(grpo_credit=credit))
    batch = build_token_batch(rollout.trajectories, rewards.rewards, policy.tokenizer.pad_id)
    adv, value_data = trainer.advantages(batch, trainer._prepare(batch))
    assert value_data is None
    # rows 0 and 1 form group 0: row 0 answered right (reward 2), row 1 wrong (reward 1)
    assert adv[0][batch.action[0]].min() > 0 > adv[1][batch.action[1]].max()


def test_grpo_refuses_cut_trajectories_and_needs_no_critic() -> None:
    policy = tiny_policy(critic=False)
    with pytest.raises(ValueError, match="needs a critic"):
        APPOTrainer(policy)
    trainer = GRPOTrainer(policy)
    cut = trajectory(policy, ["1+1=2\n"], done=False)
    with pytest.raises(ValueError, match="whole episodes"):
        trainer.learn(Rollout([cut], 1), StepRewards([np.zeros(1, np.float32)], [np.zeros(1)]))


def test_config_errors_name_the_field_and_value() -> None:
    with pytest.raises(ValueError, match="gamma must be in"):
        OnPolicyConfig(gamma=1.5)
    with pytest.raises(ValueError, match="grpo_normalization must be one of"):
        OnPolicyConfig(grpo_normalization="global")
    with pytest.raises(ValueError, match="grpo_credit must be one of"):
        OnPolicyConfig(grpo_credit="token")
    with pytest.raises(ValueError, match="minibatch_size must be an int >= 1, got 0"):
        OnPolicyConfig(minibatch_size=0)


@pytest.mark.parametrize("temperature", [1.0, 0.6])
def test_sampled_logprobs_are_the_ones_the_ratios_start_from(temperature: float) -> None:
    policy = tiny_policy(critic=False, max_new_tokens=5)
    policy.temperature = temperature
    rollout, rewards = _rollout(policy)
    for traj in rollout.trajectories:  # replace the scripted lines by sampled ones
        context = list(traj.context)
        for s in range(traj.num_steps):
            (gen,) = policy.generate([context])
            traj.action_ids[s], traj.logprobs[s] = list(gen.ids), list(gen.logprobs)
            context.extend(gen.ids)
    batch = build_token_batch(rollout.trajectories, rewards.rewards, policy.tokenizer.pad_id)
    flat = [lp for t in rollout.trajectories for step in t.logprobs for lp in step]
    np.testing.assert_allclose(batch.rollout_logprobs[batch.action].numpy(), flat)
    stats = GRPOTrainer(policy, OnPolicyConfig(minibatch_size=4)).learn(rollout, rewards)
    assert stats["rollout_logprob_gap"] < 1e-5
