"""mlflow_logger: track a run with MLflow: config params, metrics, checkpoints as artifacts."""

from __future__ import annotations

import logging
import math
import os
import re
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from pipezero.framework import Event, Middleware, Task, TrainContext, middleware
from pipezero.tracking import flatten_config, scalars

__all__ = ["MLRUNS_DIR", "mlflow_logger"]

logger = logging.getLogger(__name__)

#: Sub-directory of ``exp_dir`` holding the default local MLflow store.
MLRUNS_DIR = "mlruns"
#: What ``log_checkpoints`` accepts.
CHECKPOINT_MODES = ("all", "best_and_final", "none")
_BAD_KEY_CHARS = re.compile(r"[^\w\-. /:]")  # MLflow keys: alphanumerics, _ - . space / :
_BATCH = 100  # MLflow accepts at most 100 params (1000 metrics) per log_batch call


def _import_mlflow() -> SimpleNamespace:
    """The MLflow pieces used here, or an ImportError that says which extra to install."""
    try:
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.tracking import MlflowClient
    except ImportError as err:
        raise ImportError(
            "mlflow_logger needs MLflow, which is not installed; install the extra with "
            "pip install 'pipezero[mlflow]' (it brings the light mlflow-skinny package), or "
            "drop mlflow_logger from the chain"
        ) from err
    return SimpleNamespace(MlflowClient=MlflowClient, Metric=Metric, Param=Param, RunTag=RunTag)


def _key(tag: str) -> str:
    """A metric name MLflow accepts (``ckpt_saver#2`` -> ``ckpt_saver_2``)."""
    return _BAD_KEY_CHARS.sub("_", tag)


def _local_store_uri(exp_dir: Path) -> str:
    """``file://`` URI of ``exp_dir/mlruns``, allowing MLflow's file store for this process.

    MLflow 3 keeps the file store in maintenance mode and refuses it unless
    ``MLFLOW_ALLOW_FILE_STORE`` is true; it needs no database package, so it is the default
    here. A value the user set in the environment is left alone.
    """
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return (exp_dir / MLRUNS_DIR).resolve().as_uri()


