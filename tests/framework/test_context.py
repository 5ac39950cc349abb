"""Context: persistent vs per-step fields, renew, typo protection, subclassing."""

# persistent()/per_step() return dataclasses.field(...), which RUF009 cannot see through.

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from pipezero.framework import Context, TrainContext, per_step, persistent


@dataclasses.dataclass
class RecipeContext(TrainContext):
    lr_scale: float = persistent(1.0)
    seen: list[int] = persistent(default_factory=list)
    grad_norm: float | None = per_step(None)
    scratch: dict[str, Any] = per_step(default_factory=dict)


def test_train_context_fields_and_defaults() -> None:
    ctx = TrainContext()
    assert set(TrainContext.persistent_fields()) >= {
        "env_step",
        "env_episode",
        "train_iter",
        "best_eval_return",
        "last_eval_iter",
        "task_step",
        "finish_reason",
    }
    assert set(TrainContext.per_step_fields()) == {
        "new_segments",
        "collect_episode_returns",
        "update_count",
        "train_data",
        "train_output",
        "eval_result",
        "eval_segments",
        "timings",
    }
    assert ctx.best_eval_return == -math.inf
    assert ctx.new_segments == [] and ctx.collect_episode_returns == []


def test_renew_resets_per_step_and_keeps_persistent() -> None:
    ctx = RecipeContext(train_iter=5)
    first_list = ctx.new_segments
    ctx.env_step = 100
    ctx.seen.append(1)
    ctx.lr_scale = 0.5
    ctx.new_segments.append("segment")
    ctx.grad_norm = 3.0
    ctx.scratch["a"] = 1
    ctx.timings["x"] = 1.0
    ctx.renew()
    assert (ctx.env_step, ctx.train_iter, ctx.lr_scale, ctx.seen) == (100, 5, 0.5, [1])
    assert ctx.new_segments == [] and ctx.new_segments is not first_list
    assert ctx.grad_norm is None and ctx.scratch == {} and ctx.timings == {}


def test_setting_a_typo_raises_with_closest_name() -> None:
    ctx = TrainContext()
    with pytest.raises(AttributeError, match=r"no field 'trian_iter'; did you mean 'train_iter'"):
        ctx.trian_iter = 3
    with pytest.raises(AttributeError, match=r"did you mean 'new_segments'"):
        ctx.new_segment = []


def test_reading_a_typo_raises_with_closest_name() -> None:
    with pytest.raises(AttributeError, match=r"did you mean 'env_step'"):
        _ = TrainContext().env_setp


def test_subclass_must_be_a_dataclass() -> None:
    class Forgot(TrainContext):
        extra: int = 0

    with pytest.raises(TypeError, match=r"Forgot declares fields but is not a dataclass"):
        Forgot()


def test_plain_field_must_declare_its_kind() -> None:
    @dataclasses.dataclass
    class Plain(Context):
        counter: int = 0

    with pytest.raises(TypeError, match=r"Plain.counter is a plain dataclass field.*persistent"):
        Plain()


def test_per_step_needs_a_default() -> None:
    with pytest.raises(TypeError, match="per_step\\(\\) needs a default"):
        per_step()


def test_persistent_without_default_is_required_at_construction() -> None:
    @dataclasses.dataclass
    class Needs(Context):
        seed: int = persistent()

    assert Needs(seed=3).seed == 3
    with pytest.raises(TypeError):
        Needs()  # type: ignore[call-arg]
