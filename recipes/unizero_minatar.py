"""UniZero on MinAtar (Breakout by default): a transformer world model over a 10x10 conv encoder.

    pipezero train unizero_minatar --env-id MinAtar/Freeway-v1 --seed 0
    pipezero train unizero_minatar --set policy.model.context_length=16
    pipezero eval runs/unizero_minatar/RUN --episodes 32

Needs ``pip install "pipezero[minatar]"`` (docs/minatar.md). MuZero's MinAtar settings and chain
(:func:`muzero_minatar.build`) with UniZero's policy and model: the conv encoder keeps the 10x10
grid (no downsampling), then a small transformer predicts latents, rewards, values and policies;
the collector returns after ``policy.num_segments`` finished segments.
"""

from __future__ import annotations

from functools import partial

from pipezero.recipes.muzero_minatar import GRID, SMOKE, minatar_config
from pipezero.recipes.muzero_minatar import SCALE_OUT as SCALE_OUT
from pipezero.recipes.muzero_minatar import build as build_minatar

from pipezero.model.unizero import UniZeroModel
from pipezero.policy.unizero import UniZeroPolicy
from pipezero.policy.unizero_config import unizero_config
from pipezero.recipe import main

#: the MinAtar conv encoder (:data:`muzero_minatar.GRID`) under a
#: two-layer transformer with a 10-step context (2 tokens per step)
MODEL = GRID | {
    "encoder": "conv",
    "latent_dim": 64,
    "num_layers": 2,
    "num_heads": 2,
    "context_length": 20,
}
CONFIG = minatar_config(unizero_config(), MODEL, {"policy.num_segments": 8})
SMOKE = SMOKE | {"policy.model.latent_dim": 16, "policy.model.context_length": 6}
build = partial(build_minatar, policy_class=UniZeroPolicy, model_class=UniZeroModel)

if __name__ == "__main__":
    main(__file__)