class _MLflowRun:
    """One MLflow run, created at the first thing to log; shared by the step and the handlers."""

    def __init__(
        self,
        exp_dir: Path,
        cfg: Mapping[str, Any] | None,
        tracking_uri: str | None,
        experiment_name: str,
        run_name: str | None,
        tags: Mapping[str, str] | None,
        log_freq: int,
        log_checkpoints: str,
    ) -> None:
        self.ml = _import_mlflow()
        self.tracking_uri = tracking_uri or _local_store_uri(exp_dir)
        self.experiment_name = experiment_name
        self.run_name = run_name or exp_dir.resolve().name
        self.params = flatten_config(cfg) if cfg is not None else {}
        self.tags = {"pipezero.exp_dir": str(exp_dir.resolve()), **dict(tags or {})}
        self.log_freq = log_freq
        self.log_checkpoints = log_checkpoints
        self.lock = threading.RLock()
        self.client: Any = None
        self.run_id: str | None = None
        self.ended = False
        self._reset_interval()

    # -- the run ---------------------------------------------------------------------------
    def _ensure_run(self) -> str:
        if self.run_id is not None:
            return self.run_id
        client = self.ml.MlflowClient(tracking_uri=self.tracking_uri)
        experiment = client.get_experiment_by_name(self.experiment_name)
        if experiment is None:
            experiment_id = client.create_experiment(self.experiment_name)
        else:
            experiment_id = experiment.experiment_id
        run = client.create_run(experiment_id, run_name=self.run_name, tags=self.tags)
        self.client, self.run_id = client, run.info.run_id
        params = [self.ml.Param(k, v) for k, v in self.params.items()]
        for i in range(0, len(params), _BATCH):
            client.log_batch(self.run_id, params=params[i : i + _BATCH])
        logger.info(
            "MLflow run %s (experiment %r) in %s",
            self.run_id,
            self.experiment_name,
            self.tracking_uri,
        )
        return self.run_id

    def _log(self, values: Mapping[str, float], step: int) -> None:
        if not values:
            return
        run_id = self._ensure_run()
        now = int(time.time() * 1000)
        metrics = [self.ml.Metric(_key(k), float(v), now, int(step)) for k, v in values.items()]
        for i in range(0, len(metrics), 10 * _BATCH):
            self.client.log_batch(run_id, metrics=metrics[i : i + 10 * _BATCH])

    # -- the interval ----------------------------------------------------------------------
    def _reset_interval(self) -> None:
        self.train: dict[str, list[float]] = {}
        self.timings: dict[str, list[float]] = {}
        self.returns: list[float] = []
        self.steps = 0

    def step(self, ctx: TrainContext) -> Iterator[None]:
        yield  # log once the whole chain has run: train_output and every timing are known
        with self.lock:
            for tag, value in scalars(ctx.train_output, "train").items():
                self.train.setdefault(tag, []).append(value)
            timings = {f"time/{name}": seconds for name, seconds in ctx.timings.items()}
            if timings:
                timings["time/step"] = sum(ctx.timings.values())
            for tag, value in timings.items():
                self.timings.setdefault(tag, []).append(value)
            self.returns.extend(float(r) for r in ctx.collect_episode_returns)
            self.steps += 1
            if self.steps >= self.log_freq:
                self._flush(ctx)

    def _flush(self, ctx: TrainContext) -> None:
        """Log the interval's means and the counters, then start a new interval."""
        if self.steps == 0:
            return
        self._log({tag: sum(v) / len(v) for tag, v in self.train.items()}, ctx.train_iter)
        if self.returns:
            stats = {
                "collect/episode_return_mean": sum(self.returns) / len(self.returns),
                "collect/episode_return_max": max(self.returns),
                "collect/episodes": float(len(self.returns)),
            }
            self._log(stats, ctx.env_step)
        counters = {
            "counters/env_step": ctx.env_step,
            "counters/train_iter": ctx.train_iter,
            "counters/env_episode": ctx.env_episode,
        }
        if math.isfinite(ctx.best_eval_return):
            counters["counters/best_eval_return"] = ctx.best_eval_return
        counters.update({tag: sum(v) / len(v) for tag, v in self.timings.items()})
        self._log(counters, ctx.task_step)
        self._reset_interval()

    # -- events ----------------------------------------------------------------------------
    def on_eval_done(self, ctx: TrainContext, eval_result: Any) -> None:
        with self.lock:
            self._log(scalars(eval_result, "eval"), ctx.env_step)

    def on_ckpt_saved(self, ctx: TrainContext, path: os.PathLike[str] | str) -> None:
        path = Path(path)
        if self.log_checkpoints == "none":
            return
        if self.log_checkpoints == "best_and_final" and path.name not in ("best.pt", "final.pt"):
            return
        with self.lock:
            run_id = self._ensure_run()
            self.client.log_artifact(run_id, str(path), artifact_path="checkpoints")

    def on_finish(self, ctx: TrainContext, reason: object) -> None:
        self._end(ctx, "FINISHED", {"pipezero.finish_reason": str(reason)})

    def on_error(self, ctx: TrainContext, exc: BaseException) -> None:
        self._end(ctx, "FAILED", {"pipezero.error": f"{type(exc).__name__}: {exc}"[:5000]})

    def _end(self, ctx: TrainContext, status: str, tags: Mapping[str, str]) -> None:
        with self.lock:
            if self.ended:
                return
            self._flush(ctx)
            run_id = self._ensure_run()
            for key, value in tags.items():
                self.client.set_tag(run_id, key, value)
            self.client.set_terminated(run_id, status)
            self.ended = True

    def setup(self, task: Task) -> None:
        task.on(Event.EVAL_DONE, self.on_eval_done)
        task.on(Event.CKPT_SAVED, self.on_ckpt_saved)
        task.on(Event.FINISH, self.on_finish)
        task.on(Event.ERROR, self.on_error)


