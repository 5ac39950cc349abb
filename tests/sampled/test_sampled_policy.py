"""SampledEfficientZeroPolicy: acting, learning, discrete fallback, config errors."""

import numpy as np
import pytest
import torch
from pipezero.middleware import data_push, env_collect

from pipezero.config import ConfigError
from pipezero.data import ReplayBuffer
from pipezero.envs import BatchEnv
from pipezero.framework import TrainContext
from pipezero.model.sampled_efficientzero import SampledEfficientZeroMLP
from pipezero.policy.sampled_efficientzero import SampledEfficientZeroPolicy

torch.set_num_threads(1)

TINY_MODEL = dict(
    latent_dim=16,
    hidden_dim=16,
    support_size=10,
    reward_support_size=5,
    lstm_hidden_size=8,
    projection_hidden_dim=8,
    projection_dim=8,
    prediction_hidden_dim=4,
)
CFG = {
    "num_simulations": 6,
    "num_of_sampled_actions": 4,
    "batch_size": 16,
    "num_unroll_steps": 3,
    "td_steps": 3,
    "game_segment_length": 8,
    "collect_env_steps": 10,
}


def _setup(env_id, seed=0, **overrides):
    envs = BatchEnv.make(env_id, num_envs=2, seed=seed)
    size = envs.action_shape[0] if envs.continuous else envs.action_space_size
    model = SampledEfficientZeroMLP(
        envs.observation_shape, size, continuous_action_space=envs.continuous, **TINY_MODEL
    )
    policy = SampledEfficientZeroPolicy({**CFG, **overrides}, model, seed=seed)
    return envs, policy


def _filled_buffer(envs, policy):
    cfg = policy.cfg
    buffer = ReplayBuffer(1000, cfg.num_unroll_steps, cfg.td_steps, cfg.discount_factor, seed=0)
    collect, push = env_collect(cfg, policy, envs), data_push(buffer)
    ctx = TrainContext()
    while buffer.num_transitions < 16:
        collect(ctx)
        push(ctx)
    return buffer


def test_continuous_collect_executes_a_sampled_action_and_evaluation_is_deterministic():
    envs, policy = _setup("Pendulum-v1")
    obs = envs.reset()
    act = policy.collect(obs.observation, obs.action_mask, obs.to_play, env_step=0)
    assert act.action.shape == (2, 1) and act.action.dtype == np.float32
    assert act.sampled_actions.shape == (2, 4, 1) and act.visit_policy.shape == (2, 4)
    assert np.allclose(act.visit_policy.sum(1), 1.0)
    # the executed action is one of the root's sampled actions
    assert all(act.action[i] in act.sampled_actions[i] for i in range(2))
    first = policy.evaluate(obs.observation, obs.action_mask, obs.to_play)
    second = policy.evaluate(obs.observation, obs.action_mask, obs.to_play)
    assert np.array_equal(first.action, second.action)
    best = first.visit_policy.argmax(1)
    assert np.array_equal(first.action, first.sampled_actions[np.arange(2), best])


def test_continuous_learning_lowers_the_sampled_policy_loss_on_a_fixed_batch():
    envs, policy = _setup("Pendulum-v1", learning_rate=3e-3)
    buffer = _filled_buffer(envs, policy)
    batch = buffer.sample(16, with_unroll_obs=True)
    assert batch.root_sampled_actions.shape == (16, 4, 4, 1)
    first = policy.learn(batch)
    assert not first.skipped and np.isfinite(first.info["total_loss"])
    assert {"policy_loss", "policy_entropy", "consistency_loss"} <= set(first.info)
    assert first.priorities.shape == (16,)
    for _ in range(30):
        last = policy.learn(batch)
    assert last.info["policy_loss"] < first.info["policy_loss"]


def test_discrete_fallback_samples_indices_and_learns():
    envs, policy = _setup("CartPole-v1", num_of_sampled_actions=3)
    assert not policy.continuous
    obs = envs.reset()
    act = policy.collect(obs.observation, obs.action_mask, obs.to_play, env_step=0)
    assert act.action.dtype == np.int64 and set(act.action.tolist()) <= {0, 1}
    assert act.sampled_actions.shape == (2, 3)
    buffer = _filled_buffer(envs, policy)
    batch = buffer.sample(16, with_unroll_obs=True)
    assert batch.actions.dtype == np.int64 and batch.target_policy.shape[-1] == 3
    result = policy.learn(batch)
    assert not result.skipped and np.isfinite(result.info["policy_loss"])


def test_sampling_without_the_prior_and_kl_loss_run():
    envs, policy = _setup(
        "Pendulum-v1",
        sample_from_prior=False,
        policy_loss_type="KL",
        normalize_prob_of_sampled_actions=True,
    )
    buffer = _filled_buffer(envs, policy)
    result = policy.learn(buffer.sample(16, with_unroll_obs=True))
    assert not result.skipped and result.info["policy_loss"] >= -1e-5  # a KL is >= 0


def test_state_dict_restores_the_action_sampler():
    envs, policy = _setup("Pendulum-v1")
    state = policy.state_dict()
    obs = envs.reset()
    a = policy.collect(obs.observation, obs.action_mask, obs.to_play, 0).sampled_actions
    policy.load_state_dict(state)
    b = policy.collect(obs.observation, obs.action_mask, obs.to_play, 0).sampled_actions
    assert np.array_equal(a, b)


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ({"reanalyze_ratio": 0.5}, "reanalyze_ratio"),
        ({"sampled_algo": False}, "sampled_algo"),
        ({"policy_loss_type": "mse"}, "policy_loss_type"),
        ({"num_of_sampled_actions": 0}, "num_of_sampled_actions"),
        ({"num_of_sampled_action": 3}, "did you mean 'num_of_sampled_actions'"),
    ],
)
def test_bad_settings_are_config_errors(override, match):
    model = SampledEfficientZeroMLP(3, 1, **TINY_MODEL)
    with pytest.raises(ConfigError, match=match):
        SampledEfficientZeroPolicy({**CFG, **override}, model)


def test_a_model_without_a_sampled_head_is_refused():
    from pipezero.model import EfficientZeroMLP

    with pytest.raises(TypeError, match="SampledEfficientZeroMLP"):
        SampledEfficientZeroPolicy(CFG, EfficientZeroMLP(3, 2, support_size=5))
