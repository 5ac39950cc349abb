"""selfplay_collect: AlphaZero self-play (or play-with-bot) games cut into game segments."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np

from pipezero.data import GameSegmentWriter, segment_state
from pipezero.envs.board import BATTLE_MODES
from pipezero.envs.snapshot import EnvSnapshotError, capture_state, restore_state
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
        self.writer_kwargs: dict[str, Any] = dict(
            observation_shape=first.observation_shape,
            action_space_size=first.num_actions,
            game_segment_length=self.max_length,
            num_unroll_steps=0,
            td_steps=self.max_length,
            obs_dtype=np.uint8,
        )
        self.writers = [GameSegmentWriter(**self.writer_kwargs) for _ in self.games]
        #: segments of partial games closed on resume, handed on by the next call
        self.carried: list[Any] = []
        self.agent_player = np.ones(num_games, dtype=np.int64)
        self.task: Task | None = None
        self.weights: WeightSubscriber | None = None
        for i in range(num_games):
            self._new_game(i)

    def setup(self, task: Task) -> None:
        self.task = task
        self.weights = task.weights.subscribe(f"selfplay_collect-{id(self):x}")
        task.state_providers.register("selfplay_collect", self, role="collector")

    # -- run state (a state provider of the task, saved in checkpoints) --------------------

    def state_dict(self) -> dict[str, Any]:
        """The games in progress (snapshots of the games and the bot, as plain data), their
        writers' unfinished segments, and each game's observation (to close it as truncated
        where it cannot be continued)."""
        try:
            games = [capture_state(game) for game in self.games]
            bot = None if self.bot is None else capture_state(self.bot)
        except Exception as err:  # a snapshot that fails must never stop a checkpoint
            logger.warning("selfplay_collect: games cannot be snapshotted (%r)", err)
            games, bot = None, None
        return {
            "games": games,
            "bot": bot,
            "agent_player": self.agent_player.copy(),
            "observation": [game.observation() for game in self.games],
            "to_play": [-1 if self.bot_mode else int(game.to_play) for game in self.games],
            "writers": [writer.state_dict() for writer in self.writers],
            "carried": [segment_state(seg) for seg in self.carried],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue the saved games; where that is impossible (another number of games,
        games that were not snapshotted), close each partial game as truncated (its segment
        is handed on by the next call) and keep the fresh games."""
        self.carried = [self.writers[0].segment_from_state(s) for s in state["carried"]]
        games = state["games"]
        if games is not None and len(games) == len(self.games):
            try:
                for game, saved in zip(self.games, games, strict=True):
                    restore_state(game, saved)
                if state["bot"] is not None:
                    restore_state(self.bot, state["bot"])
                for writer, saved in zip(self.writers, state["writers"], strict=True):
                    writer.load_state_dict(saved)
                self.agent_player = np.array(state["agent_player"], dtype=np.int64)
                return
            except EnvSnapshotError as err:
                logger.warning("selfplay_collect cannot continue its games: %s", err)
                for i in range(len(self.games)):
                    self._new_game(i)
        for j, saved in enumerate(state["writers"]):
            writer = GameSegmentWriter(**self.writer_kwargs)
            writer.load_state_dict(saved)
            if writer.in_episode:
                writer.end_episode(state["observation"][j], False, int(state["to_play"][j]))
            self.carried += writer.pop_finished()

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
        segments = self.carried + [seg for writer in self.writers for seg in writer.pop_finished()]
        self.carried = []
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