def mlflow_logger(
    exp_dir: str | os.PathLike[str],
    cfg: Mapping[str, Any] | None = None,
    *,
    tracking_uri: str | None = None,
    experiment_name: str = "pipezero",
    run_name: str | None = None,
    tags: Mapping[str, str] | None = None,
    log_freq: int = 10,
    log_checkpoints: str = "all",
) -> Middleware:
    """Track the run with MLflow (``pip install 'pipezero[mlflow]'``).

    By default the store is local: ``exp_dir/mlruns`` (MLflow's file store; no server, no
    database). Browse it with the full ``mlflow`` package: ``mlflow ui --backend-store-uri
    EXP_DIR/mlruns``. ``tracking_uri`` points elsewhere (``http://...``, ``sqlite:///...``).

    What is recorded, in one run of the experiment ``experiment_name``:

    =================================  ==============  ========================================
    name                               step            source
    =================================  ==============  ========================================
    params ``policy.num_simulations``  -               ``cfg`` flattened with dotted keys
    ``train/<key>``                    ``train_iter``  numbers in ``ctx.train_output``, averaged
                                                       over the interval
    ``eval/<key>``                     ``env_step``    ``Event.EVAL_DONE``'s ``eval_result``
    ``collect/episode_return_mean``,   ``env_step``    ``ctx.collect_episode_returns`` of the
    ``..._max``, ``collect/episodes``                  interval
    ``counters/env_step``,             ``task_step``   the context's counters (and
    ``train_iter``, ``env_episode``,                   ``best_eval_return`` once finite)
    ``best_eval_return``
    ``time/<middleware>``, ``time/step``  ``task_step``  ``ctx.timings``, interval mean (s)
    artifacts ``checkpoints/<file>``   -               every ``Event.CKPT_SAVED`` path
    tags ``pipezero.finish_reason``    -               ``Event.FINISH`` (status FINISHED) or
    / ``pipezero.error``                               ``Event.ERROR`` (status FAILED)
    =================================  ==============  ========================================

    The run is created at the first value to log. An *interval* is ``log_freq`` task steps:
    its metrics are logged after this middleware's ``yield`` (the whole step is seen, wherever
    it sits in the chain) and the last partial interval when the run ends. Event handlers may
    run in several threads in async mode; a lock serialises them.

    Args:
        exp_dir: the run directory (default store: ``exp_dir/mlruns``).
        cfg: the experiment config, logged as params (``None``: no params).
        tracking_uri: MLflow tracking URI; ``None`` uses the local store above.
        experiment_name: MLflow experiment, created when missing.
        run_name: name of the run (default: the name of ``exp_dir``).
        tags: extra run tags.
        log_freq: task steps per logged interval (``>= 1``).
        log_checkpoints: ``"all"``, ``"best_and_final"`` (``best.pt``, ``final.pt``) or
            ``"none"``.

    Raises:
        ImportError: MLflow is not installed (the message names the extra to install).
        ValueError: a bad ``log_freq`` or ``log_checkpoints``.
    """
    if isinstance(log_freq, bool) or not isinstance(log_freq, int) or log_freq < 1:
        raise ValueError(f"mlflow_logger: log_freq must be an int >= 1, got {log_freq!r}")
    if log_checkpoints not in CHECKPOINT_MODES:
        raise ValueError(
            f"mlflow_logger: log_checkpoints must be one of {CHECKPOINT_MODES}, "
            f"got {log_checkpoints!r}"
        )
    run = _MLflowRun(
        Path(exp_dir),
        cfg,
        tracking_uri,
        experiment_name,
        run_name,
        tags,
        log_freq,
        log_checkpoints,
    )
    return middleware(
        run.step,
        name="mlflow_logger",
        reads=("train_iter", "env_step", "timings", "collect_episode_returns"),
        setup=run.setup,
    )
