"""Optimizer, learning-rate schedule and target-network updates built from a policy config."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

OPTIMIZERS = ("Adam", "AdamW", "SGD")
LR_SCHEDULES = ("constant", "linear", "cosine", "step")
TARGET_UPDATES = ("hard", "soft")


def flush_denormals() -> None:
    """Make this thread, and the threads and processes it starts later, flush denormal floats
    to zero (``torch.set_flush_denormal``; process-wide for the calling thread's CPU state).

    Weight decay drives the weights that see no gradient (planes of tiles never seen, unused
    embedding rows) geometrically towards zero; once they are denormal, every matmul and
    convolution that reads them runs several times slower on x86 CPUs. A 15-minute 2048 run had
    10% of its weights denormal and its updates had slowed from 14 to 4 per second; flushing
    made its network calls 4-8x faster again. Numbers below ~1e-38 become 0, which no loss
    notices. Policies call this when they are built; Ray actors call it when they start.
    """
    torch.set_flush_denormal(True)


def make_optimizer(params: Iterable[nn.Parameter], cfg: Mapping[str, Any]) -> torch.optim.Optimizer:
    """``cfg.optim_type`` (Adam, AdamW or SGD) with ``learning_rate``, ``weight_decay`` and, for
    SGD, ``momentum``."""
    kind = cfg["optim_type"]
    lr, wd = float(cfg["learning_rate"]), float(cfg["weight_decay"])
    if kind == "Adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if kind == "AdamW":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    if kind == "SGD":
        return torch.optim.SGD(params, lr=lr, weight_decay=wd, momentum=float(cfg["momentum"]))
    raise ValueError(f"optim_type must be one of {OPTIMIZERS}, got {kind!r}")


class LRFactor:
    """Multiplier of the base learning rate after ``it`` updates (a picklable ``LambdaLR``
    function).

    ``constant``: 1. ``linear``/``cosine``: from 1 down to ``final_ratio`` over
    ``decay_iters`` updates, then constant. ``step``: 1, then ``final_ratio`` from
    ``decay_iters`` on. A linear warm-up over ``warmup_iters`` updates comes first in every
    case.
    """

    def __init__(self, kind: str, decay_iters: int, final_ratio: float, warmup_iters: int) -> None:
        if kind not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {kind!r}")
        if kind != "constant" and decay_iters < 1:
            raise ValueError(f"lr_schedule={kind!r} needs lr_decay_iters >= 1, got {decay_iters!r}")
        if warmup_iters < 0 or not 0.0 <= final_ratio <= 1.0:
            raise ValueError(
                f"need lr_warmup_iters >= 0 and lr_final_ratio in [0, 1], got "
                f"{warmup_iters!r} and {final_ratio!r}"
            )
        self.kind = kind
        self.decay_iters = decay_iters
        self.final_ratio = final_ratio
        self.warmup_iters = warmup_iters

    def __call__(self, it: int) -> float:
        warm = min(1.0, (it + 1) / self.warmup_iters) if self.warmup_iters else 1.0
        if self.kind == "constant":
            return warm
        frac = min(1.0, it / self.decay_iters)
        low = self.final_ratio
        if self.kind == "linear":
            return warm * (1.0 - frac * (1.0 - low))
        if self.kind == "cosine":
            return warm * (low + (1.0 - low) * 0.5 * (1.0 + math.cos(math.pi * frac)))
        return warm * (low if it >= self.decay_iters else 1.0)


def make_lr_scheduler(
    optimizer: torch.optim.Optimizer, cfg: Mapping[str, Any]
) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` stepping once per update, from ``lr_schedule``, ``lr_decay_iters``,
    ``lr_final_ratio`` and ``lr_warmup_iters``."""
    factor = LRFactor(
        cfg["lr_schedule"],
        int(cfg["lr_decay_iters"]),
        float(cfg["lr_final_ratio"]),
        int(cfg["lr_warmup_iters"]),
    )
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@torch.no_grad()
def update_target(
    target: nn.Module, online: nn.Module, train_iter: int, cfg: Mapping[str, Any]
) -> bool:
    """Update the target network after update number ``train_iter`` (1-based).

    ``target_update_type = "hard"``: copy every ``target_update_freq`` updates. ``"soft"``:
    ``target = (1 - theta) target + theta online`` after every update, with
    ``theta = target_update_theta``. Buffers (BatchNorm statistics) are copied in both cases.

    Returns:
        True when the target changed.
    """
    kind = cfg["target_update_type"]
    if kind == "hard":
        freq = int(cfg["target_update_freq"])
        if freq < 1:
            raise ValueError(f"target_update_freq must be >= 1, got {freq!r}")
        if train_iter % freq:
            return False
        target.load_state_dict(online.state_dict())
        return True
    if kind == "soft":
        theta = float(cfg["target_update_theta"])
        if not 0.0 < theta <= 1.0:
            raise ValueError(f"target_update_theta must be in (0, 1], got {theta!r}")
        target_params = list(target.parameters())
        torch._foreach_lerp_(target_params, list(online.parameters()), theta)
        for t_buf, o_buf in zip(target.buffers(), online.buffers(), strict=True):
            t_buf.copy_(o_buf)
        return True
    raise ValueError(f"target_update_type must be one of {TARGET_UPDATES}, got {kind!r}")
