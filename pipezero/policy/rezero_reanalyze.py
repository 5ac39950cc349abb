"""Backward-view reanalysis of stored game segments (ReZero, Xuan et al., 2024).

The ``buffer_reanalyze`` middleware hands a policy a list of stored segments (the *windows*)
and writes back what it returns. The contract is :class:`SegmentReanalyzer`: any policy with a
``reanalyze_segments(segments) -> ReanalyzeResult`` method plugs in (ReZero's MuZero-based
policy below, a UniZero policy with its own world-model search).

:func:`reanalyze_windows` is the MuZero-family implementation. Each window is searched from
its last position to its first, all windows of a pass in one batch (right-aligned: at
backward step ``j`` window ``b`` searches position ``T_b - 1 - j``, so short windows simply
finish early). With ``reuse=True`` the root child for the action actually taken at ``t``
becomes a fixed leaf valued with the searched root value of ``t + 1`` and the stored reward
``r_t`` (ReZero's backward-view reuse): simulations that select it need no network call.
The last position of a window reuses the value 0 when the episode terminated right after it;
otherwise (the episode goes on, or was truncated) it is searched in full.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from pipezero.data.game_segment import GameSegment
from pipezero.data.segment_targets import num_search_positions
from pipezero.data.transfer import as_device_tensor
from pipezero.mcts import MuZeroSearch
from pipezero.model.protocol import MuZeroModelProtocol


@dataclass
class ReanalyzeResult:
    """New search targets of ``W`` windows and what computing them cost.

    Attributes:
        child_visits: per window ``[T_i, A]`` float32 visit distributions of its positions
            ``0 .. T_i - 1`` (``T_i`` = real + padding transitions of the segment).
        root_values: per window ``[T_i]`` float32 searched root values.
        num_states: positions searched (``sum T_i``).
        num_network_calls: batched model calls (``initial_inference`` +
            ``recurrent_inference``).
        num_state_evaluations: states the network evaluated: one root per searched position
            plus every leaf of every simulation. A full search costs ``1 + num_simulations``
            per state; reuse lowers it.
        num_reused_roots: searches whose root had a reused (fixed) child.
    """

    child_visits: list[np.ndarray]
    root_values: list[np.ndarray]
    num_states: int = 0
    num_network_calls: int = 0
    num_state_evaluations: int = 0
    num_reused_roots: int = 0

    @property
    def evaluations_per_state(self) -> float:
        """``num_state_evaluations / num_states`` (0 when nothing was searched)."""
        return self.num_state_evaluations / self.num_states if self.num_states else 0.0


@runtime_checkable
class SegmentReanalyzer(Protocol):
    """What ``buffer_reanalyze`` needs from a policy."""

    def reanalyze_segments(self, segments: Sequence[GameSegment]) -> ReanalyzeResult:
        """New visit distributions and root values for every transition position of each
        segment (real and padding), in the order given. Must not modify the segments."""
        ...


def _window_bootstrap(segment: GameSegment, steps: int) -> tuple[bool, float]:
    """Whether the successor of the window's last position has a known value (and it)."""
    if segment.episode_ended and segment.terminated and segment.episode_end == steps:
        return True, 0.0  # a terminal state is worth 0: the reuse is exact
    return False, 0.0


@torch.inference_mode()
def reanalyze_windows(
    segments: Sequence[GameSegment],
    model: MuZeroModelProtocol,
    search: MuZeroSearch,
    *,
    reuse: bool = True,
    device: torch.device | str = "cpu",
) -> ReanalyzeResult:
    """Search every transition position of ``segments`` again, last position first.

    Args:
        segments: the windows (finished segments; not modified).
        model: encodes the stored observations (``initial_inference``); also the model of
            ``search`` (usually the target network).
        search: a MuZero-family driver; exploration noise is off.
        reuse: ReZero's backward-view reuse; ``False`` searches every position in full (the
            "full reanalysis" baseline with the same budget of searches).
        device: where ``model`` lives.

    Returns:
        :class:`ReanalyzeResult` in the order of ``segments``.
    """
    if not segments:
        return ReanalyzeResult([], [])
    steps = np.array([num_search_positions(s) for s in segments], dtype=np.int64)
    a = segments[0].action_space_size
    visits = [np.zeros((int(t), a), dtype=np.float32) for t in steps]
    values = [np.zeros(int(t), dtype=np.float32) for t in steps]
    known = np.zeros(len(segments), dtype=bool)
    next_value = np.zeros(len(segments), dtype=np.float32)
    for b, (seg, t) in enumerate(zip(segments, steps.tolist(), strict=True)):
        known[b], next_value[b] = _window_bootstrap(seg, t)
    if isinstance(model, torch.nn.Module):
        model.eval()
    calls = evaluations = reused = 0
    for j in range(int(steps.max())):
        rows = np.flatnonzero(steps > j)
        pos = steps[rows] - 1 - j
        window = [segments[b] for b in rows.tolist()]
        at = list(zip(window, pos.tolist(), strict=True))
        obs = np.stack([seg.obs[p] for seg, p in at])
        legal = np.stack([seg.action_masks[p] for seg, p in at])
        to_play = np.array([seg.to_play[p] for seg, p in at], dtype=np.int32)
        root = model.initial_inference(as_device_tensor(obs, device, torch.float32))
        extra = {}
        if reuse:
            use = known[rows]
            actions = np.array([seg.actions[p] for seg, p in at], dtype=np.int64)
            rewards = np.array([seg.rewards[p] for seg, p in at], dtype=np.float32)
            extra = {
                "reuse_action": np.where(use, actions, -1),
                "reuse_value": np.where(use, next_value[rows], 0.0).astype(np.float32),
                "reuse_reward": rewards,
            }
            reused += int(use.sum())
        result = search.search(root, legal, to_play, add_exploration_noise=False, **extra)
        policy = result.policy_target.numpy()
        root_value = result.root_value.numpy()
        for i, (b, p) in enumerate(zip(rows.tolist(), pos.tolist(), strict=True)):
            visits[b][p] = policy[i]
            values[b][p] = root_value[i]
        next_value[rows] = root_value
        known[rows] = True
        calls += 1 + result.num_network_calls
        evaluations += len(rows) + result.num_leaf_evaluations
    return ReanalyzeResult(
        child_visits=visits,
        root_values=values,
        num_states=int(steps.sum()),
        num_network_calls=calls,
        num_state_evaluations=evaluations,
        num_reused_roots=reused,
    )
