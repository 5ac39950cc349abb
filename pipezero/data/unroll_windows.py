"""Gathering the unroll windows of sampled positions from stored segments (host, NumPy).

:meth:`~pipezero.data.ReplayBuffer.sample` draws positions, then builds its
:class:`~pipezero.data.batch.Batch` in three steps: :func:`gather_windows` copies each row's
window ``t .. t + K + n`` out of its segment, :func:`mask_absent` overwrites the positions
after the last transition (random actions, zero targets, all-legal masks) and
:func:`gather_bootstrap` collects the bootstrap observations of the n-step value targets.
Shapes use ``B`` rows, ``K`` unroll steps, ``n`` td steps, ``W = K + n + 1``, ``A`` actions,
``Ks`` sampled actions and ``*O`` the observation shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipezero.data.game_segment import GameSegment


@dataclass
class Windows:
    """Per-row arrays copied from the segments, before the absent positions are masked.

    Attributes:
        obs: ``[B, *O]`` observation at ``t``.
        unroll_obs: ``[B, K, *O]`` observations at ``t + 1 .. t + K``, or ``None``.
        rewards: ``[B, W]`` float32 rewards at ``t .. t + W - 1`` (clamped at the last
            stored position).
        to_play: ``[B, W]`` int64 players at the same positions.
        actions: ``[B, K, *action_shape]`` stored actions.
        policy: ``[B, K + 1, A or Ks]`` float32 visit distributions.
        sampled: ``[B, K + 1, Ks, *action_shape]`` sampled root actions, or ``None``.
        action_masks: ``[B, K + 1, A]`` bool legal actions.
        root_values: ``[B, K + 1]`` float32 search values.
        end: ``[B]`` int64 final observation's position relative to ``t`` (``W`` when the
            episode goes on past the window).
        terminated: ``[B]`` bool, the episode ended in a terminal state.
        num_valid: ``[B]`` int64 transitions at or after ``t`` in the segment and padding.
    """

    obs: np.ndarray
    unroll_obs: np.ndarray | None
    rewards: np.ndarray
    to_play: np.ndarray
    actions: np.ndarray
    policy: np.ndarray
    sampled: np.ndarray | None
    action_masks: np.ndarray
    root_values: np.ndarray
    end: np.ndarray
    terminated: np.ndarray
    num_valid: np.ndarray


def gather_windows(
    segments: list[GameSegment],
    positions: np.ndarray,
    layout: tuple,
    num_unroll_steps: int,
    td_steps: int,
    with_unroll_obs: bool,
) -> Windows:
    """Copy the window of row ``i`` from ``segments[i]`` at position ``positions[i]``.

    Args:
        segments: ``B`` stored segments (one per row, repeats allowed).
        positions: ``[B]`` int64 sampled positions.
        layout: the buffer's ``GameSegment.layout``: ``(*O, A, action_shape, Ks)``.
        num_unroll_steps: ``K``.
        td_steps: ``n``.
        with_unroll_obs: also copy the observations at ``t + 1 .. t + K``.
    """
    obs_shape, a, action_shape, ks = layout
    k, b = num_unroll_steps, len(segments)
    width = k + td_steps + 1
    window = np.arange(width)
    action_dtype = np.float32 if action_shape else np.int64
    obs_dtype = segments[0].obs.dtype
    out = Windows(
        obs=np.zeros((b, *obs_shape), dtype=obs_dtype),
        unroll_obs=np.zeros((b, k, *obs_shape), dtype=obs_dtype) if with_unroll_obs else None,
        rewards=np.zeros((b, width), dtype=np.float32),
        to_play=np.zeros((b, width), dtype=np.int64),
        actions=np.zeros((b, k, *action_shape), dtype=action_dtype),
        policy=np.zeros((b, k + 1, ks or a), dtype=np.float32),
        sampled=np.zeros((b, k + 1, ks, *action_shape), dtype=action_dtype) if ks else None,
        action_masks=np.zeros((b, k + 1, a), dtype=bool),
        root_values=np.zeros((b, k + 1), dtype=np.float32),
        end=np.empty(b, dtype=np.int64),
        terminated=np.zeros(b, dtype=bool),
        num_valid=np.empty(b, dtype=np.int64),
    )
    for row, (seg, t) in enumerate(zip(segments, positions.tolist(), strict=True)):
        pos = np.minimum(t + window, seg.num_positions - 1)
        out.rewards[row] = seg.rewards[pos]
        out.to_play[row] = seg.to_play[pos]
        out.actions[row] = seg.actions[pos[:k]]
        out.policy[row] = seg.child_visits[pos[: k + 1]]
        out.action_masks[row] = seg.action_masks[pos[: k + 1]]
        out.root_values[row] = seg.root_values[pos[: k + 1]]
        if out.sampled is not None:
            out.sampled[row] = seg.root_sampled_actions[pos[: k + 1]]
        out.obs[row] = seg.obs[t]
        if out.unroll_obs is not None:
            out.unroll_obs[row] = seg.obs[pos[1 : k + 1]]
        out.end[row] = seg.episode_end - t if seg.episode_ended else width
        out.terminated[row] = seg.terminated
        out.num_valid[row] = seg.length + seg.num_padding - t
    return out


def mask_absent(
    windows: Windows, num_actions: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Overwrite, in place, the positions of ``windows`` that hold no transition: policies and
    root values 0, sampled actions 0, every action legal; draw random actions for them.

    Args:
        windows: from :func:`gather_windows`.
        num_actions: ``A``, the range of random discrete actions.
        rng: draws the random actions (uniform in ``[-1, 1]`` for continuous actions).

    Returns:
        ``(valid [B, K + 1] bool, actions)``: which positions hold a transition, and the
        actions to unroll (``[B, K]`` int64, or ``[B, K, D]`` float32).
    """
    b, k = windows.actions.shape[:2]
    action_shape = windows.actions.shape[2:]
    valid = np.arange(k + 1)[None, :] < windows.num_valid[:, None]  # [B, K+1]
    if action_shape:
        rand_actions = rng.uniform(-1.0, 1.0, size=(b, k, *action_shape))
        valid_actions = valid[:, :k].reshape(b, k, *(1 for _ in action_shape))
        actions = np.where(valid_actions, windows.actions, rand_actions).astype(np.float32)
    else:
        rand_actions = rng.integers(0, num_actions, size=(b, k))
        actions = np.where(valid[:, :k], windows.actions, rand_actions)
    if windows.sampled is not None:
        windows.sampled[~valid] = 0
    windows.policy[~valid] = 0.0
    windows.action_masks[~valid] = True
    windows.root_values[~valid] = 0.0
    return valid, actions


