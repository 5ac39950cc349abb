"""Sampled EfficientZero on MountainCarContinuous-v0 (continuous force, 999-step episodes).

    python recipes/sampled_efficientzero_mountaincar.py --seed 0 --exp-dir runs/sez_mountaincar
    python recipes/sampled_efficientzero_mountaincar.py --set policy.num_of_sampled_actions=20

The reward is +100 for reaching the flag minus ``0.1 a^2`` per step, so an agent that has never
reached the flag learns to stand still; exploration comes from a wide initial policy
(``sigma_type="fixed"``, std 1 before the tanh) and few, long episodes. The run stops at
``policy.stop_value`` (90) or after ``--max-env-step`` environment steps; the last line
printed is ``RESULT {json}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipezero.framework import TrainContext
from pipezero.sampled_recipe import train_sampled_efficientzero

# MountainCarContinuous settings on top of pipezero/policy/sampled_efficientzero_config.py.
MOUNTAINCAR = {
    "exp_dir": "runs/sampled_efficientzero_mountaincar",
    "max_env_step": 100_000,
    "env": {
        "env_id": "MountainCarContinuous-v0",
        "collector_env_num": 8,
        "evaluator_env_num": 4,
    },
    "policy": {
        "model": {
            "latent_dim": 64,
            "hidden_dim": 128,
            "support_size": 30,  # the +100 goal reward, discounted
            "reward_support_size": 15,
            "lstm_hidden_size": 64,
            "sigma_type": "fixed",  # keep exploring until the flag has been reached
            "fixed_sigma_value": 1.0,
        },
        "num_simulations": 25,
        "num_of_sampled_actions": 10,
        "discount_factor": 0.99,
        "td_steps": 5,
        "game_segment_length": 50,
        "collect_env_steps": 25,  # 8 envs x 25 steps = 200 transitions per collect
        "fixed_temperature_value": 0.25,  # collect: visit counts sharpened (LightZero's value)
        "replay_ratio": 0.25,
        "batch_size": 256,
        "learning_rate": 3e-3,
        "value_loss_weight": 0.5,
        "eval_freq": 500,
        "n_evaluator_episode": 4,
        "stop_value": 90.0,
        "new_data_priority": "value_error",
    },
}


def main(argv: list[str] | None = None, settings: Mapping[str, Any] = MOUNTAINCAR) -> TrainContext:
    """Train with ``settings``; flags from ``argv`` (``None``: the command line)."""
    ctx, summary = train_sampled_efficientzero(__doc__, settings, argv)
    print(summary)
    return ctx


if __name__ == "__main__":
    main()
