"""pipezero.policy: algorithm logic (acting with search, targets, losses) behind
:class:`PolicyProtocol`."""

from pipezero.policy.base import ActResult, LearnResult, PolicyProtocol
from pipezero.policy.efficientzero import EfficientZeroPolicy
from pipezero.policy.efficientzero_config import EFFICIENTZERO_CONFIG, efficientzero_config
from pipezero.policy.muzero import MuZeroPolicy
from pipezero.policy.muzero_config import MUZERO_CONFIG, muzero_config

__all__ = [
    "EFFICIENTZERO_CONFIG",
    "MUZERO_CONFIG",
    "ActResult",
    "EfficientZeroPolicy",
    "LearnResult",
    "MuZeroPolicy",
    "PolicyProtocol",
    "efficientzero_config",
    "muzero_config",
]
