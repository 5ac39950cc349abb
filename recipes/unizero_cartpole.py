"""UniZero on CartPole-v0 (200-step episodes): a small transformer world model, 25 simulations.

    pipezero train unizero_cartpole --seed 0    # or: python recipes/unizero_cartpole.py
    pipezero train unizero_cartpole --set policy.model.context_length=16
    pipezero train unizero_cartpole --set policy.buffer_reanalyze_freq=0.25
    pipezero train unizero_cartpole --resume latest

MuZero's CartPole recipe (its settings and chain, :func:`muzero_cartpole.build`) with the
UniZero model and policy. The collector returns after ``policy.num_segments`` finished game
segments; with ``buffer_reanalyze_freq`` > 0 the buffer's oldest ``reanalyze_partition`` is
searched again that many times per collect. The run stops when the mean evaluation return
reaches ``policy.stop_value`` (195) or after ``max_env_step`` environment steps
(``benchmarks/unizero.py`` reads its ``RESULT`` line).
"""

from __future__ import annotations

from functools import partial

from pipezero.recipes.muzero_cartpole import CARTPOLE
from pipezero.recipes.muzero_cartpole import DDP as SCALE_OUT  # noqa: F401
from pipezero.recipes.muzero_cartpole import build as build_cartpole

from pipezero.model.unizero import UniZeroModel
from pipezero.policy.unizero import UniZeroPolicy
from pipezero.policy.unizero_config import unizero_config
from pipezero.recipe import main

CONFIG = unizero_config(
    {
        **CARTPOLE,
        "max_env_step": 10_000,
        "policy.game_segment_length": 20,
        "policy.num_segments": 8,  # one segment per collector environment per collect
        "policy.batch_size": 128,
        "policy.buffer_reanalyze_freq": 0.0,  # off by default here; see docs/unizero.md
    }
)
build = partial(build_cartpole, policy_class=UniZeroPolicy, model_class=UniZeroModel)

if __name__ == "__main__":
    main(__file__)
