"""pipezero.model: MuZero-family networks behind :class:`MuZeroModelProtocol`."""

from pipezero.model.consistency import ConsistencyHeads, negative_cosine_similarity
from pipezero.model.conv import MuZeroConv
from pipezero.model.efficientzero import EfficientZeroConv, EfficientZeroMLP
from pipezero.model.mlp import MuZeroMLP
from pipezero.model.protocol import MuZeroModelProtocol, NetworkOutput
from pipezero.model.sampled_efficientzero import SampledEfficientZeroMLP
from pipezero.model.stochastic import StochasticModelProtocol, StochasticMuZeroMLP
from pipezero.model.support import (
    DiscreteSupport,
    inverse_value_transform,
    value_transform,
)
from pipezero.model.unizero import UniZeroModel
from pipezero.model.value_prefix import ValuePrefixLSTM

__all__ = [
    "ConsistencyHeads",
    "DiscreteSupport",
    "EfficientZeroConv",
    "EfficientZeroMLP",
    "MuZeroConv",
    "MuZeroMLP",
    "MuZeroModelProtocol",
    "NetworkOutput",
    "SampledEfficientZeroMLP",
    "StochasticModelProtocol",
    "StochasticMuZeroMLP",
    "UniZeroModel",
    "ValuePrefixLSTM",
    "inverse_value_transform",
    "negative_cosine_similarity",
    "value_transform",
]
