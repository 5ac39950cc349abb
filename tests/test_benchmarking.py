"""pipezero.recipe.benchmarking with a real, smoke-sized training run of muzero_cartpole."""

from __future__ import annotations

import pytest

from pipezero.evaluate import eval_run
from pipezero.recipe import (
    FRESH_SEED_OFFSET,
    benchmark_run,
    git_commit,
    median_or_none,
    reevaluate,
    reevaluate_run,
    run_recipe,
    time_to_target,
)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """muzero_cartpole --smoke (200 env steps), trained once, re-evaluated on 3 episodes."""
    exp_dir = tmp_path_factory.mktemp("bench") / "muzero_seed3"
    return benchmark_run(
        "muzero_cartpole",
        seed=3,
        exp_dir=exp_dir,
        target=0.0,  # the first evaluation reaches it
        flags=["--smoke"],
        reeval_episodes=3,
    )


def test_benchmark_run_reports_the_run(smoke_run):
    assert smoke_run["seed"] == 3 and smoke_run["env_step"] >= 200
    assert "max_env_step" in smoke_run["finish_reason"]
    history = smoke_run["result"]["eval_history"]
    assert len(history) >= 2 and len(smoke_run["curve"]) == len(history)
    assert smoke_run["best_eval_return"] == max(p["return_mean"] for p in history)
    # target 0: the first evaluation (env step 0, 2 smoke episodes) is the stopping one
    assert smoke_run["env_steps_to_target"] == 0 and smoke_run["train_iter_to_target"] == 0
    assert smoke_run["stopping_eval_return"] == round(history[0]["return_mean"], 2)
    assert smoke_run["stopping_eval_episodes"] == 2
    assert 0 < smoke_run["wall_s_to_target"] <= smoke_run["process_wall_s"]


def test_reevaluation_plays_best_and_final_on_fresh_episodes(smoke_run):
    for ckpt in ("best", "final"):
        again = smoke_run["reeval"][ckpt]
        assert again["ckpt_file"] == f"{ckpt}.pt" and again["num_episodes"] == 3
        assert again["seed"] == 3 + FRESH_SEED_OFFSET
        assert again["return_min"] <= again["return_mean"] <= again["return_max"]
        assert again["holds_target"] is (again["return_mean"] >= 0.0)
    # the subprocess plays what an in-process evaluation of the same checkpoint plays
    here = eval_run(smoke_run["exp_dir"], ckpt="final", episodes=3, seed=3 + FRESH_SEED_OFFSET)
    assert smoke_run["reeval"]["final"]["return_mean"] == here["return_mean"]


def test_reevaluation_of_chosen_checkpoints_only(smoke_run):
    only = reevaluate_run(smoke_run["exp_dir"], seed=3, target=0.0, episodes=1, ckpts=("best",))
    assert list(only) == ["best"] and only["best"]["num_episodes"] == 1


def test_time_to_target_never_reached(smoke_run):
    never = time_to_target(smoke_run["result"]["eval_history"], target=1e9)
    assert set(never.values()) == {None}
    reached = time_to_target(smoke_run["result"]["eval_history"], smoke_run["best_eval_return"])
    assert reached["stopping_eval_return"] == round(smoke_run["best_eval_return"], 2)


def test_a_failed_run_names_its_command(tmp_path):
    with pytest.raises(RuntimeError, match="no_such_key"):
        run_recipe(
            "muzero_cartpole",
            seed=0,
            exp_dir=tmp_path / "bad",
            overrides=["policy.no_such_key=1"],
            flags=["--smoke"],
        )


def test_reevaluate_rejects_no_episodes(smoke_run):
    with pytest.raises(ValueError, match="episodes >= 1"):
        reevaluate(smoke_run["exp_dir"], seed=3, episodes=0)


def test_median_counts_never_as_slowest():
    assert median_or_none([3, None, 1]) == 3
    assert median_or_none([None, None, 1]) is None
    assert median_or_none([1, 2, 3, 4]) == 2.5
    assert median_or_none([]) is None


def test_git_commit_names_the_code_a_benchmark_ran(tmp_path):
    """A benchmark's JSON names its commit, marked +dirty when tracked files changed; no
    commit outside a git checkout."""
    import shutil
    import subprocess

    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    assert git_commit(tmp_path) is None
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (tmp_path / "a.py").write_text("x = 1\n")
    subprocess.run([*git, "add", "a.py"], check=True)
    subprocess.run([*git, "commit", "-qm", "a"], check=True)
    head = subprocess.run(
        [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    (tmp_path / "new.txt").write_text("untracked files do not count\n")
    assert git_commit(tmp_path) == head
    (tmp_path / "a.py").write_text("x = 2\n")
    assert git_commit(tmp_path) == head + "+dirty"
