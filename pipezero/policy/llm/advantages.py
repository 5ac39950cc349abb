"""Advantage estimators of the three trainers.

Time runs along axis 0 (``[T, *B]``); ``dones[t]`` is true when the episode ended with step
``t`` (nothing is bootstrapped across it); ``last_value [*B]`` is the value of the state after
step ``T - 1`` (ignored where ``dones[T - 1]``).

- :func:`gae` — step-level GAE (APPO)::

      delta_t = r_t + gamma * (1 - d_t) * V_{t+1} - V_t
      A_t     = delta_t + gamma * lam * (1 - d_t) * A_{t+1}

- :func:`tppo_advantages` — token-level GAE (TPPO): within a step only ``lam`` decays
  (``gamma`` = 1, no reward); the step reward sits on its last token, where ``gamma`` and
  ``lam`` both apply::

      inner token i:  A_i = (V_{i+1} - V_i) + lam * A_{i+1}
      last token i:   A_i = (r + gamma * (1 - d) * V_{i+1} - V_i) + gamma * lam * (1 - d) * A_{i+1}

- :func:`grpo_advantages` — no critic: a trajectory's score normalised within its group of
  samples of the same prompt (``"grouped"``), or across the whole batch (``"batch"``, the
  reference system's way).
- :func:`grpo_step_advantages` — GRPO with step credit (DeepSeekMath's process supervision):
  each step reward normalised over the steps of the group (or batch), a step's advantage the
  sum of the normalised rewards from it to the end.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = [
    "GRPO_MODES",
    "gae",
    "grpo_advantages",
    "grpo_step_advantages",
    "right_align",
    "tppo_advantages",
    "whiten",
]

GRPO_MODES = ("grouped", "batch")


def _check(name: str, x: torch.Tensor, like: torch.Tensor) -> None:
    if x.shape != like.shape:
        raise ValueError(f"{name} has shape {tuple(x.shape)}, expected {tuple(like.shape)}")


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    dones: torch.Tensor,
    last_value: torch.Tensor,
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over steps.

    Args:
        rewards, values, dones: ``[T, *B]``.
        last_value: ``[*B]``.

    Returns:
        ``(advantages, returns)``, both ``[T, *B]``; ``returns = advantages + values``.
    """
    _check("values", values, rewards)
    _check("dones", dones, rewards)
    _check("last_value", last_value, rewards[0])
    not_done = 1.0 - dones.float()
    adv = torch.zeros_like(rewards, dtype=torch.float32)
    next_value = last_value.float()
    next_adv = torch.zeros_like(next_value)
    for t in range(rewards.shape[0] - 1, -1, -1):
        delta = rewards[t] + gamma * not_done[t] * next_value - values[t]
        next_adv = delta + gamma * lam * not_done[t] * next_adv
        adv[t] = next_adv
        next_value = values[t]
    return adv, adv + values


