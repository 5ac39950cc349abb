"""MuZero on TicTacToe: two-player self-play targets flip signs; both battle modes run."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pipezero.middleware.env_collect import env_collect

from pipezero.data import ReplayBuffer
from pipezero.envs import BatchEnv, GymAdapter
from pipezero.envs.board import BoardGameGymEnv, make_game
from pipezero.evaluate import eval_run
from pipezero.framework import Task, TrainContext, run_step
from pipezero.model import MuZeroMLP
from pipezero.policy import MuZeroPolicy
from pipezero.policy.board_checkpoint import load_board_player
from pipezero.policy.board_player import PolicyPlayer
from pipezero.recipe import train

SMALL_MODEL = {"latent_dim": 16, "hidden_dim": 16, "support_size": 5, "reward_support_size": 2}


def tiny_muzero(**overrides) -> MuZeroPolicy:
    cfg = {
        "model": SMALL_MODEL,
        "num_simulations": 8,
        "discount_factor": 1.0,
        "td_steps": 9,
        "num_unroll_steps": 2,
        "game_segment_length": 11,
        "collect_env_steps": 9,
        "batch_size": 8,
    } | overrides
    model = MuZeroMLP((3, 3, 3), 9, **cfg["model"])
    return MuZeroPolicy(cfg, model, seed=0)


def test_self_play_collection_gives_two_player_targets_with_flipped_signs() -> None:
    policy = tiny_muzero()
    envs = BatchEnv([GymAdapter(BoardGameGymEnv("tictactoe"), seed=i) for i in range(4)])
    mw = env_collect(policy.cfg, policy, envs)
    ctx = TrainContext()
    Task(ctx).use(mw)
    run_step([mw], ctx)
    finished = [s for s in ctx.new_segments if s.terminated]
    assert finished, "9 moves end every TicTacToe game"
    buffer = ReplayBuffer(500, num_unroll_steps=2, td_steps=9, discount_factor=1.0, seed=0)
    for segment in finished:
        buffer.push(segment)
        players = segment.to_play[: segment.length]
        assert players.tolist() == [1 + i % 2 for i in range(segment.length)]
    batch = buffer.sample(200)
    # Per sampled position t the value target is the outcome for its mover: the last reward
    # of the game (+1 for the winning move, 0 for a draw) signed by whether t's mover made it.
    segments = dict(enumerate(buffer.segments()))
    for row, (sid, t) in enumerate(zip(batch.segment_ids, batch.positions, strict=True)):
        seg = segments[int(sid)]
        last = seg.length - 1
        outcome = seg.rewards[last] * (1 if seg.to_play[t] == seg.to_play[last] else -1)
        assert batch.reward_sum[row, 0] == outcome
        assert batch.bootstrap_discount[row, 0] == 0  # terminal: nothing to bootstrap
    assert {-1.0, 1.0} <= set(np.unique(batch.reward_sum[:, 0]).tolist())


def test_policy_player_passes_the_game_player_or_minus_one() -> None:
    seen = []

    class Recorder:
        def evaluate(self, obs, mask, to_play):
            seen.append(to_play.tolist())
            return type("R", (), {"action": mask.argmax(1)})()

    game = make_game("tictactoe")
    game.step(4)
    assert PolicyPlayer(Recorder()).act(game) == 0
    assert PolicyPlayer(Recorder(), single_player=True).act_batch([game, game]).tolist() == [0, 0]
    assert seen == [[2], [-1, -1]]


def test_muzero_recipe_runs_in_both_battle_modes_and_on_connect4(tmp_path, capsys) -> None:
    tiny = [
        "env.collector_env_num=4",
        "policy.num_simulations=4",
        "policy.batch_size=8",
        "policy.min_buffer_transitions=8",
        "policy.model.latent_dim=16",
        "policy.model.hidden_dim=16",
        "eval.eval_freq=20",
        "eval.n_evaluator_episode=4",
    ]
    connect4 = ["env.game=connect4", "policy.td_steps=42", "policy.game_segment_length=45"]
    for mode, game, steps, extra in (
        ("play_with_bot", "tictactoe", 64, []),
        ("self_play", "tictactoe", 64, []),
        ("self_play", "connect4", 192, connect4),  # games of up to 42 moves
    ):
        exp = tmp_path / f"{mode}_{game}"
        argv = [
            "--exp-dir",
            str(exp),
            "--max-env-step",
            str(steps),
            f"--set=env.battle_mode={mode}",
        ]
        ctx = train("muzero_tictactoe", argv + [f"--set={item}" for item in tiny + extra])
        assert ctx.train_iter > 0
        result = json.loads(capsys.readouterr().out.splitlines()[-1][len("RESULT ") :])
        assert (result["battle_mode"], result["game"]) == (mode, game)
        assert result["eval_history"][0]["vs_rule_bot"]["as_first"]["games"] == 4
        player, board, _ = load_board_player(exp, game)
        assert player.single_player == (mode == "play_with_bot")
        assert board.legal_actions_mask()[player.act(board)]


def test_muzero_recipe_runs_async_with_its_own_evaluator_policy_and_evaluates(
    tmp_path, capsys
) -> None:
    argv = ["--smoke", "--mode", "async", "--exp-dir", str(tmp_path), "--log-every", "0"]
    ctx = train("muzero_tictactoe", argv)
    assert ctx.env_step >= 200 and ctx.train_iter > 0
    result = json.loads(capsys.readouterr().out.splitlines()[-1][len("RESULT ") :])
    assert result["eval_history"]
    assert json.loads((tmp_path / "config.json").read_text())["algorithm"] == "muzero"
    # pipezero eval: --episodes sets eval.n_evaluator_episode (the agent moves first)
    evaluated = eval_run(tmp_path, episodes=4)
    assert evaluated["recipe"] == "muzero_tictactoe"
    assert evaluated["vs_rule_bot"]["as_first"]["games"] == 4
    assert evaluated["vs_random"]["games"] == 4


def test_agent_player_is_a_side_name_in_the_config(tmp_path, capsys) -> None:
    env = BoardGameGymEnv("tictactoe", battle_mode="play_with_bot", agent_player="second")
    env.reset(seed=0)
    assert env.agent_player == 2 and env.game.to_play == 2  # the bot has moved
    with pytest.raises(SystemExit) as exc:
        train("muzero_tictactoe", ["--exp-dir", str(tmp_path), "--set", "env.agent_player=2"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "config key 'env.agent_player' takes a string" in err
