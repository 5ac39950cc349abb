"""Default configuration of a MuZero experiment, with LightZero's key names.

The tree has three parts: top-level run settings (``seed``, ``exp_dir``, ``max_env_step``),
an ``env`` section and a ``policy`` section. The policy section is what the policy *and* the
standard middleware receive as ``cfg`` (``env_collect``, ``offpolicy_learn``,
``interval_eval``, ``calc_update_count`` read their keys from it). Override with
:func:`pipezero.config.merge_config`; unknown keys are rejected with the closest valid key.
"""

from __future__ import annotations

from typing import Any

from easydict import EasyDict

from pipezero.config import merge_config

MUZERO_CONFIG: dict[str, Any] = {
    "seed": 0,
    "exp_dir": "runs/muzero",
    "max_env_step": 100_000,
    "save_freq": 1000,  # train iterations between periodic checkpoints
    "env": {
        "env_id": "CartPole-v0",
        "collector_env_num": 8,  # environments stepped together by env_collect
        "evaluator_env_num": 8,  # environments stepped together by interval_eval
    },
    "policy": {
        # -- network (keyword arguments of the model class) -------------------------------
        "model": {
            "latent_dim": 128,
            "hidden_dim": 128,
            "num_hidden_layers": 1,
            "support_size": 20,  # value support: 2S + 1 bins over h(value)
            "reward_support_size": 5,
            "latent_norm": "layernorm",
            "activation": "relu",
        },
        # -- search --------------------------------------------------------------------------
        "num_simulations": 25,
        "eval_num_simulations": None,  # the evaluation search's (None: num_simulations)
        # the search's policy target: "visits" (normalised root visit counts) or "improved"
        # (Gumbel MuZero's completed-Q improved policy over the noise-free prior;
        # MCTSConfig.policy_target, docs/mcts.md)
        "policy_target": "visits",
        "pb_c_base": 19652.0,
        "pb_c_init": 1.25,
        "root_dirichlet_alpha": 0.25,
        "root_noise_weight": 0.25,
        "value_delta_max": 0.01,
        "discount_factor": 0.997,
        # -- collection ----------------------------------------------------------------------
        "collect_env_steps": 16,  # batched steps per env_collect call (x collector_env_num)
        # env_collect steps until this many episodes ended instead (None: collect_env_steps)
        "n_episode": None,
        # act from the policy head without search; segments store the network's policy and
        # value as targets (MuZeroPolicy.pure_policy_collect)
        "collect_with_pure_policy": False,
        "game_segment_length": 50,
        "manual_temperature_decay": False,
        "fixed_temperature_value": 1.0,
        "threshold_env_steps_for_final_temperature": 100_000,
        # -- replay --------------------------------------------------------------------------
        "replay_buffer_size": 100_000,  # transitions
        "use_priority": True,
        "priority_prob_alpha": 0.6,
        "priority_prob_beta": 0.4,
        "priority_eps": 1e-6,
        # initial priority of new data: "max" (sampled soon) or "value_error"
        # (|predicted - search value|); see docs/performance.md for the CartPole comparison
        "new_data_priority": "max",
        # -- learning ------------------------------------------------------------------------
        # mixed precision of learning and search: None (float32) | "bf16" | "fp16" (CUDA
        # only); supports and losses stay float32 (pipezero/policy/precision.py)
        "amp": None,
        # conv models keep their 4-D weights (hence activations) channels-last (NHWC): oneDNN
        # runs small convolutions without reordering to and from its blocked layout; no effect
        # on MLPs (docs/performance.md, "Conv networks: channels-last")
        "channels_last": False,
        "batch_size": 256,
        "num_unroll_steps": 5,
        "td_steps": 5,
        # n-step bootstrap values: "target_network" (a fresh inference per update) or
        # "search" (the root values stored at collection: no inference, older values)
        "value_bootstrap": "target_network",
        "update_per_collect": None,  # fixed updates per collect; None: use replay_ratio
        "replay_ratio": 0.25,  # updates per collected transition
        "min_buffer_transitions": 256,  # no update before the buffer holds this many
        "optim_type": "Adam",
        "learning_rate": 3e-3,
        "weight_decay": 1e-4,
        "momentum": 0.9,
        "grad_clip_value": 10.0,
        "lr_schedule": "constant",  # constant | linear | cosine | step
        "lr_decay_iters": 10_000,
        "lr_final_ratio": 0.1,
        "lr_warmup_iters": 0,
        "policy_loss_weight": 1.0,
        "value_loss_weight": 0.25,
        "reward_loss_weight": 1.0,
        # EfficientZero's consistency loss on MuZero (0: off); a model with consistency heads
        "ssl_loss_weight": 0.0,
        "dynamics_gradient_scale": 0.5,  # gradient scale per unroll step (MuZero: 0.5)
        "target_update_type": "hard",  # hard | soft
        "target_update_freq": 100,
        "target_update_theta": 0.005,
        "reanalyze_ratio": 0.0,
        # a random board symmetry per sampled row (needs MuZeroPolicy(symmetries=...))
        "use_augmentation": False,
        "max_consecutive_nan": 5,
        # -- evaluation ----------------------------------------------------------------------
        "eval_freq": 100,  # train iterations between evaluations
        "n_evaluator_episode": 8,
        # interval_eval also records its episodes as game segments (ctx.eval_segments)
        "eval_return_trajectory": False,
        "stop_value": None,  # mean evaluation return that ends the run (None: never)
        # -- async mode (--mode async; ignored in sync mode) ---------------------------------
        "max_policy_lag": 256,  # train iterations a collector's weights may lag; None: no bound
        "async_channel_capacity": 1,  # collected batches queued for the learner at most
    },
}


def muzero_config(overrides: dict[str, Any] | None = None) -> EasyDict:
    """The MuZero defaults merged with ``overrides`` (validated)."""
    return merge_config(MUZERO_CONFIG, overrides)
