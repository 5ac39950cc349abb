"""Default configuration of a Gumbel MuZero experiment: the MuZero defaults with the PUCT and
visit-temperature keys replaced by the Gumbel search keys.

Gumbel MuZero explores through the root Gumbel noise and acts with the action chosen by
sequential halving, so the Dirichlet noise (``root_dirichlet_alpha``, ``root_noise_weight``),
the PUCT constants (``pb_c_base``, ``pb_c_init``, ``value_delta_max``), the visit-count
temperature schedule (``manual_temperature_decay``, ``fixed_temperature_value``,
``threshold_env_steps_for_final_temperature``) and ``policy_target`` (the target is always the
improved policy) have no effect here. They are removed from the
defaults so that setting one fails loudly instead of being silently ignored.
"""

from __future__ import annotations

import copy
from typing import Any

from easydict import EasyDict

from pipezero.config import merge_config
from pipezero.policy.muzero_config import MUZERO_CONFIG

#: MuZero keys that do nothing under Gumbel search (see the module docstring).
UNUSED_MUZERO_KEYS = (
    "pb_c_base",
    "pb_c_init",
    "root_dirichlet_alpha",
    "root_noise_weight",
    "value_delta_max",
    "manual_temperature_decay",
    "fixed_temperature_value",
    "threshold_env_steps_for_final_temperature",
    "policy_target",  # always the improved policy
)

GUMBEL_MUZERO_CONFIG: dict[str, Any] = copy.deepcopy(dict(MUZERO_CONFIG))
GUMBEL_MUZERO_CONFIG["exp_dir"] = "runs/gumbel_muzero"
for _key in UNUSED_MUZERO_KEYS:
    del GUMBEL_MUZERO_CONFIG["policy"][_key]
GUMBEL_MUZERO_CONFIG["policy"].update(
    {
        # m: actions drawn at the root by Gumbel-top-k, then halved by sequential halving
        "max_num_considered_actions": 16,
        # scale of the root Gumbel noise while collecting (evaluation uses no noise)
        "gumbel_scale": 1.0,
        # sigma(q) = (maxvisit_init + max_a N(a)) * value_scale * q, q the completed Q in [0, 1]
        "maxvisit_init": 50.0,
        "value_scale": 0.1,
    }
)
GUMBEL_MUZERO_CONFIG = EasyDict(GUMBEL_MUZERO_CONFIG)


def gumbel_muzero_config(overrides: dict[str, Any] | None = None) -> EasyDict:
    """The Gumbel MuZero defaults merged with ``overrides`` (validated)."""
    return merge_config(GUMBEL_MUZERO_CONFIG, overrides)
