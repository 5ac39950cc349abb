"""The command line of every recipe, the typed config it resolves to, and the run directory's
``config.json``."""

from __future__ import annotations

import argparse
import copy
import json
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

from easydict import EasyDict

from pipezero.config import (
    ConfigError,
    check_ranges,
    merge_config,
    parse_set_overrides,
    plain_config,
)
from pipezero.recipe.catalog import algorithm_of, recipe_name
from pipezero.recipe.run import Run

logger = logging.getLogger("pipezero.recipe")

#: The run's configuration, written in the run directory.
CONFIG_FILE = "config.json"
#: ``--smoke`` settings applied to every recipe where its config has the key; a recipe's own
#: ``SMOKE`` comes on top. Together: an end-to-end run (collect, learn, evaluate, checkpoint)
#: of under 30 seconds.
SMOKE_SETTINGS: dict[str, Any] = {
    "max_env_step": 200,
    "env": {"collector_env_num": 2, "evaluator_env_num": 2},
    "policy": {
        "num_simulations": 4,
        "eval_num_simulations": 4,
        "batch_size": 16,
        "min_buffer_transitions": 16,
        "eval_freq": 10,
        "n_evaluator_episode": 2,
        "game_segment_length": 20,
        "collect_env_steps": 10,
    },
}


def add_run_flags(parser: argparse.ArgumentParser) -> None:
    """The flags every recipe takes (``python recipes/X.py`` and ``pipezero train X``)."""
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: 0)")
    parser.add_argument(
        "--exp-dir", default=None, help="run directory (default: runs/RECIPE/DATE-TIME-sSEED)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config entry, repeatable: --set policy.num_simulations=50 "
        "(values: true/false, numbers, null, 'strings', [lists])",
    )
    parser.add_argument(
        "--resume",
        metavar="RUN_DIR|latest",
        default=None,
        help="continue a run from its newest intact checkpoint, with its saved config; "
        "'latest': the newest run of this recipe under runs/",
    )
    parser.add_argument(
        "--mode",
        choices=["sync", "async"],
        default="sync",
        help="sync: one step after the other; async: collector, learner and evaluator run "
        "concurrently (docs/scaling.md)",
    )
    parser.add_argument(
        "--backend",
        choices=["process", "thread"],
        default="process",
        help="--mode async: the collector and evaluator in their own processes or in threads",
    )
    parser.add_argument("--device", default="cpu", help="the learner's device: cpu, cuda, cuda:N")
    parser.add_argument(
        "--smoke", action="store_true", help="a tiny end-to-end run (under 30 s) to check a setup"
    )
    parser.add_argument("--env-id", default=None, help="the environment (sets env.env_id)")
    parser.add_argument("--max-env-step", type=int, default=None, help="env step budget")
    parser.add_argument("--max-minutes", type=float, default=None, help="wall-clock budget")
    parser.add_argument("--mlflow", action="store_true", help="also track the run with MLflow")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="torch threads (default: the recipe's, 1 for most: small batches run faster so)",
    )
    parser.add_argument(
        "--log-every",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="without a terminal: seconds between progress lines (0: none)",
    )
    parser.add_argument(
        "--ddp",
        action="store_true",
        help="several learner processes; launch with torchrun (docs/scaling.md)",
    )
    parser.add_argument(
        "--ray-actors",
        type=int,
        default=0,
        metavar="N",
        help="collect with N Ray self-play actors (pipezero[ray]); 0: in this process",
    )


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line (exit code 2), not the whole usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (--help lists the flags)\n")


