"""Tiny real parts shared by the policy and middleware tests: configs, models, batches."""

from __future__ import annotations

from typing import Any

import numpy as np

from pipezero.data import Batch, GameSegmentWriter, ReplayBuffer
from pipezero.envs import BatchEnv
from pipezero.model import EfficientZeroMLP, MuZeroMLP
from pipezero.policy import EfficientZeroPolicy, MuZeroPolicy

TINY_MODEL = {
    "latent_dim": 16,
    "hidden_dim": 16,
    "support_size": 5,
    "reward_support_size": 2,
}
TINY_POLICY: dict[str, Any] = {
    "num_simulations": 4,
    "batch_size": 16,
    "num_unroll_steps": 3,
    "td_steps": 3,
    "game_segment_length": 10,
    "collect_env_steps": 4,
    "min_buffer_transitions": 1,
    "eval_freq": 5,
    "n_evaluator_episode": 2,
    "target_update_freq": 2,
}


def tiny_policy(kind: str = "muzero", seed: int = 0, **overrides: Any) -> MuZeroPolicy:
    """A MuZero (``"muzero"``; ``"muzero_ssl"`` with the consistency loss) or EfficientZero
    (``"efficientzero"``) policy with a 16-wide model for CartPole's 4-d observations."""
    cfg = dict(TINY_POLICY, **overrides)
    if kind == "muzero":
        cfg["model"] = dict(TINY_MODEL)
        return MuZeroPolicy(cfg, MuZeroMLP(4, 2, **TINY_MODEL), seed=seed)
    if kind == "muzero_ssl":  # MuZero with EfficientZero's consistency loss
        model = dict(TINY_MODEL, consistency_heads=True, projection_hidden_dim=16)
        model.update(projection_dim=16, prediction_hidden_dim=8)
        cfg = dict(cfg, model=model, ssl_loss_weight=2.0)
        return MuZeroPolicy(cfg, MuZeroMLP(4, 2, **model), seed=seed)
    ez_model = dict(TINY_MODEL, lstm_hidden_size=8, projection_hidden_dim=16, projection_dim=16)
    ez_model["prediction_hidden_dim"] = 8
    cfg["model"] = ez_model
    return EfficientZeroPolicy(cfg, EfficientZeroMLP(4, 2, **ez_model), seed=seed)


def fill_buffer(policy: MuZeroPolicy, batched_steps: int = 40, seed: int = 0) -> ReplayBuffer:
    """Collect CartPole transitions with ``policy`` (2 environments) into a fresh buffer.

    A policy with ``reset_caches`` (UniZero) has the environments whose episode ended reset
    after each step, as ``env_collect`` does. The UniZero tests use this through
    ``unizero_toy.fill_buffer``."""
    c = policy.cfg
    envs = BatchEnv.make("CartPole-v1", 2, seed=seed)
    buffer = ReplayBuffer(1000, c.num_unroll_steps, c.td_steps, c.discount_factor, seed=seed)
    writers = [
        GameSegmentWriter((4,), 2, c.game_segment_length, c.num_unroll_steps, c.td_steps)
        for _ in range(2)
    ]
    obs = envs.reset()
    for step in range(batched_steps):
        act = policy.collect(obs.observation, obs.action_mask, obs.to_play, step)
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
        if hasattr(policy, "reset_caches") and out.done.any():
            policy.reset_caches(np.flatnonzero(out.done))
        obs = out.obs
    for w in writers:
        for seg in w.pop_finished():
            buffer.push(seg)
    assert buffer.num_transitions > 0
    return buffer


def copy_batch(batch: Batch[np.ndarray]) -> Batch[np.ndarray]:
    return batch.replace(**{name: array.copy() for name, array in batch.arrays().items()})
