"""MuZero and EfficientZero search drivers (PUCT), with ReZero reuse of known successors.

Each simulation is the shared loop of :mod:`pipezero.mcts.loop` (simulate, evaluate,
expand + backward); this driver's evaluation is one ``recurrent_inference`` on the parents'
latents, gathered from a preallocated ``[B * N, *L]`` tensor, and the chosen actions. The
priors of the new nodes are the masked softmax of the logits, computed in C++.

References: MuZero (Schrittwieser et al., 2020), EfficientZero (Ye et al., 2021), ReZero
(Xuan et al., 2024).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from pipezero.mcts._common import (
    ArrayLike,
    EvalViews,
    HiddenStore,
    NodeStore,
    check_leaf_latent,
    f32,
    f32_rows,
    float32_array,
    improved_policy,
    leaf_arrays,
    legal_mask_array,
    make_forest,
    require_method,
    root_noise_array,
    root_result,
    root_shape,
    to_numpy,
    to_play_array,
)
from pipezero.mcts._mcts_core import Forest
from pipezero.mcts.config import MCTSConfig, as_config
from pipezero.mcts.loop import Expansion, LeafEvaluation, run_simulations
from pipezero.mcts.result import SearchResult
from pipezero.model.protocol import MuZeroModelProtocol, NetworkOutput

#: Optional per-expansion legal mask: recurrent output of ``M`` leaves -> ``[M, A]`` bool.
LeafMaskFn = Callable[[NetworkOutput], ArrayLike]


class MuZeroSearch:
    """Batched MuZero search: PUCT with min-max normalised Q and root Dirichlet noise.

    Args:
        model: anything with ``recurrent_inference(latent [M, *L], action [M] int64, hidden)``
            returning :class:`~pipezero.model.protocol.NetworkOutput` (``policy_logits [M, A]``,
            ``value [M]``, ``reward [M]``).
        config: :class:`MCTSConfig` or a mapping of its fields.
        leaf_mask_fn: legal actions of newly expanded nodes, from their network output, as an
            ``[M, A]`` bool array; an all-False row marks a terminal state. By default interior
            nodes allow every action and only the root mask given to :meth:`search` applies.

    The driver keeps its trees and buffers between calls (reallocated only when the batch
    size or latent shape changes), so one instance should serve one thread; use one driver per
    thread to search in parallel (the C++ core releases the GIL).
    """

    selection = "puct"
    value_prefix = False
    stochastic = False
    #: Keep the model's recurrent state per node (EfficientZero's LSTM ``hidden``).
    keeps_hidden = True
    model_method = "recurrent_inference"
    #: Keep CPU float32 latents in the forest's own store (``Forest.use_latents``): the core
    #: gathers the parents' latents and stores the new ones inside its ``step`` call, with no
    #: torch gather/scatter per simulation. Drivers that read ``self._latents`` set False.
    latents_in_core = True
    #: Drivers that can return the improved policy as their target
    #: (``MCTSConfig.policy_target = "improved"``); Sampled and Stochastic MuZero cannot.
    improved_target = True

    def __init__(
        self,
        model: MuZeroModelProtocol,
        config: MCTSConfig | Mapping[str, Any] | None = None,
        *,
        leaf_mask_fn: LeafMaskFn | None = None,
    ) -> None:
        require_method(model, self.model_method, f"{type(self).__name__}: argument 'model'")
        if leaf_mask_fn is not None and not callable(leaf_mask_fn):
            raise TypeError(
                "argument 'leaf_mask_fn' must be callable or None, "
                f"got {type(leaf_mask_fn).__name__}"
            )
        self.model = model
        self.config = as_config(config)
        if self.config.policy_target != "visits" and not self.improved_target:
            raise ValueError(
                f"{type(self).__name__} returns visit counts only: MCTSConfig.policy_target "
                f"(a policy's policy.policy_target) must be 'visits', "
                f"got {self.config.policy_target!r}"
            )
        self.leaf_mask_fn = leaf_mask_fn
        self.rng = np.random.default_rng(self.config.seed)
        #: Cumulative ``recurrent_inference`` calls and evaluated leaves over all searches.
        self.network_calls = 0
        self.leaf_evaluations = 0
        self._forest: Forest | None = None
        self._views: EvalViews | None = None
        self._latents = NodeStore()
        #: ``[B, *S]`` torch view of the forest's ``latent_gather`` when the core stores the
        #: latents, else None (the ``[B * N, *S]`` tensor of ``self._latents`` is used).
        self._gathered: torch.Tensor | None = None
        self._hidden = HiddenStore()
        self._has_hidden = False
        #: ``(logits, legal, value)`` of the roots being searched, for the improved target.
        self._roots: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    # -- public API ------------------------------------------------------------------------

    @torch.inference_mode()
    def search(
        self,
        root: NetworkOutput,
        legal_mask: ArrayLike | None = None,
        to_play: ArrayLike | None = None,
        *,
        add_exploration_noise: bool = True,
        root_noise: ArrayLike | None = None,
        reuse_action: ArrayLike | None = None,
        reuse_value: ArrayLike | None = None,
        reuse_reward: ArrayLike | None = None,
    ) -> SearchResult:
        """Run ``config.num_simulations`` simulations from ``B`` roots.

        Args:
            root: output of ``initial_inference`` for the ``B`` roots (``latent [B, *L]``,
                ``policy_logits [B, A]``, ``value [B]``, optional ``hidden``).
            legal_mask: ``[B, A]`` bool legal actions at the roots (``None``: all legal).
            to_play: ``[B]`` int player to move at each root: -1 for single-player games,
                1 or 2 for two-player zero-sum games (children alternate players).
            add_exploration_noise: mix Dirichlet(``root_dirichlet_alpha``) noise into the root
                priors with weight ``root_noise_weight`` (collecting); False when evaluating.
            root_noise: ``[B, A]`` noise to use instead of a fresh Dirichlet sample.
            reuse_action: ReZero: ``[B]`` int action whose successor value is already known
                (-1 where none). The root child for it becomes a fixed leaf valued
                ``reuse_value`` with edge reward ``reuse_reward``; simulations that select it
                call no network.
            reuse_value: ``[B]`` value of that successor, from its own player's point of view.
            reuse_reward: ``[B]`` true reward of that edge (a reward, not a value prefix).

        Returns:
            :class:`SearchResult` with visit counts, root values and the policy target.
        """
        forest = self._start(
            root,
            legal_mask,
            to_play,
            add_exploration_noise,
            root_noise,
            reuse_action,
            reuse_value,
            reuse_reward,
        )
        return self._run(forest)

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
        """Check the root inputs, then reset the forest with them (:meth:`_reset`)."""
        batch, num_actions = root_shape(root)
        mask = legal_mask_array(legal_mask, batch, num_actions)
        noise = root_noise_array(self.config, self.rng, root_noise, add_exploration_noise, mask)
        reuse = reuse_arrays(reuse_action, reuse_value, reuse_reward, batch)
        return self._reset(
            root, f32_rows(root.policy_logits), mask, to_play, noise, gumbel=gumbel, **reuse
        )

    def _reset(
        self,
        root: NetworkOutput,
        logits: np.ndarray,
        mask: np.ndarray,
        to_play: ArrayLike | None,
        noise: np.ndarray | None,
        **roots: np.ndarray | None,
    ) -> Forest:
        """Expand the ``B`` roots over ``W`` child slots (``logits``, ``mask``: ``[B, W]``;
        ``roots``: Gumbel noise, ReZero reuse) and store their latents and recurrent state."""
        batch = logits.shape[0]
        value = f32(root.value)
        if self.config.policy_target == "improved":
            self._roots = (logits, mask, value)
        latent = root.latent
        in_core = self.latents_in_core and latent.is_cpu and latent.dtype == torch.float32
        row = latent[0].numel() if in_core else 0
        forest = self._forest_for(batch, logits.shape[1], row)
        forest.reset(
            logits,
            value,
            mask,
            to_play_array(to_play, batch),
            noise=noise,
            noise_weight=self.config.root_noise_weight,
            **roots,
        )
        nodes = forest.num_nodes_capacity
        if in_core:
            gathered = self._gathered
            shape = latent.shape[1:]
            if forest.latent_dim != row or gathered is None or gathered.shape[1:] != shape:
                forest.use_latents(row)
                gathered = torch.from_numpy(forest.latent_gather).view(batch, *latent.shape[1:])
                self._gathered = gathered
            forest.set_root_latents(latent.detach().reshape(batch, row).contiguous().numpy())
        else:
            self._gathered = None
            latents = self._latents.prepare(batch * nodes, latent)
            latents.view(batch, nodes, *latent.shape[1:])[:, 0].copy_(latent)
        self._has_hidden = self.keeps_hidden and self._hidden.write_roots(root.hidden, batch, nodes)
        return forest

    def _run(self, forest: Forest) -> SearchResult:
        """The simulations (:func:`~pipezero.mcts.loop.run_simulations`), then the result."""
        evaluate = self._leaf_evaluation(forest)
        calls, leaves = run_simulations(forest, self.config.num_simulations, evaluate)
        self.network_calls += calls
        self.leaf_evaluations += leaves
        return self._result(forest, calls, leaves)

    def _leaf_evaluation(self, forest: Forest) -> LeafEvaluation:
        """One ``recurrent_inference`` for the ``M`` pending leaves of ``forest``; the new
        latents (and recurrent states) are stored at the new nodes."""
        views, gathered = self._views, self._gathered
        assert views is not None
        hidden_store = self._hidden if self._has_hidden else None
        recurrent, leaf_mask_fn = self.model.recurrent_inference, self.leaf_mask_fn
        pending, num_actions = views.pending, forest.num_actions

        def expansion(out: Any, m: int, nodes: Any, with_latent: bool = False) -> Expansion:
            """``out`` for the core (with its latents for the core's store when asked); the
            recurrent states stored at the new ``nodes``."""
            if hidden_store is not None:
                hidden_store.scatter(nodes, out.hidden)
            mask = None
            if leaf_mask_fn is not None:
                mask = legal_mask_array(leaf_mask_fn(out), m, num_actions)
            logits, value, reward, latent = leaf_arrays(out, m, with_latent)
            return Expansion(logits, value, reward, mask, None, m, latent)

        if gathered is not None and hidden_store is None and leaf_mask_fn is None:
            batch, actions = gathered.shape[0], views.full[1]

            def evaluate_plain(m: int) -> Expansion:
                # MuZero's usual case: the core gathered the parents' latents into `gathered`
                # and stores out.latent; nothing else is kept per node
                if m == batch:
                    out = recurrent(gathered, actions, None)
                else:
                    out = recurrent(gathered[:m], actions[:m], None)
                logits, value, reward, latent = leaf_arrays(out, m, True)
                return Expansion(logits, value, reward, None, None, m, latent)

            return evaluate_plain
        if gathered is not None:
            batch = gathered.shape[0]

            def evaluate_in_core(m: int) -> Expansion:
                # the core gathered the parents' latents into `gathered` and stores out.latent
                parents, actions, _, nodes, keep = pending(m)
                hidden = None if hidden_store is None else hidden_store.gather(parents, keep)
                out = recurrent(gathered if m == batch else gathered[:m], actions, hidden)
                return expansion(out, m, nodes, with_latent=True)

            return evaluate_in_core
        latents = self._latents.flat
        assert latents is not None
        device = None if latents.is_cpu else latents.device

        def evaluate(m: int) -> Expansion:
            parents, actions, _, nodes, keep = pending(m, device)
            hidden = None if hidden_store is None else hidden_store.gather(parents, keep)
            out = recurrent(latents.index_select(0, parents), actions, hidden)
            check_leaf_latent(out.latent, m)
            latents.index_copy_(0, nodes, out.latent)
            return expansion(out, m, nodes)

        return evaluate

    def _result(self, forest: Forest, calls: int, leaves: int) -> SearchResult:
        result = root_result(forest, calls, leaves)
        if self.config.policy_target == "improved":
            assert self._roots is not None
            logits, legal, value = self._roots
            self._roots = None  # views of the caller's root tensors: not kept past the search
            improved = improved_policy(
                logits,
                legal,
                result.visit_counts.numpy(),
                result.q_values.numpy(),
                value,
                self.config,
            )
            result.improved_policy = result.policy_target = torch.from_numpy(improved)
        return result

    def _forest_for(self, batch: int, num_actions: int, latent_row: int = 0) -> Forest:
        """The driver's forest for ``batch`` trees of ``num_actions`` slots; a new one when these
        change or when its latent store holds another size than ``latent_row`` floats per node
        (0: no store), since a store is never resized under live views of it."""
        forest = self._forest
        if (
            forest is None
            or forest.batch_size != batch
            or forest.num_actions != num_actions
            or forest.latent_dim not in (0, latent_row)
        ):
            forest = make_forest(
                self.config, batch, num_actions, self.selection, self.value_prefix, self.stochastic
            )
            self._forest = forest
            self._views = EvalViews(forest)
        return forest


def reuse_arrays(
    reuse_action: ArrayLike | None,
    reuse_value: ArrayLike | None,
    reuse_reward: ArrayLike | None,
    batch: int,
) -> dict[str, np.ndarray]:
    """``Forest.reset``'s ReZero arguments (``[B]`` int64 action, float32 value and reward),
    checked; empty without ``reuse_action``."""
    if reuse_action is None:
        if reuse_value is not None or reuse_reward is not None:
            raise ValueError(
                "reuse_value and reuse_reward need reuse_action ([B] int, -1 where no successor "
                "is known); got them without it"
            )
        return {}
    if reuse_value is None or reuse_reward is None:
        raise ValueError("reuse_action needs reuse_value and reuse_reward ([B] each)")
    action = to_numpy(reuse_action, "reuse_action")
    if not np.issubdtype(action.dtype, np.integer):
        raise ValueError(f"argument 'reuse_action' must hold integers, got dtype {action.dtype}")
    return {
        "reuse_action": np.ascontiguousarray(action, dtype=np.int64),
        "reuse_value": float32_array(reuse_value, "reuse_value", (batch,)),
        "reuse_reward": float32_array(reuse_reward, "reuse_reward", (batch,)),
    }


class EfficientZeroSearch(MuZeroSearch):
    """EfficientZero search: MuZero's PUCT with value-prefix rewards (Ye et al., 2021).

    The model's ``reward`` output is the *value prefix*: the sum of predicted rewards since the
    last reset of its LSTM. The reward of an edge is ``prefix(child) - prefix(parent)``, or
    ``prefix(child)`` when the parent's depth is a multiple of ``config.lstm_horizon_len`` (or
    the parent is the root); at those parents the LSTM state ``hidden`` passed to
    ``recurrent_inference`` is reset to zeros. ``hidden`` is a tensor or a tuple of tensors
    shaped ``[layers, B, H]`` (``nn.LSTM``'s ``(h, c)``) and is kept per node like the latents.
    """

    value_prefix = True
