"""Stochastic MuZero search driver: decision and chance nodes (Antonoglou et al., 2022).

The trees alternate *decision* nodes (states; the agent picks an action by PUCT) and *chance*
nodes (afterstates; the environment picks a chance code). The C++ core does the tree work
(``Forest(..., stochastic=True)``): a chance node's child is the code maximising
``P(c) / (1 + n(c))`` over the afterstate's chance distribution, the edge into a chance node is
not discounted, and a chance node's value is the expectation over its expanded codes,
``sum_expanded P(c) Q(c) / sum_expanded P(c)`` (see ``csrc/tree.h``).

One batched network call per simulation. After ``simulate()`` the pending leaves are of two
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
    EvalViews,
    check_leaf_latent,
    dirichlet_noise,
    f32,
    f32_rows,
    float32_array,
    legal_mask_array,
    root_shape,
    to_play_array,
)
from pipezero.mcts._mcts_core import Forest
from pipezero.mcts.config import MCTSConfig
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
        logits = root.policy_logits
        self._num_actions = num_actions
        width = max(num_actions, self.chance_space_size)
        forest = self._forest_for(batch, width)
        mask = np.zeros((batch, width), dtype=np.bool_)
        mask[:, :num_actions] = legal_mask_array(legal_mask, batch, num_actions)
        noise = None
        if root_noise is not None:
            noise = np.zeros((batch, width), dtype=np.float32)
            noise[:, :num_actions] = float32_array(root_noise, "root_noise", (batch, num_actions))
        elif add_exploration_noise and self.config.root_noise_weight > 0:
            noise = dirichlet_noise(self.rng, self.config.root_dirichlet_alpha, mask)
        padded = torch.zeros((batch, width), dtype=torch.float32)
        padded[:, :num_actions] = logits.detach().to("cpu", torch.float32)
        forest.reset(
            padded.numpy(),
            f32(root.value),
            mask,
            to_play_array(to_play, batch),
            noise=noise,
            noise_weight=self.config.root_noise_weight,
        )
        nodes = forest.num_nodes_capacity
        latents = self._latents.prepare(batch * nodes, root.latent)
        latents.view(batch, nodes, *root.latent.shape[1:])[:, 0].copy_(root.latent)
        self._has_hidden = False
        return forest

    def _simulate(self, forest: Forest) -> tuple[int, int]:
        """The simulation loop: one ``stochastic_recurrent_inference`` per simulation."""
        views = self._views
        assert views is not None
        latents = self._latents.flat
        assert latents is not None
        device = None if latents.is_cpu else latents.device
        step = self.model.stochastic_recurrent_inference
        width = forest.num_actions
        decision_row = np.zeros(width, dtype=np.bool_)
        decision_row[: self._num_actions] = True
        chance_row = np.zeros(width, dtype=np.bool_)
        chance_row[: self.chance_space_size] = True
        eval_chance = forest.eval_chance
        no_logits = np.empty((0, width), dtype=np.float32)
        no_values = np.empty(0, dtype=np.float32)
        calls = leaves = 0
        for _ in range(self.config.num_simulations):
            m = forest.simulate()
            if m == 0:  # every tree ended at a terminal node: back up, no network call
                forest.expand(no_logits, no_values, no_values)
                continue
            parents, index, _, nodes, _ = views.pending(m, device)
            is_chance = eval_chance[:m].astype(np.bool_)
            to_chance = torch.from_numpy(is_chance)
            if device is not None:
                to_chance = to_chance.to(device)
            out = step(latents.index_select(0, parents), index, to_chance)
            check_leaf_latent(out.latent, m)
            calls += 1
            leaves += m
            latents.index_copy_(0, nodes, out.latent)
            if self.stochastic_leaf_mask_fn is not None:
                mask = legal_mask_array(self.stochastic_leaf_mask_fn(out, to_chance), m, width)
            else:
                mask = np.where(is_chance[:, None], chance_row, decision_row)
            forest.expand(
                f32_rows(out.policy_logits), f32(out.value), f32(out.reward), legal_mask=mask
            )
        self.network_calls += calls
        self.leaf_evaluations += leaves
        return calls, leaves

    def _result(self, forest: Forest, calls: int, leaves: int) -> SearchResult:
        a = self._num_actions
        visits = torch.from_numpy(forest.root_visit_counts()[:, :a].copy()).long()
        total = visits.sum(dim=1, keepdim=True).clamp_min(1)
        return SearchResult(
            visit_counts=visits,
            root_value=torch.from_numpy(forest.root_values()),
            policy_target=visits.float() / total,
            q_values=torch.from_numpy(forest.root_q_values()[:, :a].copy()),
            num_network_calls=calls,
            num_leaf_evaluations=leaves,
        )

    def _forest_for(self, batch: int, num_actions: int) -> Forest:
        forest = self._forest
        if forest is None or forest.batch_size != batch or forest.num_actions != num_actions:
            c = self.config
            forest = Forest(
                batch,
                c.num_simulations,
                num_actions,
                selection="puct",
                pb_c_base=c.pb_c_base,
                pb_c_init=c.pb_c_init,
                discount=c.discount_factor,
                value_delta_max=c.value_delta_max,
                stochastic=True,
                seed=c.seed,
            )
            self._forest = forest
            self._views = EvalViews(forest)
        return forest
