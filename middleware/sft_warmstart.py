"""sft_warmstart: supervised training of the base model on worked solutions before RL."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch

from pipezero.envs.math_reasoning import ProblemSampler
from pipezero.framework import Middleware, middleware
from pipezero.policy.llm.context import LLMContext
from pipezero.policy.llm.sft import SFTTrainer
from pipezero.policy.policy_state import to_cpu

__all__ = ["sft_warmstart"]

logger = logging.getLogger(__name__)


def sft_warmstart(
    trainer: SFTTrainer,
    sampler: ProblemSampler,
    num_steps: int,
    batch_size: int = 32,
    cache_path: str | os.PathLike[str] | None = None,
    log_every: int = 200,
) -> Middleware:
    """Run ``num_steps`` supervised steps on problems from ``sampler`` at the first step of
    the run (before anything after it in the chain), then do nothing.

    ``ctx.sft_iter`` counts the steps done (a resumed run that finished its warm start skips
    it). With ``cache_path``, a warm start saved there is loaded instead of trained (the
    language model's state dict), and a trained one is saved there, so several runs (the
    three trainers, say) can start from the same warm start.

    Args:
        trainer: the supervised trainer of the base model.
        sampler: training problems (with worked steps).
        num_steps: gradient steps.
        batch_size: problems per step.
        cache_path: file to load the warm-started model from, or save it to.
        log_every: steps between progress log lines.
    """
    for name, value, low in (("num_steps", num_steps, 0), ("batch_size", batch_size, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"sft_warmstart: {name} must be an int >= {low}, got {value!r}")
    path = Path(cache_path) if cache_path is not None else None

    def warm(ctx: LLMContext) -> None:
        if ctx.sft_iter >= num_steps:
            return
        if path is not None and path.is_file():
            trainer.lm.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            logger.info("warm start loaded from %s", path)
            ctx.sft_iter = num_steps
            ctx.sft_output = {"loaded": 1.0}
            return
        losses: list[float] = []
        while ctx.sft_iter < num_steps:
            losses.append(trainer.step([sampler.next()[0] for _ in range(batch_size)]))
            ctx.sft_iter += 1
            if ctx.sft_iter % log_every == 0:
                logger.info(
                    "warm start %d/%d: loss %.4f",
                    ctx.sft_iter,
                    num_steps,
                    float(np.mean(losses[-log_every:])),
                )
        ctx.sft_output = {"loss": float(np.mean(losses[-max(1, log_every) :]))}
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(path.suffix + ".tmp")
            torch.save(to_cpu(trainer.lm.state_dict()), tmp)  # loadable on any device
            tmp.replace(path)
            logger.info("warm start saved to %s", path)

    return middleware(
        warm,
        name="sft_warmstart",
        role="learner",
        reads=("sft_iter",),
        writes=("sft_iter", "sft_output"),
    )
