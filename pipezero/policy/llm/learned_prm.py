"""A learned process reward model: a value head on a causal LM, trained on step labels
(Math-Shepherd style).

``P(step good | state, step) = sigmoid(head(h))`` where ``h`` is the language model's
last-layer hidden state at the step's last token (the newline closing the line: the place
where Math-Shepherd reads its step tag, which sees the whole step). The LM is any
:class:`~pipezero.model.lm.protocol.CausalLMProtocol` model (the character LM or a Hugging
Face one through its adapter); it trains with the head, either its base weights (adapter off,
the character LM's default) or only its LoRA adapter (large models).

:class:`StepLabels` holds labelled steps (``state``, ``step``, label in ``[0, 1]``) and the
episode each came from, so splits keep the steps of one episode together.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from pipezero.model.lm.protocol import device_of
from pipezero.policy.llm.critic import ValueHead
from pipezero.policy.precision import Precision

__all__ = ["LearnedPRM", "StepLabels", "ranking_auc"]

#: ``reward.learned.train`` values: what of the language model trains with the head.
TRAINABLE = ("base", "adapter")


@dataclass
class StepLabels:
    """Labelled reasoning steps.

    Attributes:
        states: ``[N]`` the text before each step.
        steps: ``[N]`` the step (one reasoning line).
        labels: ``[N]`` float32 in ``[0, 1]``: 1 a good step, 0 a bad one (0.5 undecided).
        episodes: ``[N]`` int64 id of the episode each step belongs to.
    """

    states: list[str]
    steps: list[str]
    labels: np.ndarray
    episodes: np.ndarray

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.float32)
        self.episodes = np.asarray(self.episodes, dtype=np.int64)
        n = len(self.states)
        if not len(self.steps) == len(self.labels) == len(self.episodes) == n:
            raise ValueError(
                f"StepLabels: {n} states, {len(self.steps)} steps, {len(self.labels)} labels "
                f"and {len(self.episodes)} episode ids; they must be aligned"
            )
        if n and not np.all((self.labels >= 0) & (self.labels <= 1)):
            raise ValueError("StepLabels: labels must lie in [0, 1]")

    def __len__(self) -> int:
        return len(self.states)

    def subset(self, index: Sequence[int] | np.ndarray) -> StepLabels:
        """The steps at ``index``."""
        idx = np.asarray(index, dtype=np.int64)
        return StepLabels(
            [self.states[i] for i in idx],
            [self.steps[i] for i in idx],
            self.labels[idx],
            self.episodes[idx],
        )

    def split(self, val_fraction: float, seed: int) -> tuple[StepLabels, StepLabels]:
        """``(train, validation)``: ``val_fraction`` of the episodes (at least one, drawn with
        ``seed``) and all their steps go to validation."""
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
        ids = np.unique(self.episodes)
        if len(ids) < 2:
            raise ValueError(f"cannot split {len(ids)} episode(s) into train and validation")
        rng = np.random.default_rng(seed)
        n_val = min(max(1, round(val_fraction * len(ids))), len(ids) - 1)
        val_ids = rng.choice(ids, size=n_val, replace=False)
        is_val = np.isin(self.episodes, val_ids)
        return self.subset(np.flatnonzero(~is_val)), self.subset(np.flatnonzero(is_val))

    @staticmethod
    def concat(parts: Sequence[StepLabels]) -> StepLabels:
        """One set of every part's steps (episode ids are kept as they are)."""
        return StepLabels(
            [s for p in parts for s in p.states],
            [s for p in parts for s in p.steps],
            np.concatenate([p.labels for p in parts]) if parts else np.zeros(0),
            np.concatenate([p.episodes for p in parts]) if parts else np.zeros(0),
        )


