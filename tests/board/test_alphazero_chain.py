"""Smoke run of the AlphaZero TicTacToe recipe: self-play, learning, evaluation, resume."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from pipezero.checkpoint import FINAL_NAME, checkpoint_dir
from pipezero.policy.board_checkpoint import load_board_player

ROOT = Path(__file__).resolve().parents[2]

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


def load_recipe(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "recipes" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_alphazero_tictactoe_chain_trains_evaluates_checkpoints_and_resumes(
    tmp_path, capsys
) -> None:
    recipe = load_recipe("alphazero_tictactoe")
    argv = ["--exp-dir", str(tmp_path), "--seed", "3", "--max-env-step", "96"]
    argv += [f"--set={item}" for item in TINY]
    ctx = recipe.main(argv)
    assert ctx.env_step == 96 and ctx.train_iter > 0 and ctx.env_episode > 0
    assert ctx.finish_reason.startswith("max_env_step reached")
    result = json.loads(capsys.readouterr().out.splitlines()[-1][len("RESULT ") :])
    history = result["eval_history"]
    assert history and {"vs_rule_bot", "vs_minimax"} <= set(history[0])
    assert history[0]["vs_minimax"]["games"] == 4
    assert (checkpoint_dir(tmp_path) / FINAL_NAME).is_file()
    assert json.loads((tmp_path / "config.json").read_text())["algorithm"] == "alphazero"

    resumed = recipe.main(
        [*argv[:4], "--max-env-step", "160", "--resume", str(tmp_path), *argv[6:]]
    )
    assert resumed.env_step == 160 and resumed.train_iter > ctx.train_iter

    player, game, path = load_board_player(tmp_path, "tictactoe")
    assert path.name in ("best.pt", FINAL_NAME)
    assert game.legal_actions_mask()[player.act(game)]
