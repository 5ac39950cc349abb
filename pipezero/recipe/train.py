"""Training a recipe: prepare the run, append the run services, run, print the result."""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import resource
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import gymnasium as gym
import torch

from pipezero.framework import Context, Event, Task
from pipezero.recipe.catalog import algorithm_of, load_recipe
from pipezero.recipe.flags import UsageError, recipe_parser, resolve_run, write_run_config
from pipezero.recipe.run import Run, seed_everything

#: ``--eval-video``: where the evaluator's GIFs wait for the TensorBoard logger (under the run).
EVAL_VIDEO_DIR = "eval_video"


def run_services(run: Run, task: Task, args: argparse.Namespace) -> None:
    """Append what every training run gets after the recipe's chain: TensorBoard logs in
    ``RUN_DIR/tb``, the progress bar (a terminal) or a progress line every ``--log-every``
    seconds (no terminal), ``--eval-video`` (each evaluation's first episode as a TensorBoard
    GIF), ``--max-minutes``, ``--mlflow`` (every recipe) and ``--visual`` (a
    live page on 127.0.0.1; :func:`prepare` gives the run its frame tap before ``build``).
    With ``--ddp`` TensorBoard, progress, MLflow and the page run on rank 0 only. In async
    mode TensorBoard also gets the ``async/`` figures (queue depths, weight staleness, steps/s
    per role)."""
    from pipezero.distributed import rank0_only
    from pipezero.middleware import progress_bar, tb_logger, time_limit

    task.use(rank0_only(tb_logger(str(run.exp_dir), video_dir=run.eval_video_dir)))
    task.use(rank0_only(progress_bar(run.cfg.get("max_env_step"), log_every=args.log_every)))
    if args.max_minutes is not None:
        task.use(time_limit(args.max_minutes * 60))
    if args.mlflow:
        from pipezero.middleware.mlflow_logger import mlflow_logger

        task.use(rank0_only(mlflow_logger(str(run.exp_dir), run.cfg, run_name=run.exp_dir.name)))
    if run.frame_tap is not None:
        from pipezero.middleware.visual import visual_monitor

        info = {"mode": run.mode, "seed": run.seed, "device": run.device}
        visual = visual_monitor(
            run.frame_tap,
            args.visual_port,
            title=run.recipe,
            info=info,
            total_env_steps=run.cfg.get("max_env_step"),
        )
        task.use(rank0_only(visual))


def result_line(ctx: Context, *, algorithm: str, seed: int, start: float, **extra: Any) -> str:
    """``RESULT {json}``: every persistent counter of ``ctx`` that is a number, the finish
    reason, wall time since ``start`` (``time.perf_counter()``), peak memory and ``extra``.
    ``benchmarks/`` scripts parse this line."""
    counters = {
        name: getattr(ctx, name)
        for name in type(ctx).persistent_fields()
        if isinstance(getattr(ctx, name), (int, float))
    }
    summary = {
        "algorithm": algorithm,
        "seed": seed,
        "finish_reason": ctx.finish_reason,
        **counters,
        "wall_s": time.perf_counter() - start,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        **extra,
    }
    return "RESULT " + json.dumps(summary, default=str)


def read_result(output: str) -> dict[str, Any] | None:
    """The last ``RESULT {json}`` line (:func:`result_line`) of a run's output, parsed;
    ``None`` when there is none (the run failed before printing it)."""
    lines = [line for line in output.splitlines() if line.startswith("RESULT ")]
    return json.loads(lines[-1].removeprefix("RESULT ")) if lines else None


def prepare(
    recipe: str | Path | ModuleType,
    argv: Sequence[str] | None = None,
    *,
    prog: str | None = None,
) -> tuple[Run, Task, argparse.Namespace]:
    """Resolve a recipe's flags (``argv``; ``None``: ``sys.argv[1:]``), seed, and build its
    task with the run services appended: ``(run, task, args)``, nothing run yet, nothing
    written. A bad flag, key or value ends the program with a one-line usage error (exit
    code 2)."""
    module = recipe if isinstance(recipe, ModuleType) else load_recipe(recipe)
    parser = recipe_parser(module, prog=prog)
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    _configure_logging()
    try:
        run = resolve_run(module, args)
        if run.ddp:
            from pipezero.distributed import init_distributed, rank_seed

            init_distributed(script=sys.argv[0] or None)
            run.cfg.seed = rank_seed(run.cfg.seed)
    except (UsageError, ValueError, RuntimeError) as exc:
        parser.error(str(exc))
    threads = args.threads if args.threads is not None else getattr(module, "TORCH_THREADS", 1)
    if threads is not None:
        if threads < 1:
            parser.error(f"--threads expects an int >= 1, got {threads}")
        torch.set_num_threads(threads)
    if args.visual and not 0 <= args.visual_port <= 65535:
        parser.error(f"--visual-port expects a port in [0, 65535], got {args.visual_port}")
    if args.visual and (not run.ddp or _rank() == 0):
        from pipezero.visual import FrameTap

        run.frame_tap = FrameTap()
    if args.eval_video and (not run.ddp or _rank() == 0):
        if importlib.util.find_spec("PIL") is None:
            parser.error('--eval-video writes GIFs with Pillow: pip install "pipezero[render]"')
        run.eval_video_dir = run.exp_dir / EVAL_VIDEO_DIR
    seed_everything(run.seed)
    try:
        task = build_task(module, run)
    except UsageError as exc:
        parser.error(str(exc))
    if run.eval_video_dir is not None and not run.eval_video_attached:
        parser.error(
            f"--eval-video: {run.recipe}'s evaluator plays no environment of its own whose "
            "frames could be recorded (board games, LLM recipes); watch a checkpoint with "
            "pipezero render RUN_DIR --out FILE.gif"
        )
    run_services(run, task, args)
    return run, task, args


