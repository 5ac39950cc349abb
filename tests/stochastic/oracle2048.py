"""A perfect model of 2048 for the Stochastic MuZero search: the true afterstates, chance
probabilities and rewards, and value 0 everywhere (so the search is a pure lookahead).

Latents ``[M, 17]``: the 16 cell exponents, then the reward of the move that made the
afterstate (``-1`` for states)."""

from __future__ import annotations

import numpy as np
import torch

from pipezero.envs.game2048 import all_afterstates, apply_chance, chance_probabilities
from pipezero.model.protocol import NetworkOutput


class Oracle2048:
    action_space_size = 4
    chance_space_size = 32

    def initial_inference(self, obs: torch.Tensor) -> NetworkOutput:
        """``obs [B, 16, 4, 4]`` one-hot planes."""
        b = obs.shape[0]
        boards = obs.argmax(1).float().reshape(b, 16)
        latent = torch.cat([boards, torch.full((b, 1), -1.0)], dim=1)
        zeros = torch.zeros(b)
        return NetworkOutput(latent, torch.zeros(b, 4), zeros, zeros.clone())

    def stochastic_recurrent_inference(
        self, latent: torch.Tensor, index: torch.Tensor, to_chance: torch.Tensor
    ) -> NetworkOutput:
        m = latent.shape[0]
        nxt = torch.zeros(m, 17)
        logits = torch.zeros(m, 32)
        reward = torch.zeros(m)
        for i in range(m):
            board = latent[i, :16].numpy().astype(np.uint8).reshape(4, 4)
            k = int(index[i])
            if bool(to_chance[i]):
                after, rewards, _ = all_afterstates(board)
                nxt[i, :16] = torch.from_numpy(after[k].reshape(-1).astype(np.float32))
                nxt[i, 16] = float(rewards[k])
                probs = chance_probabilities(after[k])
                logits[i] = torch.from_numpy(np.log(np.maximum(probs, 1e-30)).astype(np.float32))
            else:
                new = apply_chance(board, k) if board.reshape(-1)[k // 2] == 0 else board
                nxt[i, :16] = torch.from_numpy(new.reshape(-1).astype(np.float32))
                nxt[i, 16] = -1.0
                reward[i] = latent[i, 16]
        return NetworkOutput(nxt, logits, torch.zeros(m), reward)

    def leaf_mask(self, out: NetworkOutput, to_chance: torch.Tensor) -> np.ndarray:
        """Legal moves of new states, possible spawns of new afterstates."""
        mask = np.zeros((out.latent.shape[0], 32), dtype=bool)
        for i in range(out.latent.shape[0]):
            board = out.latent[i, :16].numpy().astype(np.uint8).reshape(4, 4)
            if bool(to_chance[i]):
                mask[i] = chance_probabilities(board) > 0
            else:
                mask[i, :4] = all_afterstates(board)[2]
        return mask
