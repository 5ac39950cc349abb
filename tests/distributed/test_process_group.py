"""The distributed helpers without a process group, the launch checks and rank0_only."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipezero.distributed import (
    TORCHRUN_ENV_VARS,
    all_gather_object,
    all_reduce_mean,
    all_reduce_sum,
    barrier,
    broadcast_object,
    ddp_all_reduce_sum,
    ddp_synchronize,
    get_rank,
    get_world_size,
    init_distributed,
    is_initialized,
    is_rank0,
    rank0_only,
    rank_seed,
)
from pipezero.framework import Event, Task, TrainContext, middleware


def test_helpers_are_no_ops_without_a_process_group():
    assert not is_initialized()
    assert (get_rank(), get_world_size(), is_rank0()) == (0, 1, True)
    t = torch.tensor([1.0, 2.0])
    assert all_reduce_sum(t) is t and all_reduce_mean(t) is t
    assert all_reduce_sum(3) == 3 and all_reduce_mean(2.5) == 2.5
    assert ddp_all_reduce_sum is all_reduce_sum and ddp_synchronize is barrier
    barrier()
    assert broadcast_object({"a": 1}) == {"a": 1}
    assert all_gather_object("x") == ["x"]
    assert rank_seed(7) == 7
    with pytest.raises(TypeError, match="convert it to a tensor"):
        all_reduce_sum([1, 2])


def test_init_distributed_without_torchrun_says_how_to_launch():
    with pytest.raises(RuntimeError, match=r"torchrun --nproc_per_node=2 my_recipe\.py --ddp"):
        init_distributed(env={}, script="my_recipe.py")
    env = dict.fromkeys(TORCHRUN_ENV_VARS, "0") | {"RANK": "zero"}
    with pytest.raises(RuntimeError, match="RANK='zero'"):
        init_distributed(env=env)
    env = dict.fromkeys(TORCHRUN_ENV_VARS, "0")
    with pytest.raises(ValueError, match="'gloo' or 'nccl'"):
        init_distributed("mpi", env=env)
    assert not is_initialized()


def test_a_one_rank_gloo_group_starts_once(tmp_path):
    """A real 1-rank gloo group: init is idempotent and values come back unchanged."""
    from ddp_workers import free_port

    env = dict(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1")
    info = init_distributed("gloo", env=env | {"MASTER_PORT": str(free_port())}, timeout_s=30)
    try:
        assert (info.rank, info.world_size, info.backend) == (0, 1, "gloo")
        assert init_distributed() == info  # idempotent
        assert all_reduce_sum(np.int64(4)) == 4
        t = torch.arange(3.0)
        torch.testing.assert_close(all_reduce_mean(t), t)
    finally:
        torch.distributed.destroy_process_group()


def test_rank0_only_keeps_the_declaration_and_runs_on_rank_0():
    calls = []

    def setup(task: Task) -> None:
        task.on(Event.FINISH, lambda ctx, reason: calls.append("finish"))

    inner = middleware(
        lambda ctx: calls.append("step"),
        name="evaluate",
        role="evaluator",
        reads=("train_iter",),
        writes=("eval_result",),
        setup=setup,
    )
    wrapped = rank0_only(inner)
    assert (wrapped.name, wrapped.role, wrapped.reads, wrapped.writes) == (
        "evaluate",
        "evaluator",
        ("train_iter",),
        ("eval_result",),
    )
    Task(TrainContext()).use(wrapped).run(max_steps=2)
    assert calls == ["step", "step", "finish"]


def test_rank0_only_is_silent_on_other_ranks(monkeypatch):
    import pipezero.distributed.rank0 as rank0_module

    monkeypatch.setattr(rank0_module, "get_rank", lambda: 1)
    calls = []
    inner = middleware(
        lambda ctx: calls.append("step"),
        name="log",
        setup=lambda task: task.on(Event.FINISH, lambda ctx, r: calls.append("finish")),
    )
    Task(TrainContext()).use(rank0_only(inner)).run(max_steps=2)
    assert calls == []
