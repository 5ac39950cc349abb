"""Plumbing shared by the recipe scripts: flags, config, seeding, the final result line.

A recipe keeps its own chain of ``task.use(...)`` lines in view; everything else it needs
from the command line goes through these helpers so that every recipe takes the same flags.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from easydict import EasyDict

from pipezero.config import ConfigError, merge_config, parse_set_overrides
from pipezero.distributed import init_distributed, rank_seed
from pipezero.framework import Context, Event, ProcessBackend, Task, WeightStore


def recipe_parser(
    doc: str | None,
    *,
    scale_out: bool = False,
    modes: Sequence[str] = ("sync", "async"),
    time_budget: bool = False,
) -> argparse.ArgumentParser:
    """The standard recipe flags: ``--seed``, ``--exp-dir``, ``--max-env-step``, ``--mode``,
    ``--set KEY=VALUE`` (repeatable) and ``--resume RUN_DIR``; with ``scale_out=True`` (recipes
    that support them) also ``--ddp`` and ``--ray-actors N`` (docs/scaling.md). ``modes`` are
    the ``--mode`` choices the recipe supports (``--backend`` only comes with ``"async"``);
    ``time_budget=True`` adds ``--max-minutes`` (for the ``time_limit`` middleware). Recipes may
    add their own."""
    parser = argparse.ArgumentParser(
        description=(doc or "").strip().splitlines()[0] if doc else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed")
    parser.add_argument("--exp-dir", default=None, help="where checkpoints and logs go")
    parser.add_argument("--max-env-step", type=int, default=None, help="env step budget")
    parser.add_argument(
        "--mode",
        choices=list(modes),
        default="sync",
        help="sync: one step after the other; async: collector, learner and evaluator run "
        "concurrently (docs/scaling.md)",
    )
    if "async" in modes:
        parser.add_argument(
            "--backend",
            choices=["process", "thread"],
            default="process",
            help="--mode async: run the collector and evaluator in their own processes (faster "
            "for small models) or in threads",
        )
    if time_budget:
        parser.add_argument(
            "--max-minutes", type=float, default=None, help="wall-clock budget of the run"
        )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config entry, e.g. --set policy.num_simulations=50",
    )
    parser.add_argument("--resume", metavar="RUN_DIR", default=None, help="continue a run")
    if scale_out:
        parser.add_argument(
            "--ddp",
            action="store_true",
            help="several learner processes; launch with torchrun (docs/scaling.md)",
        )
        parser.add_argument(
            "--ray-actors",
            type=_non_negative_int,
            default=0,
            metavar="N",
            help="collect with N Ray self-play actors (pipezero[ray]); 0: in this process",
        )
    return parser


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an int >= 0, got {text!r}")
    return value


def build_config(
    defaults: Callable[[Mapping[str, Any]], EasyDict],
    recipe_settings: Mapping[str, Any],
    args: argparse.Namespace,
    parser: argparse.ArgumentParser | None = None,
) -> EasyDict:
    """Algorithm defaults, then the recipe's settings, then ``--set`` pairs, then the flags.

    With ``parser``, a bad key or value ends the program with a usage error (exit code 2)
    instead of a traceback.

    Raises:
        ConfigError: an unknown key anywhere, with the closest valid key suggested.
    """
    try:
        cfg = merge_config(defaults(recipe_settings), parse_set_overrides(args.set))
        flags = {"seed": args.seed, "exp_dir": args.exp_dir, "max_env_step": args.max_env_step}
        return merge_config(cfg, {k: v for k, v in flags.items() if v is not None})
    except ConfigError as exc:
        if parser is None:
            raise
        parser.error(str(exc))


def start_scale_out(
    args: argparse.Namespace, cfg: EasyDict, parser: argparse.ArgumentParser | None = None
) -> None:
    """Check ``--ddp`` / ``--ray-actors`` against ``--mode``; with ``--ddp`` start the process
    group from torchrun's environment and give this rank its own ``cfg.seed`` (rank 0 keeps
    the seed). Call it right after :func:`build_config`. With ``parser``, a bad combination
    or a missing torchrun environment ends the program with a usage error."""
    ddp, actors = getattr(args, "ddp", False), getattr(args, "ray_actors", 0)
    mode = getattr(args, "mode", "sync")
    problem = None
    if ddp and actors:
        problem = "--ddp and --ray-actors cannot be combined yet; choose one"
    elif (ddp or actors) and mode != "sync":
        flag = "--ddp" if ddp else "--ray-actors"
        problem = f"{flag} runs with --mode sync (got --mode {mode}); see docs/scaling.md"
    try:
        if problem is not None:
            raise ValueError(problem)
        if ddp:
            init_distributed(script=sys.argv[0] or None)
            cfg.seed = rank_seed(cfg.seed)
    except (ValueError, RuntimeError) as exc:
        if parser is None:
            raise
        parser.error(str(exc))


def engine_options(args: argparse.Namespace, policy_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments of :class:`~pipezero.framework.Task` for ``--mode`` / ``--backend``.

    Async mode gets a weight store whose staleness bound is ``policy_cfg.max_policy_lag``
    train iterations (``None``: unbounded), a channel of ``policy_cfg.async_channel_capacity``
    collected batches, and with ``--backend process`` a
    :class:`~pipezero.framework.ProcessBackend` hosting the collector and the evaluator (the
    evaluator at a lower CPU priority, so evaluation never slows collection or learning).
    Sync mode gets the defaults.
    """
    if getattr(args, "mode", "sync") != "async":
        return {}
    options: dict[str, Any] = {
        "weights": WeightStore(max_version_lag=policy_cfg.get("max_policy_lag")),
        "channel_capacity": int(policy_cfg.get("async_channel_capacity", 1)),
    }
    if getattr(args, "backend", "process") == "process":
        options["backend"] = ProcessBackend(("collector", "evaluator"), niceness={"evaluator": 10})
    return options


