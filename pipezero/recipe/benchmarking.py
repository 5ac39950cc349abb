"""Benchmark runs of a recipe: train in a subprocess, time it to a target, re-evaluate it.

The learning benchmarks (``benchmarks/learning.py``, ``gumbel.py``, ``rezero.py``,
``unizero.py``) all do the same three things per seed, built from these functions:

1. :func:`run_recipe` trains one recipe in its own process (``python recipes/NAME.py`` or
   ``python -m pipezero.cli train NAME``, with ``--seed``, ``--exp-dir``, ``--max-env-step`` and
   ``--set``) and returns its ``RESULT`` line (:func:`pipezero.recipe.read_result`), each
   evaluation stamped with the seconds since the process was launched;
2. :func:`time_to_target` finds the first evaluation whose mean return reached the target: its
   env steps, updates, wall seconds and return (the *stopping evaluation*, usually 8 episodes);
3. :func:`reevaluate_run` plays ``best.pt`` (the stopping evaluation's weights) and
   ``final.pt`` on fresh episodes (``pipezero eval RUN_DIR --ckpt best|final --episodes 32
   --seed S + FRESH_SEED_OFFSET``, in a subprocess) and says whether the target still holds:
   an 8-episode mean of 195 is a noisy stop.

:func:`benchmark_run` chains the three; :func:`median_or_none` takes medians over seeds that
count a run that never reached the target as infinitely slow.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipezero.recipe.run import FRESH_SEED_OFFSET
from pipezero.recipe.train import read_result

logger = logging.getLogger("pipezero.benchmark")

#: Episodes of a re-evaluation unless told otherwise (the project's bar for "reached").
REEVAL_EPISODES = 32
#: The checkpoints a re-evaluation plays: the stopping evaluation's weights, the last weights.
REEVAL_CHECKPOINTS = ("best", "final")


def run_recipe(
    recipe: str | Path,
    *,
    seed: int,
    exp_dir: str | Path,
    max_env_step: int | None = None,
    overrides: Sequence[str] = (),
    flags: Sequence[str] = (),
) -> dict[str, Any]:
    """Train ``recipe`` once in its own process and return its parsed ``RESULT`` line.

    Args:
        recipe: a recipe file (``recipes/muzero_cartpole.py``, run as a script) or a recipe
            name (run as ``python -m pipezero.cli train NAME`` from ``exp_dir``'s parent, so
            that the installed pipezero is the one imported).
        seed: ``--seed``.
        exp_dir: ``--exp-dir``, the run directory (made absolute).
        max_env_step: ``--max-env-step`` (``None``: the recipe's).
        overrides: ``KEY=VALUE`` pairs, each passed as ``--set KEY=VALUE``.
        flags: further command-line flags of the recipe (``--mode async``, ...).

    Returns:
        The ``RESULT`` summary (``env_step``, ``train_iter``, ``best_eval_return``,
        ``finish_reason``, ``wall_s``, ``eval_history``, ...), every ``eval_history`` point
        with ``wall_s_since_launch`` added (seconds from process launch, imports included),
        plus ``exp_dir``, ``command`` and ``process_wall_s``.

    Raises:
        RuntimeError: the process failed or printed no ``RESULT`` line (its command and the
            tail of its stderr are in the message).
    """
    exp_dir = Path(exp_dir).resolve()
    if isinstance(recipe, Path) or str(recipe).endswith(".py"):
        cmd = [sys.executable, str(Path(recipe).resolve())]
    else:
        cmd = [sys.executable, "-m", "pipezero.cli", "train", str(recipe)]
    cmd += ["--seed", str(seed), "--exp-dir", str(exp_dir)]
    if max_env_step is not None:
        cmd += ["--max-env-step", str(max_env_step)]
    for item in overrides:
        cmd += ["--set", item]
    cmd += list(flags)
    exp_dir.parent.mkdir(parents=True, exist_ok=True)
    logger.info("training: %s", " ".join(cmd))
    launch = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=exp_dir.parent)
    result = read_result(proc.stdout)
    if proc.returncode != 0 or result is None:
        raise RuntimeError(
            f"training failed (exit {proc.returncode}): {' '.join(cmd)}\n"
            f"stderr tail:\n{proc.stderr[-3000:]}"
        )
    for point in result.get("eval_history", []):
        point["wall_s_since_launch"] = point["unix_time"] - launch
    result["exp_dir"] = str(exp_dir)
    result["command"] = cmd
    result["process_wall_s"] = time.time() - launch
    return result


def time_to_target(history: Sequence[dict[str, Any]], target: float) -> dict[str, Any]:
    """The first evaluation of ``history`` (a ``RESULT`` line's ``eval_history``) whose mean
    return is >= ``target``.

    Returns:
        ``env_steps_to_target``, ``train_iter_to_target``, ``wall_s_to_target`` (seconds since
        launch when :func:`run_recipe` stamped the points, else the run's own ``wall_s``),
        ``stopping_eval_return`` and ``stopping_eval_episodes`` of that evaluation; all
        ``None`` when no evaluation reached the target.
    """
    for point in history:
        if point["return_mean"] >= target:
            wall = point.get("wall_s_since_launch", point.get("wall_s"))
            return {
                "env_steps_to_target": int(point["env_step"]),
                "train_iter_to_target": int(point["train_iter"]),
                "wall_s_to_target": None if wall is None else round(float(wall), 1),
                "stopping_eval_return": round(float(point["return_mean"]), 2),
                "stopping_eval_episodes": _int_or_none(point.get("num_episodes")),
            }
    return {
        "env_steps_to_target": None,
        "train_iter_to_target": None,
        "wall_s_to_target": None,
        "stopping_eval_return": None,
        "stopping_eval_episodes": None,
    }


def reevaluate(
    run_dir: str | Path, *, seed: int, ckpt: str = "best", episodes: int = REEVAL_EPISODES
) -> dict[str, Any]:
    """Play one checkpoint of a run on ``episodes`` fresh episodes.

    Runs ``python -m pipezero.cli eval RUN_DIR --ckpt CKPT --episodes N --seed SEED +
    FRESH_SEED_OFFSET`` with ``RUN_DIR`` as working directory (from a source checkout's root,
    ``-m`` would import the checkout's ``pipezero/``, which lacks the recipes an installed
    pipezero ships). ``pipezero eval`` plays ``final.pt`` when a run never saved ``best.pt``;
    ``ckpt_file`` says which file was played.

    Args:
        run_dir: the run directory (``config.json``, ``ckpt/``).
        seed: the run's training seed; the environments are seeded from ``seed +
            FRESH_SEED_OFFSET`` (20,000), episodes neither collection nor the run's own
            evaluations (``seed + EVAL_SEED_OFFSET``) played.
        ckpt: ``best``, ``final`` or a checkpoint path.
        episodes: evaluation episodes (>= 1).

    Returns:
        ``return_mean``, ``return_std``, ``return_min``, ``return_max``, ``num_episodes``,
        ``ckpt`` (as asked), ``ckpt_file`` (the file's name) and ``seed`` (the environments').

    Raises:
        ValueError: ``episodes`` < 1.
        RuntimeError: ``pipezero eval`` failed (its command and stderr tail are in the message).
    """
    if episodes < 1:
        raise ValueError(f"a re-evaluation needs episodes >= 1, got {episodes}")
    run_dir = Path(run_dir).resolve()
    eval_seed = seed + FRESH_SEED_OFFSET
    cmd = [sys.executable, "-m", "pipezero.cli", "eval", str(run_dir), "--ckpt", str(ckpt)]
    cmd += ["--episodes", str(episodes), "--seed", str(eval_seed)]
    logger.info("re-evaluating: %s", " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=run_dir)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(
            f"re-evaluation failed (exit {proc.returncode}): {' '.join(cmd)}\n"
            f"stderr tail:\n{proc.stderr[-3000:]}"
        )
    result = json.loads(lines[-1])
    out = {
        key: float(result[key])
        for key in ("return_mean", "return_std", "return_min", "return_max")
        if key in result
    }
    out["num_episodes"] = _int_or_none(result.get("num_episodes", episodes))
    out.update(ckpt=str(ckpt), ckpt_file=Path(result["ckpt"]).name, seed=eval_seed)
    return out


def reevaluate_run(
    run_dir: str | Path,
    *,
    seed: int,
    target: float | None = None,
    episodes: int = REEVAL_EPISODES,
    ckpts: Sequence[str] = REEVAL_CHECKPOINTS,
) -> dict[str, dict[str, Any]]:
    """:func:`reevaluate` each of ``ckpts`` (default ``best`` and ``final``); with a
    ``target``, each result also says whether its mean return holds it (``holds_target``)."""
    out = {}
    for ckpt in ckpts:
        result = reevaluate(run_dir, seed=seed, ckpt=ckpt, episodes=episodes)
        if target is not None:
            result["holds_target"] = result["return_mean"] >= target
        out[ckpt] = result
    return out


def benchmark_run(
    recipe: str | Path,
    *,
    seed: int,
    exp_dir: str | Path,
    target: float,
    max_env_step: int | None = None,
    overrides: Sequence[str] = (),
    flags: Sequence[str] = (),
    reeval_episodes: int = REEVAL_EPISODES,
    ckpts: Sequence[str] = REEVAL_CHECKPOINTS,
) -> dict[str, Any]:
    """One seed of a learning benchmark: :func:`run_recipe`, :func:`time_to_target` and
    (``reeval_episodes`` > 0) :func:`reevaluate_run` of ``ckpts`` (``best.pt`` and
    ``final.pt`` unless told otherwise).

    Returns:
        ``seed``, ``exp_dir``, ``finish_reason``, ``env_step``, ``train_iter``,
        ``best_eval_return``, ``final_eval_return`` (the last evaluation's mean),
        ``run_wall_s`` (the recipe's own clock), ``process_wall_s``, ``peak_rss_mb``,
        the :func:`time_to_target` entries, ``curve`` (``[env_step, mean return]`` per
        evaluation), ``reeval`` (``{"best": ..., "final": ...}``; absent when
        ``reeval_episodes`` is 0) and ``result``: the rest of the ``RESULT`` line (the
        recipe's own entries, such as ReZero's reanalysis counters), evaluation history
        included.
    """
    result = run_recipe(
        recipe,
        seed=seed,
        exp_dir=exp_dir,
        max_env_step=max_env_step,
        overrides=overrides,
        flags=flags,
    )
    history = result["eval_history"]
    entry: dict[str, Any] = {
        "seed": seed,
        "exp_dir": result["exp_dir"],
        "finish_reason": result["finish_reason"],
        "env_step": result["env_step"],
        "train_iter": result["train_iter"],
        "best_eval_return": result["best_eval_return"],
        "final_eval_return": history[-1]["return_mean"] if history else None,
        "run_wall_s": round(result["wall_s"], 2),
        "process_wall_s": round(result["process_wall_s"], 2),
        "peak_rss_mb": round(result["peak_rss_mb"], 1),
        **time_to_target(history, target),
        "curve": [[int(p["env_step"]), round(p["return_mean"], 2)] for p in history],
    }
    if reeval_episodes > 0:
        entry["reeval"] = reevaluate_run(
            result["exp_dir"], seed=seed, target=target, episodes=reeval_episodes, ckpts=ckpts
        )
    entry["result"] = result
    return entry


def git_commit(checkout: str | Path) -> str | None:
    """The short commit of the git checkout ``checkout`` with ``+dirty`` when tracked files
    differ from it (a benchmark's JSON names the code it ran); None outside git."""
    try:
        head = subprocess.run(
            ["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(checkout), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return None
    return (head + ("+dirty" if dirty else "")) or None


def median_or_none(values: Sequence[float | None]) -> float | None:
    """The median of ``values``, counting ``None`` (a run that never reached the target) as
    infinitely slow; ``None`` when there are no values or the median itself is such a run."""
    ranked = sorted(float("inf") if v is None else float(v) for v in values)
    if not ranked:
        return None
    n = len(ranked)
    mid = ranked[n // 2] if n % 2 else (ranked[n // 2 - 1] + ranked[n // 2]) / 2
    return None if mid == float("inf") else mid


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)
