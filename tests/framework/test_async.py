"""Async mode: transfers between roles, backpressure, weights, errors, finish, shutdown."""

from __future__ import annotations

import _thread
import dataclasses
import threading
import time
import traceback
from typing import Any

import pytest

from pipezero.framework import (
    ChainError,
    Event,
    Middleware,
    Task,
    TrainContext,
    WeightStore,
    assign_roles,
    middleware,
    persistent,
    plan_roles,
)


def engine_threads() -> list[threading.Thread]:
    """Runner threads of the engine still alive."""
    return [t for t in threading.enumerate() if t.name.startswith("pipezero-")]


@dataclasses.dataclass
class ToyContext(TrainContext):
    total: int = persistent(0)
    checksum: int = persistent(0)


def collector(delay: float = 0.0, produced: list[int] | None = None) -> Middleware:
    """Deterministic 'environment': one segment per step, numbered by env_step."""

    def collect(ctx: ToyContext) -> None:
        if delay:
            time.sleep(delay)
        ctx.new_segments = [ctx.env_step]
        if produced is not None:
            produced.append(ctx.env_step)
        ctx.env_step += 1
        ctx.env_episode += ctx.env_step % 3 == 0

    return middleware(
        collect,
        role="collector",
        reads=("env_step", "env_episode"),
        writes=("new_segments", "env_step", "env_episode"),
    )


def learner(delay: float = 0.0, consumed: list[int] | None = None) -> Middleware:
    def learn(ctx: ToyContext) -> None:
        if delay:
            time.sleep(delay)
        if consumed is not None:
            consumed.extend(ctx.new_segments)
        ctx.total += sum(ctx.new_segments)
        ctx.checksum = (ctx.checksum * 31 + sum(ctx.new_segments)) % 1_000_003
        ctx.train_iter += 1

    return middleware(
        learn,
        role="learner",
        reads=("new_segments", "total", "checksum", "train_iter"),
        writes=("total", "checksum", "train_iter"),
    )


def test_assign_roles_attaches_any_to_preceding_role() -> None:
    def mw(name: str, role: str = "any") -> Middleware:
        return middleware(lambda ctx: None, name=name, role=role)

    chain = [
        mw("log"),
        mw("eval", "evaluator"),
        mw("coll", "collector"),
        mw("term"),
        mw("learn", "learner"),
        mw("ckpt"),
    ]
    assert assign_roles(chain) == [
        "evaluator",
        "evaluator",
        "collector",
        "collector",
        "learner",
        "learner",
    ]
    assert assign_roles([mw("a"), mw("b")]) == ["any", "any"]


def test_plan_routes_per_step_fields_by_channel_and_persistent_by_mirror() -> None:
    @middleware(role="evaluator", reads=("train_iter",), writes=("best_eval_return",))
    def evaluate(ctx: ToyContext) -> None:
        pass

    plans = plan_roles([evaluate, collector(), learner()], ToyContext)
    assert list(plans) == ["evaluator", "collector", "learner"]
    assert plans["learner"].step_inputs == {"collector": ("new_segments",)}
    assert plans["collector"].step_outputs == {"learner": ("new_segments",)}
    assert plans["evaluator"].mirror_inputs == {"learner": ("train_iter",)}
    assert plans["evaluator"].waits_for_mirror
    assert plans["learner"].mirror_outputs == ("train_iter",)
    assert not plans["collector"].step_inputs and not plans["collector"].mirror_inputs


def test_field_written_by_two_roles_is_rejected() -> None:
    task = Task(ToyContext()).use(collector())
    task.use(middleware(lambda c: None, name="evil", role="evaluator", writes=("env_step",)))
    with pytest.raises(ChainError, match=r"ctx.env_step is written by several roles"):
        task.run(max_steps=1, mode="async")


def test_roles_waiting_on_each_other_are_rejected() -> None:
    @middleware(role="evaluator", reads=("train_iter",), writes=("eval_result",))
    def evaluate(ctx: ToyContext) -> None:
        pass

    @middleware(role="learner", reads=("eval_result",))
    def ckpt(ctx: ToyContext) -> None:
        pass

    task = Task(ToyContext()).use(evaluate).use(collector()).use(learner()).use(ckpt)
    task.validate("sync")
    with pytest.raises(ChainError, match=r"wait on each other.*learner takes ctx.eval_result"):
        task.validate("async")


