"""mlflow_logger against a local mlruns store: params, metric values, checkpoint artifacts."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from pipezero.middleware import ckpt_saver
from pipezero.middleware.mlflow_logger import MLRUNS_DIR, mlflow_logger

from pipezero.framework import Event, Task, TrainContext, middleware


class TinyStateful:
    """What ckpt_saver checkpoints: a linear model's state."""

    def __init__(self) -> None:
        self.model = torch.nn.Linear(2, 1)

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])


@middleware(
    role="collector",
    reads=("env_step", "env_episode"),
    writes=("env_step", "env_episode", "collect_episode_returns"),
)
def collect_10(ctx: TrainContext) -> None:
    """10 env steps per task step; one episode of return ``env_step / 10`` finishes."""
    ctx.env_step += 10
    ctx.env_episode += 1
    ctx.collect_episode_returns = [ctx.env_step / 10]


@middleware(role="learner", reads=("train_iter",), writes=("train_iter", "train_output"))
def learn_1(ctx: TrainContext) -> None:
    """One update per step; its loss is ``1 / train_iter``, plus a nested statistic."""
    ctx.train_iter += 1
    ctx.train_output = {"total_loss": 1.0 / ctx.train_iter, "grad": {"norm": 2.0}}


def eval_every(n: int):
    refs: dict[str, Task] = {}

    def evaluate(ctx: TrainContext) -> None:
        if ctx.train_iter % n == 0:
            result = {"return_mean": float(ctx.train_iter), "episodes": 2}
            ctx.best_eval_return = max(ctx.best_eval_return, result["return_mean"])
            refs["task"].emit(Event.EVAL_DONE, ctx, result)

    return middleware(
        evaluate,
        name="eval_every",
        role="evaluator",
        reads=("train_iter", "best_eval_return"),
        writes=("best_eval_return",),
        setup=lambda task: refs.update(task=task),
    )


def client_and_run(exp_dir: Path):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=(exp_dir / MLRUNS_DIR).resolve().as_uri())
    experiment = client.get_experiment_by_name("pipezero")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1
    return client, runs[0]


def history(client, run_id: str, key: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in client.get_metric_history(run_id, key)]


def run_toy_chain(exp_dir: Path, steps: int, **kwargs: Any) -> TrainContext:
    cfg = {"seed": 3, "env": {"env_id": "Toy-v0"}, "policy": {"model": {"latent_dim": 8}}}
    task = Task(TrainContext())
    task.use(collect_10).use(learn_1).use(eval_every(4))
    task.use(ckpt_saver(exp_dir, TinyStateful(), save_freq=5))
    task.use(mlflow_logger(exp_dir, cfg, **kwargs))
    return task.run(max_steps=steps)


def test_params_metrics_and_checkpoints_land_in_the_local_store(tmp_path: Path) -> None:
    pytest.importorskip("mlflow")
    run_toy_chain(tmp_path, steps=8, log_freq=4, run_name="toy")
    assert (tmp_path / MLRUNS_DIR).is_dir()
    client, run = client_and_run(tmp_path)
    rid = run.info.run_id
    assert run.info.run_name == "toy"
    assert run.info.status == "FINISHED"
    assert run.data.tags["pipezero.finish_reason"] == "max_steps"
    assert run.data.params == {
        "seed": "3",
        "env.env_id": "Toy-v0",
        "policy.model.latent_dim": "8",
    }
    # intervals of 4 steps: the mean loss of updates 1..4 at train_iter 4, of 5..8 at 8
    loss = history(client, rid, "train/total_loss")
    assert [s for s, _ in loss] == [4, 8]
    assert loss[0][1] == pytest.approx((1 + 1 / 2 + 1 / 3 + 1 / 4) / 4)
    assert loss[1][1] == pytest.approx((1 / 5 + 1 / 6 + 1 / 7 + 1 / 8) / 4)
    assert history(client, rid, "train/grad/norm") == [(4, 2.0), (8, 2.0)]
    # evaluations when they happen, against env_step
    assert history(client, rid, "eval/return_mean") == [(40, 4.0), (80, 8.0)]
    # collection returns of the interval: steps 5..8 finished episodes of return 5..8
    assert history(client, rid, "collect/episode_return_mean")[1] == (80, 6.5)
    assert history(client, rid, "collect/episode_return_max")[1] == (80, 8.0)
    assert history(client, rid, "counters/env_step")[-1][1] == 80
    assert history(client, rid, "counters/best_eval_return")[-1][1] == 8.0
    assert history(client, rid, "time/step")  # interval means of ctx.timings
    artifacts = {a.path for a in client.list_artifacts(rid, "checkpoints")}
    assert {"checkpoints/iter_00000005.pt", "checkpoints/final.pt"} <= artifacts
    local = Path(client.download_artifacts(rid, "checkpoints/final.pt", str(tmp_path / "dl")))
    assert local.stat().st_size == (tmp_path / "ckpt" / "final.pt").stat().st_size


def test_partial_interval_is_logged_at_the_end_and_checkpoints_can_be_filtered(tmp_path):
    pytest.importorskip("mlflow")
    run_toy_chain(tmp_path, steps=6, log_freq=4, log_checkpoints="best_and_final")
    client, run = client_and_run(tmp_path)
    rid = run.info.run_id
    assert [s for s, _ in history(client, rid, "train/total_loss")] == [4, 6]
    artifacts = {a.path for a in client.list_artifacts(rid, "checkpoints")}
    assert artifacts == {"checkpoints/best.pt", "checkpoints/final.pt"}  # no iter_*.pt


def test_a_failing_run_is_marked_failed(tmp_path: Path) -> None:
    pytest.importorskip("mlflow")

    @middleware(reads=("train_iter",))
    def explode(ctx: TrainContext) -> None:
        if ctx.train_iter == 3:
            raise RuntimeError("boom at 3")

    task = Task(TrainContext())
    task.use(learn_1).use(explode).use(mlflow_logger(tmp_path, log_freq=100))
    with pytest.raises(RuntimeError, match="boom at 3"):
        task.run(max_steps=10)
    client, run = client_and_run(tmp_path)
    assert run.info.status == "FAILED"
    assert run.data.tags["pipezero.error"] == "RuntimeError: boom at 3"
    assert [s for s, _ in history(client, run.info.run_id, "train/total_loss")] == [3]


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    pytest.importorskip("mlflow")
    with pytest.raises(ValueError, match="log_freq must be an int >= 1, got 0"):
        mlflow_logger(tmp_path, log_freq=0)
    with pytest.raises(ValueError, match="log_checkpoints must be one of"):
        mlflow_logger(tmp_path, log_checkpoints="some")


def test_missing_mlflow_names_the_extra(tmp_path: Path, monkeypatch) -> None:
    for name in ("mlflow", "mlflow.entities", "mlflow.tracking"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r"pip install 'pipezero\[mlflow\]'"):
        mlflow_logger(tmp_path)
