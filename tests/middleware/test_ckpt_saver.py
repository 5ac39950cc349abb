"""ckpt_saver: periodic / best / final checkpoints, pruning, events, and resuming a run."""

from __future__ import annotations

import random
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from mw_toy import (
    TinyPolicy,
    fixed_updates,
    make_buffer,
    stop_after,
    toy_collect,
    toy_eval,
    toy_learn,
)
from pipezero.middleware import calc_update_count, ckpt_saver, data_push

from pipezero.checkpoint import (
    BEST_NAME,
    FINAL_NAME,
    RECOVERY_NAME,
    buffer_files,
    checkpoint_dir,
    latest_checkpoint,
    load_checkpoint,
    resume,
)
from pipezero.framework import Event, Middleware, Task, TrainContext, middleware


def names(exp_dir: Path) -> list[str]:
    """Files of the run's checkpoint directory, manifests left out (every checkpoint has its
    own, checked by :func:`manifests`)."""
    return sorted(
        p.name for p in checkpoint_dir(exp_dir).iterdir() if not p.name.endswith(".manifest.json")
    )


def manifests(exp_dir: Path) -> list[str]:
    """The checkpoints (``<stem>.pt``) that have a manifest."""
    return sorted(
        p.name.replace(".manifest.json", ".pt")
        for p in checkpoint_dir(exp_dir).iterdir()
        if p.name.endswith(".manifest.json")
    )


def record_saves(task: Task) -> list[tuple[str, int]]:
    saved: list[tuple[str, int]] = []
    task.on(Event.CKPT_SAVED, lambda ctx, path: saved.append((Path(path).name, ctx.train_iter)))
    return saved


def test_periodic_checkpoints_keep_the_last_k(tmp_path: Path) -> None:
    policy = TinyPolicy()
    task = Task(TrainContext())
    saved = record_saves(task)
    task.use(fixed_updates(3)).use(toy_learn(policy))
    task.use(ckpt_saver(tmp_path, policy, save_freq=4, keep_last=2))
    task.run(max_steps=6)  # train_iter 3, 6, 9, 12, 15, 18
    periodic = [name for name, _ in saved if name.startswith("iter_")]
    assert periodic == [f"iter_{i:08d}.pt" for i in (6, 9, 12, 18)]  # first at/after 4, 8, 12, 16
    assert saved[-1] == (FINAL_NAME, 18)
    assert names(tmp_path) == ["final.pt", "iter_00000012.pt", "iter_00000018.pt"]
    assert manifests(tmp_path) == names(tmp_path)  # pruned with their checkpoints
    state = load_checkpoint(checkpoint_dir(tmp_path) / "iter_00000012.pt")
    assert (state["meta"]["kind"], state["counters"]["train_iter"]) == ("periodic", 12)


@pytest.mark.parametrize("position", ["first", "middle", "last"])
def test_final_checkpoint_on_finish_wherever_it_sits(tmp_path: Path, position: str) -> None:
    policy = TinyPolicy()
    saver = ckpt_saver(tmp_path, policy, save_freq=1000)
    chain: list[Middleware] = [toy_collect(), fixed_updates(2), toy_learn(policy), stop_after(3)]
    chain.insert({"first": 0, "middle": 2, "last": len(chain)}[position], saver)
    task = Task(TrainContext())
    for mw in chain:
        task.use(mw)
    ctx = task.run()
    state = load_checkpoint(checkpoint_dir(tmp_path) / FINAL_NAME)
    assert state["meta"]["kind"] == "final" and state["meta"]["reason"] == "enough"
    assert state["counters"]["train_iter"] == ctx.train_iter == 6
    assert state["counters"]["env_step"] == ctx.env_step
    assert names(tmp_path) == [FINAL_NAME]


