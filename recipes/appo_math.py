"""APPO (step-level PPO with a critic) on step-by-step arithmetic, after a supervised warm start."""

from __future__ import annotations

from llm_math_chain import main

#: Differences from ``llm_math_chain.DEFAULTS``.
CONFIG = {"learn": {"algo": "appo"}}

if __name__ == "__main__":
    main(CONFIG)
