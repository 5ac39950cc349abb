from __future__ import annotations

import numpy as np
import pytest
from pipezero.middleware.offpolicy_learn import offpolicy_learn
from policy_toy import fill_buffer, tiny_policy

from pipezero.framework import Event, Task, TrainContext, middleware
from pipezero.policy import LearnResult


def updates(n: int):
    return middleware(
        lambda ctx: setattr(ctx, "update_count", n),
        name="updates",
        role="learner",
        writes=("update_count",),
    )


def test_trains_update_count_times_and_refreshes_priorities():
    policy = tiny_policy("muzero", batch_size=8)
    buffer = fill_buffer(policy)
    before = buffer.get_priorities(np.arange(buffer.num_transitions)).copy()
    task = Task(TrainContext())
    task.use(updates(3))
    task.use(offpolicy_learn(policy.cfg, policy, buffer))
    events, outputs = [], []
    task.on(Event.POLICY_UPDATED, lambda ctx, it: events.append(it))
    task.use(lambda ctx: outputs.append(ctx.train_output))
    ctx = task.run(max_steps=2)

    assert ctx.train_iter == 6 and policy.train_iter == 6
    assert events == [1, 2, 3, 4, 5, 6]
    out = outputs[-1]
    assert out["num_updates"] == 3 and out["num_skipped"] == 0
    assert np.isfinite(out["total_loss"]) and "value_loss" in out
    after = buffer.get_priorities(np.arange(buffer.num_transitions))
    assert (after != before).any()
    version, weights = task.weights.latest()
    assert version == 6 and set(weights) == set(policy.model.state_dict())


def test_waits_for_min_buffer_transitions():
    policy = tiny_policy("muzero", min_buffer_transitions=50, batch_size=8)
    ctx = TrainContext()
    ctx.update_count = 5
    offpolicy_learn(policy.cfg, policy, fill_buffer(policy, 20))(ctx)
    assert ctx.train_iter == 0 and ctx.train_output is None


def test_warm_up_waits_for_one_batch_even_below_min_buffer_transitions(caplog):
    """Issue 20: a buffer of 20 transitions never feeds a batch of 64, whatever
    min_buffer_transitions says; learning starts (and is logged) once a batch exists."""
    policy = tiny_policy("muzero", min_buffer_transitions=1, batch_size=64)
    ctx = TrainContext()
    ctx.update_count = 5
    caplog.set_level("INFO", logger="pipezero.middleware.offpolicy_learn")
    learn = offpolicy_learn(policy.cfg, policy, fill_buffer(policy, 20))
    assert "learning waits until the buffer holds 64 transitions" in caplog.text
    learn(ctx)
    assert ctx.train_iter == 0 and ctx.train_output is None
    ctx.update_count = 2
    offpolicy_learn(policy.cfg, policy, fill_buffer(policy, 70))(ctx)
    assert ctx.train_iter == 2
    assert "learning starts, the buffer holds" in caplog.text


class NaNPolicy:
    """Stub policy whose every update has a non-finite loss."""

    needs_unroll_obs = False

    def __init__(self) -> None:
        self.calls = 0

    def learn(self, batch):
        self.calls += 1
        return LearnResult(info={"total_loss": float("nan")}, skipped=True)

    def get_weights(self):
        return {}


def test_consecutive_non_finite_losses_finish_the_task():
    real = tiny_policy("muzero")
    buffer = fill_buffer(real, 20)
    cfg = dict(real.cfg, max_consecutive_nan=4)
    stub = NaNPolicy()
    task = Task(TrainContext())
    task.use(updates(3))
    task.use(offpolicy_learn(cfg, stub, buffer))
    ctx = task.run(max_steps=10)
    assert stub.calls == 4  # 3 in the first step, the 4th finishes the run
    assert ctx.train_iter == 0
    assert "4 consecutive non-finite losses" in ctx.finish_reason
    assert "learning_rate" in ctx.finish_reason


def test_bad_options_are_rejected():
    policy = tiny_policy("muzero")
    with pytest.raises(ValueError, match=r"batch_size.*got 0"):
        offpolicy_learn(dict(policy.cfg, batch_size=0), policy, fill_buffer(policy, 20))
