"""Smoke runs of the AlphaZero recipes: self-play, learning, evaluation, resume."""

from __future__ import annotations

import json

import pytest

from pipezero.checkpoint import FINAL_NAME, checkpoint_dir
from pipezero.evaluate import eval_run
from pipezero.policy.board_checkpoint import load_board_player
from pipezero.recipe import load_recipe, train

TINY = [
    "env.collector_env_num=8",
    "policy.model.num_channels=8",
    "policy.num_simulations=8",
    "policy.eval_num_simulations=8",
    "policy.batch_size=16",
    "policy.min_buffer_transitions=16",
    "policy.n_evaluator_episode=4",
    "policy.eval_freq=10",
    "policy.collect_env_steps=4",
]


def test_alphazero_tictactoe_chain_trains_evaluates_checkpoints_and_resumes(
    tmp_path, capsys
) -> None:
    argv = ["--exp-dir", str(tmp_path), "--seed", "3", "--max-env-step", "96"]
    argv += [f"--set={item}" for item in TINY]
    ctx = train("alphazero_tictactoe", argv)
    assert ctx.env_step == 96 and ctx.train_iter > 0 and ctx.env_episode > 0
    assert ctx.finish_reason.startswith("max_env_step reached")
    result = json.loads(capsys.readouterr().out.splitlines()[-1][len("RESULT ") :])
    history = result["eval_history"]
    assert history and {"vs_rule_bot", "vs_minimax"} <= set(history[0])
    assert history[0]["vs_minimax"]["games"] == 4
    assert (checkpoint_dir(tmp_path) / FINAL_NAME).is_file()
    assert json.loads((tmp_path / "config.json").read_text())["algorithm"] == "alphazero"

    resumed = train(
        "alphazero_tictactoe",
        [*argv[:4], "--max-env-step", "160", "--resume", str(tmp_path), *argv[6:]],
    )
    assert resumed.env_step == 160 and resumed.train_iter > ctx.train_iter

    player, game, path = load_board_player(tmp_path, "tictactoe")
    assert path.name in ("best.pt", FINAL_NAME)
    assert game.legal_actions_mask()[player.act(game)]
    # pipezero eval: the recipe's battle_eval once, --episodes games per opponent
    evaluated = eval_run(tmp_path, episodes=6)
    assert evaluated["recipe"] == "alphazero_tictactoe" and evaluated["ckpt"] == str(path)
    assert {evaluated[f"vs_{o}"]["games"] for o in ("random", "rule_bot", "minimax")} == {6}


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("alphazero_connect4", ["policy.eval_num_simulations=8"]),
        ("alphazero_gomoku", ["env.game_kwargs.board_size=6"]),
    ],
)
def test_connect4_and_gomoku_recipes_run_their_chain(name, extra, tmp_path, capsys) -> None:
    argv = ["--exp-dir", str(tmp_path), "--seed", "1", "--max-env-step", "256"]
    argv += [f"--set={item}" for item in [*TINY, *extra]]
    ctx = train(name, argv)
    assert ctx.env_step == 256 and ctx.train_iter > 0
    result = json.loads(capsys.readouterr().out.splitlines()[-1][len("RESULT ") :])
    assert result["game"] == name.split("_")[1] and result["eval_history"]
    assert result["eval_history"][0]["vs_rule_bot"]["games"] == 4
    assert (checkpoint_dir(tmp_path) / FINAL_NAME).is_file()


def test_connect4_evaluates_on_the_targets_match_with_a_mirror_averaged_agent() -> None:
    p = load_recipe("alphazero_connect4").CONFIG.policy
    assert p.eval_opponents == ["rule_bot"] and p.stop_opponent is None
    assert p.n_evaluator_episode == 100 and p.eval_sides == "both"
    assert p.eval_average_symmetries and p.eval_num_simulations > p.num_simulations


@pytest.mark.parametrize("name", ["alphazero_tictactoe", "alphazero_connect4", "alphazero_gomoku"])
def test_alphazero_recipes_refuse_async_mode_as_a_usage_error(name, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        train(name, ["--mode", "async"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and f"{name} runs with --mode sync (got --mode async)" in err
