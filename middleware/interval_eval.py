"""interval_eval: evaluate the policy every ``eval_freq`` train iterations."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from pipezero.data import GameSegmentWriter
from pipezero.envs import BatchEnv, EnvError
from pipezero.framework import Event, Middleware, Task, TrainContext, WeightSubscriber, middleware
from pipezero.policy.base import PolicyProtocol

__all__ = ["evaluate_episodes", "interval_eval"]

logger = logging.getLogger(__name__)


def evaluate_episodes(
    policy: PolicyProtocol,
    envs: BatchEnv,
    num_episodes: int,
    writers: Sequence[GameSegmentWriter] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Play ``num_episodes`` episodes with ``policy.evaluate`` on ``envs``.

    Episodes are spread evenly over the environments (environment ``i`` plays
    ``ceil`` or ``floor`` of ``num_episodes / N``) so that short episodes are not
    over-represented; environments that are done with their share step on unsearched with
    their first legal move (their extra episodes are not counted, nor recorded).

    Args:
        writers: one :class:`~pipezero.data.GameSegmentWriter` per environment to record the
            counted episodes into (observations, actions, rewards, the evaluation search's
            visit distributions and root values, the network's values); ``None``: none.

    Returns:
        ``(returns [num_episodes], lengths [num_episodes])``.
    """
    returns, lengths, _ = _play(policy, envs, _spread(num_episodes, envs.num_envs), writers)
    return returns, lengths


