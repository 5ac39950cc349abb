"""Small real parts shared by the middleware tests: segments, a buffer, a policy, toy steps."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from pipezero.data import GameSegment, GameSegmentWriter, ReplayBuffer
from pipezero.framework import Event, Middleware, Task, TrainContext, middleware

# Segment layout: L = 4 transitions, K = 1 unroll step, n = 2 td steps, 1-d obs, 2 actions.
L, K, N, A = 4, 1, 2, 2


def play_episode(num_steps: int, rng: np.random.Generator | None = None) -> list[GameSegment]:
    """Finished segments of one episode of ``num_steps`` transitions (random rewards)."""
    rng = rng if rng is not None else np.random.default_rng(0)
    writer = GameSegmentWriter((1,), A, game_segment_length=L, num_unroll_steps=K, td_steps=N)
    for j in range(num_steps):
        writer.append(
            obs=np.array([j], dtype=np.float32),
            action_mask=np.array([True, True]),
            to_play=-1,
            action=int(rng.integers(A)),
            reward=float(rng.normal()),
            child_visits=np.array([1.0, 3.0]),
            root_value=float(j),
        )
    writer.end_episode(np.array([num_steps], dtype=np.float32), terminated=True)
    return writer.pop_finished()


def make_buffer(capacity: int = 1000, seed: int = 0) -> ReplayBuffer:
    return ReplayBuffer(capacity, num_unroll_steps=K, td_steps=N, seed=seed)


class TinyPolicy:
    """A linear model with an Adam optimizer: the state a real policy checkpoints."""

    def __init__(self) -> None:
        self.model = torch.nn.Linear(3, 1)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=0.01)

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        loss = torch.nn.functional.mse_loss(self.model(x), y)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])


def toy_collect(draws: list[Any] | None = None) -> Middleware:
    """Collector: one episode per step, its length drawn from Python's ``random`` and its
    rewards from NumPy's global generator (so resuming must restore both)."""

    def collect(ctx: TrainContext) -> None:
        num_steps = random.randint(2, 6)
        seed = int(np.random.randint(1 << 30))
        if draws is not None:
            draws.append(("collect", num_steps, seed))
        ctx.new_segments = play_episode(num_steps, np.random.default_rng(seed))
        ctx.env_step += num_steps
        ctx.env_episode += 1

    return middleware(
        collect,
        name="toy_collect",
        role="collector",
        reads=("env_step", "env_episode"),
        writes=("new_segments", "env_step", "env_episode"),
    )


def toy_learn(
    policy: TinyPolicy, buffer: ReplayBuffer | None = None, draws: list[Any] | None = None
) -> Middleware:
    """Learner: ``update_count`` Adam steps on torch-random data (plus a buffer sample)."""

    def learn(ctx: TrainContext) -> None:
        losses = []
        for _ in range(ctx.update_count):
            if buffer is not None:
                indices = buffer.sample(2).indices.tolist()
                if draws is not None:
                    draws.append(("sample", indices))
            x = torch.randn(8, 3)
            losses.append(policy.train_step(x, x.sum(dim=1, keepdim=True)))
            ctx.train_iter += 1
        if draws is not None:
            draws.append(("learn", losses))
        ctx.train_output = {"total_loss": float(np.mean(losses))} if losses else None

    return middleware(
        learn,
        name="toy_learn",
        role="learner",
        reads=("update_count", "train_iter"),
        writes=("train_iter", "train_output"),
    )


def fixed_updates(n: int) -> Middleware:
    """Learner-side stand-in for calc_update_count: ``n`` updates every step."""

    def count(ctx: TrainContext) -> None:
        ctx.update_count = n

    return middleware(count, name="fixed_updates", role="learner", writes=("update_count",))


def toy_eval(returns: list[float]) -> Middleware:
    """Evaluator: reports the next of ``returns`` each step (``EVAL_DONE``), like
    interval_eval would: ``eval_result`` with ``return_mean``/``return_max``."""
    refs: dict[str, Task] = {}
    pending = list(returns)

    def evaluate(ctx: TrainContext) -> None:
        if not pending:
            return
        value = pending.pop(0)
        ctx.eval_result = {"return_mean": value, "return_max": value + 1.0, "episodes": 2}
        ctx.best_eval_return = max(ctx.best_eval_return, value)
        ctx.last_eval_iter = ctx.train_iter
        refs["task"].emit(Event.EVAL_DONE, ctx, ctx.eval_result)

    return middleware(
        evaluate,
        name="toy_eval",
        role="evaluator",
        reads=("train_iter", "best_eval_return"),
        writes=("eval_result", "best_eval_return", "last_eval_iter"),
        setup=lambda task: refs.update(task=task),
    )


def stop_after(steps: int) -> Middleware:
    """Finishes the task once ``ctx.task_step`` reaches ``steps - 1`` (during step ``steps``)."""
    refs: dict[str, Task] = {}

    def stop(ctx: TrainContext) -> None:
        if ctx.task_step + 1 >= steps:
            refs["task"].finish("enough")

    return middleware(stop, name="stop_after", setup=lambda task: refs.update(task=task))