def ranking_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` separating good steps (``label == 1``) from bad
    ones (``label == 0``): the probability that a random good step scores above a random bad
    one (ties count one half). Undecided labels are left out; ``nan`` without both kinds."""
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels)
    good, bad = scores[labels == 1], scores[labels == 0]
    if len(good) == 0 or len(bad) == 0:
        return float("nan")
    order = np.concatenate([good, bad])
    ranks = _average_ranks(order)
    return float(
        (ranks[: len(good)].sum() - len(good) * (len(good) + 1) / 2) / (len(good) * len(bad))
    )


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of ``x``, tied values sharing their mean rank."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=np.float64)
    sorted_x = x[order]
    start = 0
    while start < len(x):
        end = start
        while end + 1 < len(x) and sorted_x[end + 1] == sorted_x[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


class LearnedPRM(nn.Module):
    """A value head on a causal LM scoring the newest step: a
    :class:`~pipezero.policy.llm.prm.ProcessRewardModel`.

    Args:
        lm: the language model (moved to ``device`` in place).
        head_layers: hidden widths of the head (``hidden -> ... -> 1``).
        train: ``"base"`` (the base weights train, read with the adapter off) or
            ``"adapter"`` (only the LoRA adapter trains, read with it on).
        device: where the model and its batches live.
        amp: autocast of the language model (``None``, ``"bf16"``, ``"fp16"`` on CUDA).
        score_batch_size: sequences per forward pass when scoring.

    Raises:
        ValueError: an unknown ``train``, or ``"adapter"`` with a model without one.
    """

    def __init__(
        self,
        lm: nn.Module,
        head_layers: Sequence[int] = (256,),
        train: str = "base",
        device: torch.device | str = "cpu",
        amp: str | None = None,
        score_batch_size: int = 256,
    ) -> None:
        super().__init__()
        if train not in TRAINABLE:
            raise ValueError(f"train must be one of {TRAINABLE}, got {train!r}")
        if train == "adapter" and not list(lm.adapter_parameters()):
            raise ValueError("train='adapter' needs a language model with a LoRA adapter")
        self.lm = lm.to(device)
        self.head = ValueHead(lm.hidden_size, tuple(head_layers)).to(device)
        self.train_part = train
        self.precision = Precision(amp, device)
        self.score_batch_size = score_batch_size

    @property
    def device(self) -> torch.device:
        return device_of(self.lm)

    def trainable_parameters(self) -> list[nn.Parameter]:
        """The head's parameters and the language model's part that trains (``train``)."""
        part = (
            self.lm.base_parameters() if self.train_part == "base" else self.lm.adapter_parameters()
        )
        return [*self.head.parameters(), *part]

    @contextlib.contextmanager
    def _lm_mode(self) -> Iterator[None]:
        if self.train_part == "base":
            with self.lm.disable_adapter():
                yield
        else:
            yield

    def batch(
        self, states: Sequence[str], steps: Sequence[str]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(ids [B, L], valid [B, L], last [B])`` of ``<bos> + state + step``, right padded,
        on the model's device (packed on the host, moved once); ``last`` indexes each row's
        final token."""
        if len(states) != len(steps):
            raise ValueError(f"got {len(states)} states but {len(steps)} steps")
        tok = self.lm.tokenizer
        bos = getattr(tok, "bos_id", None)
        rows = [
            ([bos] if bos is not None else []) + tok.encode(s + t)
            for s, t in zip(states, steps, strict=True)
        ]
        if any(not r for r in rows):
            raise ValueError("a state and step that encode to no token cannot be scored")
        width = max(len(r) for r in rows)
        host = torch.device("cpu")
        ids = torch.full((len(rows), width), tok.pad_id, dtype=torch.long, device=host)
        valid = torch.zeros((len(rows), width), dtype=torch.bool, device=host)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r, device=host)
            valid[i, : len(r)] = True
        last = torch.tensor([len(r) - 1 for r in rows], dtype=torch.long, device=host)
        device = self.device
        return ids.to(device), valid.to(device), last.to(device)

    def logits(self, states: Sequence[str], steps: Sequence[str]) -> torch.Tensor:
        """``[B]`` float32 logits of ``P(step good)`` (with gradients when enabled)."""
        ids, valid, last = self.batch(states, steps)
        with self._lm_mode(), self.precision.autocast():
            hidden = self.lm(ids, attention_mask=valid).hidden
        at_last = hidden[torch.arange(len(last), device=hidden.device), last]  # [B, H]
        return self.head(at_last.float())

    @torch.no_grad()
    def score(self, states: Sequence[str], steps: Sequence[str]) -> np.ndarray:
        """``[B]`` probabilities that ``steps[i]`` is good after ``states[i]``."""
        if len(states) != len(steps):
            raise ValueError(f"got {len(states)} states but {len(steps)} steps")
        was_training = self.training
        self.eval()
        try:
            out = [
                torch.sigmoid(
                    self.logits(
                        states[i : i + self.score_batch_size], steps[i : i + self.score_batch_size]
                    )
                ).cpu()
                for i in range(0, len(states), self.score_batch_size)
            ]
        finally:
            self.train(was_training)
        return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.float32)
