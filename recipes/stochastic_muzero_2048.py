"""Stochastic MuZero on 2048 (pipezero/Game2048-v0): afterstates, 32 chance codes, 25 sims.

    pipezero train stochastic_muzero_2048 --seed 0 --max-minutes 30
    pipezero train stochastic_muzero_2048 --mode async --max-minutes 30    # both CPU cores
    pipezero train stochastic_muzero_2048 --set policy.num_simulations=100

The run stops after ``max_env_step`` environment steps or ``--max-minutes``. A game's score is
its undiscounted return (the merged tiles), so evaluation returns are scores.
Over 60 lines for its settings, each one measured on 2048; the chain is MuZero's.
"""

from __future__ import annotations

from functools import partial

from pipezero.recipes.muzero_cartpole import DDP as SCALE_OUT  # noqa: F401
from pipezero.recipes.muzero_cartpole import build as build_muzero

from pipezero.envs.game2048 import ENV_ID, symmetries
from pipezero.model.stochastic import StochasticMuZeroMLP
from pipezero.policy.stochastic_muzero import StochasticMuZeroPolicy
from pipezero.policy.stochastic_muzero_config import stochastic_muzero_config
from pipezero.recipe import main

# Each setting and what led to it: docs/stochastic_muzero.md, "Settings for 2048".
CONFIG = stochastic_muzero_config(
    {
        "max_env_step": 1_000_000,
        "save_freq": 2000,
        "env.env_id": ENV_ID,
        "policy.model.hidden_dim": 256,
        "policy.model.support_size": 60,  # values up to ~3e3 (they stay near 100 with discount 0.9)
        "policy.model.reward_support_size": 30,  # one move merges at most a few hundred points
        "policy.model.chance_space_size": 32,  # 16 cells x {2, 4}
        "policy.model.line_channels": 64,  # row / column encoders: a move slides whole lines
        "policy.model.afterstate_reward": True,  # a move's merges are known before the tile spawns
        "policy.num_simulations": 25,  # more mislead the search with a 30-minute model
        "policy.discount_factor": 0.9,  # a 10-move horizon: small value targets, quick to learn
        "policy.manual_temperature_decay": False,  # T = 0.5 throughout: spawns explore for us
        "policy.fixed_temperature_value": 0.5,
        "policy.td_steps": 10,
        "policy.num_unroll_steps": 3,  # 3 steps and search-value bootstraps: cheaper updates
        "policy.value_bootstrap": "search",
        "policy.game_segment_length": 100,
        "policy.collect_env_steps": 8,
        "policy.batch_size": 128,
        "policy.replay_ratio": 0.125,  # --mode async: the collector keeps up on its own core
        "policy.use_augmentation": True,  # a random rotation / reflection of each sampled board
        "policy.replay_buffer_size": 50_000,
        "policy.learning_rate": 3e-3,
        "policy.lr_schedule": "cosine",  # to 3e-4 over 36k updates: flat at 3e-3 after 15 minutes
        "policy.lr_decay_iters": 36_000,
        "policy.lr_final_ratio": 0.1,
        "policy.reward_loss_weight": 8.0,  # the reward is what the search plans with
        "policy.target_update_freq": 200,
        "policy.eval_freq": 1000,
    }
)

#: The policy, with board-symmetry augmentation (``use_augmentation``).
POLICY = partial(StochasticMuZeroPolicy, symmetries=symmetries())
# MuZero's chain (muzero_cartpole.build); checkpoints without the buffer (50k boards).
build = partial(
    build_muzero, policy_class=POLICY, model_class=StochasticMuZeroMLP, save_buffer=False
)

if __name__ == "__main__":
    main(__file__)
