"""Search configuration shared by every driver, with LightZero's key names.

Unknown keys are rejected with the closest valid name suggested, so a typo such as
``pb_c_int`` fails loudly instead of being silently ignored.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipezero.mcts._mcts_core import MAX_ABS_VALUE, MAX_SIMULATIONS

#: What a PUCT search returns as its training target (``MCTSConfig.policy_target``).
POLICY_TARGETS = ("visits", "improved")


def _reject_unknown_keys(cls: type) -> type:
    """Make the dataclass constructor reject unknown keywords with the closest valid name."""
    init = cls.__init__

    @functools.wraps(init)
    def checked_init(self: Any, *args: Any, **kwargs: Any) -> None:
        _check_keys(cls, kwargs)
        init(self, *args, **kwargs)

    cls.__init__ = checked_init  # type: ignore[method-assign]
    return cls


def _check_keys(cls: type, values: Mapping[str, Any]) -> None:
    names = [f.name for f in dataclasses.fields(cls)]
    for key in values:
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; valid keys: {names}"
            raise ValueError(f"{cls.__name__}: unknown key {key!r}{hint}")


@_reject_unknown_keys
@dataclass(frozen=True)
class MCTSConfig:
    """Hyper-parameters of the tree search.

    Attributes:
        num_simulations: simulations per search; the trees hold ``num_simulations + 1`` nodes.
        pb_c_base: ``c2`` of the PUCT exploration term (MuZero, appendix B).
        pb_c_init: ``c1`` of the PUCT exploration term.
        discount_factor: per-step discount ``gamma`` in ``[0, 1]`` used in the backup.
        root_dirichlet_alpha: concentration of the Dirichlet noise added to the root prior.
        root_noise_weight: mixing weight ``epsilon`` of that noise, ``(1 - eps) P + eps noise``.
        value_delta_max: floor of the min-max range used to normalise Q to ``[0, 1]``; stops
            tiny value differences from being blown up early in the search.
        lstm_horizon_len: EfficientZero: the value prefix (and the LSTM state) restarts at
            nodes whose depth is a multiple of this (``>= 1``; the root always restarts it).
        max_num_considered_actions: Gumbel MuZero: ``m``, actions sampled at the root by
            Gumbel-top-k and then halved by sequential halving.
        gumbel_scale: Gumbel MuZero: scale of the root Gumbel noise (0 for greedy evaluation).
        maxvisit_init: Gumbel MuZero: ``c_visit`` of ``sigma(q) = (c_visit + max N) c_scale q``.
        value_scale: Gumbel MuZero: ``c_scale`` of the same transform.
        num_of_sampled_actions: Sampled MuZero: ``K``, actions sampled per expanded node.
        policy_target: PUCT MuZero and EfficientZero searches: the training target they
            return as ``SearchResult.policy_target``. ``"visits"`` (MuZero's): the root's
            normalised visit counts. ``"improved"``: the completed-Q improved policy of Gumbel
            MuZero, ``softmax(logits + sigma(completed Q))`` over the network's own root prior
            (without the Dirichlet noise), with ``maxvisit_init`` and ``value_scale``; with
            few simulations it moves the prior towards the best-valued actions even where
            their visit counts do not yet lead (:func:`~pipezero.mcts._common.improved_policy`).
            Gumbel searches always return the improved policy; the Sampled and Stochastic
            drivers support ``"visits"`` only.
        seed: seed of the root-noise generator and of the per-tree tie-breaking generators.

    Every field is checked when the config is built: a wrong type raises ``TypeError``, a value
    out of range ``ValueError`` naming the field, the value and the valid range. Counts are at
    most ``MAX_SIMULATIONS`` (``2**28 - 1``, the C++ core's limit) and real settings at most
    ``MAX_ABS_VALUE`` (``1e20``) in magnitude; see ``docs/mcts.md#validated-inputs``.
    """

    num_simulations: int = 50
    pb_c_base: float = 19652.0
    pb_c_init: float = 1.25
    discount_factor: float = 0.997
    root_dirichlet_alpha: float = 0.3
    root_noise_weight: float = 0.25
    value_delta_max: float = 0.01
    lstm_horizon_len: int = 5
    max_num_considered_actions: int = 16
    gumbel_scale: float = 1.0
    maxvisit_init: float = 50.0
    value_scale: float = 0.1
    num_of_sampled_actions: int = 20
    policy_target: str = "visits"
    seed: int = 0

    def __post_init__(self) -> None:
        _check_int(self, "num_simulations", low=1, high=MAX_SIMULATIONS)
        _check_real(self, "pb_c_base", low=0.0, low_open=True)
        _check_real(self, "pb_c_init", low=0.0)
        _check_real(self, "discount_factor", low=0.0, high=1.0)
        _check_real(self, "root_dirichlet_alpha", low=0.0, low_open=True)
        _check_real(self, "root_noise_weight", low=0.0, high=1.0)
        _check_real(self, "value_delta_max", low=0.0, low_open=True)
        _check_int(self, "lstm_horizon_len", low=1, high=MAX_SIMULATIONS)
        _check_int(self, "max_num_considered_actions", low=1, high=MAX_SIMULATIONS)
        _check_real(self, "gumbel_scale", low=0.0)
        _check_real(self, "maxvisit_init", low=0.0)
        _check_real(self, "value_scale", low=0.0)
        _check_int(self, "num_of_sampled_actions", low=1, high=MAX_SIMULATIONS)
        if self.policy_target not in POLICY_TARGETS:
            raise ValueError(
                f"MCTSConfig.policy_target must be one of {list(POLICY_TARGETS)}, "
                f"got {self.policy_target!r}"
            )
        _check_int(self, "seed", low=0, high=2**64 - 1)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> MCTSConfig:
        """Build a config from a mapping (e.g. a LightZero ``policy.mcts`` section).

        Raises:
            ValueError: for an unknown key, naming the closest valid key.
        """
        _check_keys(cls, values)
        return cls(**dict(values))

    def replace(self, **changes: Any) -> MCTSConfig:
        """A copy with some fields changed (unknown names are rejected like in from_dict)."""
        merged = dataclasses.asdict(self)
        merged.update(changes)
        return MCTSConfig.from_dict(merged)


def as_config(config: MCTSConfig | Mapping[str, Any] | None) -> MCTSConfig:
    """Accept a config object, a mapping of its fields, or ``None`` (defaults)."""
    if config is None:
        return MCTSConfig()
    if isinstance(config, MCTSConfig):
        return config
    if isinstance(config, Mapping):
        return MCTSConfig.from_dict(config)
    raise TypeError(f"config must be an MCTSConfig or a mapping, got {type(config).__name__}")


def _check_int(cfg: MCTSConfig, name: str, low: int, high: int) -> None:
    value = getattr(cfg, name)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"MCTSConfig.{name} must be an int, got {value!r} ({type(value).__name__})")
    if not low <= value <= high:
        side = f">= {low}" if value < low else f"<= {high}"
        raise ValueError(
            f"MCTSConfig.{name} must be {side}, got {value} (valid range [{low}, {high}])"
        )
    if not isinstance(value, int):
        object.__setattr__(cfg, name, int(value))  # a NumPy integer becomes a plain int


def _check_real(
    cfg: MCTSConfig,
    name: str,
    low: float,
    high: float = MAX_ABS_VALUE,
    low_open: bool = False,
) -> None:
    value = getattr(cfg, name)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"MCTSConfig.{name} must be a real number, got {value!r} ({type(value).__name__})"
        )
    if not math.isfinite(value):
        raise ValueError(f"MCTSConfig.{name} must be a finite number, got {value!r}")
    if value < low or (low_open and value == low):
        bound = f"> {low}" if low_open else f">= {low}"
        raise ValueError(f"MCTSConfig.{name} must be {bound}, got {value}")
    if value > high:
        raise ValueError(f"MCTSConfig.{name} must be <= {high}, got {value}")
    if not isinstance(value, float):
        object.__setattr__(cfg, name, float(value))
