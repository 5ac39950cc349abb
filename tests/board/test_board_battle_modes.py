"""Battle modes through gymnasium: self-play and play-with-bot, batched by BatchEnv."""

from __future__ import annotations

import numpy as np
import pytest

from pipezero.envs import BatchEnv, GymAdapter
from pipezero.envs.board import BoardGameGymEnv, RandomPlayer


def test_self_play_mode_alternates_players_and_rewards_the_mover() -> None:
    env = GymAdapter(BoardGameGymEnv("tictactoe", battle_mode="self_play"), seed=0)
    obs = env.reset()
    assert obs.to_play == 1 and obs.observation.shape == (3, 3, 3)
    players, rewards = [], []
    for move in (0, 3, 1, 4, 2):
        players.append(obs.to_play)
        step = env.step(move)
        rewards.append(step.reward)
        obs = step.obs
    assert players == [1, 2, 1, 2, 1] and rewards == [0, 0, 0, 0, 1.0]
    assert step.terminated and step.episode is not None and not step.obs.action_mask.any()


def test_play_with_bot_mode_is_a_single_agent_game_with_the_outcome_as_reward() -> None:
    env = BoardGameGymEnv("tictactoe", battle_mode="play_with_bot", bot="rule_bot")
    _, info = env.reset(seed=0)
    assert info["to_play"] == -1 and env.game.num_moves == 0  # agent moves first
    _, reward, terminated, _, _ = env.step(0)  # the rule bot answers in the centre
    assert env.game.num_moves == 2 and env.game.board[4] == 2 and reward == 0.0
    env.step(1)  # threatens 2; the bot blocks
    assert env.game.board[2] == 2
    _, reward, terminated, _, info = env.step(8)  # the bot wins on the diagonal 2-4-6
    assert (reward, terminated, info["winner"]) == (-1.0, True, 2)
    with pytest.raises(ValueError, match="battle_mode must be one of"):
        BoardGameGymEnv("tictactoe", battle_mode="vs_bot")
    noisy = BoardGameGymEnv("tictactoe", "play_with_bot", bot_kwargs={"randomness": 3.0})
    noisy.reset(seed=0)
    assert noisy.bot.randomness == 3.0


def test_play_with_bot_as_second_player_lets_the_bot_open() -> None:
    env = BoardGameGymEnv("connect4", battle_mode="play_with_bot", agent_player=2)
    obs, _ = env.reset(seed=1)
    assert env.game.num_moves == 1 and env.game.to_play == 2
    assert obs[1].sum() == 1  # the bot's stone, seen as the opponent's


def test_batch_env_runs_bot_games_to_the_end_with_episode_returns() -> None:
    envs = BatchEnv(
        [
            GymAdapter(
                BoardGameGymEnv("tictactoe", battle_mode="play_with_bot", agent_player="random"),
                seed=i,
            )
            for i in range(4)
        ]
    )
    player = RandomPlayer(seed=0)
    obs = envs.reset()
    returns = []
    for _ in range(40):
        actions = [int(player.rng.choice(np.flatnonzero(m))) for m in obs.action_mask]
        out = envs.step(np.array(actions))
        returns += [stats.episode_return for _, stats in out.episodes]
        obs = out.obs
    assert returns and set(returns) <= {-1.0, 0.0, 1.0}
    assert (obs.to_play == -1).all()
