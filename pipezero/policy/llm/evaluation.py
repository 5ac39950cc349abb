"""Held-out accuracy: greedy step-by-step solutions checked against the final answers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pipezero.envs.math_reasoning import Problem, ProblemSampler, PromptFormat, VecMathEnv
from pipezero.policy.llm.policy import LLMPolicy
from pipezero.policy.llm.rollout import RolloutWorker

__all__ = ["evaluate_accuracy"]


def evaluate_accuracy(
    policy: LLMPolicy,
    problems: Sequence[Problem],
    prompt: PromptFormat,
    max_steps: int = 10,
    batch_size: int = 128,
) -> dict[str, float]:
    """Solve every problem greedily (one episode each) and score the final answers.

    Greedy decoding draws no random numbers, so evaluating does not change the sampling
    generator of training rollouts.

    Returns:
        ``accuracy`` (exact final answer), ``answered`` (share that stated an answer),
        ``mean_steps``, ``num_problems``, and ``return_mean`` (= accuracy, the number the
        checkpointer ranks ``best.pt`` by).
    """
    if not problems:
        raise ValueError("evaluate_accuracy needs at least one problem")
    correct, answered, steps = [], [], []
    for start in range(0, len(problems), batch_size):
        chunk = list(problems[start : start + batch_size])
        sampler = ProblemSampler(chunk, seed=0, shuffle=False)
        envs = VecMathEnv(len(chunk), sampler, prompt, max_steps, auto_reset=False)
        rollout = RolloutWorker(policy, envs, "episodes", greedy=True).collect()
        for t in rollout.trajectories:
            correct.append(bool(t.correct))
            answered.append(t.reason == "answer")
            steps.append(t.num_steps)
    accuracy = float(np.mean(correct))
    return {
        "accuracy": accuracy,
        "answered": float(np.mean(answered)),
        "mean_steps": float(np.mean(steps)),
        "num_problems": float(len(correct)),
        "return_mean": accuracy,
    }
