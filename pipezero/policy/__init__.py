"""pipezero.policy: algorithm logic (acting with search, targets, losses) behind
:class:`PolicyProtocol`."""

from pipezero.policy.base import ActResult, LearnResult, PolicyProtocol
from pipezero.policy.efficientzero import EfficientZeroPolicy
from pipezero.policy.efficientzero_config import EFFICIENTZERO_CONFIG, efficientzero_config
from pipezero.policy.gumbel_muzero import GumbelMuZeroPolicy
from pipezero.policy.gumbel_muzero_config import GUMBEL_MUZERO_CONFIG, gumbel_muzero_config
from pipezero.policy.muzero import MuZeroPolicy
from pipezero.policy.muzero_config import MUZERO_CONFIG, muzero_config
from pipezero.policy.rezero import ReZeroPolicy
from pipezero.policy.rezero_config import REZERO_CONFIG, rezero_config
from pipezero.policy.sampled_efficientzero import SampledEfficientZeroPolicy
from pipezero.policy.sampled_efficientzero_config import (
    SAMPLED_EFFICIENTZERO_CONFIG,
    sampled_efficientzero_config,
)
from pipezero.policy.stochastic_muzero import StochasticMuZeroPolicy
from pipezero.policy.stochastic_muzero_config import (
    STOCHASTIC_MUZERO_CONFIG,
    stochastic_muzero_config,
)
from pipezero.policy.unizero import UniZeroPolicy
from pipezero.policy.unizero_config import (
    UNIZERO_ATARI_CONFIG,
    UNIZERO_CONFIG,
    unizero_atari_config,
    unizero_config,
)

__all__ = [
    "EFFICIENTZERO_CONFIG",
    "GUMBEL_MUZERO_CONFIG",
    "MUZERO_CONFIG",
    "REZERO_CONFIG",
    "SAMPLED_EFFICIENTZERO_CONFIG",
    "STOCHASTIC_MUZERO_CONFIG",
    "UNIZERO_ATARI_CONFIG",
    "UNIZERO_CONFIG",
    "ActResult",
    "EfficientZeroPolicy",
    "GumbelMuZeroPolicy",
    "LearnResult",
    "MuZeroPolicy",
    "PolicyProtocol",
    "ReZeroPolicy",
    "SampledEfficientZeroPolicy",
    "StochasticMuZeroPolicy",
    "UniZeroPolicy",
    "efficientzero_config",
    "gumbel_muzero_config",
    "muzero_config",
    "rezero_config",
    "sampled_efficientzero_config",
    "stochastic_muzero_config",
    "unizero_atari_config",
    "unizero_config",
]
