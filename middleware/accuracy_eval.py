"""accuracy_eval: held-out exact-answer accuracy of greedy step-by-step solutions."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from pipezero.envs.math_reasoning import Problem, PromptFormat
from pipezero.framework import Event, Middleware, Task, middleware
from pipezero.policy.llm.context import LLMContext
from pipezero.policy.llm.evaluation import evaluate_accuracy
from pipezero.policy.llm.policy import LLMPolicy

__all__ = ["accuracy_eval"]

logger = logging.getLogger(__name__)


def accuracy_eval(
    policy: LLMPolicy,
    problems: Sequence[Problem],
    prompt: PromptFormat,
    eval_freq: int,
    max_steps: int = 10,
    batch_size: int = 128,
    stop_accuracy: float | None = None,
) -> Middleware:
    """Evaluate at the first step and whenever ``ctx.train_iter`` has advanced by
    ``eval_freq`` since the last evaluation.

    Writes ``ctx.eval_result`` (``accuracy``, ``answered``, ``mean_steps``, ``num_problems``,
    ``return_mean`` = accuracy, ``train_iter``, ``env_step``), ``ctx.last_eval_iter`` and
    ``ctx.best_eval_return`` (best accuracy), emits ``Event.EVAL_DONE`` with
    ``(ctx, eval_result)`` (``ckpt_saver`` keeps ``best.pt`` by it) and finishes the run once
    the accuracy reaches ``stop_accuracy``.

    Args:
        policy: the agent (decoded greedily).
        problems: the held-out split.
        prompt: how states are written.
        eval_freq: training updates between evaluations.
        max_steps: reasoning lines per problem at most.
        batch_size: problems solved together.
        stop_accuracy: finish the run at this accuracy (``None``: never).
    """
    if isinstance(eval_freq, bool) or not isinstance(eval_freq, int) or eval_freq < 1:
        raise ValueError(f"accuracy_eval: eval_freq must be an int >= 1, got {eval_freq!r}")
    if not problems:
        raise ValueError("accuracy_eval: the held-out split is empty")
    held_out = list(problems)
    refs: dict[str, Task] = {}

    def evaluate(ctx: LLMContext) -> None:
        if ctx.last_eval_iter >= 0 and ctx.train_iter < ctx.last_eval_iter + eval_freq:
            return
        result = evaluate_accuracy(policy, held_out, prompt, max_steps, batch_size)
        result.update(train_iter=float(ctx.train_iter), env_step=float(ctx.env_step))
        ctx.eval_result = result
        ctx.last_eval_iter = ctx.train_iter
        ctx.best_eval_return = max(ctx.best_eval_return, result["accuracy"])
        logger.info(
            "held-out accuracy %.3f at train_iter %d (env_step %d)",
            result["accuracy"],
            ctx.train_iter,
            ctx.env_step,
        )
        if "task" in refs:
            refs["task"].emit(Event.EVAL_DONE, ctx, result)
            if stop_accuracy is not None and result["accuracy"] >= stop_accuracy:
                refs["task"].finish(
                    f"held-out accuracy {result['accuracy']:.3f} >= {stop_accuracy}"
                )

    return middleware(
        evaluate,
        name="accuracy_eval",
        role="evaluator",
        reads=("train_iter", "last_eval_iter", "best_eval_return", "env_step"),
        writes=("eval_result", "last_eval_iter", "best_eval_return"),
        setup=lambda task: refs.update(task=task),
    )
