"""GRPO (group-relative advantages, no critic) on step-by-step arithmetic, after a supervised
warm start: K samples per prompt, step rewards normalised within each prompt's group and
summed from each step to the end (``--set learn.grpo_normalization=batch`` for the
reference's batch-wide normalisation, ``learn.grpo_credit=trajectory`` for one advantage per
trajectory)."""

from __future__ import annotations

from llm_math_chain import main

#: Differences from ``llm_math_chain.DEFAULTS``: 16 prompts x 8 samples per collection, step
#: credit (measured: +9.4 points in 3 RL minutes against +5 with trajectory credit, seed 0).
CONFIG = {
    "collect": {"num_prompts": 16, "group_size": 8},
    "learn": {"algo": "grpo", "grpo_credit": "step"},
}

if __name__ == "__main__":
    main(CONFIG)
