"""Sampled EfficientZero on Pendulum-v1 (continuous torque, 200-step episodes).

    pipezero train sampled_efficientzero_pendulum --seed 0
    pipezero train sampled_efficientzero_pendulum --set policy.num_of_sampled_actions=10
    pipezero train sampled_efficientzero_pendulum --set policy.sample_from_prior=False
    pipezero train sampled_efficientzero_pendulum --env-id CartPole-v1   # a categorical head

The policy is a tanh-squashed Gaussian over the torque in ``[-1, 1]`` (rescaled to ``[-2, 2]``
by the environment adapter), searched over ``num_of_sampled_actions`` sampled torques per node.
The run stops at ``policy.stop_value`` (-200) or after ``max_env_step`` environment steps.
MuZero's chain (:func:`muzero_cartpole.build`) with the Sampled EfficientZero policy and model.
"""

from __future__ import annotations

from functools import partial

from pipezero.recipes.muzero_cartpole import DDP as SCALE_OUT  # noqa: F401
from pipezero.recipes.muzero_cartpole import build as build_muzero_chain

from pipezero.framework import Context
from pipezero.model.sampled_efficientzero import SampledEfficientZeroMLP
from pipezero.policy.sampled_efficientzero import SampledEfficientZeroPolicy
from pipezero.policy.sampled_efficientzero_config import sampled_efficientzero_config
from pipezero.recipe import Run, main

CONFIG = sampled_efficientzero_config(
    {
        "max_env_step": 50_000,
        "env.env_id": "Pendulum-v1",
        "policy.model.latent_dim": 64,
        # values reach about -500 (rewards >= -16.3, discount 0.97)
        "policy.model.support_size": 30,
        "policy.model.reward_support_size": 10,  # value prefixes of up to 5 rewards, about -80
        "policy.num_of_sampled_actions": 10,
        "policy.discount_factor": 0.97,
        "policy.collect_env_steps": 25,  # 8 envs x 25 steps = 200 transitions per collect
        "policy.fixed_temperature_value": 0.25,  # collect: visit counts sharpened (LightZero's)
        "policy.value_loss_weight": 0.5,
        "policy.eval_freq": 500,
        "policy.stop_value": -200.0,
        "policy.new_data_priority": "value_error",
    }
)
#: MuZero's chain; the model's policy head (Gaussian or categorical) follows the environment.
build = partial(
    build_muzero_chain, policy_class=SampledEfficientZeroPolicy, model_class=SampledEfficientZeroMLP
)


def summary(run: Run, ctx: Context) -> dict[str, str]:
    return {"env_id": run.cfg.env.env_id}


if __name__ == "__main__":
    main(__file__)