def test_every_item_consumed_once_with_backpressure() -> None:
    produced: list[int] = []
    consumed: list[int] = []
    capacity = 2
    ahead: list[int] = []

    def watch(ctx: ToyContext) -> None:
        # Items produced beyond those the learner took: at most the channel's capacity plus
        # the one the collector holds while it waits to put it.
        ahead.append(len(produced) - len(consumed))

    task = Task(ToyContext(), channel_capacity=capacity)
    task.use(collector(produced=produced)).use(learner(delay=0.003, consumed=consumed))
    task.use(watch)
    ctx = task.run(max_steps=40, mode="async")
    assert consumed == produced == list(range(40))
    assert max(ahead) <= capacity + 1
    assert max(ahead) >= capacity  # the fast collector did fill the channel
    assert task.role_steps == {"collector": 40, "learner": 40}
    assert (ctx.env_step, ctx.train_iter, ctx.total) == (40, 40, sum(range(40)))


def test_sync_and_async_give_identical_results() -> None:
    def build() -> Task:
        task = Task(ToyContext(), channel_capacity=3)
        task.use(collector()).use(learner())

        @middleware(reads=("train_iter", "checksum"))
        def log(ctx: ToyContext) -> None:
            pass

        return task.use(log)

    sync_ctx = build().run(max_steps=60, mode="sync")
    async_ctx = build().run(max_steps=60, mode="async")
    assert dataclasses.asdict(async_ctx) == dataclasses.asdict(sync_ctx)
    assert sync_ctx.total == sum(range(60)) and sync_ctx.env_episode == 20


def test_roles_have_their_own_contexts_and_merge_into_the_given_one() -> None:
    seen: dict[str, set[int]] = {"collector": set(), "learner": set()}
    lock = threading.Lock()

    def spy(role: str) -> Middleware:
        def record(ctx: ToyContext) -> None:
            with lock:
                seen[role].add(id(ctx))

        return middleware(record, name=f"spy_{role}", role="any")

    original = ToyContext()
    task = Task(original).use(collector()).use(spy("collector"))
    task.use(learner()).use(spy("learner"))
    ctx = task.run(max_steps=5, mode="async")
    assert ctx is original
    (c_id,), (l_id,) = seen["collector"], seen["learner"]
    assert len({c_id, l_id, id(original)}) == 3
    assert (ctx.env_step, ctx.train_iter, ctx.task_step, ctx.finish_reason) == (
        5,
        5,
        5,
        "max_steps",
    )


def test_mirror_waiter_steps_on_changes_and_ends_with_its_writer() -> None:
    evaluated: list[int] = []

    @middleware(role="evaluator", reads=("train_iter",), writes=("last_eval_iter",))
    def evaluate(ctx: ToyContext) -> None:
        evaluated.append(ctx.train_iter)
        ctx.last_eval_iter = ctx.train_iter
        time.sleep(0.02)  # slower than the learner: changes are coalesced

    task = Task(ToyContext()).use(evaluate).use(collector()).use(learner())
    ctx = task.run(max_steps=30, mode="async")
    assert evaluated[0] == 0  # the first step runs at once on the initial values
    assert evaluated == sorted(set(evaluated))  # only steps on a changed value
    assert evaluated[-1] == ctx.last_eval_iter
    # It ended because the learner ended, not because it ran its 30 steps.
    assert 2 <= len(evaluated) < 30 and task.role_steps["learner"] == 30


def test_weight_versions_monotonic_and_staleness_bounded() -> None:
    max_staleness = 2
    task = Task(ToyContext(), weights=WeightStore(max_staleness=max_staleness))
    uses: list[tuple[int, int, int]] = []  # (version, staleness at start, at end)
    sub_ref: dict[str, Any] = {}

    def act(ctx: ToyContext) -> None:
        sub = sub_ref["sub"]
        sub.pull()
        if sub.version is None:
            return
        start = sub.staleness
        time.sleep(0.002)  # acting with the weights
        uses.append((sub.version, start, sub.staleness))

    task.use(
        middleware(
            act,
            name="act",
            role="collector",
            setup=lambda t: sub_ref.update(sub=t.weights.subscribe("collector")),
        )
    )
    task.use(collector())

    @middleware(role="learner", reads=("new_segments", "train_iter"), writes=("train_iter",))
    def learn_and_publish(ctx: ToyContext) -> None:
        for _ in range(3):  # publishes faster than the collector acts
            ctx.train_iter += 1
            task.weights.publish({"iter": ctx.train_iter}, version=ctx.train_iter)

    task.use(learn_and_publish)
    ctx = task.run(max_steps=30, mode="async")
    versions = [v for v, _, _ in uses]
    assert versions == sorted(versions) and len(uses) >= 20
    assert max(max(s, e) for _, s, e in uses) <= max_staleness
    assert max(e for _, _, e in uses) >= 1  # the learner did run ahead within the bound
    assert ctx.train_iter == 90


