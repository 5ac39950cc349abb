"""Sampled EfficientZero on Pendulum-v1 (continuous torque, 200-step episodes).

    pipezero train sampled_efficientzero_pendulum --seed 0
    pipezero train sampled_efficientzero_pendulum --set policy.num_of_sampled_actions=10
    pipezero train sampled_efficientzero_pendulum --set policy.sample_from_prior=False
    pipezero train sampled_efficientzero_pendulum --env-id CartPole-v1   # a categorical head

The policy is a tanh-squashed Gaussian over the torque in ``[-1, 1]`` (rescaled to ``[-2, 2]``
by the environment adapter), searched over ``num_of_sampled_actions`` sampled torques per node.
The run stops at ``policy.stop_value`` (-200) or after ``max_env_step`` environment steps.
"""

from __future__ import annotations

from pipezero.middleware import (
    calc_update_count,
    ckpt_saver,
    data_push,
    env_collect,
    interval_eval,
    offpolicy_learn,
    termination,
)

from pipezero.data import ReplayBuffer
from pipezero.framework import Context, Task, TrainContext
from pipezero.model.sampled_efficientzero import SampledEfficientZeroMLP
from pipezero.policy.sampled_efficientzero import SampledEfficientZeroPolicy
from pipezero.policy.sampled_efficientzero_config import sampled_efficientzero_config
from pipezero.recipe import Run, main

ALGORITHM = "sampled_efficientzero"
CONFIG = sampled_efficientzero_config(
    {
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
            "fixed_temperature_value": 0.25,  # collect: visit counts sharpened (LightZero's)
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
)


def build(run: Run) -> Task:
    """The Sampled EfficientZero chain; also ``sampled_efficientzero_mountaincar``'s."""
    cfg, p = run.cfg, run.cfg.policy
    envs, eval_envs = run.envs()
    size = envs.action_dim if envs.continuous else envs.action_space_size  # Box: a Gaussian
    shape, continuous = envs.observation_shape, envs.continuous
    model = SampledEfficientZeroMLP(shape, size, continuous_action_space=continuous, **p.model)
    policy = SampledEfficientZeroPolicy(p, model, seed=cfg.seed, device=run.device)
    buffer = ReplayBuffer.from_config(p, seed=cfg.seed)
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