def test_final_checkpoint_on_ctrl_c(tmp_path: Path) -> None:
    policy = TinyPolicy()

    @middleware(reads=("train_iter",))
    def ctrl_c(ctx: TrainContext) -> None:
        if ctx.train_iter >= 4:
            raise KeyboardInterrupt

    task = Task(TrainContext()).use(fixed_updates(2)).use(toy_learn(policy)).use(ctrl_c)
    task.use(ckpt_saver(tmp_path, policy))
    ctx = task.run(max_steps=100)
    state = load_checkpoint(checkpoint_dir(tmp_path) / FINAL_NAME)
    assert (ctx.finish_reason, state["meta"]["reason"]) == ("interrupted", "interrupted")
    assert state["counters"]["train_iter"] == 4
    weights = policy.model.state_dict()
    assert all(torch.equal(weights[k], v) for k, v in state["policy"]["model"].items())


def test_best_checkpoint_holds_the_evaluated_weights(tmp_path: Path) -> None:
    policy = TinyPolicy()
    task = Task(TrainContext())
    saved = record_saves(task)
    snapshots: list[dict[str, torch.Tensor]] = []
    task.on(
        Event.EVAL_DONE,
        lambda ctx, r: snapshots.append(
            {k: v.clone() for k, v in policy.model.state_dict().items()}
        ),
    )
    task.use(toy_eval([1.0, 3.0, 2.0, 2.5])).use(fixed_updates(1)).use(toy_learn(policy))
    task.use(ckpt_saver(tmp_path, policy))
    task.run(max_steps=4)
    assert [s for s in saved if s[0] == BEST_NAME] == [(BEST_NAME, 0), (BEST_NAME, 1)]
    state = load_checkpoint(checkpoint_dir(tmp_path) / BEST_NAME)
    assert (state["meta"]["kind"], state["meta"]["eval_return"]) == ("best", 3.0)
    evaluated = snapshots[1]  # the weights the second evaluation (return 3.0) saw
    assert all(torch.equal(evaluated[k], v) for k, v in state["policy"]["model"].items())


def test_best_of_an_earlier_run_is_only_replaced_by_a_better_one(tmp_path: Path) -> None:
    def run(returns: list[float]) -> list[tuple[str, int]]:
        policy = TinyPolicy()
        task = Task(TrainContext())
        saved = record_saves(task)
        task.use(toy_eval(returns)).use(ckpt_saver(tmp_path, policy))
        task.run(max_steps=len(returns))
        return [s for s in saved if s[0] == BEST_NAME]

    assert len(run([5.0])) == 1
    assert run([4.0, 4.5]) == []
    assert len(run([6.0])) == 1
    assert load_checkpoint(checkpoint_dir(tmp_path) / BEST_NAME)["meta"]["eval_return"] == 6.0


def test_async_best_is_written_outside_the_evaluator_thread(tmp_path: Path) -> None:
    policy = TinyPolicy()
    task = Task(TrainContext())
    threads: list[tuple[str, str]] = []
    task.on(
        Event.CKPT_SAVED,
        lambda ctx, path: threads.append((Path(path).name, threading.current_thread().name)),
    )
    task.use(toy_eval([1.0, 2.0])).use(fixed_updates(1)).use(toy_learn(policy))
    task.use(ckpt_saver(tmp_path, policy))
    task.run(max_steps=3, mode="async")
    best = [thread for name, thread in threads if name == BEST_NAME]
    assert best and "pipezero-evaluator" not in best
    assert (checkpoint_dir(tmp_path) / FINAL_NAME).is_file()


def test_warns_about_checkpoints_of_another_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    policy = TinyPolicy()
    task = Task(TrainContext()).use(fixed_updates(5)).use(toy_learn(policy))
    task.use(ckpt_saver(tmp_path, policy, save_freq=5)).run(max_steps=2)
    fresh = Task(TrainContext()).use(ckpt_saver(tmp_path, TinyPolicy(), save_freq=5))
    fresh.run(max_steps=1)
    expected = "already holds checkpoints beyond train_iter 0 (iter_00000005.pt, iter_00000010.pt)"
    assert expected in caplog.text


