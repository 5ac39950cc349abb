"""Frame-store storage for stacked-frame observations (Atari): each frame is kept once.

An Atari observation stacks the last ``S`` frames, so storing observations as they come keeps
every frame ``S`` times, and the padding of a segment (the first ``P`` positions of the next
one) keeps some a further time. :class:`FrameReplayBuffer` stores, per segment::

    history  [S - 1, *F]  the frames before position 0 (copied: S - 1 frames per segment)
    frames   [m, *F]      the newest frame of each own position (real transitions, and the
                          final observation when the episode ended right after them)
    tail     [k, *F]      the newest frame of each padding position: once the next segment
                          of the episode is pushed, a *view* of its first frames (no copy)

and rebuilds the stack of position ``j`` as frames ``j .. j + S - 1`` of
``history ++ frames ++ tail`` when a batch is sampled (:class:`StackedFrames`, an array-like
that the buffer indexes exactly like an array). Memory per stored transition is therefore
about ``1 + (S - 1) / L`` frames (plus the small per-position targets), instead of
``S * (1 + P / L)``.

Segments are converted when they are pushed, and checked: a segment whose observations are
not stacks of consecutive frames is rejected. The next segment of an episode is recognised
by content (its first stacks equal the previous segment's padding), so the collector needs
no episode ids and a wrong match is impossible: matched frames are equal frames.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipezero.data.game_segment import GameSegment
from pipezero.data.replay_buffer import ReplayBuffer


class StackedFrames:
    """Read-only ``[n, S, *F]`` array-like over frames stored once.

    Indexing (``int``, slice, integer array or list) returns NumPy arrays exactly like the
    array of stacks it replaces; ``np.asarray(view)`` materialises all of it.

    Args:
        history: ``[S - 1, *F]`` frames before position 0.
        frames: ``[m, *F]`` newest frames of the first ``m`` positions.
        tail: ``[n - m, *F]`` newest frames of the remaining positions.
    """

    def __init__(self, history: np.ndarray, frames: np.ndarray, tail: np.ndarray) -> None:
        for arr in (history, frames, tail):
            arr.flags.writeable = False
        self.history = history
        self.frames = frames
        self.tail = tail
        self.stack = history.shape[0] + 1
        self.frame_shape = tuple(frames.shape[1:])
        self.dtype = frames.dtype

    @property
    def shape(self) -> tuple[int, ...]:
        """``(n, S, *F)``."""
        return (len(self), self.stack, *self.frame_shape)

    @property
    def ndim(self) -> int:
        return 2 + len(self.frame_shape)

    def __len__(self) -> int:
        return len(self.frames) + len(self.tail)

    def _gather(self, positions: np.ndarray) -> np.ndarray:
        """Stacks of ``positions`` (any int shape) -> ``[*positions.shape, S, *F]``."""
        s, h, m = self.stack, self.stack - 1, len(self.frames)
        flat = positions.reshape(-1)
        virtual = flat[:, None] + np.arange(s)  # index into history ++ frames ++ tail
        out = np.empty((flat.size, s, *self.frame_shape), dtype=self.dtype)
        for source, low, high in (
            (self.history, 0, h),
            (self.frames, h, h + m),
            (self.tail, h + m, h + len(self)),
        ):
            sel = (virtual >= low) & (virtual < high)
            if sel.any():
                out[sel] = source[virtual[sel] - low]
        return out.reshape(*positions.shape, s, *self.frame_shape)

    def __getitem__(self, index: Any) -> np.ndarray:
        n = len(self)
        if isinstance(index, int | np.integer):
            i = int(index) + n if index < 0 else int(index)
            if not 0 <= i < n:
                raise IndexError(f"position {index} out of range for {n} positions")
            return self._gather(np.array(i))
        positions = np.arange(n)[index]  # slices, int arrays and lists, with bounds checks
        return self._gather(np.asarray(positions))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        arr = self._gather(np.arange(len(self)))
        return arr if dtype is None else arr.astype(dtype)

    def owned_arrays(self) -> list[np.ndarray]:
        """The arrays this view owns (not views of another segment's frames)."""
        return [a for a in (self.history, self.frames, self.tail) if a.base is None]

    def __repr__(self) -> str:
        return f"StackedFrames(shape={self.shape}, dtype={self.dtype})"


def to_frame_store(segment: GameSegment) -> StackedFrames:
    """The frame-store form of a finished segment's ``[n, S, *F]`` observations.

    Raises:
        ValueError: the observations are not stacks ``S >= 2`` of consecutive frames (stack
            ``j + 1`` must be stack ``j`` shifted by one frame).
    """
    obs = np.asarray(segment.obs)
    if obs.ndim < 3 or obs.shape[1] < 2:
        raise ValueError(
            f"the frame store needs stacked observations [n, S >= 2, *frame], got "
            f"{list(obs.shape)}; use a plain ReplayBuffer for other observations"
        )
    own = segment.length + int(segment.episode_ended and segment.episode_end == segment.length)
    view = StackedFrames(
        history=np.array(obs[0, :-1], copy=True),
        frames=np.array(obs[:own, -1], copy=True),
        tail=np.array(obs[own:, -1], copy=True),
    )
    if not np.array_equal(view[np.arange(len(obs))], obs):
        raise ValueError(
            "the segment's observations are not stacks of consecutive frames (observation "
            "j + 1 must be observation j shifted by one frame, the newest last); the frame "
            "store cannot hold them. Use gymnasium's FrameStackObservation, or a plain "
            "ReplayBuffer"
        )
    return view


class FrameReplayBuffer(ReplayBuffer):
    """A :class:`ReplayBuffer` that stores stacked-frame observations once per frame.

    Same arguments, sampling and priorities as :class:`ReplayBuffer`; only the storage of
    ``segment.obs`` differs (see the module doc). Pushed segments are converted in place (their
    ``obs`` becomes a :class:`StackedFrames`), so keep no other use of the stacked arrays.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending: list[GameSegment] = []  # padded segments whose tail is still a copy

    def push(self, segment: GameSegment, priorities: np.ndarray | None = None) -> int:
        """Convert ``segment`` to the frame store, share its frames with the previous segment
        of its episode, then store it as :meth:`ReplayBuffer.push` does."""
        if not isinstance(segment.obs, StackedFrames):
            if not segment.finished:
                raise ValueError("push() needs a finished GameSegment; call finish() first")
            segment.obs = to_frame_store(segment)
        self._link(segment)
        sid = super().push(segment, priorities)
        if segment.num_padding:
            self._pending.append(segment)
        return sid

    def _link(self, segment: GameSegment) -> None:
        """Make the padding of the previous segment of ``segment``'s episode a view of
        ``segment``'s own frames (found by content among the pending segments)."""
        view: StackedFrames = segment.obs
        for i, prev in enumerate(self._pending):
            prev_view: StackedFrames = prev.obs
            m = len(prev_view.tail)
            if (
                m <= len(view.frames)
                and np.array_equal(prev_view.tail, view.frames[:m])
                and np.array_equal(prev_view[prev.length][:-1], view.history)
            ):
                prev_view.tail = view.frames[:m]
                del self._pending[i]
                return

    def _evict_oldest(self) -> None:
        oldest = next(iter(self._segments.values()))[0]
        self._pending = [s for s in self._pending if s is not oldest]
        super()._evict_oldest()

    def compact(self) -> int:
        """Convert segments stored with plain stacked arrays (e.g. after loading a saved
        buffer) to the frame store; returns how many were converted."""
        converted = 0
        self._pending = []
        for segment in self.segments():
            if not isinstance(segment.obs, StackedFrames):
                segment.obs = to_frame_store(segment)
                converted += 1
            self._link(segment)
            if segment.num_padding:
                self._pending.append(segment)
        return converted

    def memory_report(self) -> dict[str, float]:
        """Bytes held per stored (real) transition, against one preprocessed frame.

        Returns:
            ``frame_bytes`` (one frame), ``obs_bytes_per_transition`` (the frames, unique
            arrays only), ``targets_bytes_per_transition`` (actions, rewards, visit
            distributions, ... of every position), ``index_bytes_per_transition`` (priorities
            and slot tables, per unit of capacity in use), ``bytes_per_transition`` (their
            sum) and ``ratio_to_frame`` (that sum over ``frame_bytes``).
        """
        segments = self.segments()
        transitions = max(self.num_transitions, 1)
        obs_bytes = targets_bytes = 0
        frame_bytes = 0
        for seg in segments:
            view = seg.obs
            if isinstance(view, StackedFrames):
                obs_bytes += sum(a.nbytes for a in view.owned_arrays())
                frame_bytes = view.frames[0].nbytes if len(view.frames) else frame_bytes
            else:
                obs_bytes += np.asarray(view).nbytes
            for name in (
                "action_masks",
                "to_play",
                "actions",
                "rewards",
                "child_visits",
                "root_values",
                "pred_values",
                "root_sampled_actions",
            ):
                arr = getattr(seg, name, None)
                targets_bytes += 0 if arr is None else arr.nbytes
        index_bytes = (
            self._priorities.nbytes + self._slot_segment.nbytes + self._slot_position.nbytes
        ) / self.capacity + 2 * 8  # the sum tree holds about two float64 per slot
        report = {
            "frame_bytes": float(frame_bytes),
            "obs_bytes_per_transition": obs_bytes / transitions,
            "targets_bytes_per_transition": targets_bytes / transitions,
            "index_bytes_per_transition": float(index_bytes),
        }
        report["bytes_per_transition"] = (
            report["obs_bytes_per_transition"]
            + report["targets_bytes_per_transition"]
            + report["index_bytes_per_transition"]
        )
        report["ratio_to_frame"] = report["bytes_per_transition"] / max(frame_bytes, 1)
        return report
