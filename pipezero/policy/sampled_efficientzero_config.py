"""Default configuration of a Sampled EfficientZero experiment: the EfficientZero defaults plus
the sampled search (``num_of_sampled_actions``, sampling with or without the prior), the
sampled-action policy loss and the Gaussian policy head.

Keys follow LightZero's Sampled EfficientZero: ``sampled_algo`` tells the collector to store
the root's sampled actions, ``policy_loss_type`` is ``"cross_entropy"`` or ``"KL"``,
``normalize_prob_of_sampled_actions`` renormalises the policy over the ``K`` sampled actions
before the loss, ``policy_entropy_loss_weight`` weighs an entropy bonus, and the model's
``sigma_type`` / ``fixed_sigma_value`` choose a learned or a fixed standard deviation.
Whether the action space is continuous is read from the environment, not configured.
"""

from __future__ import annotations

from typing import Any

from easydict import EasyDict

from pipezero.config import merge_config
from pipezero.policy.efficientzero_config import EFFICIENTZERO_CONFIG

SAMPLED_EFFICIENTZERO_CONFIG: dict[str, Any] = merge_config(
    EFFICIENTZERO_CONFIG,
    {"exp_dir": "runs/sampled_efficientzero", "env": {"env_id": "Pendulum-v1"}},
)
SAMPLED_EFFICIENTZERO_CONFIG["policy"]["model"].update(
    {
        "sigma_type": "conditioned",  # conditioned: the head predicts log std | fixed
        "fixed_sigma_value": 0.3,  # std of sigma_type="fixed" (pre-tanh units)
        "min_log_std": -5.0,  # clamp of the predicted log std
        "max_log_std": 2.0,
    }
)
SAMPLED_EFFICIENTZERO_CONFIG["policy"].update(
    {
        "sampled_algo": True,  # env_collect stores the root's sampled actions
        "num_of_sampled_actions": 20,  # K actions sampled at every expanded node
        # True: draw the K actions from the policy (beta = pi); False: uniformly (over
        # [-1, 1]^D or the legal actions), with the prior corrected by pi / beta
        "sample_from_prior": True,
        "policy_loss_type": "cross_entropy",  # cross_entropy | KL
        "normalize_prob_of_sampled_actions": False,
        "policy_entropy_loss_weight": 5e-3,
    }
)
SAMPLED_EFFICIENTZERO_CONFIG = EasyDict(SAMPLED_EFFICIENTZERO_CONFIG)


def sampled_efficientzero_config(overrides: dict[str, Any] | None = None) -> EasyDict:
    """The Sampled EfficientZero defaults merged with ``overrides`` (validated)."""
    return merge_config(SAMPLED_EFFICIENTZERO_CONFIG, overrides)
