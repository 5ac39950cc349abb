"""collect_with_pure_policy on every MuZero-family policy: no search while collecting, the
network's policy and value stored as targets, and the segments train."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pipezero.middleware.env_collect import env_collect

from pipezero.config import merge_config
from pipezero.envs import BatchEnv
from pipezero.framework import TrainContext
from pipezero.model import MuZeroMLP
from pipezero.policy import MuZeroPolicy
from pipezero.policy.muzero_build import build_muzero
from pipezero.recipe import load_recipe, smoke_config

#: family -> the recipe whose policy and model classes it uses (their build's partial)
FAMILIES = {
    "muzero": "muzero_cartpole",
    "efficientzero": "efficientzero_cartpole",
    "gumbel_muzero": "gumbel_muzero_cartpole",
    "rezero": "rezero_cartpole",
    "unizero": "unizero_cartpole",
    "sampled_efficientzero": "sampled_efficientzero_pendulum",
    "stochastic_muzero": "stochastic_muzero_2048",
}
TINY = {
    "policy.collect_with_pure_policy": True,
    "policy.batch_size": 8,
    "policy.num_unroll_steps": 2,
    "policy.td_steps": 3,
    "policy.game_segment_length": 6,
    "policy.collect_env_steps": 12,
}


def build(family: str):
    module = load_recipe(FAMILIES[family])
    classes = getattr(module.build, "keywords", {})
    cfg = merge_config(smoke_config(module), TINY)
    envs = BatchEnv.make(cfg.env.env_id, 2, seed=0)
    policy, buffer = build_muzero(
        cfg,
        envs,
        classes.get("policy_class", MuZeroPolicy),
        classes.get("model_class", MuZeroMLP),
    )
    return policy, buffer, envs


def no_search(*args, **kwargs):
    raise AssertionError("collect_with_pure_policy must not search")


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_pure_policy_collection_stores_the_network_targets_and_trains(family):
    policy, buffer, envs = build(family)
    policy.collect_search.search = no_search  # any search while collecting fails the test
    obs = envs.reset()
    act = policy.collect(obs.observation, obs.action_mask, obs.to_play, env_step=0)
    np.testing.assert_allclose(act.visit_policy.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(act.root_value, act.predicted_value)  # the network's value
    if family == "sampled_efficientzero":  # K draws from the Gaussian policy, the first played
        k = policy.cfg.num_of_sampled_actions
        assert act.sampled_actions.shape == (2, k, 1)
        np.testing.assert_array_equal(act.action, act.sampled_actions[:, 0])
    elif family != "unizero":  # UniZero's root comes from its KV-cached context
        with torch.no_grad():
            root = policy.acting_model.initial_inference(policy.observation_tensor(obs.observation))
        logits = root.policy_logits.masked_fill(~torch.as_tensor(obs.action_mask), -torch.inf)
        np.testing.assert_allclose(act.visit_policy, torch.softmax(logits, 1).numpy(), atol=1e-5)
        np.testing.assert_allclose(act.root_value, root.value.numpy(), atol=1e-5)
        assert obs.action_mask[np.arange(2), act.action].all()
    if hasattr(policy, "reset_caches"):
        policy.reset_caches(None)

    ctx = TrainContext()
    env_collect(policy.cfg, policy, envs)(ctx)
    assert ctx.new_segments
    for segment in ctx.new_segments:
        buffer.push(segment)
    batch = buffer.sample(policy.cfg.batch_size, with_unroll_obs=policy.needs_unroll_obs)
    result = policy.learn(batch)
    assert not result.skipped and np.isfinite(result.info["total_loss"])


def test_pure_policy_is_off_by_default_and_searches():
    policy, _, envs = build("muzero")
    policy.cfg.collect_with_pure_policy = False
    obs = envs.reset()
    policy.collect(obs.observation, obs.action_mask, obs.to_play, env_step=0)
    assert policy.collect_search.network_calls > 0
