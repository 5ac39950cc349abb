"""recipes/rezero_atari.py --smoke: collect, reanalyse, train, evaluate, checkpoint, resume."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

pytest.importorskip("ale_py")
pytest.importorskip("cv2")

ROOT = Path(__file__).resolve().parents[2]


def load_recipe(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "recipes" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_smoke_run_does_every_part_and_resumes(tmp_path, capsys):
    recipe = load_recipe("rezero_atari")
    ctx = recipe.main(["--smoke", "--seed", "0", "--exp-dir", str(tmp_path)])
    assert ctx.finish_reason.startswith("max_env_step reached")
    assert ctx.env_step == 480 and ctx.train_iter > 0  # collected and trained
    assert ctx.reanalyzed_states > 0  # reanalysed
    assert (tmp_path / "ckpt" / "final.pt").is_file()  # checkpointed
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1][len("RESULT ") :])
    assert len(result["eval_history"]) >= 2  # evaluated before and during training
    assert result["env_steps_per_s"] > 0 and result["train_steps_per_s"] > 0
    assert result["buffer_memory"]["ratio_to_frame"] < 1.3

    ctx = recipe.main(
        ["--smoke", "--exp-dir", str(tmp_path), "--resume", str(tmp_path), "--max-env-step", "560"]
    )
    assert ctx.env_step == 560 and ctx.reanalyzed_states > 0
