"""Batched Monte Carlo tree search: a C++17 core over array trees plus thin Python drivers.

Drivers (one batched network call per simulation), all running the one simulation loop of
:mod:`pipezero.mcts.loop` with their own leaf evaluation plugged in:

- :class:`MuZeroSearch`, :class:`EfficientZeroSearch`: PUCT, min-max normalised Q, root
  Dirichlet noise, value prefix for EfficientZero; ReZero reuse via ``reuse_action``.
- :class:`GumbelMuZeroSearch`, :class:`GumbelEfficientZeroSearch`: Gumbel-top-k with
  sequential halving and completed-Q policy targets.
- :class:`SampledMuZeroSearch`, :class:`SampledEfficientZeroSearch`: ``K`` sampled actions per
  node (:class:`CategoricalSampler`, :class:`GaussianSampler`, :class:`UniformBoxSampler`).
- :class:`StochasticMuZeroSearch`: decision and chance (afterstate) nodes, expectation over
  chance codes (Stochastic MuZero).
- :class:`AlphaZeroSearch`: real game states, batched leaf evaluation.
- :func:`reanalyze_backward`: ReZero backward-view reanalysis of trajectories.

Inputs are validated once per call at the API boundary (docs/mcts.md, "Validated inputs"):
real-valued inputs must be finite with ``|x| <= MAX_ABS_VALUE``, and a forest larger than
:func:`max_forest_bytes` (see :func:`forest_memory_bytes`) is refused before allocation.
"""

from pipezero.mcts._mcts_core import (
    MAX_ABS_VALUE,
    MAX_SIMULATIONS,
    Forest,
    considered_visit_sequence,
    forest_memory_bytes,
    max_forest_bytes,
)
from pipezero.mcts.alphazero import AlphaZeroSearch, SearchableGame
from pipezero.mcts.config import MCTSConfig
from pipezero.mcts.gumbel import GumbelEfficientZeroSearch, GumbelMuZeroSearch
from pipezero.mcts.muzero import EfficientZeroSearch, MuZeroSearch
from pipezero.mcts.result import SearchResult
from pipezero.mcts.rezero import BackwardReanalysis, reanalyze_backward
from pipezero.mcts.sampled import SampledEfficientZeroSearch, SampledMuZeroSearch
from pipezero.mcts.samplers import (
    ActionSampler,
    CategoricalSampler,
    GaussianSampler,
    SampledActions,
    UniformBoxSampler,
    importance_prior_logits,
    tanh_gaussian_log_prob,
)
from pipezero.mcts.stochastic import StochasticMuZeroSearch

__all__ = [
    "MAX_ABS_VALUE",
    "MAX_SIMULATIONS",
    "ActionSampler",
    "AlphaZeroSearch",
    "BackwardReanalysis",
    "CategoricalSampler",
    "EfficientZeroSearch",
    "Forest",
    "GaussianSampler",
    "GumbelEfficientZeroSearch",
    "GumbelMuZeroSearch",
    "MCTSConfig",
    "MuZeroSearch",
    "SampledActions",
    "SampledEfficientZeroSearch",
    "SampledMuZeroSearch",
    "SearchResult",
    "SearchableGame",
    "StochasticMuZeroSearch",
    "UniformBoxSampler",
    "considered_visit_sequence",
    "forest_memory_bytes",
    "importance_prior_logits",
    "max_forest_bytes",
    "reanalyze_backward",
    "tanh_gaussian_log_prob",
]