def acting_policy(policy: Any, args: argparse.Namespace, seed: int) -> Any:
    """The policy a collector or evaluator acts with: ``policy`` itself in sync mode, and in
    async mode ``policy.acting_copy(seed)`` (its own model copy, refreshed from the weight
    store, so acting never races with the optimizer or with the other role)."""
    if getattr(args, "mode", "sync") != "async":
        return policy
    if not hasattr(policy, "acting_copy"):
        raise TypeError(
            f"--mode async needs a policy with acting_copy(seed); {type(policy).__name__} has "
            f"none (run with --mode sync)"
        )
    return policy.acting_copy(seed)


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def record_evals(task: Task, start: float) -> list[dict[str, Any]]:
    """A list that receives every ``Event.EVAL_DONE`` result of ``task``, each with ``wall_s``
    (seconds since ``start``, a ``time.perf_counter()`` value) added; pass it on to
    :func:`result_line` as ``eval_history=``."""
    history: list[dict[str, Any]] = []

    def record(ctx: Context, result: Mapping[str, Any]) -> None:
        history.append(dict(result) | {"wall_s": time.perf_counter() - start})

    task.on(Event.EVAL_DONE, record)
    return history


def result_line(ctx: Context, *, algorithm: str, seed: int, start: float, **extra: Any) -> str:
    """``RESULT {json}``: counters, wall time since ``start`` (``time.perf_counter()``), peak
    memory and any ``extra`` entries. ``benchmarks/`` scripts parse this line."""
    summary = {
        "algorithm": algorithm,
        "seed": seed,
        "finish_reason": ctx.finish_reason,
        "env_step": getattr(ctx, "env_step", None),
        "train_iter": getattr(ctx, "train_iter", None),
        "best_eval_return": getattr(ctx, "best_eval_return", None),
        "wall_s": time.perf_counter() - start,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        **extra,
    }
    return "RESULT " + json.dumps(summary)
