"""GRPO (group-relative advantages, no critic) on step-by-step arithmetic, after a supervised
warm start: K samples per prompt, advantages normalised within each prompt's group
(``--set learn.grpo_normalization=batch`` for the reference's batch-wide normalisation)."""

from __future__ import annotations

from llm_math_chain import main

#: Differences from ``llm_math_chain.DEFAULTS``: 16 prompts x 8 samples per collection.
CONFIG = {"collect": {"num_prompts": 16, "group_size": 8}, "learn": {"algo": "grpo"}}

if __name__ == "__main__":
    main(CONFIG)
