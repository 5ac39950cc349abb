"""GameSegment: a fixed-length slice of one episode, padded to compute targets on its own.

A segment holds ``game_segment_length`` (``L``) transitions of an episode. Training samples a
position ``t`` and unrolls ``num_unroll_steps`` (``K``) steps, each with an n-step value
target that looks ``td_steps`` (``n``) further ahead, so a position near the end of the
segment reads up to ``K + n`` positions past it. The segment is therefore *padded* with the
first ``P = K + n`` positions of the next segment of the same episode::

    positions  0 .............. T-1 | T ............... T+P-1
               real transitions     | padding: next segment's 0 .. P-1
               (sampled)            | (read for targets, never sampled)

If the episode ends at position ``E`` (inside the segment or inside the padding), the
observation reached there (the *final observation*) is stored at ``E`` and nothing follows::

    positions  0 ........ T-1 | T ..... E-1 | E
               real           | padding     | final observation (+ to_play); no action

``length`` is the real (unpadded) transition count ``T``; only positions ``0 .. T-1`` are
sampled and count towards replay capacity. Whether the end was a true termination
(value 0) or a truncation (bootstrap from the final observation) is kept in ``terminated``.

Per position ``j`` the arrays store the observation the agent acted from, its legal-action
mask and ``to_play``, the action, the reward of the transition, the root visit distribution
of the search and the root value. After :meth:`GameSegment.finish` the arrays are trimmed to
the positions actually used. Collectors that know the network's own value at the root also
store it (``pred_values``, NaN where unknown), so the initial replay priority can be
``|pred_value - root_value|``.

Continuous actions and sampled search (Sampled MuZero / EfficientZero): with
``action_shape=(D,)`` the actions are ``[D]`` float32 vectors instead of int64 indices, and
with ``num_sampled_actions=Ks > 0`` every position also stores the ``Ks`` actions the search
sampled at its root (``root_sampled_actions``) and ``child_visits`` is the visit distribution
over those ``Ks`` slots instead of over the ``A`` actions. Both default to the discrete layout.

Collectors normally use :class:`~pipezero.data.segment_writer.GameSegmentWriter`, which rolls
segments over, pads them and hands out finished ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

ARRAY_FIELDS = (
    "obs",
    "action_masks",
    "to_play",
    "actions",
    "rewards",
    "child_visits",
    "root_values",
    "pred_values",
    "root_sampled_actions",
)
#: Arrays :meth:`GameSegment.from_arrays` fills when absent (files saved before them):
#: ``pred_values`` with NaN, ``root_sampled_actions`` with an empty ``[n, 0]`` array.
OPTIONAL_ARRAY_FIELDS = ("pred_values", "root_sampled_actions")


def _check_positive(name: str, value: int, allow_zero: bool = False) -> int:
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)


class GameSegment:
    """A slice of an episode with the padding needed for n-step targets.

    Args:
        observation_shape: ``*O``, shape of one observation.
        action_space_size: ``A``.
        game_segment_length: ``L``, real transitions per segment.
        num_unroll_steps: ``K``.
        td_steps: ``n``.
        obs_dtype: storage dtype of observations (``uint8`` frames save 4x over float32).
        action_shape: ``()`` (default) for int64 action indices, ``(D,)`` for float32
            continuous actions.
        num_sampled_actions: ``Ks`` root actions stored per position by a sampled search
            (0: none, the visit distribution is over the ``A`` actions).
        task_id: the task that plays the segment (multi-task runs; ``>= 0``).

    Attributes (shapes before :meth:`finish`; afterwards trimmed to ``num_positions``):
        obs: ``[L + P, *O]`` observations (``obs_dtype``).
        action_masks: ``[L + P, A]`` bool (``A = 0`` for continuous actions).
        to_play: ``[L + P]`` int64, ``-1`` for single-player games.
        actions: ``[L + P]`` int64, or ``[L + P, D]`` float32 for continuous actions.
        rewards: ``[L + P]`` float32, reward of the transition taken at each position.
        child_visits: ``[L + P, A]`` float32, root visit distribution (sums to 1); ``[L + P,
            Ks]`` over the sampled actions when ``num_sampled_actions > 0``.
        root_sampled_actions: ``[L + P, Ks, *action_shape]`` the root's sampled actions
            (same dtype as ``actions``; ``Ks = 0``: empty).
        root_values: ``[L + P]`` float32, search value at the root.
        pred_values: ``[L + P]`` float32, network value at the root before search (NaN when
            the collector did not give it).
        length: ``T``, real transitions.
        num_padding: ``p``, transitions copied from the next segment.
        episode_end: ``E``, position of the final observation, or ``-1`` if the episode goes
            on past the padding.
        terminated: the episode ended in a terminal state (rather than a truncation).
        weight_version: ``train_iter`` of the weights that played the segment, where the
            collector records it (Ray self-play actors do); ``-1``: not recorded.
        task_id: which task (environment) of a multi-task run played the segment; ``0`` in
            a single-task run. The replay buffer returns it per sampled row (``task_ids``)
            and balances its batches over the tasks it holds (docs/multitask.md).
    """

    weight_version: int = -1

    def __init__(
        self,
        observation_shape: Sequence[int],
        action_space_size: int,
        game_segment_length: int,
        num_unroll_steps: int,
        td_steps: int,
        obs_dtype: np.dtype | type = np.float32,
        action_shape: Sequence[int] = (),
        num_sampled_actions: int = 0,
        task_id: int = 0,
    ) -> None:
        self.task_id = _check_positive("task_id", task_id, allow_zero=True)
        self.observation_shape = tuple(int(d) for d in observation_shape)
        self.action_shape = tuple(int(d) for d in action_shape)
        self.num_sampled_actions = _check_positive(
            "num_sampled_actions", num_sampled_actions, allow_zero=True
        )
        if self.action_shape and self.num_sampled_actions == 0:
            raise ValueError(
                f"continuous actions (action_shape={self.action_shape}) need a sampled search: "
                "give num_sampled_actions > 0 (the visit distribution is over those actions)"
            )
        # continuous actions have nothing to mask: A = 0 is allowed there
        self.action_space_size = _check_positive(
            "action_space_size", action_space_size, allow_zero=bool(self.action_shape)
        )
        self.game_segment_length = _check_positive("game_segment_length", game_segment_length)
        self.num_unroll_steps = _check_positive("num_unroll_steps", num_unroll_steps, True)
        self.td_steps = _check_positive("td_steps", td_steps)
        self.padding_length = self.num_unroll_steps + self.td_steps
        if self.game_segment_length < self.padding_length:
            raise ValueError(
                f"game_segment_length ({game_segment_length}) must be >= num_unroll_steps + "
                f"td_steps ({self.padding_length}) so one following segment can pad it; "
                "raise game_segment_length"
            )
        size = self.game_segment_length + self.padding_length
        a = self.action_space_size
        action_dtype = self.action_dtype
        self.obs = np.zeros((size, *self.observation_shape), dtype=obs_dtype)
        self.action_masks = np.zeros((size, a), dtype=bool)
        self.to_play = np.full(size, -1, dtype=np.int64)
        self.actions = np.zeros((size, *self.action_shape), dtype=action_dtype)
        self.rewards = np.zeros(size, dtype=np.float32)
        self.child_visits = np.zeros((size, self.policy_size), dtype=np.float32)
        self.root_sampled_actions = np.zeros(
            (size, self.num_sampled_actions, *self.action_shape), dtype=action_dtype
        )
        self.root_values = np.zeros(size, dtype=np.float32)
        self.pred_values = np.full(size, np.nan, dtype=np.float32)
        self.length = 0
        self.num_padding = 0
        self.episode_end = -1
        self.terminated = False
        self.finished = False

    # -- layout -----------------------------------------------------------------------------

    @property
    def action_dtype(self) -> np.dtype:
        """int64 for action indices, float32 for continuous actions."""
        return np.dtype(np.float32 if self.action_shape else np.int64)

    @property
    def policy_size(self) -> int:
        """Width of ``child_visits``: ``Ks`` for a sampled search, else ``A``."""
        return self.num_sampled_actions or self.action_space_size

    @property
    def layout(self) -> tuple:
        """``(observation_shape, A, action_shape, Ks)``: segments in one buffer share it."""
        return (
            self.observation_shape,
            self.action_space_size,
            self.action_shape,
            self.num_sampled_actions,
        )

    # -- collection -------------------------------------------------------------------------

    @property
    def is_full(self) -> bool:
        """``True`` once ``L`` real transitions were appended."""
        return self.length == self.game_segment_length

    @property
    def episode_ended(self) -> bool:
        """``True`` if the final observation of the episode is stored in this segment."""
        return self.episode_end >= 0

    @property
    def num_positions(self) -> int:
        """Positions in use: transitions (real + padding), plus the final observation."""
        return self.length + self.num_padding + int(self.episode_ended)

    def append(
        self,
        obs: np.ndarray,
        action_mask: np.ndarray,
        to_play: int,
        action: int | np.ndarray,
        reward: float,
        child_visits: np.ndarray,
        root_value: float,
        pred_value: float = math.nan,
        root_sampled_actions: np.ndarray | None = None,
    ) -> None:
        """Record one real transition taken from ``obs``.

        Args:
            obs: ``[*O]`` the observation the agent acted from.
            action_mask: ``[A]`` legal actions at ``obs``.
            to_play: player to move at ``obs`` (``-1``: single-player).
            action: the action taken, in ``[0, A)``; a ``[D]`` vector for continuous actions.
            reward: the reward it earned.
            child_visits: ``[A]`` root visit counts or distribution (normalised here);
                ``[Ks]`` over the sampled actions for a sampled search.
            root_value: value of the root after search.
            pred_value: value the network predicted at the root before search (NaN:
                unknown; the buffer then gives the transition its maximum priority).
            root_sampled_actions: ``[Ks, *action_shape]`` actions the search sampled at the
                root; required when ``num_sampled_actions > 0``, else must be ``None``.
        """
        self._check_open("append")
        if self.is_full:
            raise RuntimeError(
                f"GameSegment is full ({self.game_segment_length} transitions); start a new "
                "segment (GameSegmentWriter does this for you)"
            )
        if self.episode_ended:
            raise RuntimeError("GameSegment: append() after end_episode(); start a new segment")
        j = self.length
        self.obs[j] = obs
        self.action_masks[j] = action_mask
        self.to_play[j] = to_play
        self.actions[j] = action
        self.rewards[j] = reward
        visits = np.asarray(child_visits, dtype=np.float32)
        total = visits.sum()
        if not total > 0:
            raise ValueError(
                f"child_visits must have a positive sum (a search distribution), got {visits}"
            )
        self.child_visits[j] = visits / total
        self.root_values[j] = root_value
        self.pred_values[j] = pred_value
        if (root_sampled_actions is None) != (self.num_sampled_actions == 0):
            raise ValueError(
                f"root_sampled_actions must be given exactly when the segment stores sampled "
                f"actions (num_sampled_actions={self.num_sampled_actions}), got "
                f"{'None' if root_sampled_actions is None else 'an array'}"
            )
        if root_sampled_actions is not None:
            self.root_sampled_actions[j] = root_sampled_actions
        self.length += 1

    def end_episode(self, final_obs: np.ndarray, terminated: bool, final_to_play: int = -1) -> None:
        """Mark the episode as ended after the last appended transition.

        Args:
            final_obs: ``[*O]`` the observation the last transition reached.
            terminated: ``True`` for a terminal state (value 0), ``False`` for a truncation
                (the value is bootstrapped from ``final_obs``).
            final_to_play: player to move at ``final_obs``.
        """
        self._check_open("end_episode")
        if self.episode_ended or self.num_padding:
            raise RuntimeError("GameSegment: end_episode() on a segment already ended or padded")
        self._set_end(self.length, final_obs, terminated, final_to_play)

    def _set_end(self, j: int, final_obs: np.ndarray, terminated: bool, to_play: int) -> None:
        self.obs[j] = final_obs
        self.to_play[j] = to_play
        self.action_masks[j] = False  # no action is taken at the final observation
        self.episode_end = j
        self.terminated = bool(terminated)

    @property
    def ready(self) -> bool:
        """``True`` when every position targets can read is known: the episode ended, or the
        segment is full and padded with ``P`` positions."""
        return self.episode_ended or self.num_padding == self.padding_length

    def pad_from(self, next_segment: GameSegment) -> None:
        """Copy the first positions of the episode's next segment into the padding.

        Copies ``min(P, next_segment.length)`` transitions, and the final observation if the
        episode ends within them. ``next_segment`` must hold at least ``P`` transitions or
        have its episode ended.
        """
        self._check_open("pad_from")
        if not self.is_full or self.episode_ended or self.num_padding:
            raise RuntimeError(
                "GameSegment.pad_from() needs a full segment whose episode goes on and that "
                f"is not padded yet (length={self.length}, episode_end={self.episode_end}, "
                f"num_padding={self.num_padding})"
            )
        nxt = next_segment
        if nxt.padding_length != self.padding_length or nxt.obs.shape[1:] != self.obs.shape[1:]:
            raise ValueError("pad_from() needs a segment built with the same parameters")
        p = min(self.padding_length, nxt.length)
        if p < self.padding_length and not nxt.episode_ended:
            raise RuntimeError(
                f"the next segment holds {nxt.length} transitions and its episode goes on; "
                f"padding needs {self.padding_length} (num_unroll_steps + td_steps). Call "
                "pad_from() once it has them or once its episode ended"
            )
        start = self.length
        for name in ARRAY_FIELDS:
            getattr(self, name)[start : start + p] = getattr(nxt, name)[:p]
        self.num_padding = p
        if nxt.episode_ended and nxt.episode_end == p < self.padding_length:
            end = nxt.episode_end
            self._set_end(start + p, nxt.obs[end], nxt.terminated, int(nxt.to_play[end]))

    def finish(self) -> GameSegment:
        """Freeze the segment: trim the arrays to :attr:`num_positions` and make them read-only.

        Raises:
            RuntimeError: the segment is not :attr:`ready` (missing padding) or empty.
        """
        self._check_open("finish")
        if self.length == 0:
            raise RuntimeError("GameSegment.finish() on an empty segment")
        if not self.ready:
            raise RuntimeError(
                f"GameSegment.finish(): {self.num_padding} of {self.padding_length} padding "
                "positions are filled and the episode has not ended; pad_from() the next "
                "segment first"
            )
        n = self.num_positions
        for name in ARRAY_FIELDS:
            arr = np.ascontiguousarray(getattr(self, name)[:n])
            arr.flags.writeable = False
            setattr(self, name, arr)
        self.finished = True
        return self

    def _check_open(self, what: str) -> None:
        if self.finished:
            raise RuntimeError(f"GameSegment.{what}() on a finished segment")

    @classmethod
    def from_arrays(
        cls,
        arrays: dict[str, np.ndarray],
        game_segment_length: int,
        num_unroll_steps: int,
        td_steps: int,
        length: int,
        num_padding: int,
        episode_end: int,
        terminated: bool,
        task_id: int = 0,
    ) -> GameSegment:
        """Rebuild a finished segment from its trimmed arrays (as saved by the buffer).

        Args:
            arrays: every name of :data:`ARRAY_FIELDS`, each with ``num_positions`` rows;
                those of :data:`OPTIONAL_ARRAY_FIELDS` may be left out (filled with NaN).
            game_segment_length, num_unroll_steps, td_steps: the segment's parameters.
            length, num_padding, episode_end, terminated: its layout, see the class doc.
            task_id: the task that played it (multi-task runs).
        """
        missing = [n for n in ARRAY_FIELDS if n not in arrays and n not in OPTIONAL_ARRAY_FIELDS]
        if missing:
            raise ValueError(f"GameSegment.from_arrays: missing arrays {missing}")
        seg = cls.__new__(cls)
        seg.observation_shape = tuple(arrays["obs"].shape[1:])
        seg.action_space_size = int(arrays["action_masks"].shape[1])
        seg.action_shape = tuple(arrays["actions"].shape[1:])
        sampled = arrays.get("root_sampled_actions")
        seg.num_sampled_actions = 0 if sampled is None else int(sampled.shape[1])
        seg.game_segment_length = int(game_segment_length)
        seg.num_unroll_steps = int(num_unroll_steps)
        seg.td_steps = int(td_steps)
        seg.padding_length = seg.num_unroll_steps + seg.td_steps
        seg.length = int(length)
        seg.num_padding = int(num_padding)
        seg.episode_end = int(episode_end)
        seg.terminated = bool(terminated)
        seg.task_id = _check_positive("task_id", task_id, allow_zero=True)
        arrays = dict(arrays)
        if "pred_values" not in arrays:
            arrays["pred_values"] = np.full(seg.num_positions, np.nan, dtype=np.float32)
        if "root_sampled_actions" not in arrays:
            arrays["root_sampled_actions"] = np.zeros(
                (seg.num_positions, 0, *seg.action_shape), dtype=seg.action_dtype
            )
        rows = {name: len(arrays[name]) for name in ARRAY_FIELDS}
        if set(rows.values()) != {seg.num_positions}:
            raise ValueError(
                f"GameSegment.from_arrays: every array needs num_positions = "
                f"{seg.num_positions} rows, got {rows}"
            )
        for name in ARRAY_FIELDS:
            arr = np.array(arrays[name], copy=True)
            arr.flags.writeable = False
            setattr(seg, name, arr)
        seg.finished = True
        return seg

    # -- views ------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, np.ndarray | int | bool]:
        """The arrays (:data:`ARRAY_FIELDS`) and the scalars describing the layout."""
        out: dict[str, np.ndarray | int | bool] = {n: getattr(self, n) for n in ARRAY_FIELDS}
        out.update(
            length=self.length,
            num_padding=self.num_padding,
            episode_end=self.episode_end,
            terminated=self.terminated,
            task_id=self.task_id,
        )
        return out

    def __len__(self) -> int:
        return self.length

    def __repr__(self) -> str:
        return (
            f"GameSegment(length={self.length}, num_padding={self.num_padding}, "
            f"episode_end={self.episode_end}, terminated={self.terminated}, "
            f"finished={self.finished})"
        )
