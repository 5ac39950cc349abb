"""The scale-out flags of the CartPole recipes: torchrun --ddp end to end, flag checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ddp_workers import free_port

from pipezero.recipe import load_recipe, prepare, recipe_parser, resolve_run

ROOT = Path(__file__).resolve().parents[2]
SMALL = [
    "policy.collect_env_steps=4",  # 2 ranks x 8 envs x 4 = 64 env steps per task step
    "policy.num_simulations=4",
    "policy.batch_size=16",
    "policy.min_buffer_transitions=1",
    "policy.n_evaluator_episode=2",
    "env.evaluator_env_num=2",
    "policy.model.latent_dim=16",
    "policy.model.hidden_dim=16",
    "policy.num_unroll_steps=3",
    "policy.td_steps=5",
    "policy.game_segment_length=8",
]


def test_torchrun_ddp_recipe_runs_two_ranks_in_lockstep(tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2"]
    cmd += ["--master_port", str(free_port()), str(ROOT / "recipes" / "muzero_cartpole.py")]
    cmd += ["--ddp", "--exp-dir", str(tmp_path), "--max-env-step", "384"]
    for item in SMALL:
        cmd += ["--set", item]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    results = sorted((json.loads(ln[len("RESULT ") :]) for ln in lines), key=lambda r: r["seed"])
    assert [r["seed"] for r in results] == [0, 100_003]  # rank 0 keeps the seed
    rank0, rank1 = results
    assert rank0["env_step"] == rank1["env_step"] == 384  # totals over both ranks
    assert rank0["train_iter"] == rank1["train_iter"] > 0
    assert rank0["finish_reason"].startswith("max_env_step reached")
    assert rank0["eval_history"] and not rank1["eval_history"]  # rank 0 evaluates
    assert (tmp_path / "ckpt" / "final.pt").is_file()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--ddp", "--ray-actors", "2"], "cannot be combined"),
        (["--ray-actors", "-1"], "expects an int >= 0"),
        (["--ddp", "--mode", "async"], "--ddp runs with --mode sync"),
        (["--ddp"], "torchrun --nproc_per_node=2"),
    ],
)
def test_bad_scale_out_flags_are_usage_errors(argv, message, tmp_path, capsys, monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(SystemExit) as exc:
        prepare("muzero_cartpole", [*argv, "--exp-dir", str(tmp_path)])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_scale_out_flags_are_opt_in(tmp_path, capsys):
    module = load_recipe("muzero_cartpole")
    run = resolve_run(module, recipe_parser(module).parse_args(["--exp-dir", str(tmp_path)]))
    assert (run.ddp, run.ray_actors) == (False, 0)
    for name in ("muzero_cartpole", "efficientzero_cartpole"):
        module = load_recipe(name)
        args = recipe_parser(module).parse_args(["--ray-actors", "2"])
        assert resolve_run(module, args).ray_actors == 2
    cases = [
        ("grpo_math", ["--ddp"], "does not take --ddp (scale-out flags it takes: none"),
        ("gumbel_muzero_cartpole", ["--ray-actors", "2"], "takes: --ddp;"),  # SCALE_OUT = ("ddp",)
    ]
    for recipe, flag, message in cases:
        with pytest.raises(SystemExit) as exc:
            prepare(recipe, [*flag, "--exp-dir", str(tmp_path)])
        assert exc.value.code == 2
        assert message in capsys.readouterr().err


def test_every_muzero_family_and_alphazero_recipe_takes_ddp():
    from pipezero.recipe import recipe_names
    from pipezero.recipe.flags import scale_out_flags

    for name in recipe_names():
        takes = scale_out_flags(load_recipe(name))
        assert ("ddp" in takes) == (not name.endswith("_math")), name
