"""progress_bar: tqdm bar of env steps with training status; off when not on a terminal."""

from __future__ import annotations

import io

import pytest
from mw_toy import TinyPolicy, fixed_updates, toy_collect, toy_eval, toy_learn
from pipezero.middleware import progress_bar, termination

from pipezero.framework import ProcessBackend, Task, TrainContext, middleware


class Terminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def run(bar_file: io.StringIO, enable: bool | None, steps: int = 3) -> TrainContext:
    task = Task(TrainContext())
    task.use(toy_eval([0.5, 2.25, 1.0])).use(toy_collect())
    task.use(fixed_updates(2)).use(toy_learn(TinyPolicy()))
    task.use(progress_bar(1000, enable=enable, file=bar_file, mininterval=0))
    return task.run(max_steps=steps)


def test_forced_bar_shows_steps_iterations_returns_rate_and_eta() -> None:
    out = io.StringIO()
    ctx = run(out, enable=True)
    text = out.getvalue()
    last = text.strip().split("\r")[-1]
    assert f"{ctx.env_step}/1000" in last
    assert "env steps/s" in last
    assert "<" in last  # elapsed<remaining: the ETA
    assert "iter=6 eval=1 best=2.25" in last
    assert "iter=2 eval=0.5 best=0.5" in text  # after the first step
    assert text.endswith("\n")  # closed on FINISH


def test_disabled_when_the_stream_is_not_a_terminal() -> None:
    out = io.StringIO()
    run(out, enable=None)
    assert out.getvalue() == ""


def test_enabled_on_a_terminal_unless_forced_off() -> None:
    tty = Terminal()
    run(tty, enable=None)
    assert "env steps" in tty.getvalue()
    off = Terminal()
    run(off, enable=False)
    assert off.getvalue() == ""


def test_unknown_total_and_no_evaluation() -> None:
    out = io.StringIO()
    task = Task(TrainContext()).use(toy_collect())
    task.use(progress_bar(None, enable=True, file=out, mininterval=0))
    task.use(termination(max_env_step=10))
    ctx = task.run(max_steps=50)
    last = out.getvalue().strip().split("\r")[-1]
    assert f"{ctx.env_step} env steps" in last and "iter=0 eval=- best=-" in last


def test_closed_when_a_middleware_raises() -> None:
    out = io.StringIO()

    @middleware(reads=("task_step",))
    def broken(ctx: TrainContext) -> None:
        if ctx.task_step == 2:
            raise ValueError("bad observation")

    task = Task(TrainContext()).use(toy_collect()).use(broken)
    task.use(progress_bar(100, enable=True, file=out, mininterval=0))
    with pytest.raises(ValueError, match="bad observation"):
        task.run(max_steps=5)
    assert "iter=0" in out.getvalue() and out.getvalue().endswith("\n")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"total_env_steps": 0}, "total_env_steps must be None or an int >= 1, got 0"),
        ({"total_env_steps": 10, "enable": "yes"}, "enable must be None, True or False"),
    ],
)
def test_arguments_are_checked(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        progress_bar(**kwargs)


def test_shows_the_mean_return_of_the_last_collection_episodes() -> None:
    out = io.StringIO()

    @middleware(reads=("task_step",), writes=("collect_episode_returns",))
    def returns(ctx: TrainContext) -> None:
        ctx.collect_episode_returns = [1.0, 3.0] if ctx.task_step == 1 else []

    task = Task(TrainContext()).use(toy_collect()).use(returns)
    task.use(progress_bar(100, enable=True, file=out, mininterval=0))
    task.run(max_steps=3)
    steps = out.getvalue().strip().split("\r")
    assert "collect=-]" in steps[1] and steps[-1].rstrip().endswith("collect=2]")


def test_async_bar_shows_the_returns_of_a_collector_in_another_process() -> None:
    out = io.StringIO()

    @middleware(role="collector", reads=("env_episode",), writes=("collect_episode_returns",))
    def returns(ctx: TrainContext) -> None:
        ctx.collect_episode_returns = [float(ctx.env_episode)]

    task = Task(TrainContext(), backend=ProcessBackend(("collector",)))
    task.use(toy_collect()).use(returns).use(fixed_updates(1)).use(toy_learn(TinyPolicy()))
    task.use(progress_bar(100, enable=True, file=out, mininterval=0))  # the learner's role
    task.run(max_steps=3, mode="async")
    assert out.getvalue().rstrip().endswith("collect=3]")
