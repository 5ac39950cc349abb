"""Training a :class:`~pipezero.policy.llm.learned_prm.LearnedPRM` before RL.

Math-Shepherd trains its PRM on steps the policy itself wrote, each labelled by whether it is
right. :class:`PRMWarmup` does that: it samples whole episodes from the warm-started policy on
training problems (its own environments and sampling generator, so the RL run's stream of
problems and samples is the same whatever the reward), labels every step with a labeller (the
exact :class:`~pipezero.policy.llm.prm.OracleArithmeticPRM` on the arithmetic task), holds out
a fraction of the episodes, and trains the PRM for a fixed number of minibatch steps
(:class:`PRMTrainer`: binary cross-entropy on the step's logit).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pipezero.policy.llm.learned_prm import LearnedPRM, StepLabels, ranking_auc
from pipezero.policy.llm.prm import ProcessRewardModel
from pipezero.policy.llm.rollout import Rollout, RolloutWorker
from pipezero.policy.policy_state import to_cpu

__all__ = ["PRMTrainer", "PRMWarmup", "collect_step_labels", "label_rollout"]

logger = logging.getLogger(__name__)


def label_rollout(
    rollout: Rollout, labeller: ProcessRewardModel, first_episode: int = 0
) -> StepLabels:
    """Every step of ``rollout``'s trajectories with ``labeller``'s score as its label; the
    trajectories are numbered from ``first_episode``."""
    states, steps, episodes = [], [], []
    for k, traj in enumerate(rollout.trajectories):
        states += traj.states
        steps += traj.steps
        episodes += [first_episode + k] * traj.num_steps
    labels = np.asarray(labeller.score(states, steps), dtype=np.float32) if states else np.zeros(0)
    return StepLabels(states, steps, labels, np.asarray(episodes, dtype=np.int64))


def collect_step_labels(
    worker: RolloutWorker, labeller: ProcessRewardModel, num_episodes: int
) -> StepLabels:
    """Collect at least ``num_episodes`` episodes with ``worker`` (whole-episode mode) and
    label their steps."""
    if worker.mode != "episodes":
        raise ValueError(
            f"collect_step_labels needs a worker in 'episodes' mode, got {worker.mode!r}"
        )
    parts: list[StepLabels] = []
    done = 0
    while done < num_episodes:
        rollout = worker.collect()
        parts.append(label_rollout(rollout, labeller, first_episode=done))
        done += len(rollout.trajectories)
    return StepLabels.concat(parts)


class PRMTrainer:
    """Minibatch training of a learned PRM on labelled steps (binary cross-entropy).

    Args:
        prm: the model.
        lr: AdamW learning rate.
        batch_size: steps per minibatch (drawn uniformly, without replacement within one).
        weight_decay: AdamW weight decay.
        max_grad_norm: gradient norm clip.
        seed: seeds the minibatch draws.
    """

    def __init__(
        self,
        prm: LearnedPRM,
        lr: float = 1e-3,
        batch_size: int = 64,
        weight_decay: float = 0.01,
        max_grad_norm: float = 1.0,
        seed: int = 0,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        self.prm = prm
        self.batch_size = batch_size
        self.max_grad_norm = max_grad_norm
        self.params = prm.trainable_parameters()
        self.optimizer = torch.optim.AdamW(self.params, lr=lr, weight_decay=weight_decay)
        self.rng = np.random.default_rng(seed)
        self.steps_done = 0

    def loss(self, data: StepLabels) -> torch.Tensor:
        """Mean binary cross-entropy of the PRM on ``data`` (with gradients when enabled)."""
        target = torch.as_tensor(data.labels, dtype=torch.float32, device=self.prm.device)
        return F.binary_cross_entropy_with_logits(self.prm.logits(data.states, data.steps), target)

    def step(self, data: StepLabels) -> float:
        """One gradient step on a minibatch of ``data``; returns its loss."""
        if len(data) == 0:
            raise ValueError("PRMTrainer.step: no labelled steps to train on")
        index = self.rng.choice(len(data), size=min(self.batch_size, len(data)), replace=False)
        trainable = [p.requires_grad for p in self.params]
        for p in self.params:
            p.requires_grad_(True)
        try:
            self.prm.train()
            loss = self.loss(data.subset(index))
            self.optimizer.zero_grad(set_to_none=True)
            self.prm.precision.backward(loss)
            self.prm.precision.unscale(self.optimizer)
            nn.utils.clip_grad_norm_(self.params, self.max_grad_norm)
            self.prm.precision.step(self.optimizer)
        finally:
            for p, flag in zip(self.params, trainable, strict=True):
                p.requires_grad_(flag)
        self.steps_done += 1
        return float(loss.detach())

    @torch.no_grad()
    def evaluate(self, data: StepLabels) -> dict[str, float]:
        """On ``data``: ``loss`` (cross-entropy), ``auc`` (good steps ranked above bad ones),
        ``accuracy`` (score on the right side of 0.5, decided labels only) and
        ``good_fraction``."""
        scores = self.prm.score(data.states, data.steps)
        decided = data.labels != 0.5
        host = torch.device("cpu")  # the scores came back as a NumPy array
        target = torch.as_tensor(data.labels, dtype=torch.float64, device=host)
        probs = torch.as_tensor(scores, dtype=torch.float64, device=host).clamp(1e-7, 1 - 1e-7)
        return {
            "loss": float(F.binary_cross_entropy(probs, target)),
            "auc": ranking_auc(scores, data.labels),
            "accuracy": float(np.mean((scores[decided] > 0.5) == (data.labels[decided] > 0.5)))
            if decided.any()
            else float("nan"),
            "good_fraction": float(np.mean(data.labels[decided] > 0.5))
            if decided.any()
            else float("nan"),
        }

    def state_dict(self) -> dict[str, Any]:
        """The model (CPU tensors), the optimizer, the draw generator and the step count."""
        return {
            "prm": to_cpu(self.prm.state_dict()),
            "optimizer": self.optimizer.state_dict(),
            "rng": self.rng.bit_generator.state,
            "steps_done": self.steps_done,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.prm.load_state_dict(state["prm"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.rng.bit_generator.state = state["rng"]
        self.steps_done = int(state["steps_done"])


class PRMWarmup:
    """The PRM warm-up phase: label the policy's own steps, then train the PRM on them.

    Args:
        trainer: trains the learned PRM.
        worker: samples whole episodes on training problems (its own policy object over the
            RL policy's language model, with its own generator and environments).
        labeller: gives each step its label (the oracle PRM on arithmetic).
        num_steps: minibatch steps of PRM training.
        num_episodes: episodes sampled and labelled for it.
        val_fraction: episodes held out to measure the trained PRM (``auc``, ``accuracy``).
        init_from: a language model whose weights the PRM's starts from (the warm-started
            policy's, same architecture), or ``None`` to keep the PRM's own.
        seed: seeds the held-out split.
        log_every: steps between progress log lines.
    """

    def __init__(
        self,
        trainer: PRMTrainer,
        worker: RolloutWorker,
        labeller: ProcessRewardModel,
        num_steps: int,
        num_episodes: int,
        val_fraction: float = 0.1,
        init_from: nn.Module | None = None,
        seed: int = 0,
        log_every: int = 100,
    ) -> None:
        for name, value in (("num_steps", num_steps), ("num_episodes", num_episodes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"PRMWarmup: {name} must be an int >= 1, got {value!r}")
        if num_episodes < 2:
            raise ValueError(
                f"PRMWarmup: num_episodes must be >= 2 to hold some out, got {num_episodes}"
            )
        self.trainer = trainer
        self.worker = worker
        self.labeller = labeller
        self.num_steps = num_steps
        self.num_episodes = num_episodes
        self.val_fraction = val_fraction
        self.init_from = init_from
        self.seed = seed
        self.log_every = log_every

    @property
    def done(self) -> bool:
        return self.trainer.steps_done >= self.num_steps

    def run(self) -> dict[str, float]:
        """Sample, label and train (from the start: a run stopped during the warm-up trains
        it again); returns the statistics of the held-out steps after training, and before
        (``initial_*``), the last minibatch losses and the data's size."""
        prm = self.trainer.prm
        if self.init_from is not None:
            missing, unexpected = prm.lm.load_state_dict(self.init_from.state_dict(), strict=False)
            if missing or unexpected:
                raise ValueError(
                    f"the PRM's language model does not match the policy's (missing {missing[:3]}, "
                    f"unexpected {unexpected[:3]}); build both from the same model config"
                )
        self.trainer.steps_done = 0
        data = collect_step_labels(self.worker, self.labeller, self.num_episodes)
        train, val = data.split(self.val_fraction, self.seed)
        logger.info(
            "PRM warm-up: %d labelled steps (%.0f%% good) from %d episodes, %d held out",
            len(data),
            100 * float(np.mean(data.labels > 0.5)),
            len(np.unique(data.episodes)),
            len(val),
        )
        before = self.trainer.evaluate(val)
        losses: list[float] = []
        while not self.done:
            losses.append(self.trainer.step(train))
            if self.trainer.steps_done % self.log_every == 0:
                logger.info(
                    "PRM warm-up %d/%d: loss %.4f",
                    self.trainer.steps_done,
                    self.num_steps,
                    float(np.mean(losses[-self.log_every :])),
                )
        after = self.trainer.evaluate(val)
        logger.info(
            "PRM warm-up done: held-out AUC %.3f -> %.3f, accuracy %.3f -> %.3f",
            before["auc"],
            after["auc"],
            before["accuracy"],
            after["accuracy"],
        )
        window = max(1, min(self.log_every, len(losses) // 2))
        return {
            **{f"val_{k}": v for k, v in after.items()},
            **{f"initial_val_{k}": v for k, v in before.items()},
            "first_loss": float(np.mean(losses[:window])),
            "last_loss": float(np.mean(losses[-window:])),
            "train_steps_labelled": float(len(train)),
            "val_steps_labelled": float(len(val)),
        }