def recipe_parser(module: ModuleType, prog: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of one recipe: its docstring as help, :func:`add_run_flags`."""
    parser = _Parser(
        prog=prog,
        description=(module.__doc__ or "").strip() or None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run_flags(parser)
    return parser


class UsageError(ValueError):
    """A bad flag, config key or value: shown as one line, exit code 2."""


def _latest_run(recipe: str) -> Path:
    root = Path("runs") / recipe
    runs = [p for p in root.glob("*/") if (p / CONFIG_FILE).is_file()] if root.is_dir() else []
    if not runs:
        raise UsageError(
            f"--resume latest: no run of {recipe} under {root}/ (runs write "
            f"{root}/DATE-TIME-sSEED/{CONFIG_FILE}); pass the run directory instead"
        )
    return max(runs, key=lambda p: (p / CONFIG_FILE).stat().st_mtime)


def read_run_config(run_dir: str | Path) -> dict[str, Any]:
    """The ``config.json`` of a run directory (or of the run a checkpoint file belongs to).

    Raises:
        UsageError: there is none.
    """
    path = Path(run_dir)
    for directory in (path.parent, path.parent.parent) if path.is_file() else (path,):
        candidate = directory / CONFIG_FILE
        if candidate.is_file():
            return json.loads(candidate.read_text())
    raise UsageError(
        f"{path} is not a run directory: no {CONFIG_FILE} in it (runs of `pipezero train` "
        f"and of the recipes write one); pass the directory a run wrote"
    )


def config_changes(old: Mapping[str, Any], new: Mapping[str, Any], path: str = "") -> list[str]:
    """``key: old -> new`` for every leaf that differs between two configs."""
    changes = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            changes += config_changes(a, b, f"{path}{key}.")
        elif a != b:
            changes.append(f"{path}{key}: {a!r} -> {b!r}")
    return changes


def check_device(device: str) -> str:
    """``device`` (``cpu``, ``cuda``, ``cuda:N``, ...) if torch can use it on this machine.

    Raises:
        UsageError: a malformed device, or an accelerator this machine lacks, naming why.
    """
    import torch

    try:
        parsed = torch.device(device)
    except RuntimeError as exc:
        raise UsageError(
            f"--device {device!r} is not a device ({exc}); use cpu, cuda or cuda:N"
        ) from None

    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            why = (
                "this torch is built without CUDA"
                if torch.version.cuda is None
                else "no CUDA device is visible"
            )
            raise UsageError(f"--device {device}: {why} (torch {torch.__version__}); use cpu")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise UsageError(
                f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) here"
            )
    return device


def resolve_run(module: ModuleType, args: argparse.Namespace) -> Run:
    """The :class:`Run` of ``module`` for parsed flags: the typed, range-checked config and
    the run directory (created, with its ``config.json``, by :func:`write_run_config` when the
    run starts). With ``--resume`` the saved config is the base and each key the flags change
    is logged.

    Raises:
        UsageError: a bad flag, key or value, or a missing resume directory.
    """
    name = recipe_name(module)
    modes = tuple(getattr(module, "MODES", ("sync", "async")))
    if args.mode not in modes:
        raise UsageError(f"{name} runs with --mode {' or '.join(modes)} (got --mode {args.mode})")
    devices = getattr(module, "DEVICES", None)
    if devices is not None and args.device.split(":")[0] not in devices:
        raise UsageError(f"{name} runs on {' or '.join(devices)} only (got --device {args.device})")
    check_device(args.device)
    if (args.ddp or args.ray_actors) and not getattr(module, "SCALE_OUT", False):
        raise UsageError(f"{name} does not take --ddp or --ray-actors (docs/scaling.md)")
    if args.ray_actors < 0:
        raise UsageError(f"--ray-actors expects an int >= 0, got {args.ray_actors}")
    if args.ddp and args.ray_actors:
        raise UsageError("--ddp and --ray-actors cannot be combined yet; choose one")
    if (args.ddp or args.ray_actors) and args.mode != "sync":
        flag = "--ddp" if args.ddp else "--ray-actors"
        raise UsageError(f"{flag} runs with --mode sync (got --mode {args.mode})")
    resume_from = None
    if args.resume is not None:
        resume_from = _latest_run(name) if args.resume == "latest" else Path(args.resume)
        if not resume_from.exists():
            raise UsageError(f"--resume {args.resume}: {resume_from} does not exist")
    try:
        defaults = EasyDict(copy.deepcopy(module.CONFIG))
        saved: dict[str, Any] | None = None
        if resume_from is not None:
            saved = read_run_config(resume_from)["config"]
            base = merge_config(defaults, saved)
        else:
            base = defaults
            if args.smoke:
                base = smoke_config(module, base)
        cfg = merge_config(base, parse_set_overrides(args.set))
        flags: dict[str, Any] = {}
        if args.seed is not None:
            flags["seed"] = args.seed
        if args.max_env_step is not None:
            flags["max_env_step"] = args.max_env_step
        if args.env_id is not None:
            flags["env.env_id"] = args.env_id
        cfg = merge_config(cfg, flags)
        if args.exp_dir is not None:
            cfg.exp_dir = args.exp_dir
        elif resume_from is not None:
            cfg.exp_dir = str(resume_from if resume_from.is_dir() else resume_from.parent.parent)
        else:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            cfg.exp_dir = str(Path("runs") / name / f"{stamp}-s{cfg.seed}")
        check_ranges(cfg)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    if saved is not None:
        for change in config_changes(saved, plain_config(cfg)):
            if not change.startswith("exp_dir:"):
                logger.warning("resume changes %s", change)
    return Run(
        recipe=name,
        cfg=cfg,
        mode=args.mode,
        backend=args.backend,
        device=args.device,
        resume_from=resume_from,
        ddp=args.ddp,
        ray_actors=args.ray_actors,
    )


def smoke_config(module: ModuleType, cfg: Mapping[str, Any] | None = None) -> EasyDict:
    """``cfg`` (default: the recipe's ``CONFIG``) with the ``--smoke`` settings:
    :data:`SMOKE_SETTINGS` where the config has the key, then the recipe's ``SMOKE``."""
    base = EasyDict(copy.deepcopy(module.CONFIG if cfg is None else cfg))
    base = merge_config(base, _present(SMOKE_SETTINGS, base))
    return merge_config(base, getattr(module, "SMOKE", {}))


def _present(settings: Mapping[str, Any], cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The part of ``settings`` whose keys ``cfg`` has."""
    out: dict[str, Any] = {}
    for key, value in settings.items():
        if key not in cfg:
            continue
        if isinstance(value, Mapping):
            if isinstance(cfg[key], Mapping):
                out[key] = _present(value, cfg[key])
        else:
            out[key] = value
    return out


def write_run_config(run: Run, module: ModuleType, argv: Sequence[str]) -> Path:
    """Write ``RUN_DIR/config.json``: the recipe, the resolved config and the command line."""
    run.exp_dir.mkdir(parents=True, exist_ok=True)
    path = run.exp_dir / CONFIG_FILE
    content = {
        "recipe": run.recipe,
        "recipe_file": str(Path(module.__file__ or "").resolve()),
        "algorithm": algorithm_of(module),
        "argv": list(argv),
        "config": plain_config(run.cfg),
    }
    path.write_text(json.dumps(content, indent=2) + "\n")
    return path
