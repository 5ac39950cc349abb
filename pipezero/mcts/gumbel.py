"""Gumbel MuZero search driver (Danihelka et al., 2022, "Policy improvement by planning with
Gumbel").

At the root, ``m = max_num_considered_actions`` actions are drawn without replacement by
Gumbel-top-k (``argmax g + logits`` with ``g ~ Gumbel(0, gumbel_scale)``) and the simulation
budget is split between them by sequential halving, keeping the better half by
``g + logits + sigma(q)`` after each round. Interior nodes are chosen deterministically by
``argmax pi'(a) - N(a) / (1 + sum N)`` with ``pi' = softmax(logits + sigma(completed Q))``.
The training target is that improved policy at the root.
"""

from __future__ import annotations

import numpy as np
import torch

from pipezero.mcts._common import ArrayLike, float32_array, root_result, root_shape
from pipezero.mcts._mcts_core import Forest
from pipezero.mcts.muzero import MuZeroSearch
from pipezero.mcts.result import SearchResult
from pipezero.model.protocol import NetworkOutput


class GumbelMuZeroSearch(MuZeroSearch):
    """Batched Gumbel MuZero search; same constructor as :class:`MuZeroSearch`.

    ``sigma(q) = (maxvisit_init + max_b N(b)) * value_scale * q`` with ``q`` the completed Q
    (visited children: their Q; others: the mixed value estimate) rescaled to ``[0, 1]`` per
    node. Set ``value_prefix = True`` on a subclass (or use :class:`GumbelEfficientZeroSearch`)
    for value-prefix models.
    """

    selection = "gumbel"

    @torch.inference_mode()
    def search(  # type: ignore[override]
        self,
        root: NetworkOutput,
        legal_mask: ArrayLike | None = None,
        to_play: ArrayLike | None = None,
        *,
        add_exploration_noise: bool = True,
        gumbel: ArrayLike | None = None,
        reuse_action: ArrayLike | None = None,
        reuse_value: ArrayLike | None = None,
        reuse_reward: ArrayLike | None = None,
    ) -> SearchResult:
        """Run ``config.num_simulations`` Gumbel MuZero simulations from ``B`` roots.

        Args:
            root: ``initial_inference`` output for the roots (see :meth:`MuZeroSearch.search`).
            legal_mask: ``[B, A]`` bool legal root actions (``None``: all legal).
            to_play: ``[B]`` int players (-1 single-player, 1 or 2).
            add_exploration_noise: sample ``g ~ Gumbel(0, gumbel_scale)``; False uses ``g = 0``
                (greedy top-m by prior, for evaluation).
            gumbel: ``[B, A]`` Gumbel noise to use instead of a fresh sample.
            reuse_action, reuse_value, reuse_reward: ReZero reuse, as in
                :meth:`MuZeroSearch.search`.

        Returns:
            :class:`SearchResult` whose ``policy_target`` and ``improved_policy`` are the
            completed-Q improved policy and ``action`` the action chosen by sequential halving.
        """
        batch, num_actions = root_shape(root)
        if gumbel is not None:
            noise = float32_array(gumbel, "gumbel", (batch, num_actions))
        elif add_exploration_noise and self.config.gumbel_scale > 0:
            noise = self.rng.gumbel(scale=self.config.gumbel_scale, size=(batch, num_actions))
            noise = noise.astype(np.float32)
        else:
            noise = np.zeros((batch, num_actions), dtype=np.float32)
        forest = self._start(
            root,
            legal_mask,
            to_play,
            False,
            None,
            reuse_action,
            reuse_value,
            reuse_reward,
            gumbel=noise,
        )
        return self._run(forest)

    def _result(self, forest: Forest, calls: int, leaves: int) -> SearchResult:
        result = root_result(forest, calls, leaves)
        improved = torch.from_numpy(forest.improved_policy())
        result.improved_policy = improved
        result.policy_target = improved
        result.action = torch.from_numpy(forest.gumbel_action())
        return result


class GumbelEfficientZeroSearch(GumbelMuZeroSearch):
    """Gumbel selection over an EfficientZero (value-prefix, LSTM) model."""

    value_prefix = True
