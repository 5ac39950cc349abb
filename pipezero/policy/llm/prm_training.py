"""Training a :class:`~pipezero.policy.llm.learned_prm.LearnedPRM` before RL.

Math-Shepherd trains its PRM on steps the policy itself wrote, each labelled by whether it is
right. :class:`PRMWarmup` does that: it samples whole episodes from the warm-started policy on
training problems (its own environments and sampling generator, so the RL run's stream of
problems and samples is the same whatever the reward), labels every step with a labeller (the
exact :class:`~pipezero.policy.llm.prm.OracleArithmeticPRM` on the arithmetic task), holds out
a fraction of the episodes, and trains the PRM for a fixed number of minibatch steps
(:class:`PRMTrainer`: binary cross-entropy on the step's logit).

A PRM trained once and then frozen is exploited by RL: the policy moves to steps the PRM
never saw and scores wrongly (measured in docs/performance.md). :class:`PRMRefresh` keeps it
on the policy's distribution: during RL it labels some of each collection's episodes, keeps
a bounded buffer of labelled steps (the warm-up's to begin with) and trains a few minibatch
steps on it after every collection.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pipezero.policy.llm.learned_prm import LearnedPRM, StepLabels, ranking_auc
from pipezero.policy.llm.prm import ProcessRewardModel
from pipezero.policy.llm.rollout import Rollout, RolloutWorker
from pipezero.policy.policy_state import to_cpu

__all__ = ["PRMRefresh", "PRMTrainer", "PRMWarmup", "collect_step_labels", "label_rollout"]

logger = logging.getLogger(__name__)


def _check_counts(owner: str, **counts: Any) -> None:
    """Raise naming the first of ``counts`` that is not an int >= 1."""
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{owner}: {name} must be an int >= 1, got {value!r}")


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
        _check_counts("PRMWarmup", num_steps=num_steps, num_episodes=num_episodes)
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
        self.train_data: StepLabels | None = None  # the labelled steps it trained on

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
        self.train_data = train
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


class PRMRefresh:
    """Training a learned PRM on the policy's own steps during RL (after :class:`PRMWarmup`).

    After every collection :meth:`update` labels ``episodes`` of its finished episodes (drawn
    at random) with ``labeller``, adds their steps to a first-in-first-out buffer of at most
    ``capacity`` labelled steps (it starts with ``initial()``: the warm-up's training steps)
    and runs ``steps`` minibatch steps of ``trainer`` on the buffer. The PRM scores a
    collection before it learns from it: the agreement of those scores with the new labels
    (``onpolicy_auc``, ``onpolicy_accuracy``) measures how well the PRM follows the policy.

    Args:
        trainer: trains the learned PRM (the warm-up's, so one optimizer state goes on).
        labeller: gives each step its label (the oracle PRM on arithmetic).
        episodes: episodes labelled per collection (``>= 1``).
        steps: PRM minibatch steps per collection (``>= 1``).
        capacity: labelled steps kept (``>= 1``); the oldest leave first.
        initial: returns the steps the buffer starts with (called at the first update, after
            the warm-up ran), or ``None`` for none.
        seed: seeds which episodes are labelled.
    """

    def __init__(
        self,
        trainer: PRMTrainer,
        labeller: ProcessRewardModel,
        episodes: int,
        steps: int,
        capacity: int,
        initial: Callable[[], StepLabels | None] | None = None,
        seed: int = 0,
    ) -> None:
        _check_counts("PRMRefresh", episodes=episodes, steps=steps, capacity=capacity)
        self.trainer = trainer
        self.labeller = labeller
        self.episodes = episodes
        self.steps = steps
        self.capacity = capacity
        self.initial = initial
        self.rng = np.random.default_rng(seed)
        self.buffer: StepLabels | None = None
        self.labels_total = 0  # steps labelled during RL (the labelling budget spent)
        self.next_episode = 0

    def update(self, rollout: Rollout, scores: list[np.ndarray] | None = None) -> dict[str, float]:
        """Label, store and train on ``rollout``'s finished episodes.

        Args:
            rollout: the collection.
            scores: the PRM's scores of every trajectory's steps (aligned with
                ``rollout.trajectories``, as :func:`~pipezero.policy.llm.rewards.score_rollout`
                returns them) to measure them against the new labels; ``None`` skips that.

        Returns:
            ``labelled`` (steps labelled now), ``labels_total``, ``buffer`` (steps held),
            ``loss`` (mean minibatch loss), and with ``scores`` ``onpolicy_auc`` and
            ``onpolicy_accuracy`` (``nan`` when the labelled steps are all good or all bad).
        """
        self._start()
        finished = [k for k, t in enumerate(rollout.trajectories) if t.done and t.num_steps]
        chosen = sorted(self.rng.choice(finished, min(self.episodes, len(finished)), replace=False))
        picked = [rollout.trajectories[k] for k in chosen]
        picked = Rollout(picked, sum(t.num_steps for t in picked))
        new = label_rollout(picked, self.labeller, first_episode=self.next_episode)
        self.next_episode += len(chosen)
        self.labels_total += len(new)
        self.buffer = self._newest(
            new if self.buffer is None else StepLabels.concat([self.buffer, new])
        )
        out: dict[str, float] = {
            "labelled": float(len(new)),
            "labels_total": float(self.labels_total),
            "buffer": float(len(self.buffer)),
        }
        if scores is not None and len(new):
            seen = np.concatenate([np.asarray(scores[k], dtype=np.float64) for k in chosen])
            decided = new.labels != 0.5
            out["onpolicy_auc"] = ranking_auc(seen, new.labels)
            out["onpolicy_accuracy"] = (
                float(np.mean((seen[decided] > 0.5) == (new.labels[decided] > 0.5)))
                if decided.any()
                else float("nan")
            )
        if len(self.buffer):
            losses = [self.trainer.step(self.buffer) for _ in range(self.steps)]
            out["loss"] = float(np.mean(losses))
        return out

    def _start(self) -> None:
        """Fill the empty buffer with ``initial()`` once it has something (after the warm-up)."""
        if self.buffer is not None or self.initial is None:
            return
        start = self.initial()
        if start is not None:
            self.buffer = self._newest(start)
            if len(self.buffer):
                self.next_episode = int(self.buffer.episodes.max()) + 1

    def _newest(self, data: StepLabels) -> StepLabels:
        if len(data) <= self.capacity:
            return data
        return data.subset(np.arange(len(data) - self.capacity, len(data)))

    def state_dict(self) -> dict[str, Any]:
        """The buffer, the draw generator and the counters (the PRM and its optimizer are the
        trainer's state, saved with the warm-up's). Saved between the warm-up and the first
        update, the buffer holds the warm-up's steps already."""
        self._start()
        buffer = self.buffer
        return {
            "buffer": None
            if buffer is None
            else {
                "states": list(buffer.states),
                "steps": list(buffer.steps),
                "labels": buffer.labels.copy(),
                "episodes": buffer.episodes.copy(),
            },
            "rng": self.rng.bit_generator.state,
            "labels_total": self.labels_total,
            "next_episode": self.next_episode,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        buffer = state["buffer"]
        self.buffer = None if buffer is None else StepLabels(**buffer)
        self.rng.bit_generator.state = state["rng"]
        self.labels_total = int(state["labels_total"])
        self.next_episode = int(state["next_episode"])
