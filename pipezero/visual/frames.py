"""Frames of the collector environments for the visual mode, captured only while watched.

A :class:`FrameTap` watches the first few collector environments (``run.envs()`` under
``--visual``) through an :class:`AdapterTap` each. After a step or reset it takes a picture
only when a client of the page asked within the last ``linger`` seconds *and* ``interval``
seconds have passed since its own last picture; otherwise it costs a clock read and a
comparison. The picture is the environment's own ``rgb_array`` render (classic control,
Atari, 2048), or the observation drawn as cells when it is a small ``[C, H, W]`` grid and the
environment draws none or a tiny one (MinAtar's 10x10 pixels, board games:
:func:`grid_picture`). The collector steps the environment, so the picture is taken in its
thread (no race with a step); the pictures are kept in shared memory
(:class:`~pipezero.visual.slots.FrameSlots`), so a forked collector (``--mode async --backend
process``) shows its environments too.

Chains whose collectors build their environments themselves (board-game self-play) hand the
tap their latest observations instead (:meth:`FrameTap.put_observation`), from the visual
middleware.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from typing import Any

import gymnasium as gym
import numpy as np

from pipezero.envs.grid_render import grid_frame
from pipezero.visual.slots import FrameSlots

__all__ = [
    "PILLOW_MISSING",
    "AdapterTap",
    "FrameTap",
    "grid_observation",
    "grid_picture",
    "pillow_available",
    "to_rgb",
]

logger = logging.getLogger("pipezero.visual")

#: Largest side of a grid observation drawn as cells (larger ones are images: Atari's 84).
GRID_MAX_SIDE = 32
#: Frames are scaled by whole factors to fit between these sides (pixels).
MIN_SIDE, MAX_SIDE = 160, 320


#: Why the page shows no pictures when Pillow (which encodes them as PNG) is missing.
PILLOW_MISSING = 'frames need Pillow: pip install "pipezero[render]"'


def pillow_available() -> bool:
    """Whether Pillow can be imported (frames are PNG-encoded with it)."""
    try:
        import PIL.Image  # noqa: F401
    except ImportError:
        return False
    return True


def grid_observation(obs: Any) -> bool:
    """Whether ``obs`` is a small ``[C, H, W]`` grid (MinAtar, board planes) to draw as cells."""
    shape = np.shape(obs)
    return len(shape) == 3 and shape[0] <= 64 and max(shape[1:]) <= GRID_MAX_SIDE


#: Palette entries (:data:`~pipezero.envs.grid_render.PALETTE`) of a grid's cells: empty,
#: then by first non-zero channel in strongly different colours (red, blue, green, ...).
CELL_COLOURS = np.array([0, 6, 14, 15, 13, 12, 3, 7, 10, 5, 11, 4, 8, 9, 2, 1])


def grid_picture(obs: Any, cell: int = 24) -> np.ndarray:
    """A picture of a ``[C, H, W]`` grid observation: each cell coloured by its first
    non-zero channel (:data:`CELL_COLOURS`), grey where all are zero. Channels that are
    non-zero everywhere (a board game's "player 1 to move" plane) are flags, not pieces, and
    are left out."""
    occupied = np.asarray(obs) != 0
    occupied &= ~occupied.all(axis=(1, 2), keepdims=True)  # planes full everywhere are flags
    channel = np.where(occupied.any(axis=0), occupied.argmax(axis=0) + 1, 0)
    return grid_frame(CELL_COLOURS[np.minimum(channel, len(CELL_COLOURS) - 1)], cell=cell)


def to_rgb(frame: Any) -> np.ndarray:
    """A picture as ``[H, W, 3]`` uint8 of a comfortable size: floats in ``[0, 1]`` scaled to
    255, grey pictures made colour, large pictures shrunk by a whole factor (every k-th
    pixel) to at most :data:`MAX_SIDE`, small ones grown to at least :data:`MIN_SIDE`.

    Raises:
        ValueError: ``frame`` is not ``[H, W]``, ``[H, W, 1]``, ``[H, W, 3]`` or ``[H, W, 4]``.
    """
    array = np.asarray(frame)
    if array.ndim == 3 and array.shape[2] in (1, 3, 4):
        array = array[:, :, :3]
    elif array.ndim != 2:
        raise ValueError(f"a frame must be [H, W] or [H, W, 3], got shape {array.shape}")
    if array.dtype != np.uint8:
        values = array.astype(np.float32)
        if values.size and values.max() <= 1.0:
            values = values * 255.0
        array = np.clip(values, 0, 255).astype(np.uint8)
    if array.ndim == 2 or array.shape[2] == 1:
        array = np.repeat(array.reshape(array.shape[0], array.shape[1], 1), 3, axis=2)
    side = max(array.shape[:2])
    if side > MAX_SIDE:
        step = -(-side // MAX_SIDE)
        array = array[::step, ::step]
    elif side < MIN_SIDE:
        factor = -(-MIN_SIDE // side)
        array = np.repeat(np.repeat(array, factor, axis=0), factor, axis=1)
    return np.ascontiguousarray(array)


class FrameTap:
    """The latest picture of each watched environment, and whether anyone is watching.

    Args:
        max_envs: environments shown at most (the first ones of the collector).
        interval: seconds between two pictures of one environment at least.
        linger: seconds a client's request keeps pictures coming.
    """

    def __init__(
        self,
        max_envs: int = 4,
        interval: float = 1.0,
        linger: float = 3.0,
    ) -> None:
        if max_envs < 1 or interval <= 0 or linger <= 0:
            raise ValueError(
                f"FrameTap needs max_envs >= 1, interval > 0 and linger > 0, got "
                f"{max_envs!r}, {interval!r}, {linger!r}"
            )
        self.max_envs = max_envs
        self.interval = interval
        self.linger = linger
        mp = multiprocessing.get_context("fork")
        # A monotonic deadline in shared memory: CLOCK_MONOTONIC is system-wide on Linux,
        # so a forked collector compares it with its own clock.
        self._wanted_until = mp.RawValue("d", 0.0)
        self._slots = FrameSlots(max_envs, MAX_SIDE)
        self._next_observation = 0.0
        #: environments watched since :meth:`attach` (0: the chain hands observations instead)
        self.attached = 0
        #: why no picture is taken at all (Pillow is missing), else ``None``
        self.disabled: str | None = None if pillow_available() else PILLOW_MISSING

    # ------------------------------------------------------------------ watching
    def want(self) -> None:
        """A client asked: keep pictures coming for ``linger`` seconds."""
        self._wanted_until.value = time.monotonic() + self.linger

    def wanted(self, now: float | None = None) -> bool:
        """Whether a client asked within the last ``linger`` seconds."""
        return (time.monotonic() if now is None else now) < self._wanted_until.value

    # ------------------------------------------------------------------ sources
    def render_kwargs(self, make: Any) -> dict[str, Any]:
        """``{"render_mode": "rgb_array"}`` for an environment id whose environments draw
        themselves (read from its registration), else ``{}``; factories get nothing."""
        if self.disabled or not isinstance(make, str):
            return {}
        from pipezero.envs.atari import is_atari_id
        from pipezero.envs.minatar import is_minatar_id

        if is_atari_id(make) or is_minatar_id(make):
            return {"render_mode": "rgb_array"}
        try:
            creator = gym.spec(make).entry_point
            if isinstance(creator, str):
                from gymnasium.envs.registration import load_env_creator

                creator = load_env_creator(creator)
        except (gym.error.Error, ImportError, AttributeError, ValueError):
            return {}
        modes = getattr(creator, "metadata", {}).get("render_modes", ())
        return {"render_mode": "rgb_array"} if "rgb_array" in modes else {}

    def attach(self, envs: Any) -> None:
        """Watch the first :attr:`max_envs` environments of a
        :class:`~pipezero.envs.BatchEnv` (an :class:`AdapterTap` each) so that they take
        pictures while a client watches (none when :attr:`disabled`: then nothing is changed
        and collection costs nothing more)."""
        if self.disabled:
            return
        for index, adapter in enumerate(envs.envs[: self.max_envs]):
            AdapterTap(adapter, self, self.attached + index)
        self.attached += min(len(envs.envs), self.max_envs)

    def observations_due(self) -> bool:
        """For chains without watched environments: whether to hand pictures of the latest
        observations now (someone watches and ``interval`` passed since the last round)."""
        now = time.monotonic()
        if self.disabled or now < self._next_observation or not self.wanted(now):
            return False
        self._next_observation = now + self.interval
        return True

    def put_observation(self, index: int, obs: Any) -> None:
        """Show observation ``obs`` as the picture of ``index``: drawn as cells when it is
        a ``[C, H, W]`` grid, else a note that it cannot be drawn."""
        if grid_observation(obs):
            self.put(index, grid_picture(obs))
        else:
            self.note(index, "its observations are not a grid and its environment is not shared")

    # ------------------------------------------------------------------ results
    def put(self, index: int, frame: Any) -> None:
        """Store a picture of environment ``index`` (from any thread or forked process)."""
        self._slots.write_frame(index, to_rgb(frame))

    def note(self, index: int, message: str) -> None:
        """Environment ``index`` cannot be shown: why."""
        self._slots.write_note(index, message)

    def latest(self) -> dict[int, tuple[int, np.ndarray]]:
        """``{env index: (version, [H, W, 3] uint8)}`` of the latest pictures (the version
        grows with each picture of that environment)."""
        slots = (self._slots.read(i) for i in range(self.max_envs))
        return {i: s for i, s in enumerate(slots) if s is not None and not isinstance(s[1], str)}

    def notes(self) -> dict[int, str]:
        """``{env index: why it shows no picture}``."""
        slots = (self._slots.read(i) for i in range(self.max_envs))
        return {i: s[1] for i, s in enumerate(slots) if s is not None and isinstance(s[1], str)}


class AdapterTap:
    """Takes a picture of one :class:`~pipezero.envs.gym_adapter.GymAdapter` after a reset
    or step when its :class:`FrameTap` wants one (see the module doc).

    It replaces the adapter's ``reset_into`` and ``step_into`` by its own (instance
    attributes that call the originals first). The environment and its gymnasium wrappers
    are left as they are, so the environment state a checkpoint records is the same with and
    without ``--visual``, and a run resumes either way.
    """

    def __init__(self, adapter: Any, tap: FrameTap, index: int) -> None:
        self.adapter = adapter
        self._tap = tap
        self._index = index
        self._next = 0.0
        self._broken = False
        self._own_render: bool | None = None  # the environment's rgb_array, else cells
        self._reset_into = adapter.reset_into
        self._step_into = adapter.step_into
        adapter.reset_into = self.reset_into
        adapter.step_into = self.step_into

    def reset_into(self, obs_out: np.ndarray, mask_out: np.ndarray, seed: int | None = None) -> int:
        to_play = self._reset_into(obs_out, mask_out, seed)
        self._capture(obs_out)
        return to_play

    def step_into(self, action: Any, obs_out: np.ndarray, mask_out: np.ndarray) -> Any:
        out = self._step_into(action, obs_out, mask_out)
        self._capture(obs_out)
        return out

    def _capture(self, obs: np.ndarray) -> None:
        now = time.monotonic()
        if now < self._next or self._broken or not self._tap.wanted(now):
            return
        self._next = now + self._tap.interval
        env = self.adapter.env
        try:
            if self._own_render is None:  # first picture: choose the source once
                self._own_render = env.render_mode == "rgb_array"
                if self._own_render and grid_observation(obs):
                    tiny = max(np.shape(env.render())[:2]) <= GRID_MAX_SIDE
                    self._own_render = not tiny  # MinAtar draws 10x10 pixels: cells are better
            if self._own_render:
                self._tap.put(self._index, env.render())
            elif grid_observation(obs):
                self._tap.put(self._index, grid_picture(obs))
            else:
                self._broken = True
                self._tap.note(self._index, "it draws no picture (no rgb_array render mode)")
        except Exception as exc:  # a picture must never stop training
            self._broken = True
            logger.warning("visual mode: environment %d cannot be drawn: %s", self._index, exc)
            self._tap.note(self._index, f"drawing it failed: {type(exc).__name__}: {exc}")
