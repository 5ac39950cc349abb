"""UniZero: a transformer world model with KV-cached inference for the tree search."""

from pipezero.model.unizero.encoders import ConvEncoder, MLPEncoder
from pipezero.model.unizero.transformer import KVWindow, WindowTransformer
from pipezero.model.unizero.world_model import SequenceOutput, UniZeroModel

__all__ = [
    "ConvEncoder",
    "KVWindow",
    "MLPEncoder",
    "SequenceOutput",
    "UniZeroModel",
    "WindowTransformer",
]
