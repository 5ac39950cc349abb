"""Tiny real parts shared by the UniZero tests: a small world model, a policy, a buffer."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from pipezero.data import GameSegmentWriter, ReplayBuffer
from pipezero.envs import BatchEnv
from pipezero.model.unizero import UniZeroModel
from pipezero.policy.unizero import UniZeroPolicy

TINY_MODEL: dict[str, Any] = {
    "latent_dim": 16,
    "num_layers": 2,
    "num_heads": 2,
    "context_length": 6,
    "support_size": 5,
    "reward_support_size": 2,
    "head_hidden_dim": 16,
    "encoder_hidden_dim": 16,
}
TINY_POLICY: dict[str, Any] = {
    "num_simulations": 4,
    "batch_size": 8,
    "num_unroll_steps": 3,
    "td_steps": 2,
    "game_segment_length": 6,
    "collect_env_steps": 4,
    "min_buffer_transitions": 1,
    "eval_freq": 2,
    "n_evaluator_episode": 2,
    "reanalyze_batch_size": 4,
}


def tiny_model(seed: int = 0, **overrides: Any) -> UniZeroModel:
    """A 16-wide world model for CartPole's 4-d observations with random (non-zero) heads,
    so cached and uncached paths are compared on informative outputs."""
    torch.manual_seed(seed)
    model = UniZeroModel(4, 2, **dict(TINY_MODEL, **overrides))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return model.eval()


def tiny_policy(seed: int = 0, **overrides: Any) -> UniZeroPolicy:
    cfg = dict(TINY_POLICY, **overrides)
    cfg["model"] = dict(TINY_MODEL)
    torch.manual_seed(seed)
    return UniZeroPolicy(cfg, UniZeroModel(4, 2, **TINY_MODEL), seed=seed)


def fill_buffer(policy: UniZeroPolicy, batched_steps: int = 30, seed: int = 0) -> ReplayBuffer:
    """Collect CartPole transitions with ``policy`` (2 environments) into a fresh buffer."""
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
        if out.done.any():
            policy.reset_caches(np.flatnonzero(out.done))
        obs = out.obs
    for w in writers:
        for seg in w.pop_finished():
            buffer.push(seg)
    assert buffer.num_transitions > 0
    return buffer
