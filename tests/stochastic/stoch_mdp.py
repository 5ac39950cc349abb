"""A tiny hand-built stochastic MDP, its exact expectimax values and a perfect model of it
for the Stochastic MuZero search (latent = the id of the state or afterstate)."""

from __future__ import annotations

import math

import numpy as np
import torch

from pipezero.model.protocol import NetworkOutput

# state -> {action: [(probability, reward, next_state), ...]}; states absent are terminal.
TWO_LEVEL = {
    0: {
        0: [(0.5, 1.0, 1), (0.3, 0.0, 2), (0.2, 4.0, 3)],
        1: [(0.9, 2.0, 2), (0.1, -5.0, 3)],
        2: [(1.0, 0.5, 1)],
    },
    1: {0: [(0.6, 3.0, 9), (0.4, 0.0, 9)], 1: [(0.5, 1.0, 9), (0.5, 0.5, 9)]},
    2: {0: [(0.25, 8.0, 9), (0.75, 0.0, 9)], 1: [(1.0, 1.0, 9)], 2: [(0.5, 0.0, 9), (0.5, 4.0, 9)]},
    3: {1: [(0.7, 2.0, 9), (0.3, -1.0, 9)]},
}
ONE_LEVEL = {0: TWO_LEVEL[0]}
NUM_ACTIONS = 3
CHANCE_SPACE_SIZE = 3


def expectimax_q(mdp: dict, state: int, discount: float) -> np.ndarray:
    """``[A]`` exact Q values of ``state`` (NaN for illegal actions)."""
    q = np.full(NUM_ACTIONS, np.nan)
    for action, outcomes in mdp.get(state, {}).items():
        q[action] = sum(
            p * (r + discount * expectimax_value(mdp, nxt, discount)) for p, r, nxt in outcomes
        )
    return q


def expectimax_value(mdp: dict, state: int, discount: float) -> float:
    if state not in mdp:
        return 0.0
    return float(np.nanmax(expectimax_q(mdp, state, discount)))


class PerfectModel:
    """Exact dynamics of ``mdp`` with uninformative values (0 everywhere), so every value
    the search reports comes from its own backups. Latents ``[M, 2]``: (state, action) with
    action -1 for states."""

    action_space_size = NUM_ACTIONS
    chance_space_size = CHANCE_SPACE_SIZE

    def __init__(self, mdp: dict) -> None:
        self.mdp = mdp

    def _policy_row(self, state: int) -> list[float]:
        return [0.0] * NUM_ACTIONS

    def initial_inference(self, obs: torch.Tensor) -> NetworkOutput:
        b = obs.shape[0]
        latent = torch.stack([obs[:, 0].float(), torch.full((b,), -1.0)], dim=1)
        return NetworkOutput(
            latent=latent,
            policy_logits=torch.zeros(b, NUM_ACTIONS),
            value=torch.zeros(b),
            reward=torch.zeros(b),
        )

    def stochastic_recurrent_inference(
        self, latent: torch.Tensor, index: torch.Tensor, to_chance: torch.Tensor
    ) -> NetworkOutput:
        m = latent.shape[0]
        width = max(NUM_ACTIONS, CHANCE_SPACE_SIZE)
        nxt = torch.zeros(m, 2)
        logits = torch.zeros(m, width)
        reward = torch.zeros(m)
        for i in range(m):
            state, k = int(latent[i, 0]), int(index[i])
            if bool(to_chance[i]):  # afterstate (state, action k)
                nxt[i] = torch.tensor([state, k])
                for code, (p, _, _) in enumerate(self.mdp[state][k]):
                    logits[i, code] = math.log(p)
            else:  # chance code k of afterstate (state, action)
                action = int(latent[i, 1])
                _, r, target = self.mdp[state][action][k]
                nxt[i] = torch.tensor([target, -1])
                reward[i] = r
        return NetworkOutput(latent=nxt, policy_logits=logits, value=torch.zeros(m), reward=reward)

    def leaf_mask(self, out: NetworkOutput, to_chance: torch.Tensor) -> np.ndarray:
        """Legal actions of new states, possible codes of new afterstates."""
        m = out.latent.shape[0]
        mask = np.zeros((m, max(NUM_ACTIONS, CHANCE_SPACE_SIZE)), dtype=bool)
        for i in range(m):
            state, action = int(out.latent[i, 0]), int(out.latent[i, 1])
            if bool(to_chance[i]):
                mask[i, : len(self.mdp[state][action])] = True
            else:
                for a in self.mdp.get(state, {}):
                    mask[i, a] = True
        return mask

    def root_mask(self, state: int) -> np.ndarray:
        mask = np.zeros((1, NUM_ACTIONS), dtype=bool)
        for a in self.mdp[state]:
            mask[0, a] = True
        return mask


# Every outcome of an action shares its reward (as in 2048, where the merges happen before the
# tile spawns), so the reward can sit on the edge into the chance node.
MOVE_REWARD = {
    0: {
        0: [(0.5, 1.0, 1), (0.3, 1.0, 2), (0.2, 1.0, 3)],
        1: [(0.9, 2.5, 2), (0.1, 2.5, 3)],
        2: [(1.0, 0.5, 1)],
    },
    1: {0: [(0.6, 3.0, 9), (0.4, 3.0, 9)], 1: [(0.5, 1.0, 9), (0.5, 1.0, 9)]},
    2: {0: [(0.25, 2.0, 9), (0.75, 2.0, 9)], 2: [(0.5, 4.0, 9), (0.5, 4.0, 9)]},
    3: {1: [(0.7, 6.0, 9), (0.3, 6.0, 9)]},
}


class AfterstateRewardModel(PerfectModel):
    """:class:`PerfectModel` that reports a move's reward when the afterstate is created
    (``to_chance`` rows) and 0 on the chance edges, like ``StochasticMuZeroMLP`` with
    ``afterstate_reward=True``; ``mdp`` must give all outcomes of an action one reward."""

    def stochastic_recurrent_inference(
        self, latent: torch.Tensor, index: torch.Tensor, to_chance: torch.Tensor
    ) -> NetworkOutput:
        out = super().stochastic_recurrent_inference(latent, index, to_chance)
        reward = torch.zeros(latent.shape[0])
        for i in range(latent.shape[0]):
            if bool(to_chance[i]):
                outcomes = self.mdp[int(latent[i, 0])][int(index[i])]
                reward[i] = outcomes[0][1]
        return NetworkOutput(
            latent=out.latent, policy_logits=out.policy_logits, value=out.value, reward=reward
        )
