"""The simulation loop of every search driver, with the leaf evaluation plugged in.

One simulation is three phases over the whole batch, as in mctx's ``search``:

1. *simulate* (C++, ``Forest.simulate``): walk every tree from its root with the variant's
   selection rule to an unexpanded child; the ``M`` trees that need an evaluation leave their
   pending leaf in the forest's ``eval_*`` buffers;
2. *evaluate* (the driver's :data:`LeafEvaluation`): turn the ``M`` pending leaves into the
   outputs of their new nodes — one batched network call on gathered latents (MuZero,
   EfficientZero, Sampled, Stochastic) or on stepped copies of real games (AlphaZero);
3. *expand + backward* (C++, ``Forest.expand``): create the new nodes from those outputs and
   back the values up every tree, including the trees whose walk ended on a terminal or
   fixed (ReZero) node.

Phase 3 of one simulation and phase 1 of the next run in one call, ``Forest.step``, so the
loop crosses into C++ once per simulation.

The drivers differ only in phase 2 and in how they start a search (:mod:`pipezero.mcts.muzero`,
:mod:`~pipezero.mcts.sampled`, :mod:`~pipezero.mcts.stochastic`, :mod:`~pipezero.mcts.alphazero`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from pipezero.mcts._common import conform_leaf_arrays
from pipezero.mcts._mcts_core import Forest


class Expansion(NamedTuple):
    """The outputs of the ``M`` pending leaves, as ``Forest.expand`` reads them (arrays in
    another dtype or layout than the ones below are converted by :func:`run_simulations` when
    the core refuses them).

    Attributes:
        policy_logits: ``[M, A]`` float32 logits of the new nodes' child slots (rows may be
            spaced apart, e.g. a column slice of a fused output head).
        value: ``[M]`` float32 value of each new node, from its player's point of view.
        reward: ``[M]`` float32 reward of the edge into it (the value prefix for EfficientZero).
        legal_mask: ``[M, A]`` bool legal slots of the new nodes (an all-False row makes a
            terminal node), or None: every slot legal.
        to_play: ``[M]`` int32 player to move at each new node, or None: the core alternates
            players below a two-player root.
        num_evaluated: leaves the network evaluated; 0 when no network call was made.
        latent: ``[M, *S]`` float32 latents of the new nodes, for a forest that stores them
            (``Forest.use_latents``); None otherwise.
    """

    policy_logits: np.ndarray
    value: np.ndarray
    reward: np.ndarray
    legal_mask: np.ndarray | None
    to_play: np.ndarray | None
    num_evaluated: int
    latent: np.ndarray | None = None


#: Phase 2, plugged in by the driver: ``M >= 1`` (the leaves pending in the forest's ``eval_*``
#: buffers, valid in ``[0, M)``) -> their :class:`Expansion`.
LeafEvaluation = Callable[[int], Expansion]


def run_simulations(
    forest: Forest, num_simulations: int, evaluate: LeafEvaluation
) -> tuple[int, int]:
    """Run ``num_simulations`` simulations on a forest whose roots are expanded (``reset``).

    ``evaluate`` is called once per simulation that has pending leaves; a simulation in which
    every tree ended on a terminal or fixed leaf only backs up.

    Returns:
        ``(network calls, evaluated leaves)`` of this search: the simulations whose
        evaluation reported ``num_evaluated > 0``, and the sum of ``num_evaluated``.
    """
    step = forest.step  # expand the pending leaves, then simulate the next simulation
    no_logits = np.empty((0, forest.num_actions), dtype=np.float32)
    no_values = np.empty(0, dtype=np.float32)
    calls = leaves = 0
    m = forest.simulate()
    for _ in range(num_simulations):
        if m == 0:  # every tree ended on a terminal or fixed leaf: back up, nothing to evaluate
            m = step(no_logits, no_values, no_values)
            continue
        logits, value, reward, legal_mask, to_play, evaluated, latent = evaluate(m)
        try:  # the core checks the arrays before it changes anything
            m = step(logits, value, reward, legal_mask, to_play, latent)  # positional: cheaper
        except ValueError:  # another dtype or layout: convert, and let the core judge again
            logits, value, reward, latent = conform_leaf_arrays(m, logits, value, reward, latent)
            m = step(logits, value, reward, legal_mask, to_play, latent)
        if evaluated:
            calls += 1
            leaves += evaluated
    return calls, leaves
