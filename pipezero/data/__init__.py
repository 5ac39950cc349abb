"""pipezero.data: game segments, the prioritised replay buffer and n-step target inputs.

Batches are plain ``dict`` s of NumPy arrays (see :meth:`ReplayBuffer.sample`).
"""

from pipezero.data.buffer_io import load_buffer, save_buffer
from pipezero.data.game_segment import GameSegment
from pipezero.data.replay_buffer import ReplayBuffer, batch_to_tensors
from pipezero.data.segment_writer import GameSegmentWriter, segment_state
from pipezero.data.sum_tree import SumTree
from pipezero.data.targets import (
    ValueTargetInputs,
    compute_value_targets,
    nstep_bootstrap,
    value_prefix_targets,
    value_target_inputs,
)
from pipezero.data.trajectories import load_segments, read_segments_meta, save_segments

__all__ = [
    "GameSegment",
    "GameSegmentWriter",
    "ReplayBuffer",
    "SumTree",
    "ValueTargetInputs",
    "batch_to_tensors",
    "compute_value_targets",
    "load_buffer",
    "load_segments",
    "nstep_bootstrap",
    "read_segments_meta",
    "save_buffer",
    "save_segments",
    "segment_state",
    "value_prefix_targets",
    "value_target_inputs",
]
