"""Evaluate a trained run: ``pipezero eval RUN_DIR``.

The run's ``config.json`` names its recipe and holds its resolved config; the recipe's own
``build(run)`` rebuilds the agent (with ``purpose="eval"`` the policy only loads the chosen
checkpoint's weights), and the chain's evaluator-role middleware (``interval_eval``,
``battle_eval``, ``accuracy_eval``, ...) run once, on environments seeded apart from those of
training. So every recipe family is evaluated the way its training evaluated it.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from pipezero.checkpoint import checkpoint_dir, eval_mean_return
from pipezero.config import ConfigError, merge_config, parse_set_overrides
from pipezero.data import save_segments
from pipezero.framework import Event, Task
from pipezero.recipe import (
    FRESH_SEED_OFFSET,
    Run,
    UsageError,
    load_recipe,
    read_run_config,
    seed_everything,
)
from pipezero.recipe.flags import check_device
from pipezero.recipe.train import build_task

#: The config key ``--episodes`` sets when a recipe names none (``EPISODES_KEY``).
DEFAULT_EPISODES_KEY = "policy.n_evaluator_episode"


def find_checkpoint(run_dir: str | Path, which: str = "best") -> Path:
    """``best``, ``final`` (``RUN_DIR/ckpt/<which>.pt``) or the path of a checkpoint file.
    ``best`` falls back to ``final`` when the run never evaluated above its first result.

    Raises:
        UsageError: the checkpoint does not exist (the ones present are listed).
    """
    if which not in ("best", "final"):
        path = Path(which)
        if not path.is_file():
            raise UsageError(f"--ckpt {which}: no such checkpoint file")
        return path
    directory = checkpoint_dir(run_dir)
    for name in (which, "final") if which == "best" else (which,):
        path = directory / f"{name}.pt"
        if path.is_file():
            return path
    present = sorted(p.name for p in directory.glob("*.pt")) if directory.is_dir() else []
    raise UsageError(
        f"{directory} holds no {which}.pt (present: {', '.join(present) or 'nothing'}); "
        f"pass --ckpt PATH to one of them"
    )


def eval_run(
    run_dir: str | Path,
    *,
    ckpt: str = "best",
    episodes: int | None = None,
    seed: int | None = None,
    device: str = "cpu",
    render_frames: list[Any] | None = None,
    save_trajectories: str | Path | None = None,
    overrides: Sequence[str] = (),
) -> dict[str, Any]:
    """Evaluate one checkpoint of a run with the run's own evaluator.

    Args:
        run_dir: the run directory (holds ``config.json`` and ``ckpt/``).
        ckpt: ``best``, ``final`` or a checkpoint path.
        episodes: evaluation episodes (the recipe's ``EPISODES_KEY``; default: the run's).
        seed: seeds the environments (default: the run's seed + ``FRESH_SEED_OFFSET``, so
            the episodes differ from those of training and of its evaluations).
        device: where the model is evaluated.
        render_frames: a list receiving the frames of the first evaluation environment
            (``pipezero render``).
        save_trajectories: write the evaluation episodes as game segments to this ``.npz``
            file (:func:`pipezero.data.save_segments`; read back with
            :func:`pipezero.data.load_segments`, push with ``buffer.extend``). Recipes
            evaluated by ``interval_eval`` (``policy.eval_return_trajectory``).
        overrides: ``KEY=VALUE`` pairs (``--set``) applied to the run's saved config, typed
            and checked as in training, e.g. ``policy.eval_num_simulations=100``.

    Returns:
        The evaluator's result (``return_mean``, ``return_std``, ``return_min``,
        ``return_max``, ``num_episodes``, ...) with ``recipe``, ``run_dir``, ``ckpt`` and
        ``seed``; with ``save_trajectories`` also ``trajectories`` (the file) and
        ``num_segments``.

    Raises:
        UsageError: no run, no such checkpoint, or a bad value.
    """
    check_device(device)
    info = read_run_config(run_dir)
    try:
        module = load_recipe(info["recipe"])
    except ValueError:
        module = load_recipe(info.get("recipe_file", info["recipe"]))
    path = find_checkpoint(run_dir, ckpt)
    saved = copy.deepcopy(info["config"])
    try:
        asked = parse_set_overrides(overrides)
    except ConfigError as exc:
        raise UsageError(f"--set: {exc}") from None
    eval_seed = int(saved["seed"]) + FRESH_SEED_OFFSET if seed is None else int(seed)
    fixed: dict[str, Any] = {"seed": eval_seed}
    if episodes is not None:
        if episodes < 1:
            raise UsageError(f"--episodes must be >= 1, got {episodes}")
        fixed[getattr(module, "EPISODES_KEY", DEFAULT_EPISODES_KEY)] = episodes
    if save_trajectories is not None:
        if "eval_return_trajectory" not in module.CONFIG.get("policy", {}):
            raise UsageError(
                f"--save-trajectories: recipe {info['recipe']} has no "
                f"policy.eval_return_trajectory (its evaluator does not record episodes)"
            )
        fixed["policy.eval_return_trajectory"] = True
    if render_frames is not None and "evaluator_env_num" in saved.get("env", {}):
        fixed["env.evaluator_env_num"] = 1  # the recorded environment
    try:
        cfg = merge_config(merge_config(merge_config(module.CONFIG, saved), asked), fixed)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    run = Run(
        recipe=info["recipe"],
        cfg=cfg,
        device=device,
        resume_from=path,
        purpose="render" if render_frames is not None else "eval",
        render_frames=render_frames,
    )
    seed_everything(eval_seed)
    threads = getattr(module, "TORCH_THREADS", 1)  # as in training: small batches, one thread
    if threads is not None:
        torch.set_num_threads(threads)
    built = build_task(module, run)
    evaluators = [mw for mw in built.chain if mw.role == "evaluator"]
    if not evaluators:
        raise UsageError(f"recipe {run.recipe} has no evaluator middleware to evaluate with")
    task = Task(type(built.ctx)())
    for mw in evaluators:
        task.use(mw)
    results: list[Any] = []
    segments: list[Any] = []

    def record(ctx: Any, result: Any) -> None:
        results.append(result)
        segments.extend(getattr(ctx, "eval_segments", []))

    task.on(Event.EVAL_DONE, record)
    task.run(max_steps=1)
    if not results:
        raise RuntimeError(f"the evaluators of {run.recipe} reported no result")
    result = dict(results[-1]) if isinstance(results[-1], dict) else {}
    for counter in ("train_iter", "env_step"):  # the fresh evaluation context's, always 0
        result.pop(counter, None)
    if not result:
        result["return_mean"] = eval_mean_return(results[-1])
    if save_trajectories is not None:
        if not segments:
            raise UsageError(f"--save-trajectories: the evaluators of {run.recipe} recorded none")
        meta = {"recipe": run.recipe, "ckpt": str(path), "seed": eval_seed, **result}
        result["trajectories"] = str(save_segments(segments, save_trajectories, meta))
        result["num_segments"] = len(segments)
    extra = {"overrides": list(overrides)} if overrides else {}
    return {"recipe": run.recipe, "run_dir": str(run_dir), "ckpt": str(path), "seed": eval_seed,
            **extra, **result}  # fmt: skip
