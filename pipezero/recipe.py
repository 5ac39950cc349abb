"""The recipe runner: what every recipe needs and none may forget.

A recipe (``recipes/<name>.py``, shipped as ``pipezero.recipes.<name>``) is a module with

- a docstring whose first line says what it trains (``pipezero list`` shows it);
- ``CONFIG``: its complete default config (the algorithm's defaults with its own settings);
- ``build(run: Run) -> Task``: builds the parts and lists the chain's ``task.use(...)`` lines;
- optionally ``SMOKE`` (settings of ``--smoke``, on top of :data:`SMOKE_SETTINGS`), ``MODES``
  (the ``--mode`` values it supports, default both), ``SCALE_OUT`` (``True``: it takes
  ``--ddp`` / ``--ray-actors``), ``TORCH_THREADS`` (default 1; ``None``: torch's default),
  ``EPISODES_KEY`` (the dotted config key ``pipezero eval --episodes`` sets, default
  ``policy.n_evaluator_episode``), ``ALGORITHM`` (the result line's and ``config.json``'s
  ``algorithm``; default: the name without its environment part) and ``summary(run, ctx) ->
  dict`` (extra entries of the result line; an ``algorithm`` entry replaces the default).

This module owns the rest: the command line (:func:`add_run_flags`), the typed config
(``--set`` checked against ``CONFIG``, then :func:`pipezero.config.check_ranges`), seeding,
the run directory with its ``config.json``, resuming, the async wiring (:meth:`Run.task`
gives the engine its backend and weight store, :meth:`Run.acting` each role its own policy
copy), the run services appended after the recipe's chain (:func:`run_services`: TensorBoard,
progress, ``--max-minutes``, ``--mlflow``) and the ``RESULT {json}`` line. ``python
recipes/X.py`` and ``pipezero train X`` both end in :func:`train`.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import importlib
import importlib.util
import json
import logging
import random
import resource
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import numpy as np
import torch
from easydict import EasyDict

from pipezero.config import ConfigError, check_ranges, merge_config, parse_set_overrides
from pipezero.framework import Context, Event, ProcessBackend, Task, WeightStore

logger = logging.getLogger(__name__)

#: The package the recipes are shipped in (``recipes/`` in the repository).
RECIPES_PACKAGE = "pipezero.recipes"
#: The run's configuration, written in the run directory.
CONFIG_FILE = "config.json"
#: Evaluation environments are seeded ``seed + EVAL_SEED_OFFSET`` (collection: ``seed``).
EVAL_SEED_OFFSET = 10_000
#: ``pipezero eval`` seeds its environments ``seed + FRESH_SEED_OFFSET``: episodes that
#: neither collection nor the training evaluations played.
FRESH_SEED_OFFSET = 20_000
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


# -- recipes ----------------------------------------------------------------------------------


def recipes_dir() -> Path:
    """The directory the recipes are installed in."""
    spec = importlib.util.find_spec(RECIPES_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{RECIPES_PACKAGE} is not installed; reinstall pipezero")
    return Path(next(iter(spec.submodule_search_locations)))


def recipe_names() -> list[str]:
    """The names of the shipped recipes, sorted."""
    return sorted(p.stem for p in recipes_dir().glob("*.py") if not p.name.startswith("_"))


def load_recipe(name_or_path: str | Path) -> ModuleType:
    """A recipe module by name (``muzero_cartpole``) or by the path of a ``.py`` file (a
    shipped recipe's path imports it by name; any other file is loaded as it is).

    Raises:
        ValueError: no such recipe (the closest names are suggested).
    """
    text = str(name_or_path)
    if text.endswith(".py"):
        path = Path(text).resolve()
        if path.parent == recipes_dir().resolve():
            text = path.stem
        else:
            if not path.is_file():
                raise ValueError(f"recipe file {path} does not exist")
            spec = importlib.util.spec_from_file_location(path.stem, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[path.stem] = module
            spec.loader.exec_module(module)
            return _checked(module)
    names = recipe_names()
    if text not in names:
        import difflib

        close = difflib.get_close_matches(text, names, n=3, cutoff=0.4)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise ValueError(f"unknown recipe {text!r}{hint} (`pipezero list` shows them all)")
    return _checked(importlib.import_module(f"{RECIPES_PACKAGE}.{text}"))


def _checked(module: ModuleType) -> ModuleType:
    missing = [a for a in ("CONFIG", "build") if not hasattr(module, a)]
    if missing:
        raise ValueError(
            f"{module.__name__} is not a recipe: it lacks {', '.join(missing)} (a recipe "
            f"defines CONFIG and build(run) -> Task; see docs/middleware.md)"
        )
    return module


def recipe_name(module: ModuleType) -> str:
    return module.__name__.rsplit(".", 1)[-1]


def algorithm_of(module: ModuleType) -> str:
    """The recipe's ``ALGORITHM``, by default its name without the environment part
    (``gumbel_muzero_cartpole`` -> ``gumbel_muzero``)."""
    return getattr(module, "ALGORITHM", recipe_name(module).rsplit("_", 1)[0])


def describe(name: str) -> str:
    """The first line of a shipped recipe's docstring (read without importing it)."""
    import ast

    doc = ast.get_docstring(ast.parse((recipes_dir() / f"{name}.py").read_text())) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


# -- the run ------------------------------------------------------------------------------------


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
        ``collect_kwargs`` / ``eval_kwargs`` (dicts) only to one side."""
        from pipezero.envs import BatchEnv

        env_cfg = self.cfg.env
        make = env_cfg.env_id if make is None else make
        collect_kwargs = make_kwargs.pop("collect_kwargs", {})
        eval_kwargs = dict(make_kwargs.pop("eval_kwargs", {}))
        if self.render_frames is not None and isinstance(make, str):
            eval_kwargs.setdefault("render_mode", "rgb_array")
        collect = BatchEnv.make(
            make, env_cfg.collector_env_num, seed=self.seed, **make_kwargs, **collect_kwargs
        )
        evaluate = BatchEnv.make(
            make, env_cfg.evaluator_env_num, seed=self.eval_seed, **make_kwargs, **eval_kwargs
        )
        if self.render_frames is not None:
            from pipezero.render import record_frames

            record_frames(evaluate, self.render_frames)
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
        the random generators and ``buffer`` come back from the newest intact checkpoint;
        ``pipezero eval`` loads only the policy's weights.
        """
        if self.resume_from is not None:
            from pipezero.checkpoint import load_checkpoint, resume

            if self.purpose == "train":
                path = resume(self.resume_from, ctx, policy, buffer)
                logger.info("resumed from %s (env_step %d)", path, ctx.env_step)
            else:
                policy.load_state_dict(load_checkpoint(self.resume_from)["policy"])
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


# -- command line -------------------------------------------------------------------------------


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


def _plain(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """``cfg`` as plain JSON types (what checkpoints and ``config.json`` store)."""
    return json.loads(json.dumps(cfg, default=str))


def _set_dotted(cfg: dict[str, Any], key: str, value: Any) -> None:
    node = cfg
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def resolve_run(module: ModuleType, args: argparse.Namespace) -> Run:
    """The :class:`Run` of ``module`` for parsed flags: the typed, range-checked config and
    the run directory (created, with ``config.json``, by :func:`start_run`).

    Raises:
        UsageError: a bad flag, key or value, or a missing resume directory.
    """
    name = recipe_name(module)
    modes = tuple(getattr(module, "MODES", ("sync", "async")))
    if args.mode not in modes:
        raise UsageError(f"{name} runs with --mode {' or '.join(modes)} (got --mode {args.mode})")
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
            flags["env"] = {"env_id": args.env_id}
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
        for change in config_changes(saved, _plain(cfg)):
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


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def write_run_config(run: Run, module: ModuleType, argv: Sequence[str]) -> Path:
    """Write ``RUN_DIR/config.json``: the recipe, the resolved config and the command line."""
    run.exp_dir.mkdir(parents=True, exist_ok=True)
    path = run.exp_dir / CONFIG_FILE
    content = {
        "recipe": run.recipe,
        "recipe_file": str(Path(module.__file__ or "").resolve()),
        "algorithm": algorithm_of(module),
        "argv": list(argv),
        "config": _plain(run.cfg),
    }
    path.write_text(json.dumps(content, indent=2) + "\n")
    return path


# -- running ------------------------------------------------------------------------------------


def run_services(run: Run, task: Task, args: argparse.Namespace) -> None:
    """Append what every training run gets after the recipe's chain: TensorBoard logs in
    ``RUN_DIR/tb``, the progress bar (a terminal) or a progress line every ``--log-every``
    seconds (no terminal), ``--max-minutes`` and ``--mlflow``. With ``--ddp`` they run on
    rank 0 only."""
    from pipezero.distributed import rank0_only
    from pipezero.middleware import progress_bar, tb_logger, time_limit

    task.use(rank0_only(tb_logger(str(run.exp_dir))))
    task.use(rank0_only(progress_bar(run.cfg.get("max_env_step"), log_every=args.log_every)))
    if args.max_minutes is not None:
        task.use(time_limit(args.max_minutes * 60))
    if args.mlflow:
        from pipezero.middleware.mlflow_logger import mlflow_logger

        task.use(mlflow_logger(str(run.exp_dir), run.cfg, run_name=run.exp_dir.name))


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
    seed_everything(run.seed)
    task = module.build(run)
    if not isinstance(task, Task):
        raise TypeError(f"{run.recipe}.build(run) must return a Task, got {type(task).__name__}")
    run_services(run, task, args)
    return run, task, args


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
    if not run.ddp or _rank() == 0:
        write_run_config(run, module, list(sys.argv[1:] if argv is None else argv))
    start, history = time.perf_counter(), []

    def record(ctx: Context, result: Mapping[str, Any]) -> None:
        history.append(
            dict(result) | {"wall_s": time.perf_counter() - start, "unix_time": time.time()}
        )

    task.on(Event.EVAL_DONE, record)
    ctx = task.run(mode=run.mode)
    extra = {"recipe": run.recipe, "exp_dir": str(run.exp_dir), "eval_history": history}
    if hasattr(module, "summary"):
        extra |= module.summary(run, ctx)
    algorithm = extra.pop("algorithm", algorithm_of(module))
    print(result_line(ctx, algorithm=algorithm, seed=run.seed, start=start, **extra), flush=True)
    return ctx


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
