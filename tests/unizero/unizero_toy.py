"""Tiny real parts shared by the UniZero tests: a small world model, a policy, a buffer
(collected by ``tests/policy/policy_toy.py``)."""

from __future__ import annotations

from typing import Any

import policy_toy
import torch

from pipezero.data import ReplayBuffer
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
    """Collect CartPole transitions with ``policy`` (2 environments, caches reset when an
    episode ends) into a fresh buffer: ``policy_toy.fill_buffer`` with fewer steps."""
    return policy_toy.fill_buffer(policy, batched_steps, seed)
