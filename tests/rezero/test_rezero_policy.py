"""ReZeroPolicy: pure-policy collection, segment reanalysis, and the recipe's whole chain."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from pipezero.middleware import env_collect

from pipezero.envs import BatchEnv
from pipezero.framework import TrainContext
from pipezero.model import MuZeroMLP
from pipezero.policy import ReZeroPolicy, rezero_config
from pipezero.policy.rezero_reanalyze import SegmentReanalyzer
from pipezero.recipe import train

TINY_MODEL = {"latent_dim": 16, "hidden_dim": 16, "support_size": 5, "reward_support_size": 5}


def tiny_policy(**policy_overrides) -> ReZeroPolicy:
    torch.manual_seed(0)
    cfg = rezero_config({"policy": {"num_simulations": 6} | policy_overrides}).policy
    return ReZeroPolicy(cfg, MuZeroMLP((4,), 2, **TINY_MODEL), seed=0)


def test_pure_policy_collection_acts_from_the_network_policy():
    policy = tiny_policy(collect_with_pure_policy=True)
    obs = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    mask = np.ones((5, 2), dtype=bool)
    mask[0, 1] = False
    act = policy.collect(obs, mask, np.full(5, -1), env_step=0)
    with torch.no_grad():
        out = policy.model.initial_inference(torch.as_tensor(obs))
    expected = torch.softmax(out.policy_logits, dim=1).numpy()
    expected[0] = [1.0, 0.0]
    np.testing.assert_allclose(act.visit_policy, expected, atol=1e-6)
    np.testing.assert_allclose(act.root_value, out.value.numpy(), atol=1e-6)
    assert act.action[0] == 0 and act.action.shape == (5,)
    assert policy.collect_search.network_calls == 0  # no search


def test_reanalysis_of_collected_cartpole_segments_reuses_values():
    policy = tiny_policy(game_segment_length=10, collect_env_steps=20, td_steps=3)
    assert isinstance(policy, SegmentReanalyzer)
    envs = BatchEnv.make("CartPole-v0", 2, seed=0)
    ctx = TrainContext()
    env_collect(policy.cfg, policy, envs)(ctx)
    segments = ctx.new_segments
    assert segments
    reuse = policy.reanalyze_segments(segments)
    policy.cfg.reuse_search = False
    full = policy.reanalyze_segments(segments)
    assert full.evaluations_per_state == 1 + 6
    assert reuse.evaluations_per_state < full.evaluations_per_state
    assert reuse.num_states == full.num_states == sum(s.length + s.num_padding for s in segments)


@pytest.mark.parametrize("pure", [False, True])
def test_rezero_cartpole_recipe_runs_its_chain(tmp_path, capsys, pure):
    argv = ["--seed", "1", "--exp-dir", str(tmp_path), "--max-env-step", "160"]
    for item in (
        "policy.collect_env_steps=4",
        "policy.num_simulations=4",
        "policy.batch_size=16",
        "policy.min_buffer_transitions=1",
        "policy.n_evaluator_episode=2",
        "env.evaluator_env_num=2",
        "policy.model.latent_dim=16",
        "policy.model.hidden_dim=16",
        "policy.num_unroll_steps=3",
        "policy.td_steps=5",
        "policy.game_segment_length=8",
        "policy.reanalyze_batch_size=4",
        f"policy.collect_with_pure_policy={pure}",
    ):
        argv += ["--set", item]
    ctx = train("rezero_cartpole", argv)
    assert ctx.env_step == 160 and ctx.train_iter > 0
    assert ctx.reanalyzed_states > 0
    assert ctx.reanalyze_state_evaluations < ctx.reanalyzed_states * (1 + 4)
    assert (tmp_path / "ckpt" / "final.pt").is_file()
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1][len("RESULT ") :])
    assert result["reanalyzed_states"] == ctx.reanalyzed_states
