"""A 2-game smoke run of recipes/muzero_multitask_minatar.py: per-game evaluation in the
RESULT line's history and in TensorBoard, games chosen with ``--set env.tasks``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipezero.cli import main as cli

pytest.importorskip("minatar")

GAMES = ["MinAtar/Breakout-v0", "MinAtar/Freeway-v0"]  # 4 and 7 channels: padded to 7


def test_two_game_smoke_run_reports_each_game(tmp_path: Path, capsys) -> None:
    tasks = "env.tasks=" + json.dumps(GAMES)
    argv = ["--smoke", "--exp-dir", str(tmp_path), "--set", tasks]
    cli(["train", "muzero_multitask_minatar", *argv])
    line = [x for x in capsys.readouterr().out.splitlines() if x.startswith("RESULT ")][-1]
    result = json.loads(line.removeprefix("RESULT "))
    assert result["train_iter"] > 0
    history = result["eval_history"]
    assert len(history) >= 2
    for entry in history:
        assert entry["Breakout"]["num_episodes"] == entry["Freeway"]["num_episodes"] == 2
        means = [entry[game]["return_mean"] for game in ("Breakout", "Freeway")]
        assert entry["return_mean"] == pytest.approx(sum(means) / 2)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["config"]["env"]["tasks"] == GAMES
    events = b"".join(p.read_bytes() for p in (tmp_path / "tb").glob("events.out.tfevents.*"))
    for tag in (b"eval/Breakout/return_mean", b"eval/Freeway/return_mean", b"eval/return_mean"):
        assert tag in events
