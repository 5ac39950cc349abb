"""Small real parts for the ReZero tests: a constant model, hand-made segments, CartPole data."""

from __future__ import annotations

import numpy as np
import torch

from pipezero.data import GameSegment, GameSegmentWriter, ReplayBuffer
from pipezero.model.protocol import NetworkOutput

# Segment layout of the hand-made episodes: L = 6, K = 2, n = 2 (padding P = 4), 3 actions.
L, K, N, A = 6, 2, 2, 3


class ConstantModel(torch.nn.Module):
    """Every state has value ``v``, every edge reward ``r``, fixed distinct priors.

    With ``v = r / (1 - discount)`` every backed-up return equals ``v`` exactly (choose binary
    fractions, e.g. ``r = 0.25``, discount 0.5, ``v = 0.5``), so the root value of any search
    is ``v``: reusing ``v`` for a successor is exact. Counts its calls and evaluated states.
    """

    def __init__(self, value: float, reward: float, logits: list[float], latent: int = 4):
        super().__init__()
        self.value, self.reward = value, reward
        self.logits = torch.tensor(logits, dtype=torch.float32)
        self.latent = latent
        self.calls = 0
        self.states = 0

    def _out(self, batch: int) -> NetworkOutput:
        self.calls += 1
        self.states += batch
        return NetworkOutput(
            latent=torch.zeros(batch, self.latent),
            policy_logits=self.logits.expand(batch, -1).clone(),
            value=torch.full((batch,), self.value),
            reward=torch.full((batch,), self.reward),
        )

    def initial_inference(self, obs: torch.Tensor) -> NetworkOutput:
        out = self._out(obs.shape[0])
        out.reward = torch.zeros(obs.shape[0])
        return out

    def recurrent_inference(self, latent, action, hidden=None) -> NetworkOutput:
        return self._out(latent.shape[0])


def episode_segments(
    num_steps: int, seed: int = 0, terminated: bool = True, marker: float = 0.0
) -> list[GameSegment]:
    """Finished segments of one episode; observation ``j`` is ``[marker, j]``."""
    rng = np.random.default_rng(seed)
    writer = GameSegmentWriter((2,), A, game_segment_length=L, num_unroll_steps=K, td_steps=N)
    for j in range(num_steps):
        writer.append(
            obs=np.array([marker, j], dtype=np.float32),
            action_mask=np.ones(A, dtype=bool),
            to_play=-1,
            action=int(rng.integers(A)),
            reward=0.25,
            child_visits=np.array([1.0, 1.0, 1.0]),
            root_value=-1.0,
        )
    writer.end_episode(np.array([marker, num_steps], dtype=np.float32), terminated=terminated)
    return writer.pop_finished()


def make_buffer(capacity: int = 10_000) -> ReplayBuffer:
    return ReplayBuffer(capacity, num_unroll_steps=K, td_steps=N, seed=0)
