"""Stochastic MuZero policy end to end on real 2048 data, and the recipe's whole chain."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pipezero.data import GameSegmentWriter, ReplayBuffer
from pipezero.envs import BatchEnv
from pipezero.envs.game2048 import ENV_ID
from pipezero.model import MuZeroMLP
from pipezero.model.stochastic import StochasticMuZeroMLP
from pipezero.policy.base import PolicyProtocol
from pipezero.policy.stochastic_muzero import StochasticMuZeroPolicy
from pipezero.recipe import train

MODEL = {
    "latent_dim": 16,
    "hidden_dim": 32,
    "support_size": 30,
    "reward_support_size": 10,
    "chance_space_size": 32,
    "encoder_hidden_dim": 32,
}
POLICY = {
    "model": MODEL,
    "num_simulations": 6,
    "batch_size": 32,
    "num_unroll_steps": 3,
    "td_steps": 3,
    "game_segment_length": 20,
    "min_buffer_transitions": 1,
    "learning_rate": 3e-3,
    "discount_factor": 0.99,
}


def make_policy(seed: int = 0) -> StochasticMuZeroPolicy:
    torch.manual_seed(seed)
    return StochasticMuZeroPolicy(POLICY, StochasticMuZeroMLP((16, 4, 4), 4, **MODEL), seed=seed)


def fill_buffer(policy: StochasticMuZeroPolicy, steps: int = 40) -> ReplayBuffer:
    c = policy.cfg
    envs = BatchEnv.make(ENV_ID, 2, seed=0)
    buffer = ReplayBuffer(2000, c.num_unroll_steps, c.td_steps, c.discount_factor, seed=0)
    writers = [
        GameSegmentWriter((16, 4, 4), 4, c.game_segment_length, c.num_unroll_steps, c.td_steps)
        for _ in range(2)
    ]
    obs = envs.reset()
    for step in range(steps):
        act = policy.collect(obs.observation, obs.action_mask, obs.to_play, step)
        assert obs.action_mask[np.arange(2), act.action].all(), "only legal moves"
        out = envs.step(act.action)
        for i, w in enumerate(writers):
            w.append(
                obs.observation[i],
                obs.action_mask[i],
                -1,
                int(act.action[i]),
                float(out.reward[i]),
                act.visit_policy[i],
                float(act.root_value[i]),
            )
            if out.done[i]:
                w.end_episode(out.final_observation[i], bool(out.terminated[i]))
        obs = out.obs
    for w in writers:
        for seg in w.pop_finished():
            buffer.push(seg)
    return buffer


def test_policy_acts_and_learns_on_2048():
    policy = make_policy()
    assert isinstance(policy, PolicyProtocol) and policy.needs_unroll_obs
    buffer = fill_buffer(policy)
    batch = buffer.sample(32, with_unroll_obs=True)
    first = policy.learn(batch)
    assert not first.skipped and first.priorities.shape == (32,)
    keys = ("afterstate_value_loss", "chance_loss", "commitment_loss", "code_usage_loss")
    for key in (*keys, "reward_loss"):
        assert np.isfinite(first.info[key]) and first.info[key] >= 0
    for _ in range(30):
        last = policy.learn(batch)
    # A fixed batch is fitted: the total loss and the chance-code loss go down.
    assert last.info["total_loss"] < 0.7 * first.info["total_loss"]
    assert last.info["chance_loss"] < first.info["chance_loss"]
    # The encoder keeps several chance codes in use (no collapse onto one code).
    with torch.no_grad():
        codes, _, _ = policy.model.encode_chance(
            torch.as_tensor(batch.obs), torch.as_tensor(batch.unroll_obs[:, 0])
        )
    assert len(set(codes.tolist())) >= 3
    act = policy.evaluate(batch.obs[:4], batch.action_masks[:4, 0], np.full(4, -1))
    assert act.action.shape == (4,) and act.visit_policy.shape == (4, 4)
    assert batch.action_masks[np.arange(4), 0, act.action].all()


def test_learn_needs_the_unroll_observations():
    policy = make_policy()
    batch = fill_buffer(policy, steps=30).sample(8)
    with pytest.raises(ValueError, match="with_unroll_obs=True"):
        policy.learn(batch)


def test_policy_rejects_a_plain_muzero_model():
    with pytest.raises(TypeError, match="StochasticMuZeroMLP"):
        StochasticMuZeroPolicy(POLICY, MuZeroMLP(4, 2, support_size=5))


def test_recipe_chain_runs(tmp_path, capsys):
    argv = ["--seed", "2", "--exp-dir", str(tmp_path), "--max-env-step", "64"]
    for item in (
        "policy.collect_env_steps=4",
        "policy.num_simulations=3",
        "policy.batch_size=8",
        "policy.min_buffer_transitions=1",
        "policy.n_evaluator_episode=2",
        "env.evaluator_env_num=2",
        "env.collector_env_num=4",
        "policy.model.latent_dim=8",
        "policy.model.hidden_dim=8",
        "policy.model.encoder_hidden_dim=8",
        "policy.num_unroll_steps=2",
        "policy.td_steps=2",
        "policy.game_segment_length=8",
        "policy.eval_freq=1000",
    ):
        argv += ["--set", item]
    ctx = train("stochastic_muzero_2048", argv)
    assert ctx.env_step == 64 and ctx.train_iter > 0
    assert (tmp_path / "ckpt" / "final.pt").is_file()
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1][len("RESULT ") :])
    assert result["algorithm"] == "stochastic_muzero" and result["eval_history"]


def test_evaluation_search_can_use_its_own_number_of_simulations():
    torch.manual_seed(0)
    model = StochasticMuZeroMLP((16, 4, 4), 4, **MODEL)
    policy = StochasticMuZeroPolicy(POLICY | {"eval_num_simulations": 11}, model, seed=0)
    assert policy.collect_search.config.num_simulations == 6
    assert policy.eval_search.config.num_simulations == 11
    actor = policy.acting_copy(seed=5)
    assert actor.eval_search.config.num_simulations == 11
    assert actor.collect_search.config.num_simulations == 6
    envs = BatchEnv.make(ENV_ID, 2, seed=0)
    obs = envs.reset()
    act = policy.evaluate(obs.observation, obs.action_mask, obs.to_play)
    assert obs.action_mask[np.arange(2), act.action].all()
    assert policy.eval_search.network_calls == 11
    with pytest.raises(ValueError, match="eval_num_simulations' must be an int >= 1, got 0"):
        StochasticMuZeroPolicy(POLICY | {"eval_num_simulations": 0}, model)


def test_afterstate_reward_is_learned_through_the_afterstate_dynamics():
    torch.manual_seed(0)
    model = StochasticMuZeroMLP((16, 4, 4), 4, **MODEL, afterstate_reward=True)
    policy = StochasticMuZeroPolicy(POLICY, model, seed=0)
    batch = fill_buffer(policy).sample(32, with_unroll_obs=True)
    first = policy.learn(batch)
    for _ in range(30):
        last = policy.learn(batch)
    assert last.info["reward_loss"] < 0.5 * first.info["reward_loss"]
    # The unroll's reward logits are phi's, whatever the chance codes.
    obs = torch.as_tensor(batch.obs[:4])
    actions = torch.as_tensor(batch.actions[:4])
    policy._unroll_obs = torch.as_tensor(batch.unroll_obs[:4])
    with torch.no_grad():
        unroll = policy.unroll(obs, actions)
        latent = model.representation(obs)
        _, expected = model.afterstate_transition(latent, actions[:, 0])
    policy._unroll_obs = None
    torch.testing.assert_close(unroll.reward_logits[:, 0], expected)


def test_afterstate_value_target_leaves_out_the_reward_already_on_the_edge():
    from pipezero.policy.targets import UnrollTargets

    value = torch.tensor([[10.0, 6.0, 3.0]])
    reward = torch.tensor([[4.0, 8.0]])
    ones = torch.ones(1, 3)
    targets = UnrollTargets(value, reward, torch.zeros(1, 3, 4), ones, ones[:, :2], ones)
    for afterstate_reward, expected in ((False, [10.0, 6.0]), (True, [6.0, -2.0])):
        model = StochasticMuZeroMLP((16, 4, 4), 4, **MODEL, afterstate_reward=afterstate_reward)
        policy = StochasticMuZeroPolicy(POLICY, model)
        torch.testing.assert_close(
            policy.afterstate_value_targets(targets, 2), torch.tensor([expected])
        )