def tppo_advantages(
    rewards: torch.Tensor,
    values: torch.Tensor,
    step_end: torch.Tensor,
    dones: torch.Tensor,
    last_value: torch.Tensor,
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token-level GAE: ``gamma`` only between steps, ``lam`` between every two tokens.

    Args:
        rewards: ``[T, *B]`` per token, non-zero only on the last token of a step.
        values: ``[T, *B]`` value of the state before each token.
        step_end: ``[T, *B]`` bool, the token closes its step.
        dones: ``[T, *B]`` bool, the episode ended with this token (a ``step_end`` token).
        last_value: ``[*B]`` value after token ``T - 1``.

    Returns:
        ``(advantages, returns)``, both ``[T, *B]``.
    """
    for name, x in (("values", values), ("step_end", step_end), ("dones", dones)):
        _check(name, x, rewards)
    _check("last_value", last_value, rewards[0])
    if bool((dones.bool() & ~step_end.bool()).any()):
        raise ValueError("an episode can only end on the last token of a step (dones & ~step_end)")
    end = step_end.float()
    discount = gamma * end + (1.0 - end)  # gamma between steps, 1 inside a step
    not_done = 1.0 - dones.float()
    adv = torch.zeros_like(rewards, dtype=torch.float32)
    next_value = last_value.float()
    next_adv = torch.zeros_like(next_value)
    for t in range(rewards.shape[0] - 1, -1, -1):
        delta = rewards[t] + discount[t] * not_done[t] * next_value - values[t]
        next_adv = delta + discount[t] * lam * not_done[t] * next_adv
        adv[t] = next_adv
        next_value = values[t]
    return adv, adv + values


def grpo_advantages(
    scores: torch.Tensor, group_ids: torch.Tensor, mode: str = "grouped", eps: float = 1e-6
) -> torch.Tensor:
    """``(score - mean) / (std + eps)`` per trajectory.

    Args:
        scores: ``[N]`` total reward of each trajectory.
        group_ids: ``[N]`` int, equal for samples of the same prompt.
        mode: ``"grouped"``: statistics of the trajectory's own group (a group whose samples
            all scored the same gets advantage 0); ``"batch"``: statistics of all ``N``.
        eps: added to the (population) standard deviation.

    Returns:
        ``[N]`` advantages.
    """
    if mode not in GRPO_MODES:
        raise ValueError(f"GRPO normalisation must be one of {GRPO_MODES}, got {mode!r}")
    _check("group_ids", group_ids, scores)
    scores = scores.float()
    if mode == "batch":
        return (scores - scores.mean()) / (scores.std(unbiased=False) + eps)
    _, inverse = torch.unique(group_ids, return_inverse=True)
    n = int(inverse.max()) + 1 if len(inverse) else 0
    device = scores.device
    count = torch.zeros(n, device=device).index_add_(0, inverse, torch.ones_like(scores))
    mean = torch.zeros(n, device=device).index_add_(0, inverse, scores) / count
    var = torch.zeros(n, device=device).index_add_(0, inverse, (scores - mean[inverse]) ** 2)
    var = var / count
    return (scores - mean[inverse]) / (var.sqrt()[inverse] + eps)


def grpo_step_advantages(
    rewards: torch.Tensor, mask: torch.Tensor, group_ids: torch.Tensor, mode: str = "grouped"
) -> torch.Tensor:
    """Step-credit GRPO: ``r~ = (r - mean) / (std + eps)`` with the statistics of every real
    step in the trajectory's group (``"grouped"``) or in the batch (``"batch"``), then
    ``A_t = sum_{t' >= t} r~_t'``.

    Args:
        rewards: ``[N, S]`` step rewards.
        mask: ``[N, S]`` bool, real steps.
        group_ids: ``[N]``.

    Returns:
        ``[N, S]`` step advantages (0 where ``mask`` is false).
    """
    _check("mask", mask, rewards)
    m = mask.bool()
    steps_group = group_ids[:, None].expand_as(rewards)[m]
    normalised = torch.zeros_like(rewards, dtype=torch.float32)
    normalised[m] = grpo_advantages(rewards[m], steps_group, mode)
    return normalised.flip(1).cumsum(1).flip(1) * m


def whiten(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """``x`` shifted and scaled to mean 0, std 1 over the entries where ``mask`` (others 0)."""
    m = mask.bool()
    if not bool(m.any()):
        return torch.zeros_like(x)
    sel = x[m]
    return torch.where(m, (x - sel.mean()) / (sel.std(unbiased=False) + eps), torch.zeros_like(x))


def right_align(rows: Sequence[torch.Tensor], fill: float | bool = 0) -> torch.Tensor:
    """Stack 1-d tensors of different lengths time-major, each ending at the last row:
    ``[max_len, len(rows)]``, ``fill`` before each row's start.

    Aligning the ends lets :func:`gae` run over trajectories of different lengths at once:
    padding comes *before* a trajectory, so, marked done, it never feeds into its recursion.
    """
    width = max((len(r) for r in rows), default=0)
    dtype = rows[0].dtype if rows else torch.float32
    device = rows[0].device if rows else torch.device("cpu")
    out = torch.full((width, len(rows)), fill, dtype=dtype, device=device)
    for j, r in enumerate(rows):
        if len(r):
            out[width - len(r) :, j] = r
    return out
