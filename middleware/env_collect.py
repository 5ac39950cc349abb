"""env_collect: step a batch of environments with the policy's search and cut game segments."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from pipezero.data import GameSegment, GameSegmentWriter, segment_state
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
        num_segments = cfg.get("num_segments")
        if num_segments is not None and (
            isinstance(num_segments, bool) or not isinstance(num_segments, int) or num_segments < 1
        ):
            raise ValueError(
                f"env_collect: cfg.num_segments must be None (collect collect_env_steps batched "
                f"steps) or an int >= 1 (collect until that many segments are finished), got "
                f"{num_segments!r}"
            )
        self.num_segments: int | None = num_segments
        n_episode = cfg.get("n_episode")
        if n_episode is not None and (
            isinstance(n_episode, bool) or not isinstance(n_episode, int) or n_episode < 1
        ):
            raise ValueError(
                f"env_collect: cfg.n_episode must be None (collect collect_env_steps batched "
                f"steps) or an int >= 1 (collect until that many episodes ended), got "
                f"{n_episode!r}"
            )
        if n_episode is not None and num_segments is not None:
            raise ValueError(
                f"env_collect: cfg.n_episode ({n_episode}) and cfg.num_segments "
                f"({num_segments}) both set; a collect ends on one rule, set the other to None"
            )
        self.n_episode: int | None = n_episode
        # Optional policy hook: forget per-environment history (UniZero's KV caches).
        self.reset_caches = getattr(policy, "reset_caches", None)
        self.policy = policy
        self.envs = envs
        self.cfg = cfg
        # sampled searches (LightZero's ``sampled_algo``) store their K root actions
        self.writers = GameSegmentWriter.for_envs(cfg, envs)
        self.obs: BatchObs | None = None
        #: segments of partial episodes closed on resume, handed on by the next call
        self.carried: list[GameSegment] = []
        self.task: Task | None = None
        self.weights: WeightSubscriber | None = None
        self.reported_snapshots = False

    def setup(self, task: Task) -> None:
        self.task = task
        self.weights = task.weights.subscribe(f"env_collect-{id(self):x}")
        task.state_providers.register("env_collect", self, role="collector")

    # -- run state (a state provider of the task, saved in checkpoints) --------------------

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run needs to continue collecting: each environment's unfinished
        segments (its writer), the observations to act from next, the environments'
        snapshots where they can be taken, and segments closed on resume not handed on."""
        obs = self.obs
        envs = self.envs.state_dict()
        if not self.reported_snapshots:
            self.reported_snapshots = True
            for i, reason in enumerate(envs["reasons"]):
                if reason is not None:
                    logger.warning(
                        "env_collect: environment %d cannot be snapshotted (%s); checkpoints "
                        "keep its unfinished segments, and a resumed run closes its partial "
                        "episode as truncated (bootstrapped) and starts a new one",
                        i,
                        reason,
                    )
        return {
            "obs": None
            if obs is None
            else {
                "observation": obs.observation.copy(),
                "action_mask": obs.action_mask.copy(),
                "to_play": obs.to_play.copy(),
            },
            "writers": [writer.state_dict() for writer in self.writers],
            "envs": envs,
            "carried": [segment_state(seg) for seg in self.carried],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict`: environments restored from their snapshots go
        on with their episodes; for the others the partial episode is closed as truncated
        (bootstrapped from the saved observation; its segments are handed on by the next
        call) and a new episode starts."""
        n = self.envs.num_envs
        saved_obs = state["obs"]
        writer_states = state["writers"]
        restored = np.zeros(n, dtype=bool)
        if saved_obs is not None and len(writer_states) == n:
            restored = self.envs.load_state_dict(state["envs"])
        carried = [self.writers[0].segment_from_state(s) for s in state["carried"]]
        closed = closed_steps = 0
        for j, writer_state in enumerate(writer_states):
            # more environments saved than this run has: close theirs in spare writers
            writer = self.writers[j] if j < n else self._spare_writer()
            writer.load_state_dict(writer_state)
            if j < n and restored[j]:
                continue
            if writer.in_episode:
                closed += 1
                closed_steps += writer.num_unfinished_transitions
                writer.end_episode(saved_obs["observation"][j], False, int(saved_obs["to_play"][j]))
            if j >= n:
                carried += writer.pop_finished()
        self.carried = carried
        if restored.any():
            obs = BatchObs(**{k: np.array(v) for k, v in saved_obs.items()})
            self.envs.reset_envs(np.flatnonzero(~restored), obs)
            self.obs = obs
        else:
            self.obs = None  # the next call resets every environment
        logger.info(
            "env_collect resumed: %d of %d environments continue their episodes; %d partial "
            "episodes (%d transitions) closed as truncated, to be handed on by the next call",
            int(restored.sum()),
            n,
            closed,
            closed_steps,
        )

    def step(self, ctx: TrainContext) -> None:
        self._pull_weights()
        envs, policy = self.envs, self.policy
        if self.obs is None:
            self.obs = self._env_call(ctx, envs.reset)
        obs = self.obs
        returns: list[float] = []
        # Finished segments per environment, handed on environment-major: the buffer's
        # insertion order steers its sampling, so a seeded run depends on this order.
        finished: list[list[GameSegment]] = [[] for _ in self.writers]
        num_steps = num_finished = 0
        while self._collecting(num_steps, num_finished, len(returns)):
            num_steps += 1
            act = policy.collect(obs.observation, obs.action_mask, obs.to_play, ctx.env_step)
            out = self._env_call(ctx, envs.step, act.action)
            done = out.done
            sampled = act.sampled_actions
            for i, writer in enumerate(self.writers):
                writer.append(
                    obs.observation[i],
                    obs.action_mask[i],
                    int(obs.to_play[i]),
                    act.action[i],
                    float(out.reward[i]),
                    act.visit_policy[i],
                    float(act.root_value[i]),
                    float(act.predicted_value[i]),
                    None if sampled is None else sampled[i],
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
            if self.reset_caches is not None and done.any():
                self.reset_caches(np.flatnonzero(done))
            for mine, writer in zip(finished, self.writers, strict=True):
                popped = writer.pop_finished()
                mine += popped
                num_finished += len(popped)
        self.obs = obs
        if self.reset_caches is not None:
            self.reset_caches(None)
        ctx.env_episode += len(returns)
        ctx.collect_episode_returns = returns
        segments = self.carried + [seg for mine in finished for seg in mine]
        self.carried = []
        ctx.new_segments = segments
        if self.task is not None:
            self.task.emit(Event.NEW_DATA, ctx, segments)

    def _spare_writer(self) -> GameSegmentWriter:
        return GameSegmentWriter.for_envs(self.cfg, self.envs)[0]

    def _collecting(self, num_steps: int, num_segments: int, num_episodes: int) -> bool:
        """Whether to take another batched step: ``collect_env_steps`` of them, or until
        ``num_segments`` segments / ``n_episode`` episodes are finished when that is set."""
        if self.n_episode is not None:
            return num_episodes < self.n_episode
        if self.num_segments is None:
            return num_steps < self.steps
        return num_segments < self.num_segments

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

    With ``cfg.num_segments`` set (UniZero's segment collection) a call instead steps until at
    least that many segments are finished (several environments may finish one in the same
    step, so a call can return a few more). With ``cfg.n_episode`` set (LightZero's
    ``collect(n_episode=...)``) it steps until at least that many episodes ended during the
    call (the last segment of each is handed on); episodes still running in the other
    environments continue in the next call, so nothing is thrown away. A policy with a
    ``reset_caches(env_ids)`` method (UniZero's per-environment KV caches) is told which
    environments ended an episode after each step, and ``reset_caches(None)`` when the call
    ends.

    Writes ``ctx.new_segments`` (the segments finished during this call, possibly none) and
    ``ctx.collect_episode_returns`` (the returns of the episodes finished during it), adds
    ``N`` per batched step to ``ctx.env_step`` and the finished episodes to
    ``ctx.env_episode``, then emits ``Event.NEW_DATA`` with ``(ctx, segments)``. It is a state
    provider of its task (``"env_collect"``): checkpoints hold its unfinished segments, the
    observations to act from and the environments' snapshots, and a resumed run continues
    the episodes (or closes them as truncated where an environment cannot be snapshotted). Before
    collecting it loads the newest weights published in ``task.weights`` into the policy's
    acting model (``policy.set_weights``).

    Args:
        cfg: the policy section: ``collect_env_steps`` (or ``num_segments`` /
            ``n_episode``), ``game_segment_length``, ``num_unroll_steps``, ``td_steps``; with
            ``sampled_algo=True`` also ``num_of_sampled_actions`` (segments then store the
            sampled root actions).
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
        acts_with=policy,
    )
