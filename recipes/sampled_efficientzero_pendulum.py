"""Sampled EfficientZero on Pendulum-v1 (continuous torque, 200-step episodes).

    pipezero train sampled_efficientzero_pendulum --seed 0
    pipezero train sampled_efficientzero_pendulum --set policy.num_of_sampled_actions=10
    pipezero train sampled_efficientzero_pendulum --set policy.sample_from_prior=False
    pipezero train sampled_efficientzero_pendulum --env-id CartPole-v1   # a categorical head

The policy is a tanh-squashed Gaussian over the torque in ``[-1, 1]`` (rescaled to ``[-2, 2]``
by the environment adapter), searched over ``num_of_sampled_actions`` sampled torques per node.
The run stops at ``policy.stop_value`` (-200) or after ``max_env_step`` environment steps.
Over 60 lines as the Sampled EfficientZero chain and settings MountainCar shares.
"""

from __future__ import annotations

from functools import partial

from pipezero.middleware.calc_update_count import calc_update_count
from pipezero.middleware.ckpt_saver import ckpt_saver
from pipezero.middleware.data_push import data_push
from pipezero.middleware.env_collect import env_collect
from pipezero.middleware.interval_eval import interval_eval
from pipezero.middleware.offpolicy_learn import offpolicy_learn
from pipezero.middleware.termination import termination

from pipezero.framework import Context, Task, TrainContext
from pipezero.model.sampled_efficientzero import SampledEfficientZeroMLP
from pipezero.policy.muzero_build import build_muzero
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


def build(run: Run) -> Task:
    """The Sampled EfficientZero chain; also ``sampled_efficientzero_mountaincar``'s."""
    cfg, p = run.cfg, run.cfg.policy
    envs, eval_envs = run.envs()
    # a Box action space: a Gaussian policy head (a discrete one: a categorical head)
    model = partial(SampledEfficientZeroMLP, continuous_action_space=envs.continuous)
    policy, buffer = build_muzero(cfg, envs, SampledEfficientZeroPolicy, model, device=run.device)
    task = run.task(TrainContext(), policy, buffer)
    task.use(interval_eval(p, run.acting(policy, "evaluator"), eval_envs))
    task.use(env_collect(p, run.acting(policy), envs))
    task.use(data_push(buffer, p.priority_eps, p.new_data_priority))
    task.use(calc_update_count(p))
    task.use(offpolicy_learn(p, policy, buffer))
    task.use(ckpt_saver(run.exp_dir, policy, buffer, save_buffer=True, config=cfg))
    task.use(termination(max_env_step=cfg.max_env_step))
    return task


def summary(run: Run, ctx: Context) -> dict[str, str]:
    return {"env_id": run.cfg.env.env_id}


if __name__ == "__main__":
    main(__file__)
