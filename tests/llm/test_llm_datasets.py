"""JSONL loaders, answer extraction and the arithmetic generator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipezero.envs.math_reasoning import (
    ArithmeticConfig,
    ArithmeticProblemGenerator,
    DatasetError,
    PromptFormat,
    answers_match,
    extract_answer,
    load_jsonl,
    split_problems,
)
from pipezero.policy.llm.prm import OracleArithmeticPRM


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_final_answer_format(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "train.jsonl",
        [
            json.dumps({"problem": "1+1?", "final_answer": "2"}),
            "",
            json.dumps({"problem": "2*3?", "final_answer": 6, "steps": ["2*3=6"]}),
        ],
    )
    problems = load_jsonl(path)
    assert [(p.question, p.final_answer, p.steps) for p in problems] == [
        ("1+1?", "2", ()),
        ("2*3?", "6", ("2*3=6",)),
    ]
    assert problems[1].uid == "train.jsonl:3"


def test_gsm8k_format_strips_calculator_annotations(tmp_path: Path) -> None:
    answer = "She has 48/2 = <<48/2=24>>24 left.\nThen 24+4 = <<24+4=28>>28.\n#### 1,028"
    path = _write(tmp_path / "gsm.jsonl", [json.dumps({"question": "How many?", "answer": answer})])
    (p,) = load_jsonl(path, fmt="gsm8k")
    assert p.final_answer == "1,028"
    assert p.steps == ("She has 48/2 = 24 left.", "Then 24+4 = 28.")
    assert answers_match("1028", p.final_answer)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 2: invalid JSON"),
        ('{"problem": "x"}', "line 2: field 'final_answer' must be a non-empty string"),
        ('{"question": "q", "answer": "no marker"}', "line 2: a GSM8K 'answer' must end with"),
        ("[1, 2]", "line 2: expected a JSON object, got list"),
        ('{"text": "?"}', "line 2: cannot tell the format"),
        ('{"problem": "x", "final_answer": "1", "steps": "a"}', "line 2: field 'steps'"),
    ],
)
def test_malformed_lines_name_the_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    good = json.dumps({"problem": "1+1?", "final_answer": "2"})
    path = _write(tmp_path / "bad.jsonl", [good, line])
    with pytest.raises(DatasetError, match=message) as info:
        load_jsonl(path)
    assert str(path) in str(info.value)


def test_empty_file_and_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="holds no problems"):
        load_jsonl(_write(tmp_path / "e.jsonl", [""]))
    with pytest.raises(ValueError, match="unknown dataset format"):
        load_jsonl(_write(tmp_path / "x.jsonl", ["{}"]), fmt="csv")


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("The answer is 42", "42"),
        ("so the answer: $1,200.", "1,200"),
        ("#### -3.5", "-3.5"),
        ("answer is 1 ... The answer is 2", "2"),
        ("12+5=17", None),
    ],
)
def test_extract_answer(text: str, answer: str | None) -> None:
    assert extract_answer(text) == answer


def test_answers_match_numbers_exactly() -> None:
    assert answers_match("42.0", "42") and answers_match("$1,200", "1200")
    assert not answers_match("41", "42") and not answers_match(None, "42")
    assert answers_match("Paris.", "paris")


def test_generator_is_seeded_and_its_solutions_pass_the_oracle() -> None:
    gen = ArithmeticProblemGenerator(ArithmeticConfig(style="chain"))
    a, b = gen.generate(50, seed=1), gen.generate(50, seed=1)
    assert a == b and a != gen.generate(50, seed=2)
    prm, prompt = OracleArithmeticPRM(), PromptFormat()
    for p in a:
        assert 2 <= len(p.steps) <= 4 and all(0 <= int(s.split("=")[1]) <= 999 for s in p.steps)
        state = prompt.render_state(p)
        for line in prompt.solution_lines(p):
            assert prm.score_one(state, line + "\n") == 1.0
            state += line + "\n"
        assert extract_answer(state) == p.final_answer
    word = ArithmeticProblemGenerator().generate(1, seed=1)[0]
    assert word.question.endswith("have now?") and word.steps == a[0].steps


def test_generate_excludes_and_split_separates() -> None:
    gen = ArithmeticProblemGenerator(ArithmeticConfig(style="chain"))
    held_out = gen.generate(20, seed=0)
    train = gen.generate(100, seed=0, exclude=held_out)
    assert not {p.question for p in train} & {p.question for p in held_out}
    tr, ev = split_problems(train, 0.2, seed=0)
    assert len(ev) == 20 and not {p.question for p in tr} & {p.question for p in ev}
    with pytest.raises(ValueError, match="min_ops"):
        ArithmeticConfig(min_ops=3, max_ops=2)
