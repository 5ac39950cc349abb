"""ddp_sync with a real 2-rank gloo group on the CPU (torch.multiprocessing spawn)."""

from __future__ import annotations

import pytest
import torch
import torch.multiprocessing as mp
from ddp_workers import (
    STOP_AT_STEP,
    concat_batches,
    free_port,
    fresh_policy,
    params_of,
    run_rank,
)
from pipezero.middleware.ddp_sync import ddp_sync
from policy_toy import fill_buffer, tiny_policy

from pipezero.data import ReplayBuffer
from pipezero.framework import Task, TrainContext

WORLD = 2
UPDATES = 4


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    """Spawn 2 ranks once; both checks below read what they saved."""
    buffer = fill_buffer(tiny_policy("muzero"), batched_steps=40)
    batches = [
        [buffer.sample(8, with_unroll_obs=True) for _ in range(WORLD)] for _ in range(UPDATES)
    ]
    out = tmp_path_factory.mktemp("ddp")
    mp.spawn(run_rank, args=(WORLD, free_port(), batches, str(out)), nprocs=WORLD, join=True)
    ranks = [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]
    return batches, ranks


def test_ranks_match_one_process_on_the_concatenated_batch(two_ranks):
    batches, ranks = two_ranks
    reference = fresh_policy(seed=0)  # rank 0's initialisation, which ddp_sync broadcasts
    for per_rank in batches:
        assert not reference.learn(concat_batches(*per_rank)).skipped
    expected = params_of(reference)
    start = params_of(fresh_policy(seed=0))
    for name, value in expected.items():
        assert not torch.equal(value, start[name]) or value.dtype != torch.float32
        for r in range(WORLD):
            torch.testing.assert_close(ranks[r]["fixed"][name], value, rtol=1e-5, atol=1e-6)
        assert torch.equal(ranks[0]["fixed"][name], ranks[1]["fixed"][name])


def test_batchnorm_models_stay_identical_across_ranks(two_ranks):
    """EfficientZero's projection head has BatchNorm: per-rank batch statistics, but the
    averaged gradients and running statistics keep the ranks identical."""
    _, (r0, r1) = two_ranks
    start = params_of(fresh_policy(seed=0, kind="efficientzero"))
    assert any("running_mean" in name for name in r0["fixed_efficientzero"])
    for name, value in r0["fixed_efficientzero"].items():
        assert torch.equal(value, r1["fixed_efficientzero"][name]), name
    moved = [n for n, v in r0["fixed_efficientzero"].items() if not torch.equal(v, start[n])]
    assert len(moved) > len(start) // 2


def test_pipeline_stays_in_lockstep_and_finish_reaches_every_rank(two_ranks):
    _, (r0, r1) = two_ranks
    for name, value in r0["pipeline"].items():
        assert torch.equal(value, r1["pipeline"][name]), name
    steps = STOP_AT_STEP + 1  # rank 1 finished during step STOP_AT_STEP + 1
    assert r0["task_step"] == r1["task_step"] == steps
    assert r0["finish_reason"] == "rank 1: stopper"
    assert r1["finish_reason"] == "stopper"
    # counters are totals over both ranks: 2 ranks x 2 envs x collect_env_steps per step
    per_step = 2 * 2 * tiny_policy("muzero").cfg.collect_env_steps
    assert r0["env_step"] == r1["env_step"] == steps * per_step
    assert r0["env_episode"] == r1["env_episode"]
    assert r0["train_iter"] == r1["train_iter"] > 0
    assert r0["rank0_only_calls"] == steps and r1["rank0_only_calls"] == 0


def test_ddp_sync_without_torchrun_says_how_to_launch(monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    policy = tiny_policy("muzero")
    with pytest.raises(RuntimeError, match="torchrun --nproc_per_node=2"):
        Task(TrainContext()).use(ddp_sync(policy.cfg, policy, ReplayBuffer(100, 3, 3)))


def test_rejects_a_policy_without_a_torch_model():
    class NoModel:
        model = None

    with pytest.raises(TypeError, match=r"policy\.model"):
        ddp_sync({"min_buffer_transitions": 1}, NoModel(), ReplayBuffer(100, 3, 3))
