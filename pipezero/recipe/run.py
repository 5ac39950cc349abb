"""One run of a recipe: its config and flags, and the parts every recipe builds alike."""

from __future__ import annotations

import dataclasses
import logging
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from easydict import EasyDict

from pipezero.framework import Context, ProcessBackend, Task, WeightStore

logger = logging.getLogger("pipezero.recipe")

#: Evaluation environments are seeded ``seed + EVAL_SEED_OFFSET`` (collection: ``seed``).
EVAL_SEED_OFFSET = 10_000
#: ``pipezero eval`` seeds its environments ``seed + FRESH_SEED_OFFSET``: episodes that
#: neither collection nor the training evaluations played.
FRESH_SEED_OFFSET = 20_000


@dataclasses.dataclass
class Run:
    """One run of a recipe: its resolved config and the flags that shape the run.

    A recipe's ``build(run)`` reads ``run.cfg`` and asks the run for the parts every recipe
    builds alike: :meth:`envs`, :meth:`task` and :meth:`acting`.

    Attributes:
        recipe: the recipe's name.
        cfg: the resolved config (``CONFIG``, ``--smoke``, the saved config when resuming,
            ``--set`` pairs, then the flags).
        mode: ``"sync"`` or ``"async"``.
        backend: async mode's role hosts, ``"process"`` or ``"thread"``.
        device: where the learner's model lives (``"cpu"``, ``"cuda"``, ``"cuda:1"``).
        resume_from: a run directory or checkpoint file to continue from, or ``None``.
        ddp: several learner processes (``torchrun``; recipes with ``SCALE_OUT``).
        ray_actors: Ray self-play actors (recipes with ``SCALE_OUT``; 0: none).
        purpose: ``"train"``, or ``"eval"`` / ``"render"`` when ``pipezero eval`` / ``render``
            builds the recipe to evaluate a checkpoint (nothing is written then).
        render_frames: ``pipezero render``: receives the frames of the first evaluation
            environment (:meth:`envs` asks string ids for ``render_mode="rgb_array"``).
        frame_tap: ``--visual``: a :class:`~pipezero.visual.FrameTap` that :meth:`envs`
            attaches to the first collector environments (asking ids that draw themselves
            for ``render_mode="rgb_array"``).
        eval_video_dir: ``--eval-video``: where :meth:`envs` makes the first evaluation
            environment write each finished episode as a GIF
            (:class:`~pipezero.render.EpisodeGifWriter`) for TensorBoard to pick up;
            ``eval_video_attached`` says whether the recipe's evaluator has such an
            environment.
    """

    recipe: str
    cfg: EasyDict
    mode: str = "sync"
    backend: str = "process"
    device: str = "cpu"
    resume_from: Path | None = None
    ddp: bool = False
    ray_actors: int = 0
    purpose: str = "train"
    render_frames: list[Any] | None = None
    frame_tap: Any = None
    eval_video_dir: Path | None = None
    eval_video_attached: bool = False

    @property
    def seed(self) -> int:
        return int(self.cfg.seed)

    @property
    def exp_dir(self) -> Path:
        return Path(self.cfg.exp_dir)

    @property
    def eval_seed(self) -> int:
        """The seed of the evaluation environments."""
        return self.seed + EVAL_SEED_OFFSET

    def envs(self, make: Any = None, **make_kwargs: Any) -> tuple[Any, Any]:
        """``(collect_envs, eval_envs)``: ``cfg.env.collector_env_num`` and
        ``evaluator_env_num`` environments of ``make`` (default ``cfg.env.env_id``; any
        :meth:`~pipezero.envs.BatchEnv.make` id or factory), collection seeded ``seed``,
        evaluation ``seed + EVAL_SEED_OFFSET``. ``make_kwargs`` go to every environment;
        ``collect_kwargs`` / ``eval_kwargs`` (dicts) only to one side.

        Multi-task runs: ``tasks`` (a list of ids, e.g. ``cfg.env.tasks``) instead of one id
        gives a :class:`~pipezero.envs.multitask.MultiTaskEnv` on each side, with
        ``collector_env_num`` / ``evaluator_env_num`` environments *per task*, padded to
        common spaces (docs/multitask.md)."""
        from pipezero.envs import BatchEnv
        from pipezero.envs.multitask import MultiTaskEnv

        env_cfg = self.cfg.env
        make = env_cfg.env_id if make is None else make
        tasks = make_kwargs.pop("tasks", None)
        batch = BatchEnv if tasks is None else MultiTaskEnv
        make = make if tasks is None else list(tasks)
        collect_kwargs = dict(make_kwargs.pop("collect_kwargs", {}))
        if self.frame_tap is not None:
            collect_kwargs = self.frame_tap.render_kwargs(make) | collect_kwargs
        eval_kwargs = dict(make_kwargs.pop("eval_kwargs", {}))
        video = self.eval_video_dir is not None
        if (self.render_frames is not None or video) and isinstance(make, str | list):
            eval_kwargs.setdefault("render_mode", "rgb_array")
        collect = batch.make(
            make, env_cfg.collector_env_num, seed=self.seed, **make_kwargs, **collect_kwargs
        )
        evaluate = batch.make(
            make, env_cfg.evaluator_env_num, seed=self.eval_seed, **make_kwargs, **eval_kwargs
        )
        if self.frame_tap is not None:
            self.frame_tap.attach(collect)
        if self.render_frames is not None:
            from pipezero.render import record_frames

            record_frames(evaluate, self.render_frames)
        if video:
            from pipezero.render import record_episode_gifs

            record_episode_gifs(evaluate, self.eval_video_dir)
            self.eval_video_attached = True
        return collect, evaluate

    def watch(self, make_game: Any) -> Any:
        """The game factory of a match evaluator (``battle_eval``): ``make_game`` itself, or
        under ``pipezero render`` one whose games record a picture of every move."""
        if self.render_frames is None:
            return make_game
        from pipezero.render import record_games

        return record_games(make_game, self.render_frames)

    def task(self, ctx: Context, policy: Any, buffer: Any = None) -> Task:
        """The recipe's :class:`~pipezero.framework.Task` over ``ctx``, resumed when asked.

        In async mode the task gets a weight store whose staleness bound is
        ``cfg.policy.max_policy_lag`` train iterations, channels of
        ``cfg.policy.async_channel_capacity`` items and, with ``--backend process``, a
        :class:`~pipezero.framework.ProcessBackend` hosting the collector and the evaluator
        (the evaluator at a lower CPU priority). With ``--resume`` the counters, ``policy``,
        the random generators and ``buffer`` come back from the newest intact checkpoint,
        and the run state of the middleware (the collector's unfinished segments and
        environments) goes to ``task.state_providers``, where each middleware the recipe
        adds finds its own; ``pipezero eval`` loads only the policy's weights.
        """
        task = self._new_task(ctx)
        if self.resume_from is not None:
            from pipezero.checkpoint import load_checkpoint, resume

            if self.purpose == "train":
                path = resume(self.resume_from, ctx, policy, buffer, providers=task.state_providers)
                logger.info("resumed from %s (env_step %d)", path, ctx.env_step)
            else:
                policy.load_state_dict(load_checkpoint(self.resume_from)["policy"])
        return task

    def _new_task(self, ctx: Context) -> Task:
        if self.mode != "async":
            return Task(ctx)
        p = self.cfg.get("policy", {})
        options: dict[str, Any] = {
            "weights": WeightStore(max_version_lag=p.get("max_policy_lag")),
            "channel_capacity": int(p.get("async_channel_capacity", 1)),
        }
        if self.backend == "process":
            options["backend"] = ProcessBackend(
                ("collector", "evaluator"), niceness={"evaluator": 10}
            )
        return Task(ctx, **options)

    def acting(self, policy: Any, role: str = "collector") -> Any:
        """The policy a collector or evaluator acts with: ``policy`` itself in sync mode; in
        async mode ``policy.acting_copy(seed)`` (its own model copy, refreshed from the
        weight store, so acting never races with the optimizer or the other role)."""
        if self.mode != "async":
            return policy
        if not hasattr(policy, "acting_copy"):
            raise TypeError(
                f"--mode async needs a policy with acting_copy(seed); {type(policy).__name__} "
                f"has none (run with --mode sync)"
            )
        offset = {"collector": 0, "evaluator": EVAL_SEED_OFFSET}.get(role, 0)
        return policy.acting_copy(self.seed + offset)


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
