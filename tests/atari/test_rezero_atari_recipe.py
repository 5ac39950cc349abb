"""rezero_atari --smoke: collect, reanalyse, train, evaluate, checkpoint, resume, eval."""

from __future__ import annotations

import json

import pytest

from pipezero.checkpoint import load_checkpoint
from pipezero.recipe import train

pytest.importorskip("ale_py")
pytest.importorskip("cv2")


def test_smoke_run_does_every_part_and_resumes(tmp_path, capsys):
    ctx = train("rezero_atari", ["--smoke", "--seed", "0", "--exp-dir", str(tmp_path)])
    assert ctx.finish_reason.startswith("max_env_step reached")
    assert ctx.env_step == 480 and ctx.train_iter > 0  # collected and trained
    assert ctx.reanalyzed_states > 0  # reanalysed
    assert (tmp_path / "ckpt" / "final.pt").is_file()  # checkpointed
    saved = json.loads((tmp_path / "config.json").read_text())  # the run's typed config
    assert saved["recipe"] == "rezero_atari"
    assert load_checkpoint(tmp_path / "ckpt" / "final.pt")["config"] == saved["config"]
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1][len("RESULT ") :])
    assert len(result["eval_history"]) >= 2  # evaluated before and during training
    assert result["env_steps_per_s"] > 0 and result["train_steps_per_s"] > 0
    assert result["buffer_memory"]["ratio_to_frame"] < 1.3
    assert result["reanalyzed_states"] == ctx.reanalyzed_states

    ctx = train(
        "rezero_atari",
        ["--exp-dir", str(tmp_path), "--resume", str(tmp_path), "--max-env-step", "560"],
    )
    assert ctx.env_step == 560 and ctx.reanalyzed_states > 0
    assert ctx.middleware_seconds["env_collect"] > 0  # summed on from the first run's

    from pipezero.evaluate import eval_run

    result = eval_run(tmp_path, ckpt="final", episodes=1)
    assert result["recipe"] == "rezero_atari" and result["num_episodes"] == 1
