"""Tiny real parts for the Gumbel MuZero tests: a bandit model with known Q, a small policy."""

from __future__ import annotations

from typing import Any

import torch

from pipezero.model import MuZeroMLP
from pipezero.model.protocol import NetworkOutput
from pipezero.policy.gumbel_muzero import GumbelMuZeroPolicy

TINY_MODEL = {"latent_dim": 16, "hidden_dim": 16, "support_size": 5, "reward_support_size": 2}
TINY_POLICY: dict[str, Any] = {
    "num_simulations": 8,
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


class BanditModel:
    """A one-step bandit seen as a MuZero model: the edge out of the root for action ``a``
    earns reward ``q[a]``, every value is 0 and deeper edges earn nothing, so the root's
    ``Q(a) = q[a]`` exactly however often ``a`` is visited.

    The latent ``[M, 1]`` is 1 at the root and 0 below it; the priors are given as logits.
    """

    def __init__(self, q: list[float], logits: list[float] | None = None) -> None:
        self.q = torch.tensor(q, dtype=torch.float32)
        self.logits = torch.tensor(logits if logits is not None else [0.0] * len(q))

    def initial_inference(self, obs: torch.Tensor) -> NetworkOutput:
        b = obs.shape[0]
        return NetworkOutput(
            latent=torch.ones(b, 1),
            policy_logits=self.logits.expand(b, -1).clone(),
            value=torch.zeros(b),
            reward=torch.zeros(b),
        )

    def recurrent_inference(
        self, latent: torch.Tensor, action: torch.Tensor, hidden: Any = None
    ) -> NetworkOutput:
        m = latent.shape[0]
        return NetworkOutput(
            latent=torch.zeros(m, 1),
            policy_logits=self.logits.expand(m, -1).clone(),
            value=torch.zeros(m),
            reward=latent[:, 0] * self.q[action],
        )


def tiny_gumbel_policy(
    obs_dim: int = 4, num_actions: int = 2, seed: int = 0, **overrides: Any
) -> GumbelMuZeroPolicy:
    """A Gumbel MuZero policy with a 16-wide MLP, its output layers randomised so that the
    priors and values are not all equal."""
    cfg = dict(TINY_POLICY, **overrides)
    cfg["model"] = dict(TINY_MODEL)
    torch.manual_seed(seed)
    model = MuZeroMLP(obs_dim, num_actions, **TINY_MODEL)
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() >= 1:
                param.add_(0.3 * torch.randn_like(param))
    return GumbelMuZeroPolicy(cfg, model, seed=seed)