@pytest.mark.parametrize("failing_role", ["collector", "learner", "evaluator"])
def test_error_in_one_role_stops_all_and_reraises(failing_role: str) -> None:
    raised_at: list[float] = []

    def explode(ctx: ToyContext) -> None:
        if ctx.task_step == 3:
            raised_at.append(time.monotonic())
            raise ArithmeticError(f"broken {failing_role}")

    @middleware(role="evaluator", reads=("train_iter",))
    def evaluate(ctx: ToyContext) -> None:
        pass

    finish: list[str] = []
    # evaluator waits for train_iter changes, collector blocks on a full channel,
    # learner is slow: every kind of wait must notice the stop.
    chain = [evaluate, collector(), learner(delay=0.01)]
    index = [mw.role for mw in chain].index(failing_role)
    chain.insert(index + 1, middleware(explode, name="explode", role=failing_role))
    task = Task(ToyContext(), channel_capacity=1)
    for mw in chain:
        task.use(mw)
    task.on(Event.FINISH, lambda ctx, reason: finish.append(reason))

    with pytest.raises(ArithmeticError, match=f"broken {failing_role}") as info:
        task.run(mode="async")
    returned_at = time.monotonic()
    assert returned_at - raised_at[0] < 5.0  # generous; the design target is < 1 s
    assert engine_threads() == []
    frames = [f.name for f in traceback.extract_tb(info.value.__traceback__)]
    assert frames[-1] == "explode"  # the original traceback is kept
    assert finish == []


@pytest.mark.parametrize("finishing_role", ["collector", "learner", "evaluator"])
def test_finish_from_any_role_stops_all(finishing_role: str) -> None:
    task_ref: dict[str, Task] = {}
    finishes: list[tuple[str, int]] = []

    def finisher(ctx: ToyContext) -> None:
        if ctx.task_step >= 4:
            task_ref["task"].finish(f"done by {finishing_role}")

    @middleware(role="evaluator", reads=("train_iter",))
    def evaluate(ctx: ToyContext) -> None:
        pass

    chain = [evaluate, collector(), learner(delay=0.002)]
    index = [mw.role for mw in chain].index(finishing_role)
    chain.insert(index + 1, middleware(finisher, name="finisher", role=finishing_role))
    task = Task(ToyContext(), channel_capacity=2)
    for mw in chain:
        task.use(mw)
    task_ref["task"] = task
    task.on(Event.FINISH, lambda ctx, reason: finishes.append((reason, threading.get_ident())))
    ctx = task.run(mode="async")
    assert finishes == [(f"done by {finishing_role}", threading.get_ident())]
    assert ctx.finish_reason == f"done by {finishing_role}"
    assert engine_threads() == []
    assert task.role_steps[finishing_role] >= 5


def test_keyboard_interrupt_in_a_role_finishes_gracefully() -> None:
    saved: list[tuple[str, int]] = []

    def ctrl_c(ctx: ToyContext) -> None:
        if ctx.task_step == 5:
            raise KeyboardInterrupt

    task = Task(ToyContext()).use(collector()).use(learner())
    task.use(middleware(ctrl_c, name="ctrl_c", role="learner"))
    task.on(Event.FINISH, lambda ctx, reason: saved.append((reason, ctx.train_iter)))
    ctx = task.run(mode="async")
    assert ctx.finish_reason == "interrupted"
    assert saved == [("interrupted", ctx.train_iter)] and ctx.train_iter >= 5


def test_ctrl_c_in_the_calling_thread_finishes_gracefully(ctrl_c_raises: None) -> None:
    def press_ctrl_c(ctx: ToyContext) -> None:
        if ctx.task_step == 20:
            _thread.interrupt_main()  # what a terminal's Ctrl-C does to the caller

    task = Task(ToyContext()).use(collector()).use(learner())
    task.use(middleware(press_ctrl_c, name="press_ctrl_c", role="learner"))
    reasons: list[str] = []
    task.on(Event.FINISH, lambda ctx, reason: reasons.append(reason))
    ctx = task.run(mode="async")
    assert reasons == ["interrupted"] and ctx.finish_reason == "interrupted"
    assert ctx.train_iter >= 20


def test_undeclared_middleware_run_in_the_role_they_follow() -> None:
    threads: dict[str, set[str]] = {"after_collect": set(), "after_learn": set()}

    def probe(name: str) -> Any:
        def fn(ctx: ToyContext) -> None:
            threads[name].add(threading.current_thread().name)

        fn.__name__ = name
        return fn

    task = Task(ToyContext()).use(collector()).use(probe("after_collect"))
    task.use(learner()).use(probe("after_learn"))
    task.run(max_steps=3, mode="async")
    assert threads == {
        "after_collect": {"pipezero-collector"},
        "after_learn": {"pipezero-learner"},
    }
