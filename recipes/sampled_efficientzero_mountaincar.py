"""Sampled EfficientZero on MountainCarContinuous-v0 (continuous force, 999-step episodes).

    pipezero train sampled_efficientzero_mountaincar --seed 0
    pipezero train sampled_efficientzero_mountaincar --set policy.num_of_sampled_actions=20

The reward is +100 for reaching the flag minus ``0.1 a^2`` per step, so an agent that has never
reached the flag learns to stand still; exploration comes from a wide initial policy
(``sigma_type="fixed"``, std 1 before the tanh) and few, long episodes. The chain is
``sampled_efficientzero_pendulum``'s. The run stops at ``policy.stop_value`` (90) or after
``max_env_step`` environment steps.
"""

from __future__ import annotations

from pipezero.recipes.sampled_efficientzero_pendulum import CONFIG as PENDULUM
from pipezero.recipes.sampled_efficientzero_pendulum import SCALE_OUT, build, summary  # noqa: F401

from pipezero.config import merge_config
from pipezero.recipe import main

# Pendulum's settings (search, training, model sizes) but these; ``env.max_episode_steps`` is
# gymnasium's own limit for this id, as a key so that --smoke and --set can shorten episodes.
CONFIG = merge_config(
    PENDULUM | {"env": PENDULUM["env"] | {"max_episode_steps": 999}},
    {
        "max_env_step": 100_000,
        "env.env_id": "MountainCarContinuous-v0",
        "env.evaluator_env_num": 4,
        # (support_size 30: the +100 goal reward, discounted)
        "policy.model.reward_support_size": 15,
        "policy.model.sigma_type": "fixed",  # keep exploring until the flag has been reached
        "policy.model.fixed_sigma_value": 1.0,
        "policy.discount_factor": 0.99,
        "policy.n_evaluator_episode": 4,
        "policy.stop_value": 90.0,
    },
)
#: --smoke: one evaluation of a single episode, episodes cut at 100 steps instead of 999.
SMOKE = {
    "policy.eval_freq": 1000,
    "policy.n_evaluator_episode": 1,
    "env.evaluator_env_num": 1,
    "env.max_episode_steps": 100,
}

if __name__ == "__main__":
    main(__file__)
