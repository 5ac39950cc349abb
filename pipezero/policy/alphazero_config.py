"""Default configuration of an AlphaZero board-game experiment, with LightZero's key names.

Three parts, as for MuZero (:mod:`pipezero.policy.muzero_config`): top-level run settings,
an ``env`` section (which game, how many self-play games run together, the battle mode) and a
``policy`` section that the policy *and* the middleware receive as ``cfg``
(``selfplay_collect``, ``calc_update_count``, ``offpolicy_learn``, ``battle_eval``). Override
with :func:`pipezero.config.merge_config`; unknown keys are rejected with the closest valid key.
"""

from __future__ import annotations

from typing import Any

from easydict import EasyDict

from pipezero.config import merge_config

ALPHAZERO_CONFIG: dict[str, Any] = {
    "seed": 0,
    "exp_dir": "runs/alphazero",
    "max_env_step": 200_000,
    "save_freq": 1000,  # train iterations between periodic checkpoints
    "max_train_iter": None,  # None: no limit
    "env": {
        "game": "tictactoe",  # tictactoe | connect4 | gomoku
        "game_kwargs": {},  # e.g. {"board_size": 9} for gomoku
        "battle_mode": "self_play",  # self_play | play_with_bot
        "bot": "rule_bot",  # opponent in play_with_bot mode
        "collector_env_num": 32,  # self-play games searched together
    },
    "policy": {
        # -- network (keyword arguments of AlphaZeroNet) ----------------------------------
        "model": {
            "num_channels": 32,
            "num_res_blocks": 2,
            "policy_head_channels": 4,
            "value_head_channels": 2,
            "value_hidden_size": 64,
        },
        # -- search --------------------------------------------------------------------------
        "num_simulations": 50,  # collection
        "eval_num_simulations": None,  # evaluation and play; None: num_simulations
        # evaluation and play: average the network over the board's symmetries (G times the
        # rows per call), so mirrored positions are played alike
        "eval_average_symmetries": False,
        "pb_c_base": 19652.0,
        "pb_c_init": 1.25,
        "root_dirichlet_alpha": 0.3,
        "root_noise_weight": 0.25,
        "value_delta_max": 0.01,
        "discount_factor": 1.0,
        # -- collection ----------------------------------------------------------------------
        "collect_env_steps": 4,  # batched moves per selfplay_collect call
        "temperature_moves": 4,  # moves of each game sampled from the visits, then greedy
        "fixed_temperature_value": 1.0,  # temperature of those sampled moves
        # -- replay --------------------------------------------------------------------------
        "replay_buffer_size": 50_000,  # positions
        "use_priority": False,
        "priority_prob_alpha": 0.6,
        "priority_prob_beta": 0.4,
        "priority_eps": 1e-6,
        # -- learning ------------------------------------------------------------------------
        "batch_size": 128,
        "update_per_collect": None,  # fixed updates per collect; None: use replay_ratio
        "replay_ratio": 0.25,  # updates per collected position
        "min_buffer_transitions": 256,
        "use_augmentation": True,  # a random board symmetry per sampled position
        "optim_type": "Adam",
        "learning_rate": 3e-3,
        "weight_decay": 1e-4,
        "momentum": 0.9,
        "grad_clip_value": 5.0,
        "lr_schedule": "constant",  # constant | linear | cosine | step
        "lr_decay_iters": 10_000,
        "lr_final_ratio": 0.1,
        "lr_warmup_iters": 0,
        "policy_loss_weight": 1.0,
        "value_loss_weight": 1.0,
        "max_consecutive_nan": 5,
        # -- evaluation (battle_eval) ----------------------------------------------------------
        "eval_freq": 200,  # train iterations between evaluations
        "n_evaluator_episode": 20,  # games per opponent, half as first player
        "eval_opponents": ["random", "rule_bot"],
        "eval_sides": "both",  # both | first | second
        "stop_opponent": None,  # finish when the results against it meet the two rates below
        "stop_win_rate": 0.0,
        "stop_loss_rate": 0.0,
    },
}


def alphazero_config(overrides: dict[str, Any] | None = None) -> EasyDict:
    """The AlphaZero defaults merged with ``overrides`` (validated)."""
    return merge_config(ALPHAZERO_CONFIG, overrides)
