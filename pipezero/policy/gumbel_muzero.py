"""Gumbel MuZero policy (Danihelka et al., 2022, "Policy improvement by planning with Gumbel").

MuZero's learner with a search that improves the policy even with very few simulations. What
changes from :class:`~pipezero.policy.muzero.MuZeroPolicy`:

- the search is :class:`~pipezero.mcts.GumbelMuZeroSearch`: at the root,
  ``m = min(max_num_considered_actions, legal actions)`` actions are drawn without replacement
  by Gumbel-top-k (``argmax g + logits``, ``g ~ Gumbel(0, gumbel_scale)``) and the
  ``num_simulations`` budget is spread over them by sequential halving, keeping the better half
  by ``g + logits + sigma(completed Q)`` after each round;
- ``collect`` plays the action sequential halving selected (the Gumbel noise is the
  exploration: no Dirichlet noise, no visit-count temperature) and stores the **completed-Q
  improved policy** ``pi' = softmax(logits + sigma(completed Q))`` as the policy target
  (``ActResult.visit_policy``, which ``env_collect`` writes into the game segment's
  ``child_visits``); ``pi'`` is zero on illegal actions and sums to one over the legal ones;
- ``evaluate`` searches with ``g = 0`` and plays the selected action: no random draw anywhere,
  so the same network and observation give the same action;
- the policy loss is MuZero's cross-entropy to the stored target, i.e. to ``pi'`` (its
  gradient equals that of ``KL(pi' || pi)`` used in the paper); policy reanalysis
  (``reanalyze_ratio``) refreshes it with a new Gumbel search.

With two actions (CartPole) every action is considered and sequential halving is one round:
both actions get ``num_simulations / 2`` visits and the choice is
``argmax g + logits + sigma(q)``, a sample from ``pi'`` while collecting.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from pipezero.mcts import GumbelMuZeroSearch, MCTSConfig, MuZeroSearch
from pipezero.policy.base import ActResult
from pipezero.policy.gumbel_muzero_config import GUMBEL_MUZERO_CONFIG
from pipezero.policy.muzero import MuZeroPolicy


class GumbelMuZeroPolicy(MuZeroPolicy):
    """Gumbel MuZero acting and learning; arguments as :class:`MuZeroPolicy`.

    ``cfg`` is the ``policy`` section of :mod:`pipezero.policy.gumbel_muzero_config`: the
    MuZero keys without the PUCT / Dirichlet / temperature ones, plus
    ``max_num_considered_actions``, ``gumbel_scale``, ``maxvisit_init`` and ``value_scale``.
    """

    default_config: Mapping[str, Any] = GUMBEL_MUZERO_CONFIG["policy"]
    search_class: type[MuZeroSearch] = GumbelMuZeroSearch

    def mcts_config(self, seed: int) -> MCTSConfig:
        """The Gumbel search settings of ``cfg`` as an :class:`MCTSConfig`."""
        c = self.cfg
        return MCTSConfig(
            num_simulations=int(c.num_simulations),
            discount_factor=float(c.discount_factor),
            lstm_horizon_len=int(c.get("lstm_horizon_len", 5)),
            max_num_considered_actions=int(c.max_num_considered_actions),
            gumbel_scale=float(c.gumbel_scale),
            maxvisit_init=float(c.maxvisit_init),
            value_scale=float(c.value_scale),
            seed=int(seed),
        )

    def collect(
        self, obs: np.ndarray, action_mask: np.ndarray, to_play: np.ndarray, env_step: int
    ) -> ActResult:
        """Search with root Gumbel noise for ``N`` environments (``obs [N, *O]``,
        ``action_mask [N, A]`` bool, ``to_play [N]``) and play the actions chosen by
        sequential halving; ``visit_policy [N, A]`` is the improved policy. ``env_step`` is
        not used (there is no temperature schedule). With ``cfg.collect_with_pure_policy``:
        :meth:`~MuZeroPolicy.pure_policy_collect` (the action drawn from the policy at
        temperature 1)."""
        if self.cfg.get("collect_with_pure_policy", False):
            return self.pure_policy_collect(obs, action_mask, env_step)
        predicted, result = self._search(self.collect_search, obs, action_mask, to_play, True)
        return self._act_result(result.action.numpy().astype(np.int64), result, predicted)

    def evaluate(self, obs: np.ndarray, action_mask: np.ndarray, to_play: np.ndarray) -> ActResult:
        """Search without Gumbel noise (``g = 0``) and play the action sequential halving
        selects: the most visited one, ties by ``logits + sigma(completed Q)``."""
        predicted, result = self._search(self.eval_search, obs, action_mask, to_play, False)
        return self._act_result(result.action.numpy().astype(np.int64), result, predicted)
