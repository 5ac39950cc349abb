"""calc_update_count: fixed updates per collect, or replay ratio of the new transitions."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from easydict import EasyDict
from mw_toy import play_episode
from pipezero.middleware import calc_update_count

from pipezero.framework import TrainContext


def count(cfg: object, segments: list, **kwargs: object) -> int:
    ctx = TrainContext(new_segments=segments)
    calc_update_count(cfg, **kwargs)(ctx)  # type: ignore[arg-type]
    return ctx.update_count


def test_replay_ratio_counts_real_transitions() -> None:
    segments = play_episode(7) + play_episode(3)  # 10 real transitions, padded segments
    assert sum(s.num_positions for s in segments) > 10
    cfg = EasyDict(update_per_collect=None, replay_ratio=0.25)
    assert count(cfg, segments) == 2  # int(10 * 0.25)
    assert count(EasyDict(update_per_collect=None, replay_ratio=1.5), segments) == 15


def test_replay_ratio_gives_at_least_one_update() -> None:
    cfg = {"update_per_collect": None, "replay_ratio": 0.01}
    assert count(cfg, play_episode(3)) == 1


def test_fixed_update_per_collect() -> None:
    cfg = SimpleNamespace(update_per_collect=5, replay_ratio=0.25)
    assert count(cfg, play_episode(40)) == 5
    assert count(cfg, play_episode(2)) == 5


@pytest.mark.parametrize("upc", [None, 5])
def test_no_new_transitions_means_no_update(upc: int | None) -> None:
    assert count({"update_per_collect": upc, "replay_ratio": 0.5}, []) == 0


def test_reduce_sum_hook_sees_every_step_and_sets_the_total() -> None:
    seen: list[int] = []

    def all_ranks(n: int) -> int:  # as if 3 other ranks collected 10 transitions each
        seen.append(n)
        return n + 30

    cfg = {"update_per_collect": None, "replay_ratio": 0.5}
    assert count(cfg, play_episode(4), reduce_sum=all_ranks) == 17  # int(34 * 0.5)
    assert count(cfg, [], reduce_sum=all_ranks) == 15  # other ranks collected
    assert seen == [4, 0]


@pytest.mark.parametrize(
    ("cfg", "match"),
    [
        ({"update_per_collect": 0, "replay_ratio": 0.5}, "update_per_collect must be None or"),
        ({"update_per_collect": 2.5}, "update_per_collect must be None or an int >= 1, got 2.5"),
        ({"update_per_collect": None, "replay_ratio": 0}, "replay_ratio must be a number > 0"),
        ({"update_per_collect": None}, "got None; set replay_ratio or update_per_collect"),
        ({}, "replay_ratio must be"),
    ],
)
def test_bad_config_is_rejected_with_the_value(cfg: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        calc_update_count(cfg)


def test_declaration() -> None:
    mw = calc_update_count({"update_per_collect": 1})
    assert (mw.role, mw.reads, mw.writes) == ("learner", ("new_segments",), ("update_count",))