def test_outside_a_task_it_says_how_to_use_it(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=r"add it with task\.use\(ckpt_saver"):
        ckpt_saver(tmp_path, TinyPolicy())(TrainContext())


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="save_freq must be an int >= 1, got 0"):
        ckpt_saver("x", TinyPolicy(), save_freq=0)
    with pytest.raises(ValueError, match="keep_last must be an int >= 1, got 0"):
        ckpt_saver("x", TinyPolicy(), keep_last=0)
    with pytest.raises(ValueError, match="save_buffer=True but no buffer was given"):
        ckpt_saver("x", TinyPolicy(), save_buffer=True)


# -- resuming ---------------------------------------------------------------------------------


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def training(exp_dir: Path, seed: int) -> tuple[Task, TinyPolicy, Any, list[Any]]:
    """A collect -> push -> count -> learn -> save chain whose every step draws from Python,
    NumPy and torch global generators and from the replay buffer's own generator."""
    seed_all(seed)
    policy, buffer, draws = TinyPolicy(), make_buffer(seed=seed), []
    task = Task(TrainContext())
    task.use(toy_collect(draws)).use(data_push(buffer))
    task.use(calc_update_count({"update_per_collect": None, "replay_ratio": 0.5}))
    task.use(toy_learn(policy, buffer, draws))
    task.use(ckpt_saver(exp_dir, policy, buffer, save_freq=5, save_buffer=True))
    return task, policy, buffer, draws


def test_resume_continues_exactly_like_an_uninterrupted_run(tmp_path: Path) -> None:
    task, policy, buffer, draws = training(tmp_path / "straight", seed=0)
    straight = task.run(max_steps=6)

    task, _, _, first_half = training(tmp_path / "resumed", seed=0)
    task.run(max_steps=3)
    assert first_half == draws[: len(first_half)]

    task, policy2, buffer2, second_half = training(tmp_path / "resumed", seed=123)
    ctx = task.ctx
    assert resume(tmp_path / "resumed", ctx, policy2, buffer2).name == FINAL_NAME
    resumed = task.run(max_steps=3)

    assert second_half == draws[len(first_half) :]
    for name in ("env_step", "env_episode", "train_iter", "task_step"):
        assert getattr(resumed, name) == getattr(straight, name), name
    state, state2 = policy.state_dict(), policy2.state_dict()
    for key, value in state["model"].items():
        assert torch.equal(value, state2["model"][key])
    adam, adam2 = state["optimizer"]["state"], state2["optimizer"]["state"]
    for slot in adam:
        for key in ("step", "exp_avg", "exp_avg_sq"):
            assert torch.equal(adam[slot][key], adam2[slot][key])
    assert buffer2.num_transitions == buffer.num_transitions
    assert buffer2.sample(4).indices.tolist() == buffer.sample(4).indices.tolist()


def test_crash_writes_recovery_and_resumes_from_the_last_periodic(tmp_path: Path) -> None:
    task, _, _, _ = training(tmp_path, seed=0)

    @middleware(reads=("train_iter",))
    def crash(ctx: TrainContext) -> None:
        if ctx.task_step == 4:
            raise RuntimeError("segfault in the simulator")

    task.use(crash)
    with pytest.raises(RuntimeError, match="segfault"):
        task.run(max_steps=10)
    recovery = load_checkpoint(checkpoint_dir(tmp_path) / RECOVERY_NAME)
    assert recovery["meta"]["kind"] == "recovery"
    assert recovery["meta"]["reason"] == "RuntimeError: segfault in the simulator"
    latest = latest_checkpoint(tmp_path)
    assert latest is not None and latest.name.startswith("iter_")  # not the recovery one
    assert len(buffer_files(latest)) == 1
    _, policy, buffer, _ = training(tmp_path, seed=1)
    ctx = TrainContext()
    assert resume(tmp_path, ctx, policy, buffer) == latest
    assert ctx.train_iter >= 5 and buffer.num_transitions == ctx.env_step > 0
