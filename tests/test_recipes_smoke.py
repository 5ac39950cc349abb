"""Every shipped recipe: ``--smoke`` end to end through the ``pipezero`` command, in sync mode
and, where the recipe supports it, ``--mode async --backend process`` with each role acting
with its own policy object."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from pipezero.checkpoint import load_checkpoint
from pipezero.cli import main as cli
from pipezero.framework import ProcessBackend
from pipezero.recipe import load_recipe, prepare, recipe_names

RECIPES = recipe_names()
#: Recipes whose sync ``--smoke`` run a dedicated test makes and checks further (the checks of
#: :func:`test_recipe_smoke_run_through_the_cli` included): not run a second time here.
SMOKED_ELSEWHERE = {
    "rezero_atari": "tests/atari/test_rezero_atari_recipe.py",
    "unizero_atari": "tests/unizero/test_unizero_atari.py",
}
SYNC = [n for n in RECIPES if n not in SMOKED_ELSEWHERE]
#: Async smoke runs left to ``-m slow``: another environment of a family whose CartPole or
#: board recipe runs async in the default suite (the MinAtar and Atari variants, MountainCar).
ASYNC_SLOW = {
    "efficientzero_minatar",
    "gumbel_muzero_minatar",
    "rezero_atari",
    "rezero_minatar",
    "sampled_efficientzero_mountaincar",
    "unizero_atari",
    "unizero_minatar",
}
ASYNC = [
    pytest.param(n, marks=pytest.mark.slow) if n in ASYNC_SLOW else n
    for n in RECIPES
    if "async" in getattr(load_recipe(n), "MODES", ("sync", "async"))
]


def result_of(out: str) -> dict:
    line = [x for x in out.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line.removeprefix("RESULT "))


def test_every_recipe_has_the_shape():
    assert len(RECIPES) >= 18
    for name in RECIPES:
        module = load_recipe(name)
        assert callable(module.build) and module.CONFIG, name
        assert (module.__doc__ or "").strip(), f"{name} has no docstring"


def test_recipes_smoked_elsewhere_are_smoked_there():
    root = Path(__file__).resolve().parents[1]
    for name, test_file in SMOKED_ELSEWHERE.items():
        assert name in RECIPES, f"{name} is no recipe: drop it from SMOKED_ELSEWHERE"
        text = (root / test_file).read_text()
        assert f'train("{name}", ["--smoke"' in text, f"{test_file} runs no {name} --smoke"
        assert "config.json" in text and "final.pt" in text, f"{test_file} checks less"
    assert set(RECIPES) >= ASYNC_SLOW, "ASYNC_SLOW names a recipe that does not exist"


@pytest.mark.parametrize("name", SYNC)
def test_recipe_smoke_run_through_the_cli(name: str, tmp_path: Path, capsys) -> None:
    cli(["train", name, "--smoke", "--exp-dir", str(tmp_path), "--seed", "1"])
    result = result_of(capsys.readouterr().out)
    assert result["recipe"] == name and result["seed"] == 1
    assert result["train_iter"] > 0, "the smoke run trained"
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["recipe"] == name
    final = load_checkpoint(tmp_path / "ckpt" / "final.pt")
    assert final["config"] == saved["config"]


@pytest.mark.parametrize("name", ASYNC)
def test_recipe_smoke_run_async_on_processes(name: str, tmp_path: Path, capsys) -> None:
    argv = ["--smoke", "--exp-dir", str(tmp_path), "--mode", "async", "--backend", "process"]
    run, task, _ = prepare(name, argv)
    assert isinstance(task.backend, ProcessBackend)
    learners = {id(mw.acts_with) for mw in task.chain if mw.role == "learner" and mw.acts_with}
    actors = [mw for mw in task.chain if mw.role in ("collector", "evaluator") and mw.acts_with]
    assert learners and actors, "the chain declares the policies it acts with"
    assert all(id(mw.acts_with) not in learners for mw in actors)
    assert len({id(mw.acts_with) for mw in actors}) == len(actors), "one copy per role"
    ctx = task.run(mode=run.mode)
    assert ctx.env_step > 0 and ctx.train_iter > 0
    assert (tmp_path / "ckpt" / "final.pt").is_file()
    assert multiprocessing.active_children() == []
