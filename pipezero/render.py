"""Watch a trained run: ``pipezero render RUN_DIR --out FILE.gif``.

The run's evaluator plays ``--episodes`` episodes on one environment (as ``pipezero eval``
does) while a gymnasium wrapper records a frame after every reset and step: the
environment's own ``rgb_array`` picture where it draws one (classic control through pygame,
Atari, 2048), else a grid picture of a ``[C, H, W]`` observation
(:func:`~pipezero.envs.grid_render.observation_frame`). Board games, evaluated by matches
rather than environments, record a grid picture of each game's board after every move
(:func:`record_games`, through ``run.watch(make_game)`` in the board recipes). The frames are
written as an animated GIF (Pillow, ``pip install "pipezero[render]"``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from pipezero.envs.grid_render import grid_frame, observation_frame
from pipezero.recipe import UsageError

__all__ = [
    "EpisodeGifWriter",
    "FrameRecorder",
    "RecordedGame",
    "record_episode_gifs",
    "record_frames",
    "record_games",
    "render_run",
    "write_gif",
]


class FrameRecorder(gym.Wrapper):
    """Appends a ``[H, W, 3]`` uint8 frame to ``frames`` after every reset and step."""

    def __init__(self, env: gym.Env, frames: list[np.ndarray]) -> None:
        super().__init__(env)
        self.frames = frames

    def _record(self, obs: Any) -> None:
        if self.env.render_mode == "rgb_array":
            try:
                frame = self.env.render()
            except gym.error.DependencyNotInstalled as exc:
                raise UsageError(
                    f"{self.env.spec.id if self.env.spec else self.env}: drawing its frames "
                    f"needs a package that is not installed ({exc}); "
                    f'pip install "pipezero[render]"'
                ) from None
        else:
            frame = observation_frame(obs)
        self.frames.append(np.asarray(frame, dtype=np.uint8))

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self._record(obs)
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._record(obs)
        return obs, reward, terminated, truncated, info


class EpisodeGifWriter(FrameRecorder):
    """Writes every episode its environment finishes as an animated GIF in ``directory``.

    Files are named ``episode_<ns>.gif`` (nanoseconds since the epoch, so names sort in time)
    and appear whole (:func:`write_gif`), so a reader in another process (the TensorBoard
    logger of an async run whose evaluator is a child) never sees half a file. An episode cut
    off before its end (the evaluator had its episodes) is dropped at the next reset. Frames
    are scaled down so that their longer side is at most ``max_side`` pixels.
    """

    def __init__(self, env: gym.Env, directory: Path, max_side: int = 240, fps: int = 30) -> None:
        super().__init__(env, [])
        self.directory = Path(directory)
        self.max_side = max_side
        self.fps = fps

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        self.frames.clear()
        return super().reset(**kwargs)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = super().step(action)
        if terminated or truncated:  # the step just recorded a frame
            path = self.directory / f"episode_{time.time_ns()}.gif"
            write_gif(self.frames, path, fps=self.fps, max_side=self.max_side)
            self.frames.clear()
        return obs, reward, terminated, truncated, info


def _wrap_first(envs: Any, wrap: Any) -> None:
    """Wrap the first environment of a :class:`~pipezero.envs.BatchEnv` with ``wrap(env)``."""
    adapter = envs.envs[0]
    adapter.env = wrap(adapter.env)


def record_episode_gifs(envs: Any, directory: Path) -> None:
    """Make the first environment of a :class:`~pipezero.envs.BatchEnv` write each finished
    episode as a GIF in ``directory`` (:class:`EpisodeGifWriter`)."""
    _wrap_first(envs, lambda env: EpisodeGifWriter(env, directory))


def record_frames(envs: Any, frames: list[np.ndarray]) -> None:
    """Record the frames of the first environment of a :class:`~pipezero.envs.BatchEnv`."""
    _wrap_first(envs, lambda env: FrameRecorder(env, frames))


#: Palette entries (:data:`~pipezero.envs.grid_render.PALETTE`) of empty cells and the stones
#: of players 1 and 2.
BOARD_COLOURS = np.array([1, 6, 14])


class RecordedGame:
    """A board game (:class:`~pipezero.envs.board.BoardGame`) that records a picture of its
    board after every reset and move into its own list of frames; everything else (``copy``
    for a search, ``board``, ``to_play``, ...) is the game's own."""

    def __init__(self, game: Any, frames: list[np.ndarray]) -> None:
        object.__setattr__(self, "_game", game)
        object.__setattr__(self, "_frames", frames)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._game, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._game, name, value)

    def _record(self) -> None:
        board = np.asarray(self._game.board).reshape(self._game.rows, self._game.cols)
        self._frames.append(grid_frame(BOARD_COLOURS[board]))

    def reset(self, *args: Any, **kwargs: Any) -> Any:
        out = self._game.reset(*args, **kwargs)
        self._record()
        return out

    def step(self, action: int) -> Any:
        out = self._game.step(action)
        self._record()
        return out


