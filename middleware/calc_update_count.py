"""calc_update_count: how many gradient updates the learner does for this step's data."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pipezero.framework import Middleware, TrainContext, middleware

__all__ = ["calc_update_count"]


def _option(cfg: Any, key: str) -> Any:
    """``cfg[key]`` or ``cfg.key``; ``None`` when absent."""
    if isinstance(cfg, Mapping):
        return cfg.get(key)
    return getattr(cfg, key, None)


def calc_update_count(cfg: Any, reduce_sum: Callable[[int], int] | None = None) -> Middleware:
    """Write ``ctx.update_count`` from the transitions collected this step.

    With ``N`` the number of real (unpadded) transitions in ``ctx.new_segments``:

    - ``N == 0``: 0 updates (nothing was collected this step);
    - ``cfg.update_per_collect`` set (not ``None``): that many updates;
    - otherwise ``max(1, int(N * cfg.replay_ratio))``.

    Args:
        cfg: a mapping or object with ``update_per_collect`` (int >= 1 or ``None``) and
            ``replay_ratio`` (float > 0, needed when ``update_per_collect`` is ``None``), e.g.
            the policy section of a config.
        reduce_sum: **DDP hook.** Called every step with the local ``N`` (0 included, so that
            collective calls stay matched across ranks) and returns the sum over ranks, so
            every rank does the same number of updates. Default: identity (one process).
    """
    update_per_collect = _option(cfg, "update_per_collect")
    replay_ratio = _option(cfg, "replay_ratio")
    if update_per_collect is not None:
        if (
            isinstance(update_per_collect, bool)
            or not isinstance(update_per_collect, int)
            or update_per_collect < 1
        ):
            raise ValueError(
                f"calc_update_count: update_per_collect must be None or an int >= 1, got "
                f"{update_per_collect!r}; set it to None to use replay_ratio"
            )
    elif (
        isinstance(replay_ratio, bool)
        or not isinstance(replay_ratio, (int, float))
        or not replay_ratio > 0
    ):
        raise ValueError(
            f"calc_update_count: with update_per_collect=None, replay_ratio must be a number "
            f"> 0 (updates per new transition), got {replay_ratio!r}; set replay_ratio or "
            f"update_per_collect"
        )
    total: Callable[[int], int] = reduce_sum if reduce_sum is not None else (lambda n: n)

    def count(ctx: TrainContext) -> None:
        new_transitions = total(sum(segment.length for segment in ctx.new_segments))
        if new_transitions == 0:
            ctx.update_count = 0
        elif update_per_collect is not None:
            ctx.update_count = update_per_collect
        else:
            ctx.update_count = max(1, int(new_transitions * replay_ratio))

    return middleware(
        count,
        name="calc_update_count",
        role="learner",
        reads=("new_segments",),
        writes=("update_count",),
    )
