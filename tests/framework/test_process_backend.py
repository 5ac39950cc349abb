"""ProcessBackend: roles in forked processes, with toy middleware and real processes."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from pipezero.framework import (
    Event,
    Middleware,
    ProcessBackend,
    ProcessChannel,
    RemoteTraceback,
    StopRequested,
    Task,
    TrainContext,
    WeightStore,
    middleware,
    persistent,
)


@pytest.fixture(autouse=True)
def no_leftover_processes() -> Iterator[None]:
    """Every test must leave no runner process behind."""
    yield
    deadline = time.monotonic() + 5.0
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert multiprocessing.active_children() == [], "runner processes left behind"


@dataclasses.dataclass
class ProcContext(TrainContext):
    total: int = persistent(0)
    collector_pid: int = persistent(0)
    lags: tuple = persistent(())  # (weight version held, newest version) per collector step


def collect(delay: float = 0.0, fail_at: int | None = None, finish_at: int | None = None):
    refs: dict = {}

    def step(ctx: ProcContext) -> None:
        if delay:
            time.sleep(delay)
        if fail_at is not None and ctx.env_step == fail_at:
            raise ValueError(f"collector broke at env_step {ctx.env_step}")
        ctx.new_segments = [ctx.env_step]
        ctx.env_step += 1
        ctx.collector_pid = os.getpid()
        refs["task"].emit("tick", ctx.env_step)
        if finish_at is not None and ctx.env_step >= finish_at:
            refs["task"].finish("collector had enough")

    return middleware(
        step,
        name="collect",
        role="collector",
        reads=("env_step",),
        writes=("new_segments", "env_step", "collector_pid"),
        setup=lambda task: refs.update(task=task),
    )


def learn(delay: float = 0.0, stop_at: int | None = None, updates: int = 1) -> Middleware:
    refs: dict = {}

    def step(ctx: ProcContext) -> None:
        if delay:
            time.sleep(delay)
        ctx.total += sum(ctx.new_segments)
        ctx.train_iter += updates
        refs["task"].weights.publish({"w": ctx.train_iter}, version=ctx.train_iter)
        if stop_at is not None and ctx.train_iter >= stop_at:
            refs["task"].finish("learner done")

    return middleware(
        step,
        name="learn",
        role="learner",
        reads=("new_segments", "total", "train_iter"),
        writes=("total", "train_iter"),
        setup=lambda task: refs.update(task=task),
    )


def backend() -> ProcessBackend:
    return ProcessBackend(processes=("collector",))


def test_two_process_run_moves_every_item_once_and_merges_counters() -> None:
    ticks: list[tuple[int, int]] = []
    task = Task(ProcContext(), backend=backend(), channel_capacity=2)
    task.use(collect()).use(learn())
    task.on("tick", lambda env_step: ticks.append((os.getpid(), env_step)))
    ctx = task.run(max_steps=50, mode="async")
    assert ctx.finish_reason == "max_steps"
    assert task.role_steps == {"collector": 50, "learner": 50}
    assert ctx.total == sum(range(50)) and ctx.train_iter == 50 and ctx.env_step == 50
    assert ctx.collector_pid not in (0, os.getpid()), "the collector ran in another process"
    # events emitted in the child are delivered here, in order
    assert ticks == [(os.getpid(), k) for k in range(1, 51)]


def test_an_error_in_a_child_surfaces_with_its_traceback() -> None:
    seen: list[tuple[int, str]] = []
    task = Task(ProcContext(), backend=backend())
    task.use(collect(fail_at=5)).use(learn())
    task.on(Event.ERROR, lambda ctx, exc: seen.append((ctx.env_step, type(exc).__name__)))
    task.on(Event.FINISH, lambda ctx, reason: seen.append((-1, reason)))
    with pytest.raises(ValueError, match="collector broke at env_step 5") as info:
        task.run(mode="async")
    cause = info.value.__cause__
    assert isinstance(cause, RemoteTraceback)
    assert "in step" in cause.text and "collector broke" in cause.text
    assert seen == [(5, "ValueError")]  # ERROR once, with the child's counters; no FINISH


def test_finish_in_the_child_stops_every_role() -> None:
    finished: list[str] = []
    task = Task(ProcContext(), backend=backend())
    task.use(collect(finish_at=7)).use(learn())
    task.on(Event.FINISH, lambda ctx, reason: finished.append(reason))
    ctx = task.run(mode="async")
    assert finished == ["collector had enough"] and ctx.finish_reason == "collector had enough"
    assert ctx.env_step == 7 and task.role_steps["collector"] == 7
    assert task.role_steps["learner"] <= 7


def test_finish_in_the_parent_stops_the_child() -> None:
    # the learner is the slower role, so the full channel is what holds the collector back
    task = Task(ProcContext(), backend=backend(), channel_capacity=2)
    task.use(collect(delay=0.005)).use(learn(delay=0.02, stop_at=10))
    ctx = task.run(mode="async")
    assert ctx.finish_reason == "learner done" and ctx.train_iter == 10
    assert 10 <= task.role_steps["collector"] <= 10 + 2 + 1  # capacity, one step in flight


def test_ctrl_c_finishes_gracefully_and_children_ignore_it(ctrl_c_raises: None) -> None:
    def press_ctrl_c(ctx: ProcContext) -> None:
        if ctx.train_iter == 20:  # what a terminal's Ctrl-C does: SIGINT to every process
            for child in multiprocessing.active_children():
                os.kill(child.pid, signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)

    task = Task(ProcContext(), backend=backend())
    task.use(collect(delay=0.002)).use(learn())
    task.use(middleware(press_ctrl_c, name="press_ctrl_c", role="learner"))
    reasons: list[str] = []
    task.on(Event.FINISH, lambda ctx, reason: reasons.append(reason))
    ctx = task.run(mode="async")
    assert reasons == ["interrupted"] and ctx.finish_reason == "interrupted"
    assert ctx.train_iter >= 20 and ctx.env_step >= 20  # the child reported its counters


def test_a_child_that_dies_is_reported() -> None:
    def die(ctx: ProcContext) -> None:
        if ctx.env_step == 3:
            os._exit(7)
        ctx.new_segments = [ctx.env_step]
        ctx.env_step += 1

    task = Task(ProcContext(), backend=backend())
    task.use(
        middleware(die, role="collector", reads=("env_step",), writes=("new_segments", "env_step"))
    )
    task.use(learn())
    with pytest.raises(RuntimeError, match=r"role 'collector': its process .* exited \(7\)"):
        task.run(mode="async")


def test_backpressure_bounds_how_far_the_child_runs_ahead() -> None:
    ahead: list[int] = []

    def learn_slowly(ctx: ProcContext) -> None:
        time.sleep(0.01)
        ctx.train_iter += 1
        ahead.append(ctx.env_step - ctx.train_iter)  # mirrored env_step vs items consumed

    task = Task(ProcContext(), backend=backend(), channel_capacity=2)
    task.use(collect())
    task.use(
        middleware(
            learn_slowly,
            role="learner",
            reads=("new_segments", "env_step", "train_iter"),
            writes=("train_iter",),
        )
    )
    ctx = task.run(max_steps=30, mode="async")
    assert ctx.train_iter == 30
    # at most: 2 items queued + 1 being collected + the one being learned from
    assert max(ahead) <= 4 and max(ahead) >= 1


def test_process_channel_capacity_order_and_close() -> None:
    mpc = multiprocessing.get_context("fork")
    ch = ProcessChannel(mpc, capacity=2, name="t")

    def writer() -> None:
        for k in range(10):
            ch.put({"k": k, "payload": list(range(k))})
        ch.close()

    proc = mpc.Process(target=writer, daemon=True)
    proc.start()
    got = []
    while True:
        try:
            got.append(ch.get(timeout=10)["k"])
        except Exception as exc:
            assert "closed and empty" in str(exc)
            break
        time.sleep(0.005)
    proc.join(5)
    assert got == list(range(10)) and ch.high_water <= 2
    stop = ProcessBackend().event()
    stop.set()
    with pytest.raises(StopRequested):
        ProcessChannel(mpc, 1, "empty").get(stop=stop)
    with pytest.raises(TimeoutError, match="timed out"):
        ProcessChannel(mpc, 1, "empty").get(timeout=0.05)


def test_weights_cross_processes_within_the_version_lag() -> None:
    """The child acts with weights at most ``max_version_lag`` versions behind the newest,
    although each publication moves the version by 5."""
    refs: dict = {}

    def setup(task: Task) -> None:
        refs["task"] = task
        refs["sub"] = task.weights.subscribe("collector")

    def act(ctx: ProcContext) -> None:
        got = refs["sub"].pull()
        held = refs["sub"].version
        if got is not None:
            assert got[1] == {"w": got[0]}  # weights and their version travel together
        time.sleep(0.01)  # the learner publishes meanwhile
        newest = refs["task"].weights.version
        ctx.lags = (*ctx.lags, (held, newest))
        ctx.new_segments = [ctx.env_step]
        ctx.env_step += 1

    store = WeightStore(max_version_lag=2)
    task = Task(ProcContext(), backend=backend(), weights=store, channel_capacity=2)
    task.use(
        middleware(
            act,
            role="collector",
            reads=("env_step", "lags"),
            writes=("new_segments", "env_step", "lags"),
            setup=setup,
        )
    )
    task.use(learn(updates=5))
    ctx = task.run(max_steps=40, mode="async")
    pulled = [(held, newest) for held, newest in ctx.lags if held is not None]
    assert len(pulled) >= 30 and pulled[-1][0] > 1, "the child received published weights"
    assert max(newest - held for held, newest in pulled) <= 2
    assert store.latest() == (200, {"w": 200})


def test_backend_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="fork"):
        ProcessBackend(start_method="spawn")
    with pytest.raises(TypeError, match="collection of roles"):
        ProcessBackend(processes="collector")
    with pytest.raises(ValueError, match="weights_capacity_mb"):
        ProcessBackend(weights_capacity_mb=0)


TORCH_AFTER_FORK = """
import torch
from pipezero.framework import ProcessBackend, Task, TrainContext, middleware

torch.set_num_threads(2)
conv = torch.nn.Conv2d(16, 64, (1, 4))
x = torch.randn(768, 16, 4, 4)
conv(x).sum().backward()  # the parent's OpenMP pool is now running

def collect(ctx):
    conv(x)  # would wait forever for the unforked pool threads without the fix
    ctx.new_segments = [torch.get_num_threads()]
    ctx.env_step += 1

def learn(ctx):
    ctx.train_iter += 1
    print("child threads", ctx.new_segments[0], flush=True)

task = Task(TrainContext(), backend=ProcessBackend(processes=("collector",)))
task.use(middleware(collect, role="collector", reads=("env_step",),
                    writes=("new_segments", "env_step")))
task.use(middleware(learn, role="learner", reads=("new_segments", "train_iter"),
                    writes=("train_iter",)))
task.run(max_steps=3, mode="async")
print("parent threads", torch.get_num_threads())
"""


def test_a_child_runs_torch_after_the_parent_used_its_thread_pool() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", TORCH_AFTER_FORK],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=30)  # a fixed run takes ~3 s
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("the forked collector hung in a torch operation (parent used 2 threads)")
    assert proc.returncode == 0, out
    assert out.count("child threads 1") == 3 and "parent threads 2" in out, out