def record_games(make_game: Any, frames: list[Any]) -> Any:
    """A game factory like ``make_game`` whose games record their boards; each game appends
    its own frame list to ``frames`` (so games played side by side come out one after the
    other)."""

    def make() -> RecordedGame:
        own: list[np.ndarray] = []
        frames.append(own)
        return RecordedGame(make_game(), own)

    return make


def write_gif(
    frames: list[np.ndarray], path: str | Path, fps: int = 30, max_side: int | None = None
) -> Path:
    """Write ``frames`` (``[H, W, 3]`` uint8, or lists of them: one per game, written one
    after the other) as a looping GIF at ``fps`` frames per second, scaled down so that the
    longer side is at most ``max_side`` pixels (``None``: as drawn). The file appears whole
    (written under another name, then renamed), so a reader in another process never sees
    half of it."""
    try:
        from PIL import Image
    except ImportError:
        raise UsageError('writing a GIF needs Pillow: pip install "pipezero[render]"') from None
    frames = [f for item in frames for f in (item if isinstance(item, list) else [item])]
    if not frames:
        raise UsageError("no frames were recorded: the evaluation played no step")
    path = Path(path)
    if path.suffix.lower() != ".gif":
        raise UsageError(f"--out {path}: pipezero render writes .gif files; name it NAME.gif")
    path.parent.mkdir(parents=True, exist_ok=True)
    images = [Image.fromarray(f) for f in frames]
    height, width = frames[0].shape[:2]
    if max_side is not None and max(height, width) > max_side:
        scale = max_side / max(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        images = [im.resize(size, Image.BILINEAR) for im in images]
    duration = max(1, round(1000 / max(fps, 1)))
    part = path.with_name(path.name + ".part")
    images[0].save(
        part, format="GIF", save_all=True, append_images=images[1:], duration=duration, loop=0
    )
    os.replace(part, path)
    return path


def render_run(
    run_dir: str | Path,
    out: str | Path,
    *,
    ckpt: str = "best",
    episodes: int = 1,
    seed: int | None = None,
    device: str = "cpu",
    fps: int = 30,
    overrides: Sequence[str] = (),
) -> dict[str, Any]:
    """Play ``episodes`` evaluation episodes of a run's checkpoint on one environment and
    write their frames to ``out`` (a ``.gif``); ``overrides`` are ``KEY=VALUE`` changes of the
    saved config (:func:`~pipezero.evaluate.eval_run`). Returns the evaluation result with
    ``out`` and ``frames`` (the number written)."""
    from pipezero.evaluate import eval_run

    frames: list[np.ndarray] = []
    result = eval_run(
        run_dir,
        ckpt=ckpt,
        episodes=episodes,
        seed=seed,
        device=device,
        render_frames=frames,
        overrides=overrides,
    )
    flat = [f for item in frames for f in (item if isinstance(item, list) else [item])]
    path = write_gif(flat, out, fps=fps)
    return result | {"out": str(path), "frames": len(flat)}
