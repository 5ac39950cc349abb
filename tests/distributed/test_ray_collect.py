"""Ray self-play: the actor pool and the ray_collect middleware on a local 2-CPU Ray."""

from __future__ import annotations

import functools
import os

import pytest

ray = pytest.importorskip("ray")

import ray_toy  # noqa: E402
from pipezero.middleware import calc_update_count, data_push, env_collect, offpolicy_learn  # noqa: E402
from pipezero.middleware.ray_collect import ray_collect  # noqa: E402
from policy_toy import tiny_policy  # noqa: E402

from pipezero.data import GameSegment, ReplayBuffer  # noqa: E402
from pipezero.distributed import RayActorPool, init_local_ray  # noqa: E402
from pipezero.envs import BatchEnv  # noqa: E402
from pipezero.framework import Event, Task, TrainContext, middleware  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One local Ray for the whole module; the toy workers travel by value (the actors
    cannot import the test directory)."""
    ray.cloudpickle.register_pickle_by_value(ray_toy)
    init_local_ray(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_pool_tags_results_with_weight_versions_and_sends_weights_once():
    pool = RayActorPool(ray_toy.echo_worker, 2, seed=5)
    try:
        pool.set_weights({"w": 0}, version=0)
        first = pool.collect({"env_step": 0})
        assert [r.actor for r in first] == [0, 1]
        assert [r.weight_version for r in first] == [0, 0]
        assert [r.value["weights"] for r in first] == [{"w": 0}, {"w": 0}]
        assert [r.value["seed"] for r in first] == [5, 5 + 10_007]
        pool.set_weights({"w": 7}, version=7)  # actors are already busy with request 2
        second = pool.collect({"env_step": 16})
        assert [r.weight_version for r in second] == [0, 0]
        assert [r.value["request"] for r in second] == [{"env_step": 0}] * 2
        third = pool.collect({"env_step": 32})
        assert [r.weight_version for r in third] == [7, 7]
        assert [r.value["request"] for r in third] == [{"env_step": 16}] * 2
        assert [r.value["calls"] for r in third] == [3, 3]
        # without prefetch: collect what is in flight, send nothing new ...
        fourth = pool.collect({"env_step": 48}, prefetch=False)
        assert [r.value["request"] for r in fourth] == [{"env_step": 32}] * 2
        # ... so the next call sends its own request and waits for it
        fifth = pool.collect({"env_step": 64}, prefetch=False)
        assert [r.value["request"] for r in fifth] == [{"env_step": 64}] * 2
        with pytest.raises(ValueError, match="versions must increase"):
            pool.set_weights({"w": 1}, version=7)
    finally:
        pool.shutdown()


def test_actors_run_at_the_drivers_priority():
    pool = RayActorPool(ray_toy.echo_worker, 1)
    try:
        (result,) = pool.collect()
        niceness = os.getpriority(os.PRIO_PROCESS, result.value["pid"])
        assert niceness == os.nice(0), "Ray's worker_niceness default (+15) starves the actors"
    finally:
        pool.shutdown()


def test_pool_restarts_a_killed_actor_and_keeps_collecting():
    pool = RayActorPool(ray_toy.echo_worker, 2, max_restarts=1)
    try:
        pool.set_weights("v3", version=3)
        before = pool.collect()  # sends, waits, sends again
        pool.collect({"hang_in": 1})  # actor 1 is busy with a request from now on
        ray.kill(pool.actors[1])
        after = pool.collect()  # actor 1's request died with it: actor 0 answers alone
        assert [r.actor for r in after] == [0]
        assert pool.restarts == [0, 1]
        again = pool.collect()
        assert [r.actor for r in again] == [0, 1]
        restarted = again[1]
        assert restarted.value["pid"] != before[1].value["pid"]
        assert restarted.value["weights"] == "v3" and restarted.weight_version == 3
        assert restarted.value["seed"] == 10_007 + 1_000_003  # a new seed after a restart
        pool.collect({"hang_in": 1})
        ray.kill(pool.actors[1])
        with pytest.raises(RuntimeError, match="max_restarts=1"):
            pool.collect()
    finally:
        pool.shutdown()


def test_pool_times_out_with_a_clear_error_and_reports_worker_errors():
    slow = RayActorPool(ray_toy.echo_worker, 2)
    try:
        slow.collect()  # actors started
        slow.collect({"hang_in": 1})  # actor 1 hangs on this request
        slow.timeout_s = 2.0
        with pytest.raises(TimeoutError, match=r"actors \[1\] did not answer within 2 s"):
            slow.collect()
    finally:
        slow.shutdown()
    failing = RayActorPool(ray_toy.failing_worker, 1)
    try:
        with pytest.raises(RuntimeError, match=r"actor 0 failed.*environment exploded"):
            failing.collect()
    finally:
        failing.shutdown()


def test_ray_collect_runs_the_pipeline_and_survives_a_killed_actor():
    policy = tiny_policy("muzero", seed=0)
    c = policy.cfg
    buffer = ReplayBuffer(1000, c.num_unroll_steps, c.td_steps, c.discount_factor, seed=0)
    collect = ray_collect(
        c,
        policy,
        functools.partial(BatchEnv.make, "CartPole-v1", 2),
        collector=env_collect,
        num_actors=2,
        seed=0,
        weight_sync_freq=2,
    )
    pool = collect.fn.__self__.pool
    seen: list[list[GameSegment]] = []
    killed: list[int] = []

    def kill_once(ctx: TrainContext) -> None:
        if ctx.task_step == 3:
            killed.append(pool.restarts[0])
            ray.kill(pool.actors[0])

    task = Task(TrainContext())
    task.use(collect)
    task.use(data_push(buffer, c.priority_eps, "max"))
    task.use(calc_update_count(c))
    task.use(offpolicy_learn(c, policy, buffer))
    task.use(middleware(kill_once, name="kill_once", reads=("env_step",)))
    task.on(Event.NEW_DATA, lambda ctx, segments: seen.append(list(segments)))
    ctx = task.run(max_steps=8)

    assert pool.restarts == [1, 0] and killed == [0]
    assert not pool.started  # shut down on FINISH
    segments = [s for step in seen for s in step]
    assert segments and all(isinstance(s, GameSegment) for s in segments)
    versions = [s.weight_version for s in segments]
    assert min(versions) == 0 and max(versions) > 0  # later segments come from newer weights
    assert all(v % 2 == 0 and v <= ctx.train_iter for v in versions)  # broadcast every 2
    per_call = 2 * c.collect_env_steps  # 2 envs x collect_env_steps per actor request
    # 8 steps x 2 actors, less the request lost with the killed actor
    assert ctx.env_step == (8 * 2 - 1) * per_call
    assert ctx.train_iter > 0 and buffer.num_transitions > 0


def test_ray_collect_checks_its_arguments():
    policy = tiny_policy("muzero")
    make_envs = functools.partial(BatchEnv.make, "CartPole-v1", 2)
    with pytest.raises(ValueError, match="weight_sync_freq"):
        ray_collect(
            policy.cfg, policy, make_envs, collector=env_collect, num_actors=1, weight_sync_freq=0
        )
    with pytest.raises(ValueError, match="num_actors"):
        ray_collect(policy.cfg, policy, make_envs, collector=env_collect, num_actors=0)
    with pytest.raises(TypeError, match="collector"):
        ray_collect(policy.cfg, policy, make_envs, collector=None, num_actors=1)
