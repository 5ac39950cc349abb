"""Sampled MuZero / Sampled EfficientZero search driver (Hubert et al., 2021).

Every expanded node gets ``K = config.num_of_sampled_actions`` actions drawn by an
:class:`~pipezero.mcts.samplers.ActionSampler` from the model's policy parameters. The C++
tree only sees ``K`` child slots whose priors are the importance-corrected
``beta_hat / beta * pi``; the actions themselves stay on the Python side in a preallocated
``[B * N, K, *D]`` tensor (row ``b * N + n`` holds node ``n`` of tree ``b``) and are gathered
by flat slot index ``(b * N + n) * K + k`` when a leaf is unrolled.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from pipezero.mcts._common import (
    ArrayLike,
    NodeStore,
    check_leaf_latent,
    f32,
    require_method,
    root_noise_array,
    root_shape,
    to_numpy,
)
from pipezero.mcts._mcts_core import Forest
from pipezero.mcts.config import MCTSConfig
from pipezero.mcts.loop import Expansion, LeafEvaluation
from pipezero.mcts.muzero import MuZeroSearch
from pipezero.mcts.result import SearchResult
from pipezero.mcts.samplers import ActionSampler, importance_prior_logits
from pipezero.model.protocol import MuZeroModelProtocol, NetworkOutput


class SampledMuZeroSearch(MuZeroSearch):
    """Batched Sampled MuZero search over ``K`` sampled actions per node.

    Args:
        model: MuZero-family model whose ``policy_logits`` are the sampler's distribution
            parameters (``[M, A]`` logits for :class:`CategoricalSampler`, ``[M, 2D]`` for
            :class:`GaussianSampler`) and whose ``recurrent_inference`` takes the sampled
            actions (``[M]`` int64 or ``[M, D]`` float).
        sampler: draws the ``K`` actions and their probabilities.
        config: :class:`MCTSConfig` or mapping; ``num_of_sampled_actions`` is ``K``.
    """

    latents_in_core = False  # its evaluation gathers from self._latents
    improved_target = False  # its targets are visit counts (MCTSConfig.policy_target)

    def __init__(
        self,
        model: MuZeroModelProtocol,
        sampler: ActionSampler,
        config: MCTSConfig | Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(model, config)
        require_method(sampler, "sample", "SampledMuZeroSearch: argument 'sampler'")
        self.sampler = sampler
        self.generator = torch.Generator().manual_seed(self.config.seed)
        self._actions = NodeStore()

    @torch.inference_mode()
    def search(  # type: ignore[override]
        self,
        root: NetworkOutput,
        legal_mask: ArrayLike | None = None,
        to_play: ArrayLike | None = None,
        *,
        add_exploration_noise: bool = True,
        root_noise: ArrayLike | None = None,
    ) -> SearchResult:
        """Sample ``K`` actions at each root, then run ``config.num_simulations`` simulations.

        Args:
            root: ``initial_inference`` output; ``policy_logits [B, P]`` are the policy
                parameters of the roots.
            legal_mask: ``[B, A]`` bool legal actions for discrete samplers (``None``: all).
                Interior nodes sample from the whole action space.
            to_play: ``[B]`` int players (-1 single-player, 1 or 2).
            add_exploration_noise: Dirichlet noise on the priors of the ``K`` root slots.
            root_noise: ``[B, K]`` noise to use instead of a fresh Dirichlet sample.

        Returns:
            :class:`SearchResult` over the ``K`` root slots, with ``sampled_actions``.
        """
        k = self.config.num_of_sampled_actions
        batch = root_shape(root)[0]
        if not bool(torch.isfinite(root.policy_logits).all()):
            raise ValueError(
                "root.policy_logits (the policy parameters) must be finite, got NaN or inf; "
                "check the network outputs before the search"
            )
        mask_t = None
        if legal_mask is not None:
            mask_t = torch.as_tensor(to_numpy(legal_mask, "legal_mask"))
            if mask_t.dtype != torch.bool or mask_t.shape != root.policy_logits.shape:
                raise ValueError(
                    f"argument 'legal_mask' must be bool of shape "
                    f"{list(root.policy_logits.shape)}, "
                    f"got {mask_t.dtype} of shape {list(mask_t.shape)}"
                )
            empty = (~mask_t.any(dim=1)).nonzero()
            if len(empty):
                raise ValueError(
                    f"argument 'legal_mask' has no legal action in row {int(empty[0])}"
                )
        sampled = self.sampler.sample(root.policy_logits, k, mask_t, self.generator)
        logits, slots = importance_prior_logits(sampled)
        slot_mask = slots.cpu().numpy()
        noise = root_noise_array(
            self.config, self.rng, root_noise, add_exploration_noise, slot_mask
        )
        forest = self._reset(root, f32(logits), slot_mask, to_play, noise)
        nodes = forest.num_nodes_capacity
        actions = self._actions.prepare(batch * nodes, sampled.actions)
        actions.view(batch, nodes, *sampled.actions.shape[1:])[:, 0].copy_(sampled.actions)
        result = self._run(forest)
        result.sampled_actions = sampled.actions
        return result

    def _leaf_evaluation(self, forest: Forest) -> LeafEvaluation:
        """Like :meth:`MuZeroSearch._leaf_evaluation`, with the actions gathered from the
        parents' sampled slots, and ``K`` new actions drawn for every new node."""
        views, latents, actions = self._views, self._latents.flat, self._actions.flat
        assert views is not None and latents is not None and actions is not None
        device = None if latents.is_cpu else latents.device
        slot_actions = actions.view(-1, *actions.shape[2:])  # [B * N * K, *D]
        hidden_store = self._hidden if self._has_hidden else None
        recurrent, sample = self.model.recurrent_inference, self.sampler.sample
        k, generator = forest.num_actions, self.generator

        def evaluate(m: int) -> Expansion:
            parents, _, slots, nodes, keep = views.pending(m, device)
            hidden = None if hidden_store is None else hidden_store.gather(parents, keep)
            out = recurrent(
                latents.index_select(0, parents), slot_actions.index_select(0, slots), hidden
            )
            check_leaf_latent(out.latent, m)
            latents.index_copy_(0, nodes, out.latent)
            if hidden_store is not None:
                hidden_store.scatter(nodes, out.hidden)
            sampled = sample(out.policy_logits, k, None, generator)
            actions.index_copy_(0, nodes, sampled.actions)
            logits, mask = importance_prior_logits(sampled)
            return Expansion(
                f32(logits), f32(out.value), f32(out.reward), mask.cpu().numpy(), None, m
            )

        return evaluate


class SampledEfficientZeroSearch(SampledMuZeroSearch):
    """Sampled search over an EfficientZero model (value prefix + LSTM, see
    :class:`~pipezero.mcts.muzero.EfficientZeroSearch`)."""

    value_prefix = True
