"""2048 on a 4x4 board in NumPy, with its chance outcomes exposed (for Stochastic MuZero).

The board holds tile *exponents* (``0`` empty, ``k`` the tile ``2**k``). One move is two
stages, which :class:`Game2048` exposes separately:

1. the player's action (``0`` up, ``1`` right, ``2`` down, ``3`` left) slides every tile and
   merges equal neighbours once per move, giving the *afterstate* and a reward equal to the
   sum of the merged tiles' values (:meth:`Game2048.afterstate`);
2. chance spawns a ``2`` (probability 0.9) or a ``4`` (0.1) on an empty cell chosen uniformly
   (:meth:`Game2048.chance_outcomes` lists every outcome with its probability).

A move is legal iff it changes the board. The game ends when no move is legal after a spawn.

Chance outcomes are numbered ``code = 2 * cell + (tile == 4)`` with ``cell = 4 * row + col``,
so there are :data:`CHANCE_SPACE_SIZE` = 32 of them.

Rows are slid with a lookup table over every row of four exponents (``18**4`` entries,
built once on first use), so a move and the legal mask of all four actions are a handful of
NumPy operations.

:class:`Game2048Env` is the gymnasium form (observation ``[16, 4, 4]`` one-hot planes of the
exponents, ``info["action_mask"]``), registered as ``pipezero/Game2048-v0`` so it works with
:class:`~pipezero.envs.GymAdapter` and :class:`~pipezero.envs.BatchEnv`.
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from pipezero.envs.grid_render import grid_frame

UP, RIGHT, DOWN, LEFT = 0, 1, 2, 3
ACTION_NAMES = ("up", "right", "down", "left")
NUM_ACTIONS = 4
SIZE = 4
NUM_CELLS = SIZE * SIZE
CHANCE_SPACE_SIZE = 2 * NUM_CELLS
#: Probability that a spawned tile is a 4 (otherwise a 2).
PROB_FOUR = 0.1
#: Exponents stored per cell are < MAX_EXPONENT (2**17 is the largest tile a 4x4 board holds).
MAX_EXPONENT = 18
ENV_ID = "pipezero/Game2048-v0"

_ROW_WEIGHTS = MAX_EXPONENT ** np.arange(SIZE - 1, -1, -1)  # row of exponents -> table index


@functools.cache
def _slide_table() -> tuple[np.ndarray, np.ndarray]:
    """``(rows [18**4, 4] uint8, rewards [18**4] int64)``: every row of four exponents slid
    left, and the value of the tiles it merged."""
    n = MAX_EXPONENT**SIZE
    digits = (np.arange(n)[:, None] // _ROW_WEIGHTS[None, :]) % MAX_EXPONENT  # [n, 4]
    rows = np.zeros((n, SIZE), dtype=np.uint8)
    rewards = np.zeros(n, dtype=np.int64)
    # Vectorised over all rows: compact the non-zero tiles, then merge pairs left to right.
    compact = np.zeros_like(digits)
    count = np.zeros(n, dtype=np.int64)
    for c in range(SIZE):
        nz = digits[:, c] > 0
        compact[nz, count[nz]] = digits[nz, c]
        count += nz
    out_pos = np.zeros(n, dtype=np.int64)
    skip = np.zeros(n, dtype=bool)
    for c in range(SIZE):
        here = compact[:, c]
        nxt = compact[:, c + 1] if c + 1 < SIZE else np.zeros(n, dtype=here.dtype)
        active = (here > 0) & ~skip
        merge = active & (nxt == here)
        value = np.where(merge, here + 1, here)
        rows[active, out_pos[active]] = value[active]
        rewards += np.where(merge, 2 ** value.astype(np.int64), 0)
        out_pos += active
        skip = merge
    return rows, rewards


def _views(board: np.ndarray) -> np.ndarray:
    """``[4, 4, 4]`` the board seen so that each action becomes a slide to the left."""
    return np.stack([board.T, board[:, ::-1], board.T[:, ::-1], board])


def _unview(action: int, slid: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_views` for one action."""
    if action == UP:
        return slid.T
    if action == RIGHT:
        return slid[:, ::-1]
    if action == DOWN:
        return slid[:, ::-1].T
    return slid


