"""--mlflow on every recipe: the shared runner appends mlflow_logger after any recipe's chain,
and an async run's TensorBoard logs hold the async/ monitoring figures."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pipezero.middleware.mlflow_logger import MLRUNS_DIR

from pipezero.recipe import prepare, recipe_names, train

TINY = ["--smoke", "--set", "policy.model.latent_dim=16", "--set", "policy.model.hidden_dim=16"]


@pytest.mark.parametrize(
    "recipe", ["alphazero_tictactoe", "unizero_cartpole", "stochastic_muzero_2048", "tppo_math"]
)
def test_every_recipe_family_takes_mlflow(recipe, tmp_path):
    pytest.importorskip("mlflow")
    assert recipe in recipe_names()
    _, task, _ = prepare(recipe, ["--exp-dir", str(tmp_path), "--smoke", "--mlflow"])
    names = [mw.name for mw in task.chain]
    assert names[-1] == "mlflow_logger" and "tb_logger" in names
    _, plain, _ = prepare(recipe, ["--exp-dir", str(tmp_path), "--smoke"])
    assert "mlflow_logger" not in [mw.name for mw in plain.chain]


def test_a_recipe_run_with_mlflow_records_metrics(tmp_path):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    train("rezero_cartpole", ["--exp-dir", str(tmp_path), "--mlflow", "--log-every", "0", *TINY])
    client = MlflowClient(tracking_uri=(tmp_path / MLRUNS_DIR).resolve().as_uri())
    experiment = client.get_experiment_by_name("pipezero")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.params["policy.buffer_reanalyze_freq"] == "1.0"
    assert client.get_metric_history(run.info.run_id, "counters/env_step")


def test_async_recipe_logs_queue_depth_staleness_and_steps_per_second(tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "middleware"))
    from test_logger import read_scalars

    argv = ["--exp-dir", str(tmp_path), "--mode", "async", "--max-env-step", "1200", *TINY]
    train("muzero_cartpole", [*argv, "--log-every", "0"])
    tags = read_scalars(tmp_path / "tb")
    for tag in (
        "async/queue_depth/collector_to_learner",
        "async/staleness/env_collect",
        "async/steps_per_s/collector",
        "async/steps_per_s/learner",
    ):
        assert tag in tags, sorted(t for t in tags if t.startswith("async/"))
    assert all(v >= 0 for _, v in tags["async/staleness/env_collect"])