def build_task(module: ModuleType, run: Run) -> Task:
    """``module.build(run)``, with the errors a user causes (an environment id gymnasium does
    not know, an optional package not installed) raised as :class:`UsageError`.

    Raises:
        UsageError: as said; the message names the environment or the extra to install.
        TypeError: ``build`` returned something else than a :class:`Task`.
    """
    try:
        task = module.build(run)
    except gym.error.Error as exc:
        env_id = run.cfg.get("env", {}).get("env_id")
        raise UsageError(f"environment {env_id!r}: {exc}") from None
    except ImportError as exc:
        if "pip install" not in str(exc):  # a missing extra says how to install it
            raise
        raise UsageError(str(exc)) from None
    if not isinstance(task, Task):
        raise TypeError(f"{run.recipe}.build(run) must return a Task, got {type(task).__name__}")
    return task


def train(
    recipe: str | Path | ModuleType,
    argv: Sequence[str] | None = None,
    *,
    prog: str | None = None,
) -> Context:
    """Train a recipe with command-line flags (``argv``; ``None``: ``sys.argv[1:]``): write
    ``RUN_DIR/config.json``, run, print the ``RESULT {json}`` line; returns the context."""
    module = recipe if isinstance(recipe, ModuleType) else load_recipe(recipe)
    run, task, _ = prepare(module, argv, prog=prog)
    writer = not run.ddp or _rank() == 0
    if writer:
        write_run_config(run, module, list(sys.argv[1:] if argv is None else argv))
    history_file = run.exp_dir / HISTORY_NAME
    start = time.perf_counter()
    history = read_eval_history(history_file, task.ctx.env_step) if run.resume_from else []
    if writer:  # the file holds what the resumed checkpoint had seen, then what comes next
        history_file.write_text("".join(json.dumps(h) + "\n" for h in history))

    def record(ctx: Context, result: Mapping[str, Any]) -> None:
        entry = dict(result) | {"wall_s": time.perf_counter() - start, "unix_time": time.time()}
        history.append(entry)
        if writer:
            with history_file.open("a") as f:
                f.write(json.dumps(entry, default=str) + "\n")

    task.on(Event.EVAL_DONE, record)
    ctx = task.run(mode=run.mode)
    extra = {"recipe": run.recipe, "exp_dir": str(run.exp_dir), "eval_history": history}
    if hasattr(module, "summary"):
        extra |= module.summary(run, ctx)
    algorithm = extra.pop("algorithm", algorithm_of(module))
    print(result_line(ctx, algorithm=algorithm, seed=run.seed, start=start, **extra), flush=True)
    return ctx


#: ``RUN_DIR/eval_history.jsonl``: one JSON line per evaluation, written as it happens, so a
#: resumed run's ``eval_history`` starts with the evaluations of the run it continues.
HISTORY_NAME = "eval_history.jsonl"


def read_eval_history(path: Path, env_step: int) -> list[dict[str, Any]]:
    """The evaluations in ``path`` made at or before ``env_step`` (the resumed checkpoint's;
    later ones belong to the part of the run that is done again), or [] without the file.
    Their ``wall_s`` counts from the start of the process that made them. A line cut short
    (the process was killed while writing it) is skipped."""
    if not path.is_file():
        return []
    entries = []
    for line in path.read_text().splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return [e for e in entries if int(e.get("env_step", 0)) <= env_step]


def _rank() -> int:
    import torch.distributed as dist

    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def _configure_logging() -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")


def main(recipe_file: str) -> None:
    """The ``if __name__ == "__main__"`` entry of a recipe file: train it with
    ``sys.argv``."""
    train(recipe_file, prog=Path(recipe_file).name)
