"""A gymnasium view of the board games, with the two battle modes of the field.

- ``battle_mode="self_play"``: one agent plays both sides. ``info["to_play"]`` is the player
  to move (1 or 2) and the reward goes to the player who moved, so MuZero-family targets flip
  signs between the players (``pipezero.data.targets``).
- ``battle_mode="play_with_bot"``: the agent plays one side (``agent_player``) and a bot the
  other, inside ``step``. The episode is a single-agent MDP: ``info["to_play"]`` is ``-1``, the
  reward is the outcome for the agent (+1 win, -1 loss, 0 draw), given on the last step.

With :class:`~pipezero.envs.GymAdapter` / :class:`~pipezero.envs.BatchEnv` the standard
``env_collect`` and ``interval_eval`` middleware drive these environments unchanged:

    envs = BatchEnv([GymAdapter(BoardGameGymEnv("tictactoe", battle_mode="play_with_bot"),
                                seed=i) for i in range(8)])
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from pipezero.envs.board.base import BoardGame
from pipezero.envs.board.registry import make_game, make_opponent

BATTLE_MODES = ("self_play", "play_with_bot")
#: ``agent_player`` names: the side of the agent in play-with-bot mode.
SIDES = {"first": 1, "second": 2}


class BoardGameGymEnv(gym.Env):
    """A board game as a ``gymnasium.Env`` in self-play or play-with-bot mode.

    Args:
        game: a game name for :func:`~pipezero.envs.board.make_game`, or a game instance.
        battle_mode: ``"self_play"`` or ``"play_with_bot"`` (see the module doc).
        bot: the opponent in play-with-bot mode, a name for
            :func:`~pipezero.envs.board.make_opponent` (default ``"rule_bot"``) or a player.
        agent_player: the agent's side in play-with-bot mode: 1 or ``"first"`` (moves first,
            LightZero's default), 2 or ``"second"``, or ``"random"`` (drawn at each reset).
            The recipes' configs use the names (a config value has one type).
        game_kwargs: arguments of :func:`make_game` when ``game`` is a name.
        bot_kwargs: arguments of :func:`make_opponent` when ``bot`` is a name (e.g.
            ``{"randomness": 3.0}`` for a less predictable rule bot).

    Observations are the game's ``float32 [3, H, W]`` planes; ``info`` holds
    ``action_mask`` (bool ``[A]``), ``to_play`` and ``winner``. Illegal actions raise
    ``ValueError`` (they are never silently replaced).
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi"]}

    def __init__(
        self,
        game: str | BoardGame = "tictactoe",
        battle_mode: str = "self_play",
        bot: str | Any = "rule_bot",
        agent_player: int | str = 1,
        game_kwargs: dict[str, Any] | None = None,
        bot_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if battle_mode not in BATTLE_MODES:
            raise ValueError(
                f"BoardGameGymEnv: battle_mode must be one of {BATTLE_MODES}, got {battle_mode!r}"
            )
        agent_player = SIDES.get(agent_player, agent_player)
        if agent_player not in (1, 2, "random"):
            raise ValueError(
                f"BoardGameGymEnv: agent_player must be 1 or 'first', 2 or 'second', or "
                f"'random', got {agent_player!r}"
            )
        self.game = make_game(game, **(game_kwargs or {})) if isinstance(game, str) else game
        self.battle_mode = battle_mode
        self.agent_player_setting = agent_player
        self.agent_player = 1 if agent_player == "random" else int(agent_player)
        self._bot_spec = bot
        self._bot_kwargs = dict(bot_kwargs or {})
        self.bot: Any = None
        rows, cols = self.game.rows, self.game.cols
        self.observation_space = gym.spaces.Box(0.0, 1.0, (3, rows, cols), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(self.game.num_actions)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a game; in play-with-bot mode the bot moves first when the agent is player 2.

        ``seed`` seeds the side draw and the bot (the first reset only, as in gymnasium).
        """
        super().reset(seed=seed)
        if self.bot is None or seed is not None:
            bot_seed = int(self.np_random.integers(2**31))
            spec = self._bot_spec
            if isinstance(spec, str):
                self.bot = make_opponent(spec, seed=bot_seed, **self._bot_kwargs)
            else:
                self.bot = spec
        self.game.reset()
        if self.battle_mode == "play_with_bot":
            if self.agent_player_setting == "random":
                self.agent_player = int(self.np_random.integers(1, 3))
            if self.agent_player == 2:
                self.game.step(self.bot.act(self.game))
        return self.game.observation(), self._info()

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Play ``action`` (and, in play-with-bot mode, the bot's reply).

        Returns:
            ``(obs, reward, terminated, False, info)``; see the module doc for the reward.
        """
        game = self.game
        _, reward, terminated, _, _ = game.step(int(action))
        if self.battle_mode == "play_with_bot" and not terminated:
            _, bot_reward, terminated, _, _ = game.step(self.bot.act(game))
            reward = -bot_reward
        return game.observation(), float(reward), bool(terminated), False, self._info()

    def _info(self) -> dict[str, Any]:
        to_play = self.game.to_play if self.battle_mode == "self_play" else -1
        return {
            "action_mask": self.game.legal_actions_mask(),
            "to_play": to_play,
            "winner": self.game.winner,
        }

    def render(self) -> str:
        """The board as text."""
        return self.game.render()
