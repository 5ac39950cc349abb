"""The recipe runner: what every recipe needs and none may forget.

A recipe (``recipes/<name>.py``, shipped as ``pipezero.recipes.<name>``) is a module with

- a docstring whose first line says what it trains (``pipezero list`` shows it);
- ``CONFIG``: its complete default config (the algorithm's defaults with its own settings);
- ``build(run: Run) -> Task``: builds the parts and lists the chain's ``task.use(...)`` lines;
- optionally ``SMOKE`` (settings of ``--smoke``, on top of :data:`SMOKE_SETTINGS`), ``MODES``
  (the ``--mode`` values it supports, default both), ``DEVICES`` (the device types it runs
  on, default any), ``SCALE_OUT`` (``True``: it takes ``--ddp`` / ``--ray-actors``),
  ``TORCH_THREADS`` (default 1; ``None``: torch's default; ``--threads`` overrides it),
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
recipes/X.py`` and ``pipezero train X`` both end in :func:`train`. The learning benchmarks
train, time and re-evaluate recipes with :mod:`pipezero.recipe.benchmarking`.
"""

from pipezero.recipe.benchmarking import (
    REEVAL_EPISODES,
    benchmark_run,
    git_commit,
    median_or_none,
    reevaluate,
    reevaluate_run,
    run_recipe,
    time_to_target,
)
from pipezero.recipe.catalog import (
    RECIPES_PACKAGE,
    algorithm_of,
    describe,
    load_recipe,
    recipe_name,
    recipe_names,
    recipes_dir,
)
from pipezero.recipe.flags import (
    CONFIG_FILE,
    SMOKE_SETTINGS,
    UsageError,
    add_run_flags,
    config_changes,
    read_run_config,
    recipe_parser,
    resolve_run,
    smoke_config,
    write_run_config,
)
from pipezero.recipe.run import EVAL_SEED_OFFSET, FRESH_SEED_OFFSET, Run, seed_everything
from pipezero.recipe.train import (
    main,
    prepare,
    read_result,
    result_line,
    run_services,
    train,
)

__all__ = [
    "CONFIG_FILE",
    "EVAL_SEED_OFFSET",
    "FRESH_SEED_OFFSET",
    "RECIPES_PACKAGE",
    "REEVAL_EPISODES",
    "SMOKE_SETTINGS",
    "Run",
    "UsageError",
    "add_run_flags",
    "algorithm_of",
    "benchmark_run",
    "config_changes",
    "describe",
    "git_commit",
    "load_recipe",
    "main",
    "median_or_none",
    "prepare",
    "read_result",
    "read_run_config",
    "recipe_name",
    "recipe_names",
    "recipe_parser",
    "recipes_dir",
    "reevaluate",
    "reevaluate_run",
    "resolve_run",
    "result_line",
    "run_recipe",
    "run_services",
    "seed_everything",
    "smoke_config",
    "time_to_target",
    "train",
    "write_run_config",
]
