"""selfplay_collect and battle_eval on scripted games: segments, outcome targets, evaluation."""

from __future__ import annotations

import numpy as np
import pytest
from board_toy import ScriptedPolicy
from pipezero.middleware.battle_eval import battle_eval
from pipezero.middleware.selfplay_collect import selfplay_collect

from pipezero.data import Batch, ReplayBuffer
from pipezero.envs.board import MinimaxPlayer, RandomPlayer, RuleBot, game_factory
from pipezero.framework import Event, Task, TrainContext, run_step
from pipezero.policy.alphazero import outcome_buffer_settings

X_WINS = [0, 3, 1, 4, 2]  # X: top row
DRAW = [0, 1, 2, 4, 3, 5, 7, 6, 8]


def collect(scripts, steps, **kwargs):
    policy = ScriptedPolicy(scripts)
    mw = selfplay_collect(
        {"collect_env_steps": steps}, policy, game_factory("tictactoe"), len(scripts), **kwargs
    )
    ctx = TrainContext()
    task = Task(ctx).use(mw)
    events = []
    task.on(Event.NEW_DATA, lambda c, segs: events.append(len(segs)))
    run_step([mw], ctx)
    return ctx, events


def all_positions(segments) -> Batch[np.ndarray]:
    """Sample every stored position once (uniform buffer, big batch, then dedupe); the
    bootstrap fields ([M, ...]: M = 0 for final outcomes) are left as sampled."""
    buffer = ReplayBuffer(1000, seed=0, priority_prob_alpha=0.0, **outcome_buffer_settings(9))
    for seg in segments:
        buffer.push(seg)
    batch = buffer.sample(400)
    order = np.unique(batch.indices, return_index=True)[1]
    rows = {k: v[order] for k, v in batch.arrays().items() if not k.startswith("bootstrap_")}
    return batch.replace(**rows)


def test_scripted_self_play_game_gives_outcome_targets_from_the_movers_view() -> None:
    ctx, events = collect([X_WINS], steps=5)
    assert (ctx.env_step, ctx.env_episode, events) == (5, 1, [1])
    (segment,) = ctx.new_segments
    assert segment.length == 5 and segment.terminated and segment.obs.dtype == np.uint8
    assert segment.to_play[:5].tolist() == [1, 2, 1, 2, 1]
    assert segment.actions[:5].tolist() == X_WINS
    assert segment.rewards[:5].tolist() == [0, 0, 0, 0, 1]
    assert segment.child_visits[:5].argmax(1).tolist() == X_WINS
    assert segment.obs[1, 1, 0, 0] == 1  # O to move sees X's stone as the opponent's
    batch = all_positions(ctx.new_segments)
    assert batch.positions.tolist() == [0, 1, 2, 3, 4]
    # z = +1 at X's positions (the winner), -1 at O's.
    assert batch.reward_sum[:, 0].tolist() == [1, -1, 1, -1, 1]
    assert len(batch.bootstrap_obs) == 0
    assert batch.target_policy[:, 0].argmax(1).tolist() == X_WINS


def test_draws_give_zero_targets_and_unfinished_games_wait() -> None:
    ctx, _ = collect([DRAW, [*X_WINS, 8]], steps=6)
    segments = ctx.new_segments
    assert len(segments) == 1 and ctx.env_episode == 1 and ctx.env_step == 12
    # game 1 ended after 5 moves and restarted; game 0 (the draw) is still going.
    batch = all_positions(segments)
    assert batch.reward_sum[:, 0].tolist() == [1, -1, 1, -1, 1]
    ctx, _ = collect([DRAW], steps=9)
    assert all_positions(ctx.new_segments).reward_sum[:, 0].tolist() == [0] * 9


def test_play_with_bot_stores_only_the_agents_moves_with_its_outcome() -> None:
    # Game 0: the agent is player 2 (sides alternate, starting second). The bot opens at 4,
    # the agent answers 1, the bot plays 2, the agent 0, and the bot wins on 2-4-6.
    bot = ScriptedBot([4, 2, 6, 0, 1])
    ctx, _ = collect([[1, 0, 4, 3]], steps=4, battle_mode="play_with_bot", bot=bot)
    first, *rest = ctx.new_segments
    assert (first.length, ctx.env_episode, ctx.env_step) == (2, 1, 4)
    assert first.to_play[:2].tolist() == [-1, -1] and first.rewards[:2].tolist() == [0, -1]
    assert first.actions[:2].tolist() == [1, 0]
    assert first.obs[0, 1, 1, 1] == 1  # the bot's opening stone, seen as the opponent's
    assert all_positions([first]).reward_sum[:, 0].tolist() == [-1, -1]
    # Game 1: the agent moves first (X at 4, 3) while the bot plays 0, 1: nothing stored yet.
    assert rest == [] and bot.moves == []
    with pytest.raises(ValueError, match="play_with_bot' needs bot"):
        selfplay_collect(
            {"collect_env_steps": 1},
            ScriptedPolicy([]),
            game_factory("tictactoe"),
            1,
            "play_with_bot",
        )
    with pytest.raises(ValueError, match="collect_env_steps must be an int >= 1, got 0"):
        selfplay_collect({"collect_env_steps": 0}, ScriptedPolicy([]), game_factory("tictactoe"), 1)


class ScriptedBot:
    def __init__(self, moves: list[int]) -> None:
        self.moves = list(moves)

    def act(self, game) -> int:
        return self.moves.pop(0)


class MinimaxAgent(MinimaxPlayer):
    """A perfect 'agent' whose weights can be set (ignored)."""

    def set_weights(self, weights) -> None:
        pass


def test_battle_eval_reports_per_side_results_and_stops_at_the_target() -> None:
    cfg = {
        "eval_freq": 10,
        "n_evaluator_episode": 6,
        "stop_opponent": "random",
        "stop_win_rate": 0.5,
        "stop_loss_rate": 0.0,
    }
    agent = MinimaxAgent(seed=0)
    opponents = {"random": RandomPlayer(seed=1), "rule_bot": RuleBot(seed=2)}
    mw = battle_eval(cfg, agent, agent, game_factory("tictactoe"), opponents)
    ctx = TrainContext()
    task = Task(ctx).use(mw)
    run_step([mw], ctx)
    result = ctx.eval_result
    assert result["vs_random"]["games"] == 6 and result["vs_random"]["as_first"]["games"] == 3
    assert result["vs_random"]["losses"] == 0 and result["vs_rule_bot"]["losses"] == 0
    assert ctx.last_eval_iter == 0 and ctx.best_eval_return == result["return_mean"]
    assert task.finished  # minimax beats random often enough and never loses
    ctx.eval_result = None
    ctx.train_iter = 5
    run_step([mw], ctx)
    assert ctx.eval_result is None  # fewer than eval_freq updates since the last evaluation
    with pytest.raises(ValueError, match="stop_opponent='minimax' is not among the opponents"):
        battle_eval(
            cfg | {"stop_opponent": "minimax"}, agent, agent, game_factory("tictactoe"), opponents
        )
