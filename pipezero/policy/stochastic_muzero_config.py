"""Default configuration of a Stochastic MuZero experiment: the MuZero defaults plus the
chance codes (VQ encoder), the afterstate value and chance losses, and a 2048 environment.

Keys added to the ``policy`` section:

- ``model.chance_space_size``: ``C``, chance codes of the VQ encoder (32 covers 2048's
  16 cells x {2, 4});
- ``model.encoder_hidden_dim``: width of the encoder's hidden layer;
- ``model.pair_channels``: neighbouring-cell convolutions in the representation of board
  observations (``StochasticMuZeroMLP``); 0 for vector observations;
- ``model.line_channels``: row and column encoders in the representation of board
  observations (``StochasticMuZeroMLP``); 0 for none;
- ``model.afterstate_reward``: predict the reward with the afterstate dynamics ``phi(s, a)``
  instead of the dynamics ``g(as, c)`` (environments whose reward does not depend on the
  chance outcome, such as 2048);
- ``afterstate_value_loss_weight``: weight of the afterstate value (``Q``) loss;
- ``chance_loss_weight``: weight of the cross-entropy between the afterstate's chance
  distribution ``sigma`` and the encoder's code;
- ``commitment_loss_weight``: ``beta`` of the VQ commitment loss
  ``||softmax(e(o_t, o_{t+1})) - one_hot(code)||^2``;
- ``code_usage_loss_weight``: weight of ``log C - H(batch mean of the encoder softmax)``,
  which keeps the codes in use (without it the encoder collapses onto one code).
"""

from __future__ import annotations

from typing import Any

from easydict import EasyDict

from pipezero.config import merge_config
from pipezero.policy.muzero_config import MUZERO_CONFIG

STOCHASTIC_MUZERO_CONFIG: dict[str, Any] = merge_config(
    MUZERO_CONFIG,
    {
        "exp_dir": "runs/stochastic_muzero",
        "env": {"env_id": "pipezero/Game2048-v0"},
    },
)
STOCHASTIC_MUZERO_CONFIG["policy"]["model"].update(
    {
        "chance_space_size": 32,
        "encoder_hidden_dim": 128,
        "pair_channels": 0,
        "line_channels": 0,
        "afterstate_reward": False,
    }
)
STOCHASTIC_MUZERO_CONFIG["policy"].update(
    {
        "afterstate_value_loss_weight": 0.25,
        "chance_loss_weight": 1.0,
        "commitment_loss_weight": 0.25,
        "code_usage_loss_weight": 1.0,
    }
)
STOCHASTIC_MUZERO_CONFIG = EasyDict(STOCHASTIC_MUZERO_CONFIG)


def stochastic_muzero_config(overrides: dict[str, Any] | None = None) -> EasyDict:
    """The Stochastic MuZero defaults merged with ``overrides`` (validated)."""
    return merge_config(STOCHASTIC_MUZERO_CONFIG, overrides)
