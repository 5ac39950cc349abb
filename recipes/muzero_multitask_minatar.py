"""MuZero on several MinAtar games with one network (Breakout, Asterix, Freeway by default).

    pipezero train muzero_multitask_minatar --seed 0
    pipezero train muzero_multitask_minatar --mode async --set policy.num_simulations=16
    pipezero train muzero_multitask_minatar --set max_env_step=200000 \
        --set 'env.tasks=["MinAtar/Breakout-v0","MinAtar/Seaquest-v0"]'
    pipezero eval runs/muzero_multitask_minatar/RUN --episodes 32      # 32 episodes per game

One collector steps ``env.collector_env_num`` environments *per game* in one batched search;
segments carry their game's ``task_id``; the buffer draws every batch equally from the games;
the evaluator reports each game (``eval/Breakout/return_mean``) and their mean
(``eval/return_mean``: best.pt). The ``-v0`` ids give all 6 actions in every game, and
observations are zero-padded to the most channels (docs/multitask.md). No task embedding:
the game shows in the observation. ``muzero_minatar``'s network and settings, with the
budget and the replay capacity per game times the games: ``max_env_step`` counts every
game's steps, so scale it with ``env.tasks``.
"""

from __future__ import annotations

from pipezero.recipes.muzero_minatar import SCALE_OUT as SCALE_OUT
from pipezero.recipes.muzero_minatar import SMOKE as SINGLE_TASK_SMOKE
from pipezero.recipes.muzero_minatar import build, minatar_config  # noqa: F401

from pipezero.config import merge_config
from pipezero.policy import muzero_config
from pipezero.recipe import main

TASKS = ["MinAtar/Breakout-v0", "MinAtar/Asterix-v0", "MinAtar/Freeway-v0"]
#: 100k env steps and 100k stored transitions per game (muzero_minatar's budget)
PER_GAME = {"max_env_step": 100_000, "policy.replay_buffer_size": 100_000}
_single = minatar_config(muzero_config(), settings={k: v * len(TASKS) for k, v in PER_GAME.items()})
#: ``env.tasks`` replaces ``env.env_id``
CONFIG = merge_config(_single | {"env": _single.env | {"env_id": None, "tasks": TASKS}})
SMOKE = SINGLE_TASK_SMOKE | {"env.tasks": TASKS[:2]}

if __name__ == "__main__":
    main(__file__)
