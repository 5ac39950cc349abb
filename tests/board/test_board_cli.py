"""`pipezero play`: a person plays through stdin; bad input is explained, never a crash."""

from __future__ import annotations

import io
import json
import shutil
import subprocess

import pytest
from board_toy import tiny_alphazero

from pipezero.checkpoint import FINAL_NAME, build_state, checkpoint_dir, save_checkpoint
from pipezero.cli import board_text, main
from pipezero.config import merge_config
from pipezero.envs.board import make_game
from pipezero.framework import TrainContext
from pipezero.policy.alphazero_config import ALPHAZERO_CONFIG
from pipezero.recipe import CONFIG_FILE


def play(argv: list[str], lines: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    code = main(["play", *argv], stdin=io.StringIO("".join(f"{x}\n" for x in lines)), stdout=out)
    return code, out.getvalue()


@pytest.fixture
def run_dir(tmp_path):
    """A run directory with an (untrained) AlphaZero TicTacToe checkpoint and config.json
    (as the recipe runner writes it)."""
    policy = tiny_alphazero()
    cfg = merge_config(ALPHAZERO_CONFIG, {"exp_dir": str(tmp_path), "policy": dict(policy.cfg)})
    run_config = {"recipe": "alphazero_tictactoe", "algorithm": "alphazero", "config": cfg}
    (tmp_path / CONFIG_FILE).write_text(json.dumps(run_config))
    state = build_state(TrainContext(), policy, kind="final")
    save_checkpoint(checkpoint_dir(tmp_path) / FINAL_NAME, state)
    return tmp_path


def test_illegal_input_gets_a_message_and_a_new_prompt(run_dir) -> None:
    # Bad text, out of range, then every cell in turn: taken cells are refused until the
    # game ends; the agent never crashes the session.
    lines = ["abc", "0", "10", "", "help", "1", "1"] + [str(c) for c in range(1, 10)] * 2
    code, text = play(["tictactoe", str(run_dir)], lines)
    assert code == 0
    assert "Illegal move: 'abc' is not a number; type a cell number from 1 to 9" in text
    assert "Illegal move: 0 is out of range" in text and "Illegal move: 10 is out of range" in text
    assert "How to move: type a cell number 1-9" in text
    assert "is already taken; choose an empty cell. Try again." in text
    assert "Agent plays" in text
    assert text.rstrip().splitlines()[-1] in ("Draw.", "You win!", "The agent wins.")
    assert text.count("Your move (X)") > 7


def test_agent_first_quit_and_end_of_input(run_dir) -> None:
    code, text = play(["tictactoe", str(run_dir / "ckpt" / FINAL_NAME), "--second"], ["quit"])
    assert code == 0 and "Agent plays" in text and "Your move (O)" in text
    assert text.endswith("Game abandoned.\n")
    code, text = play(["connect4", "rule_bot"], ["9", "x"])  # then input ends
    assert code == 0 and "Illegal move: 9 is out of range; type a column number from 1 to 7" in text
    assert text.endswith("Game abandoned.\n")


def test_missing_or_mismatched_checkpoints_are_reported(run_dir, tmp_path_factory) -> None:
    code, text = play(["tictactoe", str(tmp_path_factory.mktemp("empty"))], [])
    assert code == 2 and "holds no checkpoint" in text
    code, text = play(["connect4", str(run_dir)], [])
    assert code == 2 and "trained on 'tictactoe', not 'connect4'" in text
    shutil.rmtree(checkpoint_dir(run_dir))
    code, text = play(["tictactoe", str(run_dir / "nothing.pt")], [])
    assert code == 2 and "no checkpoint at" in text


def test_board_text_shows_coordinates() -> None:
    game = make_game("gomoku", board_size=6)
    game.step(game.parse_action("c2"))
    lines = board_text(game).splitlines()
    assert lines[0].split() == list("abcdef") and lines[2].split() == [
        "2",
        ".",
        ".",
        "X",
        ".",
        ".",
        ".",
    ]
    game = make_game("connect4")
    game.step(game.parse_action("4"))
    assert board_text(game).splitlines()[-2:] == [". . . X . . .", "1 2 3 4 5 6 7"]


@pytest.mark.skipif(shutil.which("pipezero") is None, reason="console script not installed")
def test_console_script_entry_point() -> None:
    proc = subprocess.run(
        ["pipezero", "play", "tictactoe", "minimax"],
        input="5\nquit\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0 and "Agent plays" in proc.stdout, proc.stderr
