"""Middleware declaration and chain validation."""

from __future__ import annotations

import re

import pytest

from pipezero.framework import (
    ChainError,
    Context,
    Middleware,
    Task,
    TrainContext,
    as_middleware,
    middleware,
)
from pipezero.framework.partition import plan_roles


def noop(ctx: Context) -> None:
    """A step that does nothing."""


def test_middleware_function_and_decorator_forms() -> None:
    direct = middleware(noop, name="n", role="learner", reads=["train_iter"], writes=())
    assert isinstance(direct, Middleware)
    assert (direct.name, direct.role, direct.reads, direct.declared) == (
        "n",
        "learner",
        ("train_iter",),
        True,
    )

    @middleware(role="collector", writes=("env_step",))
    def collect(ctx: TrainContext) -> None:
        ctx.env_step += 1

    assert collect.name == "collect" and collect.role == "collector"
    ctx = TrainContext()
    collect(ctx)
    assert ctx.env_step == 1


def test_bad_role_is_rejected_with_suggestion() -> None:
    with pytest.raises(ValueError, match=r"unknown role 'learnr'; did you mean 'learner'"):
        middleware(noop, role="learnr")


def test_reads_given_as_a_string_is_rejected() -> None:
    with pytest.raises(TypeError, match=r"write reads=\('train_iter',\)"):
        middleware(noop, reads="train_iter")  # type: ignore[arg-type]


def test_plain_callable_is_undeclared_any() -> None:
    mw = as_middleware(noop)
    assert (mw.name, mw.role, mw.declared) == ("noop", "any", False)
    assert as_middleware(mw) is mw
    with pytest.raises(TypeError):
        as_middleware(3)  # type: ignore[arg-type]


def test_read_without_earlier_writer_names_middleware_and_field() -> None:
    task = Task(TrainContext())
    task.use(middleware(noop, name="offpolicy_learn", role="learner", reads=("train_data",)))
    expected = (
        "offpolicy_learn reads ctx.train_data but no middleware before it writes it; "
        "add a middleware that writes train_data before offpolicy_learn"
    )
    with pytest.raises(ChainError, match=re.escape(expected)):
        task.run(max_steps=1)


def test_read_deep_in_the_chain_without_writer_is_rejected() -> None:
    task = Task(TrainContext())
    task.use(middleware(noop, name="collect", writes=("new_segments",)))
    task.use(middleware(noop, name="push", reads=("new_segments",)))
    task.use(middleware(noop, name="learn", reads=("update_count",)))
    with pytest.raises(ChainError, match=r"^learn reads ctx.update_count but no middleware"):
        task.validate()


def test_writer_placed_after_reader_is_named() -> None:
    ran: list[str] = []
    task = Task(TrainContext())
    task.use(middleware(lambda c: ran.append("learn"), name="learn", reads=("train_data",)))
    task.use(middleware(lambda c: ran.append("sample"), name="sample", writes=("train_data",)))
    with pytest.raises(ChainError, match=r"\(sample writes it but runs later\)"):
        task.run(max_steps=1)
    assert ran == []  # validation happens before the first step


def test_persistent_and_engine_fields_need_no_writer() -> None:
    task = Task(TrainContext())
    task.use(middleware(noop, name="log", reads=("train_iter", "env_step", "timings")))
    assert task.run(max_steps=1).task_step == 1


def test_optional_per_step_fields_need_no_writer_but_still_cross_roles() -> None:
    assert TrainContext.optional_fields() == ("collect_episode_returns", "eval_segments")
    learner_log = middleware(noop, name="log", role="learner", reads=("collect_episode_returns",))
    alone = Task(TrainContext()).use(learner_log)
    alone.validate()
    alone.validate("async")
    with_writer = Task(TrainContext())
    with_writer.use(
        middleware(noop, name="collect", role="collector", writes=("collect_episode_returns",))
    )
    with_writer.use(learner_log)
    plans = plan_roles(with_writer.chain, TrainContext)
    assert plans["learner"].step_inputs == {"collector": ("collect_episode_returns",)}


def test_per_step_read_after_a_writer_is_fine() -> None:
    task = Task(TrainContext())
    task.use(middleware(noop, name="sample", writes=("train_data",)))
    task.use(middleware(noop, name="learn", reads=("train_data",)))
    task.validate()
    task.validate("async")


def test_unknown_field_is_rejected_at_use_with_suggestion() -> None:
    task = Task(TrainContext())
    with pytest.raises(
        ChainError, match=r"'learn' reads ctx.trian_iter.*did you mean 'train_iter'"
    ):
        task.use(middleware(noop, name="learn", reads=("trian_iter",)))
    with pytest.raises(ChainError, match=r"'collect' writes ctx.new_segment.*'new_segments'"):
        task.use(middleware(noop, name="collect", writes=("new_segment",)))


def test_engine_fields_cannot_be_declared_written() -> None:
    with pytest.raises(ChainError, match=r"ctx.timings, which only the engine writes"):
        Task(TrainContext()).use(middleware(noop, name="t", writes=("timings",)))


def test_undeclared_middleware_are_not_validated() -> None:
    task = Task(TrainContext())
    task.use(lambda ctx: None)
    task.validate()


def test_empty_chain_is_rejected() -> None:
    with pytest.raises(ChainError, match=r"no middleware"):
        Task(TrainContext()).run(max_steps=1)


def test_bad_mode_is_rejected() -> None:
    task = Task(TrainContext()).use(noop)
    with pytest.raises(ValueError, match="mode must be 'sync' or 'async'"):
        task.run(mode="threads")


def test_duplicate_names_are_made_unique() -> None:
    task = Task(TrainContext())
    task.use(noop).use(noop).use(noop)
    assert [mw.name for mw in task.chain] == ["noop", "noop#2", "noop#3"]


def test_setup_is_called_once_with_the_task() -> None:
    seen: list[Task] = []
    mw = middleware(noop, name="s", setup=seen.append)
    task = Task(TrainContext())
    assert task.use(mw) is task
    task.run(max_steps=2)
    assert seen == [task]


def test_use_after_run_is_rejected() -> None:
    task = Task(TrainContext()).use(noop)
    task.run(max_steps=1)
    with pytest.raises(RuntimeError, match="started running"):
        task.use(noop)
    with pytest.raises(RuntimeError, match="runs once"):
        task.run(max_steps=1)
