"""Sampled EfficientZero on Pendulum-v1 (continuous torque, 200-step episodes).

    python recipes/sampled_efficientzero_pendulum.py --seed 0 --exp-dir runs/sez_pendulum
    python recipes/sampled_efficientzero_pendulum.py --set policy.num_of_sampled_actions=10
    python recipes/sampled_efficientzero_pendulum.py --set policy.sample_from_prior=False

The policy is a tanh-squashed Gaussian over the torque in ``[-1, 1]`` (the environment adapter
rescales it to ``[-2, 2]``); every search node considers ``num_of_sampled_actions`` sampled
torques. The run stops when the mean evaluation return reaches ``policy.stop_value`` (-200) or
after ``--max-env-step`` environment steps; the last line printed is ``RESULT {json}``
(``benchmarks/sampled.py`` reads it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipezero.framework import TrainContext
from pipezero.sampled_recipe import train_sampled_efficientzero

# Pendulum settings on top of pipezero/policy/sampled_efficientzero_config.py.
PENDULUM = {
    "exp_dir": "runs/sampled_efficientzero_pendulum",
    "max_env_step": 50_000,
    "env": {"env_id": "Pendulum-v1", "collector_env_num": 8, "evaluator_env_num": 8},
    "policy": {
        "model": {
            "latent_dim": 64,
            "hidden_dim": 128,
            "support_size": 30,  # values reach about -500 (rewards >= -16.3, discount 0.97)
            "reward_support_size": 10,  # value prefixes of up to 5 rewards, about -80
            "lstm_hidden_size": 64,
        },
        "num_simulations": 25,
        "num_of_sampled_actions": 10,
        "discount_factor": 0.97,
        "td_steps": 5,
        "game_segment_length": 50,
        "collect_env_steps": 25,  # 8 envs x 25 steps = 200 transitions per collect
        "fixed_temperature_value": 0.25,  # collect: visit counts sharpened (LightZero's value)
        "replay_ratio": 0.25,
        "batch_size": 256,
        "learning_rate": 3e-3,
        "value_loss_weight": 0.5,
        "eval_freq": 500,
        "n_evaluator_episode": 8,
        "stop_value": -200.0,
        "new_data_priority": "value_error",
    },
}


def main(argv: list[str] | None = None, settings: Mapping[str, Any] = PENDULUM) -> TrainContext:
    """Train with ``settings``; flags from ``argv`` (``None``: the command line)."""
    ctx, summary = train_sampled_efficientzero(__doc__, settings, argv)
    print(summary)
    return ctx


if __name__ == "__main__":
    main()
