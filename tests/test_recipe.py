"""The recipe runner: flags, typed config, run directory, resume, eval, render, progress."""

import io
import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from pipezero.checkpoint import load_checkpoint
from pipezero.cli import main as cli
from pipezero.data import ReplayBuffer
from pipezero.framework import ChainError, Task, TrainContext
from pipezero.recipe import prepare, read_result, result_line, seed_everything, train

# A MuZero CartPole run of a few seconds (the --smoke settings, made smaller still).
TINY = ["--smoke", "--set", "policy.model.latent_dim=16", "--set", "policy.model.hidden_dim=16"]


def result_of(out: str) -> dict:
    line = [x for x in out.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line.removeprefix("RESULT "))


def usage_error(capsys, *argv: str) -> str:
    """Run ``pipezero train muzero_cartpole ARGV``; assert exit code 2; the error line."""
    with pytest.raises(SystemExit) as exc:
        cli(["train", "muzero_cartpole", *argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    return err


def test_set_false_turns_prioritised_replay_off(tmp_path):
    argv = ["--exp-dir", str(tmp_path), *TINY]
    on, _, _ = prepare("muzero_cartpole", argv)
    off, _, _ = prepare("muzero_cartpole", [*argv, "--set", "policy.use_priority=false"])
    assert on.cfg.policy.use_priority is True and off.cfg.policy.use_priority is False
    assert ReplayBuffer.from_config(on.cfg.policy).priority_prob_alpha > 0
    assert ReplayBuffer.from_config(off.cfg.policy).priority_prob_alpha == 0.0  # uniform


@pytest.mark.parametrize(
    ("pair", "named"),
    [
        ("policy.num_simulations=abc", "'policy.num_simulations' takes an int"),
        ("policy.num_simulations=2.5", "'policy.num_simulations' takes an int"),
        ("policy.use_priority=maybe", "'policy.use_priority' takes a bool"),
        ("env.env_id=42", "'env.env_id' takes a string"),
        ("policy.num_simulations=0", "'policy.num_simulations' must be an int >= 1"),
        ("policy.discount_factor=1.5", "'policy.discount_factor' must be a number in (0, 1]"),
        ("policy.replay_buffer_size=60", "'policy.batch_size' (256) is larger than"),
        ("policy.num_simulation=3", "did you mean 'num_simulations'"),
        ("policy.model=3", "'policy.model' is a section"),
        ("policy", "expects KEY=VALUE"),
    ],
)
def test_each_bad_value_is_a_one_line_usage_error_naming_the_key(capsys, pair, named):
    assert named in usage_error(capsys, "--set", pair)


def test_bad_flags_are_usage_errors(capsys, tmp_path):
    assert "invalid choice: 'ray'" in usage_error(capsys, "--mode", "async", "--backend", "ray")
    missing = tmp_path / "missing"
    assert "does not exist" in usage_error(capsys, "--resume", str(missing))
    assert "runs with --mode sync" in usage_error(capsys, "--ddp", "--mode", "async")
    unknown = usage_error(capsys, "--env-id", "Foo-v0", "--exp-dir", str(tmp_path / "foo"))
    assert "'env.env_id': gymnasium knows no environment 'Foo-v0'" in unknown
    assert not (tmp_path / "foo").exists()
    with pytest.raises(SystemExit) as exc:
        cli(["train", "muzero_cartpol"])
    assert exc.value.code == 2 and "did you mean muzero_cartpole" in capsys.readouterr().err


def test_set_values_read_as_yaml_scalars_and_the_last_repeat_wins(tmp_path):
    run, _, _ = prepare("muzero_cartpole", ["--exp-dir", str(tmp_path), *TINY,
        "--set", "policy.stop_value=null", "--set", "policy.learning_rate=1e-3",
        "--set", "policy.num_simulations=6", "--set", "policy.num_simulations=7",
        "--set", "policy.discount_factor=1", "--seed", "5"])  # fmt: skip
    p = run.cfg.policy
    assert p.stop_value is None and p.learning_rate == 0.001 and p.num_simulations == 7
    assert isinstance(p.discount_factor, float) and p.discount_factor == 1.0
    assert run.seed == 5 and run.exp_dir == tmp_path


def test_run_writes_its_config_and_every_checkpoint_holds_it(tmp_path, capsys):
    ctx = train("muzero_cartpole", ["--exp-dir", str(tmp_path), *TINY, "--seed", "2"])
    result = result_of(capsys.readouterr().out)
    assert result["recipe"] == "muzero_cartpole" and result["env_step"] == ctx.env_step
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["recipe"] == "muzero_cartpole" and saved["config"]["seed"] == 2
    assert saved["config"]["policy"]["model"]["latent_dim"] == 16
    for name in ("final.pt", "best.pt"):
        state = load_checkpoint(tmp_path / "ckpt" / name)
        assert state["config"] == saved["config"]


def test_default_run_dir_is_per_run_and_resume_latest_finds_it(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    train("muzero_cartpole", [*TINY, "--max-env-step", "40"])
    first = result_of(capsys.readouterr().out)
    run_dir = Path(first["exp_dir"])
    assert run_dir.parent == Path("runs/muzero_cartpole") and (run_dir / "config.json").is_file()
    ctx = train("muzero_cartpole", ["--resume", "latest", "--max-env-step", "160"])
    resumed = result_of(capsys.readouterr().out)
    assert resumed["exp_dir"] == str(run_dir)
    assert ctx.env_step >= 160 and resumed["train_iter"] > first["train_iter"]
    # the evaluations before the resume stay in its history, and in the run's file
    kept = resumed["eval_history"][: len(first["eval_history"])]
    assert first["eval_history"] and kept == first["eval_history"]
    assert len(resumed["eval_history"]) > len(first["eval_history"])
    lines = (run_dir / "eval_history.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == resumed["eval_history"]


def test_eval_history_file_skips_a_line_cut_short(tmp_path):
    from pipezero.recipe.train import read_eval_history

    path = tmp_path / "eval_history.jsonl"
    path.write_text('{"env_step": 10, "return_mean": 1.0}\n{"env_step": 20, "return_mean": 2.0}\n'
                    '{"env_step": 30, "retu')  # fmt: skip
    assert read_eval_history(path, 25) == [{"env_step": 10, "return_mean": 1.0},
                                           {"env_step": 20, "return_mean": 2.0}]  # fmt: skip
    assert read_eval_history(path, 15) == [{"env_step": 10, "return_mean": 1.0}]
    assert read_eval_history(tmp_path / "missing.jsonl", 15) == []


def test_resume_keeps_the_saved_config_and_reports_a_changed_key(tmp_path, capsys, caplog):
    train("muzero_cartpole", ["--exp-dir", str(tmp_path), *TINY, "--max-env-step", "40",
                              "--set", "policy.num_simulations=3"])  # fmt: skip
    capsys.readouterr()
    with caplog.at_level(logging.WARNING, logger="pipezero.recipe"):
        run, _, _ = prepare("muzero_cartpole", ["--resume", str(tmp_path), "--max-env-step", "80",
                                                "--set", "policy.batch_size=8"])  # fmt: skip
    assert run.cfg.policy.num_simulations == 3  # from the saved config, not CONFIG's 25
    assert run.cfg.policy.model.latent_dim == 16 and run.exp_dir == tmp_path
    changes = [r.getMessage() for r in caplog.records]
    assert any("policy.batch_size: 16 -> 8" in m for m in changes), changes
    assert any("max_env_step: 40 -> 80" in m for m in changes), changes


def test_eval_rebuilds_the_agent_from_the_run_and_prints_json(tmp_path, capsys):
    train("muzero_cartpole", ["--exp-dir", str(tmp_path), *TINY])
    capsys.readouterr()
    assert cli(["eval", str(tmp_path), "--episodes", "3", "--ckpt", "final"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["num_episodes"] == 3 and result["ckpt"].endswith("final.pt")
    assert result["return_min"] <= result["return_mean"] <= result["return_max"]
    assert result["seed"] == 20_000  # fresh episodes: neither collection's nor evaluation's
    assert cli(["eval", str(tmp_path / "nothing")]) == 2
    assert "not a run directory" in capsys.readouterr().err
    assert cli(["eval", str(tmp_path), "--ckpt", "iter_99.pt"]) == 2


def test_eval_set_changes_the_saved_config_for_that_evaluation(tmp_path, capsys):
    pytest.importorskip("minatar")  # a recipe whose env section has max_episode_steps
    train("muzero_minatar", ["--exp-dir", str(tmp_path), "--smoke"])
    capsys.readouterr()
    argv = ["eval", str(tmp_path), "--episodes", "2", "--set", "env.max_episode_steps=5"]
    assert cli([*argv, "--set", "policy.eval_num_simulations=4"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["episode_length_max"] <= 5  # the override reached the built evaluator
    assert result["overrides"] == ["env.max_episode_steps=5", "policy.eval_num_simulations=4"]
    assert (
        json.loads((tmp_path / "config.json").read_text())["config"]["env"].get("max_episode_steps")
        != 5
    )  # the run's own config is untouched
    assert cli(["eval", str(tmp_path), "--set", "policy.eval_num_simulations=abc"]) == 2
    assert "policy.eval_num_simulations" in capsys.readouterr().err
    assert cli(["eval", str(tmp_path), "--set", "policy.eval_num_simulation=4"]) == 2
    assert "eval_num_simulations" in capsys.readouterr().err  # the closest valid key


def test_eval_is_repeatable_and_uses_the_checkpoint_weights(tmp_path, capsys):
    train("muzero_cartpole", ["--exp-dir", str(tmp_path), *TINY])
    capsys.readouterr()
    outs = []
    for _ in range(2):
        cli(["eval", str(tmp_path), "--episodes", "2", "--seed", "3"])
        outs.append(json.loads(capsys.readouterr().out.strip().splitlines()[-1]))
    assert outs[0] == outs[1]


def test_render_writes_a_gif_of_the_episodes(tmp_path, capsys):
    pytest.importorskip("PIL")
    pytest.importorskip("pygame")
    from PIL import Image

    train("muzero_cartpole", ["--exp-dir", str(tmp_path), *TINY])
    capsys.readouterr()
    out = tmp_path / "cartpole.gif"
    assert cli(["render", str(tmp_path), "--out", str(out), "--episodes", "1"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    with Image.open(out) as gif:
        assert gif.n_frames > 1  # (Pillow merges identical consecutive frames)
        assert result["frames"] > result["episode_length_mean"]
        assert gif.size == (600, 400)


def test_async_guard_refuses_a_collector_acting_with_the_learners_policy(tmp_path):
    from pipezero.middleware import env_collect, interval_eval

    argv = ["--exp-dir", str(tmp_path), *TINY, "--mode", "async", "--backend", "thread"]
    run, task, _ = prepare("muzero_cartpole", argv)
    by_name = {mw.name: mw for mw in task.chain}
    learner_policy = by_name["offpolicy_learn"].acts_with
    assert by_name["env_collect"].acts_with is not learner_policy
    assert by_name["interval_eval"].acts_with is not learner_policy
    p = run.cfg.policy
    collect_envs, eval_envs = run.envs()
    shared = Task(TrainContext())
    shared.use(interval_eval(p, learner_policy, eval_envs))
    shared.use(env_collect(p, learner_policy, collect_envs))
    with pytest.raises(ChainError, match="act with the same"):
        shared.validate("async")
    shared.validate("sync")  # one thread: sharing is fine


def test_async_process_backend_is_used(tmp_path):
    from pipezero.framework import ProcessBackend

    _, task, _ = prepare("muzero_cartpole", ["--exp-dir", str(tmp_path), *TINY,
                                             "--mode", "async"])  # fmt: skip
    assert isinstance(task.backend, ProcessBackend)
    _, task, _ = prepare("muzero_cartpole", ["--exp-dir", str(tmp_path), *TINY,
                                             "--mode", "async", "--backend", "thread"])  # fmt: skip
    assert not isinstance(task.backend, ProcessBackend)


def logged_videos(run_dir: Path) -> list[tuple[int, bytes]]:
    """``(step, GIF bytes)`` of every ``eval/video`` image in the run's TensorBoard files."""
    import struct

    from tensorboardX.proto import event_pb2

    videos = []
    for path in sorted((run_dir / "tb").glob("events.out.tfevents.*")):
        raw, pos = path.read_bytes(), 0
        while pos < len(raw):
            (length,) = struct.unpack("<Q", raw[pos : pos + 8])
            event = event_pb2.Event.FromString(raw[pos + 12 : pos + 12 + length])
            pos += 12 + length + 4
            for value in event.summary.value:
                if value.tag == "eval/video":
                    videos.append((event.step, value.image.encoded_image_string))
    return videos


@pytest.mark.parametrize("mode", [["--mode", "sync"], ["--mode", "async", "--backend", "process"]])
def test_eval_video_logs_each_evaluations_episode_to_tensorboard(tmp_path, capsys, mode):
    from PIL import Image

    train("muzero_cartpole", ["--exp-dir", str(tmp_path), *TINY, "--eval-video", *mode])
    result = result_of(capsys.readouterr().out)
    videos = logged_videos(tmp_path)
    # in async mode the evaluator may still be playing when the run ends: its last is not logged
    assert 1 <= len(videos) <= len(result["eval_history"])
    step, gif = videos[0]
    assert step == 0 and gif.startswith(b"GIF89a")
    first = Image.open(io.BytesIO(gif))
    assert max(first.size) == 240 and first.n_frames >= 8  # CartPole's 600x400, scaled down
    if mode[1] == "sync":  # every GIF was taken by the logger
        assert len(videos) == len(result["eval_history"])
        assert not list((tmp_path / "eval_video").glob("*.gif"))


def test_eval_video_needs_an_evaluation_environment(capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        cli(["train", "alphazero_tictactoe", "--smoke", "--exp-dir", str(tmp_path), "--eval-video"])
    assert exc.value.code == 2
    assert "--eval-video: alphazero_tictactoe's evaluator plays no environment" in (
        capsys.readouterr().err
    )


def test_progress_lines_without_a_terminal(tmp_path, capsys, caplog):
    with caplog.at_level(logging.INFO, logger="pipezero.progress"):
        train("muzero_cartpole", ["--exp-dir", str(tmp_path), *TINY, "--log-every", "0.01"])
    lines = [r.getMessage() for r in caplog.records if r.name == "pipezero.progress"]
    assert len(lines) >= 2, lines
    assert lines[-1].startswith("env_step 2") and "train_iter" in lines[-1] and "eta" in lines[-1]


def test_checkpoints_follow_the_umask(tmp_path, capsys):
    old = os.umask(0o027)
    try:
        train("muzero_cartpole", ["--exp-dir", str(tmp_path), *TINY])
    finally:
        os.umask(old)
    assert (tmp_path / "ckpt" / "final.pt").stat().st_mode & 0o777 == 0o640
    buffers = list((tmp_path / "ckpt").glob("*.buffer-*.npz"))
    assert buffers and all(p.stat().st_mode & 0o777 == 0o640 for p in buffers)


def test_list_shows_every_recipe_with_its_description(capsys):
    assert cli(["list"]) == 0
    out = capsys.readouterr().out
    assert "muzero_cartpole" in out and "MuZero on CartPole-v0" in out
    shipped = sorted(p.stem for p in (Path(__file__).parents[1] / "recipes").glob("[!_]*.py"))
    assert [line.split()[0] for line in out.splitlines()] == shipped


def test_seed_everything_makes_draws_repeatable():
    seed_everything(5)
    first = (np.random.rand(), torch.rand(1).item())
    seed_everything(5)
    assert (np.random.rand(), torch.rand(1).item()) == first


def test_result_line_is_parseable_json_with_counters():
    ctx = TrainContext()
    ctx.env_step, ctx.train_iter = 12, 3
    ctx.finish_reason = "max_steps"
    line = result_line(ctx, algorithm="muzero", seed=1, start=0.0, eval_history=[1])
    summary = json.loads(line.removeprefix("RESULT "))
    assert read_result(f"log line\n{line}\nmore log\n") == summary
    assert read_result("no result here\n") is None
    assert summary["env_step"] == 12 and summary["train_iter"] == 3
    assert summary["algorithm"] == "muzero" and summary["eval_history"] == [1]
    assert summary["finish_reason"] == "max_steps"


def test_the_recipe_of_docs_middleware_runs_from_its_own_file(tmp_path, capsys):
    import re

    doc = (Path(__file__).parents[1] / "docs" / "middleware.md").read_text()
    (source,) = [b for b in re.findall(r"```python\n(.*?)```", doc, re.S) if "def build(run" in b]
    recipe = tmp_path / "my_recipe.py"
    recipe.write_text(source)
    cli(["train", str(recipe), "--exp-dir", str(tmp_path / "run"), "--smoke"])
    result = result_of(capsys.readouterr().out)
    assert result["recipe"] == "my_recipe" and result["env_step"] >= 200
    assert json.loads((tmp_path / "run" / "config.json").read_text())["recipe"] == "my_recipe"


@pytest.mark.parametrize(
    ("name", "size"), [("alphazero_tictactoe", (120, 120)), ("stochastic_muzero_2048", (160, 160))]
)
def test_eval_and_render_a_board_game_and_2048(name, size, tmp_path, capsys):
    pytest.importorskip("PIL")
    from PIL import Image

    cli(["train", name, "--smoke", "--exp-dir", str(tmp_path)])
    capsys.readouterr()
    assert cli(["eval", str(tmp_path), "--episodes", "2"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["recipe"] == name and "return_mean" in result
    out = tmp_path / "episode.gif"
    assert cli(["render", str(tmp_path), "--out", str(out), "--episodes", "1"]) == 0
    rendered = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    with Image.open(out) as gif:
        assert gif.size == size and gif.n_frames > 2 and rendered["frames"] >= gif.n_frames
