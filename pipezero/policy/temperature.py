"""Visit-count temperature: how greedily a collector follows the search.

During collection the action is sampled from the root visit counts ``N(a)`` sharpened by a
temperature ``T``: ``p(a) = N(a)^(1/T) / sum_b N(b)^(1/T)``. ``T = 1`` follows the visit
distribution, ``T -> 0`` takes the most visited action. The schedule is keyed on collected
environment steps (what the collector knows), with LightZero's vocabulary:

- ``manual_temperature_decay = False``: ``T = fixed_temperature_value`` throughout;
- ``manual_temperature_decay = True``: ``T = 1`` for the first half of
  ``threshold_env_steps_for_final_temperature`` env steps, ``0.5`` up to three quarters,
  then ``0.25``.
"""

from __future__ import annotations

import numpy as np


def visit_count_temperature(
    env_step: int,
    *,
    manual_temperature_decay: bool,
    fixed_temperature_value: float,
    threshold_env_steps_for_final_temperature: int,
) -> float:
    """Temperature at ``env_step`` collected environment steps (see the module docstring)."""
    if not manual_temperature_decay:
        if fixed_temperature_value <= 0:
            raise ValueError(
                f"fixed_temperature_value must be > 0, got {fixed_temperature_value!r}; use a "
                "small value such as 0.05 for nearly greedy collection"
            )
        return float(fixed_temperature_value)
    threshold = threshold_env_steps_for_final_temperature
    if threshold < 1:
        raise ValueError(
            f"threshold_env_steps_for_final_temperature must be >= 1 with "
            f"manual_temperature_decay, got {threshold!r}"
        )
    if env_step < 0.5 * threshold:
        return 1.0
    if env_step < 0.75 * threshold:
        return 0.5
    return 0.25


def sample_actions(
    visit_counts: np.ndarray,
    temperature: float,
    rng: np.random.Generator,
    legal_mask: np.ndarray | None = None,
) -> np.ndarray:
    """Sample one action per row from visit counts sharpened by ``temperature``.

    Args:
        visit_counts: ``[N, A]`` non-negative root visit counts.
        temperature: ``T > 0``; counts are raised to ``1 / T`` (computed in log space, so a
            tiny ``T`` behaves like an argmax without overflowing).
        rng: NumPy generator used for the draw.
        legal_mask: ``[N, A]`` bool; a row with no visits samples uniformly among its legal
            actions (all actions when ``None``).

    Returns:
        ``[N]`` int64 actions.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    counts = np.asarray(visit_counts, dtype=np.float64)
    if counts.ndim != 2:
        raise ValueError(f"visit_counts must be [N, A], got shape {counts.shape}")
    legal = np.ones(counts.shape, dtype=bool) if legal_mask is None else legal_mask.astype(bool)
    empty = counts.sum(axis=1) <= 0
    counts = np.where(empty[:, None], legal.astype(np.float64), counts)
    with np.errstate(divide="ignore"):
        logits = np.log(counts) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    cdf = np.cumsum(probs, axis=1)
    u = rng.random((counts.shape[0], 1)) * cdf[:, -1:]
    actions = (cdf <= u).sum(axis=1)
    return np.minimum(actions, counts.shape[1] - 1).astype(np.int64)