def gather_bootstrap(
    segments: list[GameSegment],
    positions: np.ndarray,
    bootstrap_offset: np.ndarray,
    obs: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``M`` observations the n-step value targets bootstrap from.

    Args:
        segments: ``B`` segments, one per row.
        positions: ``[B]`` sampled positions.
        bootstrap_offset: ``[B, K + 1]`` bootstrap position relative to ``t``, ``-1`` where
            none is needed (:func:`~pipezero.data.targets.nstep_bootstrap`).
        obs: ``[B, *O]`` the rows' observations (for the shape and dtype).

    Returns:
        ``(bootstrap_obs [M, *O], bootstrap_index [M] int64 flat into B * (K + 1),
        bootstrap_search_values [M] float32)``: the stored search value at each bootstrap
        position, NaN at a final observation (it was never searched).
    """
    k1 = bootstrap_offset.shape[1]
    boot_rows, boot_cols = np.nonzero(bootstrap_offset >= 0)
    boot_pos = positions[boot_rows] + bootstrap_offset[boot_rows, boot_cols]
    bootstrap_obs = np.zeros((boot_rows.size, *obs.shape[1:]), dtype=obs.dtype)
    search_values = np.full(boot_rows.size, np.nan, dtype=np.float32)
    for j, (row, p) in enumerate(zip(boot_rows.tolist(), boot_pos.tolist(), strict=True)):
        seg = segments[row]
        bootstrap_obs[j] = seg.obs[p]
        if p != seg.episode_end:
            search_values[j] = seg.root_values[p]
    return bootstrap_obs, (boot_rows * k1 + boot_cols).astype(np.int64), search_values
