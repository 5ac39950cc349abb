"""Default configuration of an EfficientZero experiment: the MuZero defaults plus the
value-prefix LSTM, the consistency (self-supervised) loss and their sizes."""

from __future__ import annotations

from typing import Any

from easydict import EasyDict

from pipezero.config import merge_config
from pipezero.policy.muzero_config import MUZERO_CONFIG

EFFICIENTZERO_CONFIG: dict[str, Any] = merge_config(
    MUZERO_CONFIG, {"exp_dir": "runs/efficientzero"}
)
EFFICIENTZERO_CONFIG["policy"]["model"].update(
    {
        "reward_support_size": 5,  # value-prefix support
        "lstm_hidden_size": 64,
        "value_prefix_hidden_sizes": [],
        "projection_hidden_dim": 128,
        "projection_dim": 128,
        "prediction_hidden_dim": 64,
    }
)
EFFICIENTZERO_CONFIG["policy"].update(
    {
        "lstm_horizon_len": 5,  # value prefix (and LSTM state) restarts every this many steps
        "ssl_loss_weight": 2.0,  # weight of the consistency loss
    }
)
EFFICIENTZERO_CONFIG = EasyDict(EFFICIENTZERO_CONFIG)


def efficientzero_config(overrides: dict[str, Any] | None = None) -> EasyDict:
    """The EfficientZero defaults merged with ``overrides`` (validated)."""
    return merge_config(EFFICIENTZERO_CONFIG, overrides)
