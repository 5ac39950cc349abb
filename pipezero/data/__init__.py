"""pipezero.data: game segments, the prioritised replay buffer and n-step target inputs.

Batches are typed :class:`Batch` dataclasses of NumPy arrays (see :meth:`ReplayBuffer.sample`),
moved to a device in one copy by :meth:`Batch.to`.
"""

from pipezero.data.batch import Batch
from pipezero.data.buffer_io import load_buffer, save_buffer
from pipezero.data.game_segment import GameSegment
from pipezero.data.replay_buffer import ReplayBuffer
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
from pipezero.data.transfer import DeviceBatch

__all__ = [
    "Batch",
    "DeviceBatch",
    "GameSegment",
    "GameSegmentWriter",
    "ReplayBuffer",
    "SumTree",
    "ValueTargetInputs",
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
