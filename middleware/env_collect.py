"""env_collect: step a batch of environments with the policy's search and cut game segments."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from pipezero.data import GameSegmentWriter
from pipezero.envs import BatchEnv, BatchObs, EnvError
from pipezero.framework import Event, Middleware, Task, TrainContext, WeightSubscriber, middleware
from pipezero.policy.base import PolicyProtocol

__all__ = ["env_collect"]

logger = logging.getLogger(__name__)


class _Collector:
    """State of one ``env_collect``: the environments' current observations and writers."""

    def __init__(self, cfg: Mapping[str, Any], policy: PolicyProtocol, envs: BatchEnv) -> None:
        steps = cfg["collect_env_steps"]
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(
                f"env_collect: cfg.collect_env_steps must be an int >= 1 (batched steps per "
                f"call), got {steps!r}"
            )
        self.steps = steps
        self.policy = policy
        self.envs = envs
        self.writers = [
            GameSegmentWriter(
                observation_shape=envs.observation_shape,
                action_space_size=envs.action_space_size,
                game_segment_length=int(cfg["game_segment_length"]),
                num_unroll_steps=int(cfg["num_unroll_steps"]),
                td_steps=int(cfg["td_steps"]),
            )
            for _ in range(envs.num_envs)
        ]
        self.obs: BatchObs | None = None
        self.task: Task | None = None
        self.weights: WeightSubscriber | None = None

    def setup(self, task: Task) -> None:
        self.task = task
        self.weights = task.weights.subscribe(f"env_collect-{id(self):x}")

    def step(self, ctx: TrainContext) -> None:
        self._pull_weights()
        envs, policy = self.envs, self.policy
        if self.obs is None:
            self.obs = self._env_call(ctx, envs.reset)
        obs = self.obs
        returns: list[float] = []
        for _ in range(self.steps):
            act = policy.collect(obs.observation, obs.action_mask, obs.to_play, ctx.env_step)
            out = self._env_call(ctx, envs.step, act.action)
            done = out.done
            for i, writer in enumerate(self.writers):
                writer.append(
                    obs.observation[i],
                    obs.action_mask[i],
                    int(obs.to_play[i]),
                    int(act.action[i]),
                    float(out.reward[i]),
                    act.visit_policy[i],
                    float(act.root_value[i]),
                    float(act.predicted_value[i]),
                )
                if done[i]:
                    writer.end_episode(
                        out.final_observation[i], bool(out.terminated[i]), int(out.final_to_play[i])
                    )
            for i, stats in out.episodes:
                returns.append(float(stats.episode_return))
                logger.debug(
                    "collect episode (env %d): return %.4g, length %d",
                    i,
                    stats.episode_return,
                    stats.length,
                )
            ctx.env_step += envs.num_envs
            obs = out.obs
        self.obs = obs
        ctx.env_episode += len(returns)
        ctx.collect_episode_returns = returns
        segments = [seg for writer in self.writers for seg in writer.pop_finished()]
        ctx.new_segments = segments
        if self.task is not None:
            self.task.emit(Event.NEW_DATA, ctx, segments)

    def _pull_weights(self) -> None:
        if self.weights is None:
            return
        got = self.weights.pull()
        if got is not None:
            self.policy.set_weights(got[1])

    def _env_call(self, ctx: TrainContext, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except EnvError as err:
            raise RuntimeError(
                f"env_collect: {err} (collection env_step {ctx.env_step}). Check the "
                f"environment with this seed, or the actions the policy produced"
            ) from err


def env_collect(cfg: Mapping[str, Any], policy: PolicyProtocol, envs: BatchEnv) -> Middleware:
    """Collect ``cfg.collect_env_steps`` batched steps of ``envs`` per call with
    ``policy.collect``.

    One :class:`~pipezero.data.GameSegmentWriter` per environment cuts the transitions into
    game segments (``game_segment_length``, padded for ``num_unroll_steps + td_steps``).
    Environments keep their episodes across calls; finished episodes restart at once.

    Writes ``ctx.new_segments`` (the segments finished during this call, possibly none) and
    ``ctx.collect_episode_returns`` (the returns of the episodes finished during it), adds
    ``N * collect_env_steps`` to ``ctx.env_step`` and the finished episodes to
    ``ctx.env_episode``, then emits ``Event.NEW_DATA`` with ``(ctx, segments)``. Before
    collecting it loads the newest weights published in ``task.weights`` into the policy's
    acting model (``policy.set_weights``).

    Args:
        cfg: the policy section: ``collect_env_steps``, ``game_segment_length``,
            ``num_unroll_steps``, ``td_steps``.
        policy: acts with ``collect(obs, action_mask, to_play, env_step)``.
        envs: the collector environments.

    Raises:
        RuntimeError: an environment failed in reset or step; the message names its index,
            id, seed, episode step and the collection ``env_step``.
    """
    collector = _Collector(cfg, policy, envs)
    return middleware(
        collector.step,
        name="env_collect",
        role="collector",
        reads=("env_step",),
        writes=("new_segments", "collect_episode_returns", "env_step", "env_episode"),
        setup=collector.setup,
    )
