"""The LLM recipes on JSONL problems through the shared command line: ``--data`` and
``--eval-data`` (GSM8K and MATH samples in tests/llm/data), and the errors of a missing or
malformed file, named with the flag, the file and the line."""

from __future__ import annotations

from pathlib import Path

import pytest
from pipezero.recipes import appo_math, grpo_math, muzero_cartpole

from pipezero.recipe import UsageError
from pipezero.recipe.flags import recipe_parser, resolve_run

DATA = Path(__file__).parent / "data"
GSM8K, MATH = DATA / "gsm8k_sample.jsonl", DATA / "math_sample.jsonl"


def _run(tmp_path: Path, *flags: str):
    args = recipe_parser(grpo_math).parse_args(["--exp-dir", str(tmp_path), "--smoke", *flags])
    return resolve_run(grpo_math, args)


def test_data_flags_train_on_one_file_and_evaluate_on_another(tmp_path: Path) -> None:
    run = _run(
        tmp_path,
        *("--data", str(GSM8K), "--eval-data", str(MATH)),
        *(
            "--set",
            "sft.num_steps=3",
            "--set",
            "max_train_iter=2",
            "--set",
            "collect.num_prompts=1",
        ),
        *("--set", "collect.group_size=2", "--set", "learn.minibatch_size=2"),
    )
    assert run.cfg.env.train_path == str(GSM8K) and run.cfg.env.eval_path == str(MATH)
    task, parts = appo_math.build_with_parts(run)
    assert [p.final_answer for p in parts.eval_problems] == ["\\frac{5}{6}", "7", "60^\\circ", "12"]
    assert parts.sft_sampler.next()[0].uid.startswith("gsm8k_sample.jsonl:")
    ctx = task.run()
    assert ctx.train_iter == 2 and ctx.sft_iter == 3
    assert ctx.eval_result is not None or ctx.best_eval_return is not None


def test_without_eval_data_a_split_of_the_training_file_is_held_out(tmp_path: Path) -> None:
    run = _run(tmp_path, "--data", str(GSM8K), "--set", "env.eval_fraction=0.34")
    _, parts = appo_math.build_with_parts(run)
    held_out = {p.question for p in parts.eval_problems}
    assert len(held_out) == 2
    trained = {parts.sft_sampler.next()[0].question for _ in range(12)}
    assert trained and not trained & held_out


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--data", "nowhere.jsonl"), r"env\.train_path \(--data\): no file 'nowhere\.jsonl'"),
        (("--eval-data", str(MATH)), r"env\.eval_path \(--eval-data\) is set without"),
        (("--data", str(GSM8K), "--set", "env.format='csv'"), r"'env\.format' must be one of"),
    ],
)
def test_bad_data_settings_are_usage_errors(tmp_path: Path, flags: tuple, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        grpo_math.build(_run(tmp_path, *flags))


def test_a_malformed_file_names_the_flag_the_file_and_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(GSM8K.read_text().splitlines()[0] + '\n{"question": "q", "answer": "7"}\n')
    with pytest.raises(UsageError, match=r"--data\): .*bad\.jsonl line 2: .*'#### <final answer>'"):
        grpo_math.build(_run(tmp_path, "--data", str(bad)))


def test_recipes_without_jsonl_problems_refuse_the_data_flags(tmp_path: Path) -> None:
    args = recipe_parser(muzero_cartpole).parse_args(["--data", str(GSM8K)])
    with pytest.raises(UsageError, match=r"muzero_cartpole takes no --data"):
        resolve_run(muzero_cartpole, args)