def all_afterstates(board: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every action's afterstate at once.

    Args:
        board: ``[4, 4]`` exponents.

    Returns:
        ``(afterstates [4, 4, 4] uint8, rewards [4] int64, legal [4] bool)`` indexed by action.
    """
    table_rows, table_rewards = _slide_table()
    views = _views(np.asarray(board, dtype=np.int64))
    index = views @ _ROW_WEIGHTS  # [4 actions, 4 rows]
    slid = table_rows[index]  # [4, 4, 4]
    rewards = table_rewards[index].sum(axis=1)
    after = np.stack([_unview(a, slid[a]) for a in range(NUM_ACTIONS)]).astype(np.uint8)
    legal = (after != board[None]).any(axis=(1, 2))
    return after, rewards, legal


def legal_actions_mask(board: np.ndarray) -> np.ndarray:
    """``[4]`` bool: the moves that change the board."""
    return all_afterstates(board)[2]


def chance_probabilities(afterstate: np.ndarray) -> np.ndarray:
    """``[32]`` float64 probability of every chance code after ``afterstate`` (sums to 1, or
    all zero when the board is full)."""
    empty = np.asarray(afterstate).reshape(-1) == 0
    probs = np.zeros(CHANCE_SPACE_SIZE)
    n = int(empty.sum())
    if n:
        probs[0::2][empty] = (1.0 - PROB_FOUR) / n
        probs[1::2][empty] = PROB_FOUR / n
    return probs


def apply_chance(afterstate: np.ndarray, code: int) -> np.ndarray:
    """The board after chance outcome ``code`` (``2 * cell + (tile == 4)``) on ``afterstate``.

    Raises:
        ValueError: the code is out of range or its cell is not empty.
    """
    if not 0 <= code < CHANCE_SPACE_SIZE:
        raise ValueError(f"chance code must be in [0, {CHANCE_SPACE_SIZE}), got {code}")
    cell, four = divmod(int(code), 2)
    board = np.array(afterstate, dtype=np.uint8, copy=True)
    r, c = divmod(cell, SIZE)
    if board[r, c] != 0:
        raise ValueError(f"chance code {code} spawns on cell ({r}, {c}), which is not empty")
    board[r, c] = 2 if four else 1
    return board


def chance_code(afterstate: np.ndarray, board: np.ndarray) -> int:
    """The chance code that turned ``afterstate`` into ``board`` (one spawned tile).

    Raises:
        ValueError: the two boards do not differ by exactly one spawned 2 or 4.
    """
    diff = np.flatnonzero(np.asarray(afterstate).reshape(-1) != np.asarray(board).reshape(-1))
    if diff.size != 1 or np.asarray(afterstate).reshape(-1)[diff[0]] != 0:
        raise ValueError("the boards must differ by one tile spawned on an empty cell")
    value = int(np.asarray(board).reshape(-1)[diff[0]])
    if value not in (1, 2):
        raise ValueError(f"a spawned tile has exponent 1 or 2, got {value}")
    return 2 * int(diff[0]) + (value == 2)


class Game2048:
    """The 2048 game state and rules, split into the player's move and the chance event.

    Args:
        seed: seed of the spawn generator.

    Attributes:
        board: ``[4, 4]`` uint8 exponents of the current state.
        score: sum of the rewards since :meth:`reset`.

    Example:
        >>> game = Game2048(seed=0)
        >>> board = game.reset()
        >>> after, reward = game.afterstate(game.board, LEFT)
        >>> probs = chance_probabilities(after)       # [32], sums to 1
        >>> reward, done = game.step(int(np.flatnonzero(game.legal_actions())[0]))
    """

    def __init__(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(seed)
        self.board = np.zeros((SIZE, SIZE), dtype=np.uint8)
        self.score = 0
        self._cache: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def reset(self, seed: int | None = None) -> np.ndarray:
        """Empty board with two spawned tiles; returns the board (a view, do not modify)."""
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.board = np.zeros((SIZE, SIZE), dtype=np.uint8)
        self.score = 0
        for _ in range(2):
            self.board = apply_chance(self.board, self.sample_chance(self.board))
        self._cache = None
        return self.board

    def set_board(self, board: np.ndarray) -> None:
        """Put the game in a given position (``[4, 4]`` exponents)."""
        board = np.asarray(board)
        if board.shape != (SIZE, SIZE) or board.min() < 0 or board.max() >= MAX_EXPONENT:
            raise ValueError(
                f"board must be [4, 4] exponents in [0, {MAX_EXPONENT}), got shape "
                f"{board.shape} with values in [{board.min()}, {board.max()}]"
            )
        self.board = board.astype(np.uint8)
        self._cache = None

    def _moves(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._cache is None:
            self._cache = all_afterstates(self.board)
        return self._cache

    def legal_actions(self) -> np.ndarray:
        """``[4]`` bool mask of the moves that change the current board."""
        return self._moves()[2].copy()

    @staticmethod
    def afterstate(board: np.ndarray, action: int) -> tuple[np.ndarray, int]:
        """``(afterstate [4, 4] uint8, reward)`` of ``action`` on ``board`` (no spawn)."""
        if not 0 <= action < NUM_ACTIONS:
            raise ValueError(f"action must be in [0, {NUM_ACTIONS}) {ACTION_NAMES}, got {action}")
        after, rewards, _ = all_afterstates(board)
        return after[action], int(rewards[action])

    @staticmethod
    def chance_outcomes(afterstate: np.ndarray) -> list[tuple[float, int, np.ndarray]]:
        """Every spawn after ``afterstate``: ``(probability, code, next_board)``, probabilities
        summing to 1 (empty list when the board is full)."""
        probs = chance_probabilities(afterstate)
        return [
            (float(probs[code]), code, apply_chance(afterstate, code))
            for code in np.flatnonzero(probs)
        ]

    def sample_chance(self, afterstate: np.ndarray) -> int:
        """Draw a chance code for ``afterstate`` with this game's generator."""
        empty = np.flatnonzero(np.asarray(afterstate).reshape(-1) == 0)
        if empty.size == 0:
            raise ValueError("no empty cell to spawn a tile on")
        cell = int(empty[self.rng.integers(empty.size)])
        return 2 * cell + int(self.rng.random() < PROB_FOUR)

    def step(self, action: int) -> tuple[int, bool]:
        """Play ``action`` then spawn a tile; returns ``(reward, game_over)``.

        Raises:
            ValueError: the move is out of range or does not change the board.
        """
        after, rewards, legal = self._moves()
        if not 0 <= action < NUM_ACTIONS:
            raise ValueError(f"action must be in [0, {NUM_ACTIONS}) {ACTION_NAMES}, got {action}")
        if not legal[action]:
            raise ValueError(
                f"move {ACTION_NAMES[action]} ({action}) does not change the board; legal "
                f"moves: {[ACTION_NAMES[a] for a in np.flatnonzero(legal)]}"
            )
        reward = int(rewards[action])
        board = after[action]
        self.board = apply_chance(board, self.sample_chance(board))
        self._cache = None
        self.score += reward
        return reward, not self._moves()[2].any()

    @property
    def max_tile(self) -> int:
        """Value of the largest tile on the board."""
        return int(2 ** int(self.board.max())) if self.board.any() else 0


def symmetries() -> tuple[np.ndarray, np.ndarray]:
    """The board's 8 rotations and reflections as gather indices, for data augmentation.

    Returns:
        ``(cell_perms [8, 16], action_perms [8, 4])`` in the convention of the board games'
        ``symmetries()``: the transformed board is ``board.reshape(-1)[cell_perms[g]]``, its
        move ``a`` is the original move ``action_perms[g, a]`` (so a policy transforms as
        ``policy[action_perms[g]]``), and merges, rewards and legality carry over. Row 0 is the
        identity.
    """
    grid = np.arange(NUM_CELLS).reshape(SIZE, SIZE)
    views = [np.rot90(grid, k) for k in range(4)]
    views += [np.fliplr(v) for v in views]
    steps = ((-1, 0), (0, 1), (1, 0), (0, -1))  # up, right, down, left as (row, col) steps
    cells = np.stack([v.reshape(-1) for v in views]).astype(np.int64)
    actions = np.empty((len(views), NUM_ACTIONS), dtype=np.int64)
    for g, view in enumerate(views):
        for a, (dr, dc) in enumerate(steps):
            # Where a step from an inner cell of the view lands on the original board.
            r0, c0 = divmod(int(view[1, 1]), SIZE)
            r1, c1 = divmod(int(view[1 + dr, 1 + dc]), SIZE)
            actions[g, a] = steps.index((r1 - r0, c1 - c0))
    return cells, actions


def encode_board(board: np.ndarray, num_planes: int = 16) -> np.ndarray:
    """``[num_planes, 4, 4]`` float32 one-hot planes of the exponents (plane 0: empty cells;
    exponents beyond the last plane share it)."""
    planes = np.minimum(np.asarray(board, dtype=np.int64), num_planes - 1)
    out = np.zeros((num_planes, SIZE, SIZE), dtype=np.float32)
    np.put_along_axis(out, planes[None], 1.0, axis=0)
    return out


class Game2048Env(gym.Env):
    """gymnasium 2048: ``Discrete(4)`` actions, ``Box`` observations ``[16, 4, 4]`` one-hot
    exponent planes, reward = merged tiles, ``info["action_mask"]`` of the legal moves.

    ``info`` also carries ``board`` (exponents), ``score``, ``max_tile``, and after a step the
    ``afterstate`` and ``chance_code`` of the transition.

    Args:
        max_episode_steps: truncate episodes after this many moves (``None``: never).
        num_planes: observation planes (exponents beyond the last share it).
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(
        self,
        max_episode_steps: int | None = None,
        num_planes: int = 16,
        render_mode: str | None = None,
    ) -> None:
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(
                f"render_mode must be None, 'ansi' or 'rgb_array', got {render_mode!r}"
            )
        self.render_mode = render_mode
        if num_planes < 2:
            raise ValueError(f"num_planes must be >= 2, got {num_planes}")
        self.num_planes = num_planes
        self.max_steps = max_episode_steps
        self.observation_space = gym.spaces.Box(0.0, 1.0, (num_planes, SIZE, SIZE), np.float32)
        self.action_space = gym.spaces.Discrete(NUM_ACTIONS)
        self.game = Game2048()
        self._steps = 0

    def _info(self) -> dict[str, Any]:
        return {
            "action_mask": self.game.legal_actions(),
            "board": self.game.board.copy(),
            "score": self.game.score,
            "max_tile": self.game.max_tile,
        }

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None:
            self.game.rng = np.random.default_rng(seed)
        self.game.reset()
        self._steps = 0
        return encode_board(self.game.board, self.num_planes), self._info()

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Play ``action``. A move that does not change the board is a no-op (reward 0, no
        spawn, ``info["illegal_move"]``), so callers that step finished or masked
        environments with a placeholder action do not fail."""
        self._steps += 1
        truncated = self.max_steps is not None and self._steps >= self.max_steps
        if not self.game.legal_actions()[int(action)]:
            info = self._info()
            info["illegal_move"] = True
            return encode_board(self.game.board, self.num_planes), 0.0, False, truncated, info
        after, _ = self.game.afterstate(self.game.board, int(action))
        reward, over = self.game.step(int(action))
        info = self._info()
        info["afterstate"] = after
        info["chance_code"] = chance_code(after, self.game.board)
        obs = encode_board(self.game.board, self.num_planes)
        return obs, float(reward), over, truncated and not over, info

    def render(self) -> str | np.ndarray:
        """The board as text (tile values, ``.`` for empty cells), or with ``render_mode=
        "rgb_array"`` as a ``[160, 160, 3]`` picture of the tiles."""
        values = np.where(self.game.board > 0, 2 ** self.game.board.astype(np.int64), 0)
        if self.render_mode == "rgb_array":
            return grid_frame(self.game.board, values)
        return "\n".join(
            " ".join(f"{v:>5}" if v else "    ." for v in row) for row in values.tolist()
        )


def register_env() -> None:
    """Register :data:`ENV_ID` with gymnasium (idempotent)."""
    if ENV_ID not in gym.registry:
        gym.register(id=ENV_ID, entry_point="pipezero.envs.game2048:Game2048Env")


register_env()
