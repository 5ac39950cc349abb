"""Stochastic MuZero search driver: decision and chance nodes (Antonoglou et al., 2022).

The trees alternate *decision* nodes (states; the agent picks an action by PUCT) and *chance*
nodes (afterstates; the environment picks a chance code). The C++ core does the tree work
(``Forest(..., stochastic=True)``): a chance node's child is the code maximising
``P(c) / (1 + n(c))`` over the afterstate's chance distribution, the edge into a chance node is
not discounted, and a chance node's value is the expectation over its expanded codes,
``sum_expanded P(c) Q(c) / sum_expanded P(c)`` (see ``csrc/tree.h``).

The simulations run the drivers' shared loop (:mod:`pipezero.mcts.loop`); this driver plugs
in its root padding and its leaf evaluation, one batched network call per simulation. After
``simulate()`` the pending leaves are of two
kinds at once: afterstates (the parent is a decision node: afterstate dynamics + afterstate
prediction) and states (the parent is a chance node: dynamics + prediction). They are *not*
split into two calls: the core flags each leaf (``forest.eval_chance``) and the model's
``stochastic_recurrent_inference(latent, index, to_chance)`` evaluates the mixed batch in one
forward pass (:class:`~pipezero.model.stochastic.StochasticMuZeroMLP` shares one transition
network and one output layer between the two kinds, so this costs what a MuZero call costs).

Child slots: every node has ``W = max(A, C)`` slots; decision nodes use the first ``A``
(actions) and chance nodes the first ``C`` (codes). Results are returned over the ``A``
actions only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from pipezero.mcts._common import (
    ArrayLike,
    check_leaf_latent,
    f32_rows,
    float32_array,
    leaf_arrays,
    legal_mask_array,
    root_noise_array,
    root_result,
    root_shape,
)
from pipezero.mcts._mcts_core import Forest
from pipezero.mcts.config import MCTSConfig
from pipezero.mcts.loop import Expansion, LeafEvaluation
from pipezero.mcts.muzero import MuZeroSearch
from pipezero.mcts.result import SearchResult
from pipezero.model.protocol import NetworkOutput

#: Optional legal mask of new nodes: (output of ``M`` leaves, ``to_chance [M]`` bool) ->
#: ``[M, W]`` bool over the child slots (actions of decision rows, codes of chance rows).
StochasticLeafMaskFn = Callable[[NetworkOutput, torch.Tensor], ArrayLike]


class StochasticMuZeroSearch(MuZeroSearch):
    """Batched Stochastic MuZero search over decision and chance nodes.

    Args:
        model: a :class:`~pipezero.model.stochastic.StochasticModelProtocol` model
            (``initial_inference``, ``stochastic_recurrent_inference``, and the
            ``action_space_size`` / ``chance_space_size`` attributes).
        config: :class:`MCTSConfig` or a mapping of its fields (PUCT settings, root noise).
        chance_space_size: ``C``; defaults to ``model.chance_space_size``.
        leaf_mask_fn: legal child slots of new nodes (see :data:`StochasticLeafMaskFn`); by
            default every action of a decision node and every code of a chance node is legal
            (an all-False row makes the node terminal).

    ``SearchResult.q_values`` are the root's Q values: for action ``a`` the expectation over
    the codes of its afterstate, ``sum_c P(c) (r(c) + discount * V(child_c))``.
    """

    model_method = "stochastic_recurrent_inference"
    stochastic = True
    #: The stochastic model has no recurrent state.
    keeps_hidden = False
    latents_in_core = False  # its evaluation gathers from self._latents
    improved_target = False  # its targets are visit counts (MCTSConfig.policy_target)

    def __init__(
        self,
        model: Any,
        config: MCTSConfig | Mapping[str, Any] | None = None,
        *,
        chance_space_size: int | None = None,
        leaf_mask_fn: StochasticLeafMaskFn | None = None,
    ) -> None:
        super().__init__(model, config)
        c = chance_space_size if chance_space_size is not None else model.chance_space_size
        if isinstance(c, bool) or not isinstance(c, int) or c < 1:
            raise ValueError(f"chance_space_size must be a positive int, got {c!r}")
        self.chance_space_size = c
        self.stochastic_leaf_mask_fn = leaf_mask_fn
        self._num_actions = 0

    # -- phases ----------------------------------------------------------------------------

    def _start(
        self,
        root: NetworkOutput,
        legal_mask: ArrayLike | None,
        to_play: ArrayLike | None,
        add_exploration_noise: bool,
        root_noise: ArrayLike | None,
        reuse_action: ArrayLike | None,
        reuse_value: ArrayLike | None,
        reuse_reward: ArrayLike | None,
        gumbel: np.ndarray | None = None,
    ) -> Forest:
        """Pad the roots to ``W`` child slots and expand them."""
        if reuse_action is not None:
            raise ValueError(
                "StochasticMuZeroSearch does not support reuse_action (ReZero): the root's "
                "children are chance nodes; pass reuse_action=None"
            )
        batch, num_actions = root_shape(root)
        self._num_actions = num_actions
        width = max(num_actions, self.chance_space_size)
        mask = np.zeros((batch, width), dtype=np.bool_)
        mask[:, :num_actions] = legal_mask_array(legal_mask, batch, num_actions)
        if root_noise is not None:
            noise = np.zeros((batch, width), dtype=np.float32)
            noise[:, :num_actions] = float32_array(root_noise, "root_noise", (batch, num_actions))
        else:
            noise = root_noise_array(self.config, self.rng, None, add_exploration_noise, mask)
        logits = np.zeros((batch, width), dtype=np.float32)
        logits[:, :num_actions] = f32_rows(root.policy_logits.detach())
        return self._reset(root, logits, mask, to_play, noise)

    def _leaf_evaluation(self, forest: Forest) -> LeafEvaluation:
        """One ``stochastic_recurrent_inference`` for the ``M`` pending leaves, afterstates
        (``forest.eval_chance``) and states mixed; the new latents are stored at the new
        nodes."""
        views, latents = self._views, self._latents.flat
        assert views is not None and latents is not None
        device = None if latents.is_cpu else latents.device
        step, leaf_mask_fn = self.model.stochastic_recurrent_inference, self.stochastic_leaf_mask_fn
        width = forest.num_actions
        decision_row = np.zeros(width, dtype=np.bool_)
        decision_row[: self._num_actions] = True
        chance_row = np.zeros(width, dtype=np.bool_)
        chance_row[: self.chance_space_size] = True
        eval_chance = forest.eval_chance

        def evaluate(m: int) -> Expansion:
            parents, index, _, nodes, _ = views.pending(m, device)
            is_chance = eval_chance[:m].astype(np.bool_)
            to_chance = torch.from_numpy(is_chance)
            if device is not None:
                to_chance = to_chance.to(device)
            out = step(latents.index_select(0, parents), index, to_chance)
            check_leaf_latent(out.latent, m)
            latents.index_copy_(0, nodes, out.latent)
            if leaf_mask_fn is not None:
                mask = legal_mask_array(leaf_mask_fn(out, to_chance), m, width)
            else:
                mask = np.where(is_chance[:, None], chance_row, decision_row)
            logits, value, reward, _ = leaf_arrays(out, m, False)
            return Expansion(logits, value, reward, mask, None, m)

        return evaluate

    def _result(self, forest: Forest, calls: int, leaves: int) -> SearchResult:
        return root_result(forest, calls, leaves, self._num_actions)
