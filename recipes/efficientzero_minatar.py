"""EfficientZero on MinAtar (Breakout by default): MuZero's MinAtar recipe with the value prefix.

    pipezero train efficientzero_minatar --env-id MinAtar/Asterix-v1 --seed 0
    pipezero train efficientzero_minatar --mode async --set policy.ssl_loss_weight=1.0
    pipezero eval runs/efficientzero_minatar/RUN --episodes 32

Needs ``pip install "pipezero[minatar]"`` (docs/minatar.md). MuZero's MinAtar recipe (its
settings, network and chain, :func:`muzero_minatar.build`) with the EfficientZero conv model
and policy: the self-supervised consistency loss and the value-prefix LSTM.
"""

from __future__ import annotations

from functools import partial

from pipezero.recipes.muzero_minatar import CONV, minatar_config
from pipezero.recipes.muzero_minatar import SCALE_OUT as SCALE_OUT
from pipezero.recipes.muzero_minatar import SMOKE as SMOKE
from pipezero.recipes.muzero_minatar import build as build_minatar

from pipezero.model import EfficientZeroConv
from pipezero.policy import EfficientZeroPolicy, efficientzero_config
from pipezero.recipe import main

#: the conv network plus the value-prefix LSTM and the consistency projection
MODEL = CONV | {
    "lstm_hidden_size": 64,
    "projection_hidden_dim": 128,
    "projection_dim": 128,
    "prediction_hidden_dim": 64,
}
CONFIG = minatar_config(efficientzero_config(), MODEL)
build = partial(build_minatar, policy_class=EfficientZeroPolicy, model_class=EfficientZeroConv)

if __name__ == "__main__":
    main(__file__)
