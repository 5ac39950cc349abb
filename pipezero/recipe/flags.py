"""The command line of every recipe, the typed config it resolves to, and the run directory's
``config.json``."""

from __future__ import annotations

import argparse
import copy
import difflib
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
        help="--mode async: the collector and evaluator in their own processes (the speed "
        "option, on a free core: 1.35x sync for MuZero CartPole on 2 cores) or in threads of "
        "one process (not a speed option: slower than sync for small models, whose roles take "
        "turns on the GIL; for platforms without fork and GPU runs; docs/scaling.md)",
    )
    parser.add_argument("--device", default="cpu", help="the learner's device: cpu, cuda, cuda:N")
    parser.add_argument(
        "--smoke", action="store_true", help="a tiny end-to-end run (under 30 s) to check a setup"
    )
    parser.add_argument("--env-id", default=None, help="the environment (sets env.env_id)")
    parser.add_argument(
        "--data",
        default=None,
        metavar="TRAIN.jsonl",
        help="LLM recipes: training problems, GSM8K / MATH / {problem, final_answer} JSONL "
        "(sets env.train_path; default: generated arithmetic)",
    )
    parser.add_argument(
        "--eval-data",
        default=None,
        metavar="TEST.jsonl",
        help="LLM recipes: held-out problems (sets env.eval_path; default: a split of --data)",
    )
    parser.add_argument("--max-env-step", type=int, default=None, help="env step budget")
    parser.add_argument("--max-minutes", type=float, default=None, help="wall-clock budget")
    parser.add_argument("--mlflow", action="store_true", help="also track the run with MLflow")
    parser.add_argument(
        "--eval-video",
        action="store_true",
        help="log each evaluation's first episode to TensorBoard as an animated GIF "
        '(eval/video; pip install "pipezero[render]")',
    )
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
        "--visual",
        action="store_true",
        help="serve a live page of the run on 127.0.0.1 (environments, speed, losses, "
        "evaluation; docs/visual.md)",
    )
    parser.add_argument(
        "--visual-port",
        type=int,
        default=0,
        metavar="PORT",
        help="--visual: the port of the page (default 0: a free one, logged with the URL)",
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


#: Environment families that need an optional extra: id test, module to import, extra.
_EXTRA_ENVS = (
    ("MinAtar/", "minatar", "minatar"),
    ("ALE/", "ale_py", "atari"),
)


def check_env_id(env_id: Any) -> None:
    """Fail before anything is built when ``env.env_id`` is no environment gymnasium can make.

    MinAtar (``MinAtar/<Game>-v1``) and ALE (``ALE/<Game>-v5``, ``<Game>NoFrameskip-v4``)
    ids need their extra installed (``pipezero[minatar]``, ``pipezero[atari]``); other ids
    must be in gymnasium's registry (after ``import pipezero.envs`` registered its own).

    Raises:
        UsageError: naming the key, the id, the extra to install or the closest known ids.
    """
    import gymnasium as gym

    if not isinstance(env_id, str) or not env_id:
        raise UsageError(f"config key 'env.env_id' must be an environment id, got {env_id!r}")
    import pipezero.envs  # noqa: F401  (registers pipezero's own ids)

    for prefix, package, extra in _EXTRA_ENVS:
        atari_v4 = extra == "atari" and env_id.endswith("NoFrameskip-v4")
        if not (env_id.startswith(prefix) or atari_v4):
            continue
        try:
            imported = __import__(package)
        except ImportError:
            raise UsageError(
                f"config key 'env.env_id' is {env_id!r}, which needs the {extra!r} extra: "
                f'pip install "pipezero[{extra}]"'
            ) from None
        if extra == "atari":
            gym.register_envs(imported)
        else:
            from pipezero.envs.minatar import _register_minatar

            _register_minatar()
    if env_id in gym.registry:
        return
    close = difflib.get_close_matches(env_id, list(gym.registry), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    raise UsageError(
        f"config key 'env.env_id': gymnasium knows no environment {env_id!r}{hint} "
        f"(MinAtar ids are 'MinAtar/<Game>-v1' with pipezero[minatar], Atari ids "
        f"'ALE/<Game>-v5' with pipezero[atari])"
    )


def scale_out_flags(module: ModuleType) -> tuple[str, ...]:
    """The scale-out flags a recipe takes, from its ``SCALE_OUT``: ``True`` both (``"ddp"``
    and ``"ray_actors"``), a tuple of those names only them, absent or ``False`` none."""
    scale_out = getattr(module, "SCALE_OUT", False)
    if scale_out is True:
        return ("ddp", "ray_actors")
    flags = tuple(scale_out or ())
    unknown = [f for f in flags if f not in ("ddp", "ray_actors")]
    if unknown:
        raise TypeError(
            f"{recipe_name(module)}.SCALE_OUT: unknown flag(s) {unknown}; use True, False or a "
            f"tuple of 'ddp' and 'ray_actors'"
        )
    return flags


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
    scale_out = scale_out_flags(module)
    for flag, asked in (("ddp", args.ddp), ("ray_actors", args.ray_actors)):
        if asked and flag not in scale_out:
            takes = ", ".join(f"--{f.replace('_', '-')}" for f in scale_out) or "none"
            raise UsageError(
                f"{name} does not take --{flag.replace('_', '-')} (scale-out flags it takes: "
                f"{takes}; docs/scaling.md)"
            )
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
        flags |= _data_flags(name, module.CONFIG, args)
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
    env_id = cfg.get("env", {}).get("env_id")
    if env_id != module.CONFIG.get("env", {}).get("env_id"):  # the recipe knows its own
        check_env_id(env_id)
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


def _data_flags(name: str, config: Mapping[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """``env.train_path`` / ``env.eval_path`` from ``--data`` / ``--eval-data``, for recipes
    whose config has those keys (the LLM recipes).

    Raises:
        UsageError: a recipe without them was given one of the flags.
    """
    flags: dict[str, Any] = {}
    for flag, key in (("data", "train_path"), ("eval_data", "eval_path")):
        value = getattr(args, flag, None)
        if value is None:
            continue
        if key not in config.get("env", {}):
            raise UsageError(
                f"{name} takes no --{flag.replace('_', '-')}: its config has no env.{key} "
                f"(the LLM recipes appo_math, grpo_math and tppo_math read JSONL problems)"
            )
        flags[f"env.{key}"] = value
    return flags


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