def _spread(num_episodes: int, num_envs: int) -> np.ndarray:
    """``[num_envs]`` episodes per environment: ``ceil`` or ``floor`` of the even share."""
    quota = np.full(num_envs, num_episodes // num_envs)
    quota[: num_episodes % num_envs] += 1
    return quota


def _play(
    policy: PolicyProtocol,
    envs: BatchEnv,
    quota: np.ndarray,
    writers: Sequence[GameSegmentWriter] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`evaluate_episodes` with ``quota[i]`` episodes on environment ``i``; also
    returns the environment of each episode (``[num_episodes]`` int64)."""
    n = envs.num_envs
    done = np.zeros(n, dtype=np.int64)
    returns: list[float] = []
    lengths: list[int] = []
    env_index: list[int] = []
    obs = envs.reset()
    while (done < quota).any():
        active = np.flatnonzero(done < quota)
        act = policy.evaluate(obs.observation[active], obs.action_mask[active], obs.to_play[active])
        # [N] indices, or [N, D] continuous actions; an environment done with its share
        # plays its first legal move (a masked env may reject a fixed one)
        if act.action.ndim == 1:
            actions = np.argmax(obs.action_mask, axis=1).astype(act.action.dtype)
        else:
            actions = np.zeros((n, *act.action.shape[1:]), dtype=act.action.dtype)
        actions[active] = act.action
        out = envs.step(actions)
        if writers is not None:
            _record(writers, active, obs, act, out)
        for i, stats in out.episodes:
            if done[i] < quota[i]:
                done[i] += 1
                returns.append(stats.episode_return)
                lengths.append(stats.length)
                env_index.append(i)
        obs = out.obs
    return (
        np.asarray(returns, dtype=np.float64),
        np.asarray(lengths, dtype=np.int64),
        np.asarray(env_index, dtype=np.int64),
    )


def _summary(returns: np.ndarray, lengths: np.ndarray) -> dict[str, float]:
    return {
        "return_mean": float(returns.mean()),
        "return_std": float(returns.std()),
        "return_min": float(returns.min()),
        "return_max": float(returns.max()),
        "episode_length_mean": float(lengths.mean()),
        "episode_length_min": float(lengths.min()),
        "episode_length_max": float(lengths.max()),
        "num_episodes": float(len(returns)),
    }


def _record(
    writers: Sequence[GameSegmentWriter], active: np.ndarray, obs: Any, act: Any, out: Any
) -> None:
    """Append the step of every active environment (row ``j`` of ``act`` is environment
    ``active[j]``) to its writer; end the episodes that ended."""
    sampled = act.sampled_actions
    for j, i in enumerate(active):
        writers[i].append(
            obs.observation[i],
            obs.action_mask[i],
            int(obs.to_play[i]),
            act.action[j],
            float(out.reward[i]),
            act.visit_policy[j],
            float(act.root_value[j]),
            float(act.predicted_value[j]),
            None if sampled is None else sampled[j],
        )
        if out.done[i]:
            writers[i].end_episode(
                out.final_observation[i], bool(out.terminated[i]), int(out.final_to_play[i])
            )


class _Evaluator:
    def __init__(self, cfg: Mapping[str, Any], policy: PolicyProtocol, envs: BatchEnv) -> None:
        freq, episodes = cfg["eval_freq"], cfg["n_evaluator_episode"]
        for name, value in (("eval_freq", freq), ("n_evaluator_episode", episodes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"interval_eval: cfg.{name} must be an int >= 1, got {value!r}")
        self.eval_freq = freq
        self.num_episodes = episodes
        stop = cfg.get("stop_value")
        self.stop_value = None if stop is None else float(stop)
        self.policy = policy
        self.envs = envs
        self.cfg = cfg
        self.record = bool(cfg.get("eval_return_trajectory", False))
        self.task: Task | None = None
        self.weights: WeightSubscriber | None = None

    def setup(self, task: Task) -> None:
        self.task = task
        # Unbounded: an evaluation may take long and must never hold the learner back.
        self.weights = task.weights.subscribe(f"interval_eval-{id(self):x}", bounded=False)
        task.state_providers.register("interval_eval", self, role="evaluator")

    def state_dict(self) -> dict[str, Any]:
        """Snapshots of the evaluation environments (their random streams go on across
        evaluations), so a resumed run plays the evaluation episodes it would have played."""
        return {"envs": self.envs.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the evaluation environments; those without a snapshot start from their
        seeds (each evaluation resets every environment anyway)."""
        self.envs.load_state_dict(state["envs"])

    def step(self, ctx: TrainContext) -> None:
        if ctx.last_eval_iter >= 0 and ctx.train_iter - ctx.last_eval_iter < self.eval_freq:
            return
        if self.weights is not None and (got := self.weights.pull()) is not None:
            self.policy.set_weights(got[1])
        writers = GameSegmentWriter.for_envs(self.cfg, self.envs) if self.record else None
        # multi-task environments (MultiTaskEnv): n_evaluator_episode episodes per task
        task_ids = getattr(self.envs, "task_ids", None)
        if task_ids is None:
            quota = _spread(self.num_episodes, self.envs.num_envs)
        else:
            quota = np.zeros(self.envs.num_envs, dtype=np.int64)
            for task in np.unique(task_ids):
                mine = task_ids == task
                quota[mine] = _spread(self.num_episodes, int(mine.sum()))
        try:
            returns, lengths, env_index = _play(self.policy, self.envs, quota, writers)
        except EnvError as err:
            raise RuntimeError(
                f"interval_eval: {err} (evaluation at train_iter {ctx.train_iter})"
            ) from err
        result: dict[str, Any] = _summary(returns, lengths)
        if task_ids is not None:
            for task, name in enumerate(self.envs.task_names):
                mine = task_ids[env_index] == task
                result[name] = _summary(returns[mine], lengths[mine])
        result |= {"train_iter": float(ctx.train_iter), "env_step": float(ctx.env_step)}
        ctx.eval_result = result
        if writers is not None:  # environment-major, each episode's segments in order
            ctx.eval_segments = [seg for w in writers for seg in w.pop_finished()]
        ctx.last_eval_iter = ctx.train_iter
        ctx.best_eval_return = max(ctx.best_eval_return, result["return_mean"])
        logger.info(
            "eval at train_iter %d, env_step %d: return %.4g +- %.3g (min %.4g, max %.4g)",
            ctx.train_iter,
            ctx.env_step,
            result["return_mean"],
            result["return_std"],
            result["return_min"],
            result["return_max"],
        )
        if self.task is not None:
            self.task.emit(Event.EVAL_DONE, ctx, result)
        if self.stop_value is not None and result["return_mean"] >= self.stop_value:
            if self.task is None:
                raise RuntimeError("interval_eval needs its task to stop; add it with task.use")
            self.task.finish("stop_value reached")


def interval_eval(cfg: Mapping[str, Any], policy: PolicyProtocol, envs: BatchEnv) -> Middleware:
    """Evaluate at ``train_iter`` 0 and then every ``cfg.eval_freq`` train iterations.

    An evaluation plays ``cfg.n_evaluator_episode`` episodes on ``envs`` with
    ``policy.evaluate`` (no noise, most visited action), after loading the newest weights
    published in ``task.weights``. It writes ``ctx.eval_result``, a dict with
    ``return_mean``, ``return_std``, ``return_min``, ``return_max``,
    ``episode_length_mean|min|max``, ``num_episodes``, ``train_iter`` and ``env_step``; it
    updates ``ctx.best_eval_return`` and ``ctx.last_eval_iter`` and emits
    ``Event.EVAL_DONE`` with ``(ctx, eval_result)``. When the mean return reaches
    ``cfg.stop_value`` (``None``: never) it calls ``task.finish("stop_value reached")``.

    Multi-task environments (a :class:`~pipezero.envs.multitask.MultiTaskEnv`, with
    ``task_ids`` and ``task_names``) play ``cfg.n_evaluator_episode`` episodes *per task*, each
    spread over that task's environments; ``eval_result`` then also holds one dict of the
    same statistics per task under its name (``eval_result["Breakout"]["return_mean"]``,
    logged as ``eval/Breakout/return_mean``), and its top-level statistics are over all
    episodes, so ``return_mean`` (which ``best_eval_return``, ``stop_value`` and ``best.pt``
    use) is the unweighted mean of the tasks' mean returns.

    With ``cfg.eval_return_trajectory`` (LightZero's ``eval(return_trajectory=True)``) it also
    writes ``ctx.eval_segments``, before ``EVAL_DONE``: the evaluation episodes as finished
    game segments (cut like ``env_collect``'s: ``game_segment_length``, ``num_unroll_steps``,
    ``td_steps``), with the observations, actions, rewards, the evaluation search's visit
    distributions and root values, and the network's values. A replay buffer of the same
    settings takes them (``buffer.extend(ctx.eval_segments)``); ``pipezero eval
    --save-trajectories FILE`` writes them to a file (:mod:`pipezero.data.trajectories`).

    Args:
        cfg: the policy section: ``eval_freq``, ``n_evaluator_episode``, ``stop_value``,
            ``eval_return_trajectory`` (optional, default false).
        policy: acts with ``evaluate(obs, action_mask, to_play)``.
        envs: the evaluator environments (their random streams continue across evaluations).
    """
    evaluator = _Evaluator(cfg, policy, envs)
    return middleware(
        evaluator.step,
        name="interval_eval",
        role="evaluator",
        # env_step: the evaluator role's copy is mirrored only when declared (async mode)
        reads=("train_iter", "env_step", "last_eval_iter"),
        writes=("eval_result", "eval_segments", "best_eval_return", "last_eval_iter"),
        setup=evaluator.setup,
        acts_with=policy,
    )
