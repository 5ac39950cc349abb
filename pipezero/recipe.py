"""Plumbing shared by the recipe scripts: flags, config, seeding, the final result line.

A recipe keeps its own chain of ``task.use(...)`` lines in view; everything else it needs
from the command line goes through these helpers so that every recipe takes the same flags.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from easydict import EasyDict

from pipezero.config import ConfigError, merge_config, parse_set_overrides
from pipezero.framework import Context


def recipe_parser(doc: str | None) -> argparse.ArgumentParser:
    """The standard recipe flags: ``--seed``, ``--exp-dir``, ``--max-env-step``, ``--mode``,
    ``--set KEY=VALUE`` (repeatable) and ``--resume RUN_DIR``. Recipes may add their own."""
    parser = argparse.ArgumentParser(
        description=(doc or "").strip().splitlines()[0] if doc else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed")
    parser.add_argument("--exp-dir", default=None, help="where checkpoints and logs go")
    parser.add_argument("--max-env-step", type=int, default=None, help="env step budget")
    parser.add_argument("--mode", choices=["sync"], default="sync", help="how the task runs")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config entry, e.g. --set policy.num_simulations=50",
    )
    parser.add_argument("--resume", metavar="RUN_DIR", default=None, help="continue a run")
    return parser


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


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


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
