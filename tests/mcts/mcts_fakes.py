"""Deterministic fake models for search tests: every output is a hash of the action path.

The latent of a node is its path hash stored exactly in a float64 ``[M, 1]`` tensor, so the
driver's gather/scatter of latents is exercised, and the same node gets the same outputs
whatever batch it is evaluated in.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from pipezero.mcts.samplers import SampledActions
from pipezero.model.protocol import NetworkOutput

MASK64 = (1 << 64) - 1
MASK52 = (1 << 52) - 1


#: Batch and action count of :func:`roots`.
B, A = 3, 4


def roots(**changes: object) -> dict:
    """Valid ``Forest.reset`` arguments for ``B`` roots of ``A`` actions, with ``changes``."""
    args = {
        "policy_logits": np.zeros((B, A), np.float32),
        "value": np.zeros(B, np.float32),
        "legal_mask": np.ones((B, A), bool),
        "to_play": np.full(B, -1, np.int32),
    }
    args.update(changes)
    return args


def mix(*parts: int) -> int:
    """A 52-bit hash of integers (SplitMix64 finaliser applied per part)."""
    h = 0x243F6A8885A308D3
    for p in parts:
        h = (h + (p & MASK64) * 0x9E3779B97F4A7C15 + 1) & MASK64
        h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & MASK64
        h ^= h >> 31
    return h & MASK52


def unit(*parts: int) -> float:
    """Uniform-looking float in [0, 1) from a hash."""
    return mix(*parts) / float(1 << 52)


def action_key(action: torch.Tensor) -> int:
    """Integer key of a discrete action or of a float32 action vector (its bytes)."""
    if action.dim() == 0:
        return int(action)
    return int.from_bytes(action.to(torch.float32).numpy().tobytes(), "little") & MASK64


def f32(x: float) -> float:
    return float(np.float32(x))


class HashModel:
    """MuZero-protocol model with hashed outputs.

    Args:
        num_actions: ``A`` (policy logits per node); for sampled models the policy parameter
            is the node hash itself (``[M, 1]`` float64) and a :class:`HashSampler` reads it.
        logit_levels: quantise logits to this many levels (creates exact prior ties); 0 = no.
        value_prefix: EfficientZero mode: ``reward`` is a value prefix driven by an LSTM-like
            ``hidden = (h, c)`` of shape ``[1, M, 1]``: ``prefix = 0.5 * h + r(node)``.
        sampled: policy output is the node hash (for :class:`HashSampler`).
    """

    def __init__(
        self,
        num_actions: int,
        *,
        logit_levels: int = 0,
        value_prefix: bool = False,
        sampled: bool = False,
    ) -> None:
        self.num_actions = num_actions
        self.logit_levels = logit_levels
        self.value_prefix = value_prefix
        self.sampled = sampled
        self.calls = 0

    def node_outputs(self, h: int) -> tuple[list[float], float, float]:
        """(logits [A], value, reward) of the node with hash ``h``, float32-exact."""
        logits = []
        for a in range(self.num_actions):
            u = unit(h, 1, a)
            if self.logit_levels:
                u = math.floor(u * self.logit_levels) / self.logit_levels
            logits.append(f32(4.0 * u - 2.0))
        return logits, f32(2.0 * unit(h, 2) - 1.0), f32(unit(h, 3) - 0.5)

    def _pack(self, hashes: list[int], hidden_h: list[float] | None) -> NetworkOutput:
        rows = [self.node_outputs(h) for h in hashes]
        latent = torch.tensor([[float(h)] for h in hashes], dtype=torch.float64)
        if self.sampled:
            policy = latent.clone()
        else:
            policy = torch.tensor([r[0] for r in rows], dtype=torch.float32)
        value = torch.tensor([r[1] for r in rows], dtype=torch.float32)
        reward = torch.tensor([r[2] for r in rows], dtype=torch.float32)
        hidden = None
        if self.value_prefix:
            prefix = torch.tensor(hidden_h, dtype=torch.float32) * 0.5 + reward
            reward = prefix
            hidden = (prefix.view(1, -1, 1).clone(), torch.ones(1, len(hashes), 1))
        return NetworkOutput(
            latent=latent, policy_logits=policy, value=value, reward=reward, hidden=hidden
        )

    def initial_inference(self, obs: torch.Tensor) -> NetworkOutput:
        """``obs [B]`` int seeds -> roots with hash ``mix(seed)``; reward 0, zero hidden state."""
        out = self._pack([mix(int(o)) for o in obs], [0.0] * len(obs))
        out.reward = torch.zeros_like(out.reward)
        if self.value_prefix:
            out.hidden = (torch.zeros(1, len(obs), 1), torch.zeros(1, len(obs), 1))
        return out

    def recurrent_inference(
        self, latent: torch.Tensor, action: torch.Tensor, hidden: object = None
    ) -> NetworkOutput:
        self.calls += 1
        hashes = [
            mix(int(latent[i, 0].item()), action_key(action[i])) for i in range(latent.shape[0])
        ]
        hidden_h = None
        if self.value_prefix:
            assert isinstance(hidden, tuple) and hidden[0].shape == (1, latent.shape[0], 1)
            hidden_h = [float(x) for x in hidden[0][0, :, 0]]
        return self._pack(hashes, hidden_h)


def hashed_legal(h: int, num_actions: int, terminal_rate: float = 0.1) -> list[bool]:
    """Legal actions of node ``h`` for leaf-mask tests (sometimes none: a terminal state)."""
    if unit(h, 7) < terminal_rate:
        return [False] * num_actions
    legal = [unit(h, 8, a) > 0.3 for a in range(num_actions)]
    if not any(legal):
        legal[mix(h, 9) % num_actions] = True
    return legal


class HashSampler:
    """Sampler whose ``K`` draws are a hash of the node (policy parameter = node hash).

    Continuous (``dim > 0``): ``[M, K, dim]`` float32 vectors. Discrete (``dim == 0``): ``K``
    draws of ``[0, num_actions)`` with repeats merged into counts. ``log_pi`` and ``log_beta``
    are hashed too (``beta != pi``), so the importance correction is exercised.
    """

    def __init__(self, num_actions: int = 0, dim: int = 0) -> None:
        self.num_actions, self.dim = num_actions, dim

    def node_samples(self, h: int, k: int) -> tuple[list, list[float], list[float], list[float]]:
        """(actions, log_pi, log_beta, counts) of node ``h``, one entry per slot."""
        if self.dim:
            actions = [[f32(2 * unit(h, 20, j, d) - 1) for d in range(self.dim)] for j in range(k)]
            counts = [1.0] * k
            keys = list(range(k))
        else:
            draws = sorted(mix(h, 21, j) % self.num_actions for j in range(k))
            actions, counts = [], []
            for j, a in enumerate(draws):
                actions.append(a)
                counts.append(float(draws.count(a)) if j == 0 or draws[j - 1] != a else 0.0)
            keys = actions
        log_pi = [f32(-3 * unit(h, 22, key)) for key in keys]
        log_beta = [f32(-3 * unit(h, 23, key)) for key in keys]
        return actions, log_pi, log_beta, counts

    def sample(
        self,
        policy_params: torch.Tensor,
        num_samples: int,
        legal_mask: torch.Tensor | None,
        generator: torch.Generator,
    ) -> SampledActions:
        rows = [
            self.node_samples(int(policy_params[i, 0].item()), num_samples)
            for i in range(len(policy_params))
        ]
        dtype = torch.float32 if self.dim else torch.int64
        return SampledActions(
            actions=torch.tensor([r[0] for r in rows], dtype=dtype),
            log_pi=torch.tensor([r[1] for r in rows]),
            log_beta=torch.tensor([r[2] for r in rows]),
            counts=torch.tensor([r[3] for r in rows]),
        )
