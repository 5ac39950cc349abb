"""selfplay_collect: AlphaZero self-play (or play-with-bot) games cut into game segments."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np

from pipezero.data import GameSegmentWriter
from pipezero.envs.board import BATTLE_MODES
from pipezero.framework import Event, Middleware, Task, TrainContext, WeightSubscriber, middleware
from pipezero.policy.base import ActResult

__all__ = ["selfplay_collect"]

logger = logging.getLogger(__name__)


class GamePolicy(Protocol):
    """What the collector needs: moves for a batch of games, and weight updates."""

    def collect_games(self, games: list[Any]) -> ActResult: ...

    def set_weights(self, weights: Any) -> None: ...


class _SelfPlay:
    """``N`` games in progress, one segment writer each, and the optional bot."""

    def __init__(
        self,
        cfg: Mapping[str, Any],
        policy: GamePolicy,
        make_game: Callable[[], Any],
        num_games: int,
        battle_mode: str,
        bot: Any,
    ) -> None:
        steps = cfg["collect_env_steps"]
        for name, value in (("cfg.collect_env_steps", steps), ("num_games", num_games)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"selfplay_collect: {name} must be an int >= 1, got {value!r}")
        if battle_mode not in BATTLE_MODES:
            raise ValueError(
                f"selfplay_collect: battle_mode must be one of {BATTLE_MODES}, got {battle_mode!r}"
            )
        if battle_mode == "play_with_bot" and bot is None:
            raise ValueError("selfplay_collect: battle_mode='play_with_bot' needs bot=a player")
        self.steps = steps
        self.policy = policy
        self.make_game = make_game
        self.bot_mode = battle_mode == "play_with_bot"
        self.bot = bot
        self.games = [make_game() for _ in range(num_games)]
        first = self.games[0]
        self.max_length = int(first.max_game_length)
        self.writers = [
            GameSegmentWriter(
                observation_shape=first.observation_shape,
                action_space_size=first.num_actions,
                game_segment_length=self.max_length,
                num_unroll_steps=0,
                td_steps=self.max_length,
                obs_dtype=np.uint8,
            )
            for _ in self.games
        ]
        self.agent_player = np.ones(num_games, dtype=np.int64)
        self.task: Task | None = None
        self.weights: WeightSubscriber | None = None
        for i in range(num_games):
            self._new_game(i)

    def setup(self, task: Task) -> None:
        self.task = task
        self.weights = task.weights.subscribe(f"selfplay_collect-{id(self):x}")

    def _new_game(self, i: int) -> None:
        game = self.games[i]
        game.reset()
        if self.bot_mode:  # the agent alternates sides game after game
            self.agent_player[i] = 3 - self.agent_player[i]
            if self.agent_player[i] == 2:
                game.step(self.bot.act(game))

    def step(self, ctx: TrainContext) -> None:
        if self.weights is not None and (got := self.weights.pull()) is not None:
            self.policy.set_weights(got[1])
        episodes = 0
        outcomes: list[int] = []
        for _ in range(self.steps):
            games = self.games
            obs = [g.observation() for g in games]
            masks = [g.legal_actions_mask() for g in games]
            to_play = [-1 if self.bot_mode else g.to_play for g in games]
            act = self.policy.collect_games(games)
            for i, game in enumerate(games):
                _, reward, terminated, _, _ = game.step(int(act.action[i]))
                if self.bot_mode and not terminated:  # the bot replies within the same step
                    _, bot_reward, terminated, _, _ = game.step(self.bot.act(game))
                    reward -= bot_reward
                writer = self.writers[i]
                writer.append(
                    obs[i],
                    masks[i],
                    to_play[i],
                    int(act.action[i]),
                    float(reward),
                    act.visit_policy[i],
                    float(act.root_value[i]),
                    float(act.predicted_value[i]),
                )
                if terminated:
                    final_to_play = -1 if self.bot_mode else game.to_play
                    writer.end_episode(game.observation(), True, final_to_play)
                    outcomes.append(self._outcome(i))
                    episodes += 1
                    self._new_game(i)
            ctx.env_step += len(games)
        ctx.env_episode += episodes
        segments = [seg for writer in self.writers for seg in writer.pop_finished()]
        ctx.new_segments = segments
        if outcomes:
            logger.debug("selfplay_collect: %d games ended, results %s", episodes, outcomes)
        if self.task is not None:
            self.task.emit(Event.NEW_DATA, ctx, segments)

    def _outcome(self, i: int) -> int:
        """Winner of the game just ended (bot mode: from the agent's view, 1 win / -1 loss)."""
        winner = int(self.games[i].winner)
        if not self.bot_mode or winner == 0:
            return winner
        return 1 if winner == self.agent_player[i] else -1


def selfplay_collect(
    cfg: Mapping[str, Any],
    policy: GamePolicy,
    make_game: Callable[[], Any],
    num_games: int,
    battle_mode: str = "self_play",
    bot: Any = None,
) -> Middleware:
    """Play ``num_games`` board games together, ``cfg.collect_env_steps`` moves each per call.

    Every round, one batched search (``policy.collect_games``: root noise, visit-count
    sampling) chooses a move in every game. Finished games restart at once. Each game becomes
    one :class:`~pipezero.data.GameSegment` (segment length = padding = the game's
    ``max_game_length``, observations stored as ``uint8``) holding per move the observation,
    legal mask, ``to_play``, the move, the mover's reward, the visit distribution and the
    root value. A replay buffer built with
    :func:`~pipezero.policy.alphazero.outcome_buffer_settings` turns these into the targets
    of AlphaZero: visit distributions and the final outcome from the mover's view.

    Battle modes:

    - ``"self_play"``: the policy plays both sides; ``to_play`` is 1 or 2 and rewards go to
      the mover, so the outcome flips sign between the players' positions.
    - ``"play_with_bot"``: the policy plays one side (alternating game after game) and
      ``bot.act(game)`` the other, inside the same step; only the policy's moves are stored,
      with ``to_play = -1`` and the reward from the policy's view (a win of the bot's reply
      is -1).

    Writes ``ctx.new_segments`` (games finished during this call), adds the moves stored to
    ``ctx.env_step`` and the finished games to ``ctx.env_episode``, emits
    ``Event.NEW_DATA`` with ``(ctx, segments)``; loads the newest weights published in
    ``task.weights`` first.

    Args:
        cfg: the policy section: ``collect_env_steps``.
        policy: an :class:`~pipezero.policy.alphazero.AlphaZeroPolicy` (``collect_games``).
        make_game: builds a game (``pipezero.envs.board.game_factory(name)``).
        num_games: games played together (the search batch).
        battle_mode: ``"self_play"`` or ``"play_with_bot"``.
        bot: the opponent player for ``"play_with_bot"``.
    """
    collector = _SelfPlay(cfg, policy, make_game, num_games, battle_mode, bot)
    return middleware(
        collector.step,
        name="selfplay_collect",
        role="collector",
        reads=("env_step",),
        writes=("new_segments", "env_step", "env_episode"),
        setup=collector.setup,
        acts_with=policy,
    )
