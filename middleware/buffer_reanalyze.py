"""buffer_reanalyze: refresh the search targets stored in the replay buffer (ReZero, UniZero)."""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Mapping
from typing import Any

from pipezero.data import ReplayBuffer
from pipezero.data.game_segment import GameSegment
from pipezero.data.segment_targets import live_segments, write_search_targets
from pipezero.framework import Middleware, TrainContext, middleware, per_step, persistent
from pipezero.policy.rezero_reanalyze import ReanalyzeResult, SegmentReanalyzer

__all__ = ["ReanalyzeContext", "buffer_reanalyze"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class ReanalyzeContext(TrainContext):
    """:class:`TrainContext` plus the reanalysis counters that ``buffer_reanalyze`` writes.

    Attributes:
        reanalyze_output: per step; statistics of this step's reanalysis (``None`` when none
            ran): ``passes``, ``segments``, ``states``, ``network_calls``,
            ``state_evaluations``, ``evaluations_per_state``, ``reused_roots``, ``seconds``.
        reanalyzed_states: persistent; positions searched again since the start.
        reanalyze_network_calls: persistent; batched model calls spent on reanalysis.
        reanalyze_state_evaluations: persistent; states the network evaluated for it.
        reanalyze_seconds: persistent; wall time spent reanalysing.
    """

    reanalyze_output: Any = per_step(None)
    reanalyzed_states: int = persistent(0)
    reanalyze_network_calls: int = persistent(0)
    reanalyze_state_evaluations: int = persistent(0)
    reanalyze_seconds: float = persistent(0.0)


def _option(cfg: Mapping[str, Any], key: str, default: Any = None) -> Any:
    return cfg.get(key, default) if isinstance(cfg, Mapping) else getattr(cfg, key, default)


def _number(cfg: Mapping[str, Any], key: str, low: float, high: float, low_open: bool) -> float:
    value = _option(cfg, key)
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if ok:
        ok = (value > low if low_open else value >= low) and value <= high
    if not ok:
        bracket = "(" if low_open else "["
        raise ValueError(
            f"buffer_reanalyze: cfg.{key} must be a number in {bracket}{low}, {high}], got "
            f"{value!r}"
        )
    return float(value)


class _Reanalyzer:
    """State of one ``buffer_reanalyze``: the pass schedule and the walk's cursor."""

    def __init__(
        self, cfg: Mapping[str, Any], policy: SegmentReanalyzer, buffer: ReplayBuffer
    ) -> None:
        if not callable(getattr(policy, "reanalyze_segments", None)):
            raise TypeError(
                f"buffer_reanalyze needs a policy with reanalyze_segments(segments) -> "
                f"ReanalyzeResult (see pipezero.policy.rezero_reanalyze.SegmentReanalyzer); "
                f"{type(policy).__name__} has none. Use ReZeroPolicy or implement it"
            )
        if not isinstance(buffer, ReplayBuffer):
            raise TypeError(f"buffer_reanalyze needs a ReplayBuffer, got {type(buffer).__name__}")
        self.freq = _number(cfg, "buffer_reanalyze_freq", 0.0, math.inf, low_open=True)
        self.partition = _number(cfg, "reanalyze_partition", 0.0, 1.0, low_open=True)
        batch = _option(cfg, "reanalyze_batch_size")
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ValueError(
                f"buffer_reanalyze: cfg.reanalyze_batch_size must be an int >= 1 (segments "
                f"searched together), got {batch!r}"
            )
        self.batch_size = batch
        self.fresh_first = bool(_option(cfg, "collect_with_pure_policy", False))
        self.policy = policy
        self.buffer = buffer
        self.credit = 0.0  # fractional passes carried over between collects
        self.cursor = 0  # id of the next segment the walk visits

    def step(self, ctx: ReanalyzeContext) -> None:
        start = time.perf_counter()
        results: list[ReanalyzeResult] = []
        segments = 0
        if self.fresh_first and ctx.new_segments:
            # Collected without search: their stored policies are only the network's.
            new = list(ctx.new_segments)
            for start in range(0, len(new), self.batch_size):
                results.append(self._reanalyze(new[start : start + self.batch_size]))
            segments += len(new)
        self.credit += self.freq
        passes = int(self.credit)
        self.credit -= passes
        for _ in range(passes):
            window = self._next_windows()
            if not window:
                break
            results.append(self._reanalyze(window))
            segments += len(window)
        if not results:
            return
        out = {
            "passes": float(len(results)),
            "segments": float(segments),
            "states": float(sum(r.num_states for r in results)),
            "network_calls": float(sum(r.num_network_calls for r in results)),
            "state_evaluations": float(sum(r.num_state_evaluations for r in results)),
            "reused_roots": float(sum(r.num_reused_roots for r in results)),
        }
        out["evaluations_per_state"] = out["state_evaluations"] / max(out["states"], 1.0)
        out["seconds"] = time.perf_counter() - start
        ctx.reanalyze_output = out
        ctx.reanalyzed_states += int(out["states"])
        ctx.reanalyze_network_calls += int(out["network_calls"])
        ctx.reanalyze_state_evaluations += int(out["state_evaluations"])
        ctx.reanalyze_seconds += out["seconds"]
        logger.debug(
            "reanalysed %d segments (%d states): %d network calls, %.2f evaluations per state",
            segments,
            out["states"],
            out["network_calls"],
            out["evaluations_per_state"],
        )

    def _next_windows(self) -> list[GameSegment]:
        """The next ``reanalyze_batch_size`` segments of the oldest ``reanalyze_partition``
        of the buffer, from the cursor on (wrapping to the oldest)."""
        live = live_segments(self.buffer)
        if not live:
            return []
        eligible = live[: max(1, math.ceil(self.partition * len(live)))]
        start = next((i for i, (sid, _) in enumerate(eligible) if sid >= self.cursor), 0)
        order = eligible[start:] + eligible[:start]
        chosen = order[: self.batch_size]
        self.cursor = chosen[-1][0] + 1
        return [seg for _, seg in chosen]

    def _reanalyze(self, segments: list[GameSegment]) -> ReanalyzeResult:
        result = self.policy.reanalyze_segments(segments)
        if len(result.child_visits) != len(segments) or len(result.root_values) != len(segments):
            raise ValueError(
                f"{type(self.policy).__name__}.reanalyze_segments returned targets for "
                f"{len(result.child_visits)} windows, expected {len(segments)}"
            )
        for seg, visits, values in zip(
            segments, result.child_visits, result.root_values, strict=True
        ):
            write_search_targets(seg, visits, values)
        return result


def buffer_reanalyze(
    cfg: Mapping[str, Any], policy: SegmentReanalyzer, buffer: ReplayBuffer
) -> Middleware:
    """Refresh the visit distributions and root values stored in ``buffer``.

    Each call counts as one collect. It runs ``cfg.buffer_reanalyze_freq`` reanalysis passes
    per collect (a fraction ``1/k``: one pass every ``k`` collects). A pass takes the next
    ``cfg.reanalyze_batch_size`` segments of the oldest ``cfg.reanalyze_partition`` of the
    buffer — the passes walk it oldest to newest and start over — hands them to
    ``policy.reanalyze_segments`` and writes what it returns back into the segments (every
    position holding a transition, padding included). With ``cfg.collect_with_pure_policy``
    the segments collected this step (``ctx.new_segments``, already pushed) are reanalysed
    first, whatever the schedule: their stored policies came from no search.

    Writes ``ctx.reanalyze_output`` (statistics of this step, see :class:`ReanalyzeContext`)
    and adds to the persistent counters ``reanalyzed_states``, ``reanalyze_network_calls``,
    ``reanalyze_state_evaluations`` and ``reanalyze_seconds``; use :class:`ReanalyzeContext`
    (or a subclass) as the task's context.

    Args:
        cfg: the policy section: ``buffer_reanalyze_freq`` (> 0), ``reanalyze_partition``
            (in (0, 1]), ``reanalyze_batch_size`` (>= 1), ``collect_with_pure_policy``.
        policy: implements :class:`~pipezero.policy.rezero_reanalyze.SegmentReanalyzer`.
        buffer: the replay buffer ``data_push`` fills.
    """
    reanalyzer = _Reanalyzer(cfg, policy, buffer)
    return middleware(
        reanalyzer.step,
        name="buffer_reanalyze",
        role="learner",
        reads=("new_segments",),
        writes=(
            "reanalyze_output",
            "reanalyzed_states",
            "reanalyze_network_calls",
            "reanalyze_state_evaluations",
            "reanalyze_seconds",
        ),
    )
