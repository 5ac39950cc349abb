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


DATA = Path(__file__).parent / "data"


def test_the_gsm8k_sample_loads_with_steps_and_answers() -> None:
    problems = load_jsonl(DATA / "gsm8k_sample.jsonl")
    assert len(problems) == 6
    first = problems[0]
    assert first.final_answer == "29"
    assert first.steps == ("She buys 3*12 = 36 pencils.", "She keeps 36-7 = 29 pencils.")
    assert answers_match("1000", problems[-1].final_answer)  # "#### 1,000"
    prompt = PromptFormat()
    assert prompt.solution_lines(first)[-1] == "The answer is 29"


def test_the_math_sample_takes_the_last_boxed_answer_and_openr_steps() -> None:
    half, linear, angle, tagged = load_jsonl(DATA / "math_sample.jsonl")
    assert half.final_answer == "\\frac{5}{6}"
    assert half.steps[0] == "The common denominator is 6."  # blank lines between steps dropped
    assert len(half.steps) == 3 and half.steps[-1].endswith("$\\boxed{\\frac{5}{6}}$.")
    assert linear.final_answer == "7" and angle.final_answer == "60^\\circ"
    assert answers_match("60", angle.final_answer)
    # cut at the step tag, the tags removed; the "answer" field wins over the boxed one
    assert tagged.steps == (
        "Step 1: $15\\%$ is $0.15$.",
        "Step 2: $0.15 \\cdot 80 = 12$.",
        "Step 3: The answer is $\\boxed{12}$.",
    )
    assert tagged.final_answer == "12"
    # the last step states the answer: the solution ends there, no extra answer line
    assert PromptFormat().solution_lines(half) == list(half.steps)


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("so $x = \\boxed{7}$.", "7"),
        ("$\\boxed{\\frac{5}{6}}$", "\\frac{5}{6}"),
        ("The answer is 3, no: \\boxed{4}", "4"),
        ("\\boxed{5} ... The answer is 6", "6"),
        ("\\boxed{unclosed", None),
        ("\\fbox{2}", "2"),
    ],
)
def test_extract_answer_reads_boxed_answers(text: str, answer: str | None) -> None:
    assert extract_answer(text) == answer


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("\\frac{1}{2}", "0.5"),
        ("\\dfrac34", "0.75"),
        ("-\\frac{3}{4}", "-0.75"),
        ("60^\\circ", "60"),
        ("15\\%", "15"),
        ("\\text{Paris}", "paris."),
        ("\\left( 3, 4 \\right)", "(3,4)"),
        ("$1,000", "1000"),
    ],
)
def test_latex_answers_match_their_plain_values(a: str, b: str) -> None:
    assert answers_match(a, b)


def test_tuples_are_not_read_as_thousands() -> None:
    assert not answers_match("(3, 4)", "34")


def test_step_tagged_lists_and_explicit_formats(tmp_path: Path) -> None:
    tagged = {"problem": "1+1?", "final_answer": "2", "steps": ["1+1=2 ки", "so\n2 ки"]}
    math = {"problem": "x?", "solution": "a\n\n\\boxed{3}"}
    path = _write(tmp_path / "t.jsonl", [json.dumps(tagged), json.dumps(math)])
    one, three = load_jsonl(path)
    assert one.steps == ("1+1=2", "so 2") and three.final_answer == "3"
    (p,) = load_jsonl(_write(tmp_path / "m.jsonl", [json.dumps(math)]), fmt="math")
    assert p.steps == ("a", "\\boxed{3}")
    no_tag = load_jsonl(_write(tmp_path / "n.jsonl", [json.dumps(tagged)]), step_tag=None)
    assert no_tag[0].steps == ("1+1=2 ки", "so 2 ки")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"problem": "x", "solution": "no box"}', r"line 2: a MATH 'solution' must state"),
        ('{"problem": "x", "solution": 3}', r"line 2: field 'solution' must be a string"),
        ('{"question": "q"}', r"line 2: field 'answer' must be a non-empty string.*every line"),
        ("{not json", r"line 2: invalid JSON .*at column .*one whole JSON object"),
        ('{"text": "?"}', r"line 2: cannot tell the format.*env\.format="),
    ],
)
def test_malformed_lines_say_how_to_fix_them(tmp_path: Path, line: str, message: str) -> None:
    good = json.dumps({"problem": "1+1?", "final_answer": "2"})
    path = _write(tmp_path / "bad.jsonl", [good, line])
    with pytest.raises(DatasetError, match=message) as info:
        load_jsonl(path)
    assert str(path) in str(info.value)


def test_unreadable_files_are_dataset_errors(tmp_path: Path) -> None:
    binary = tmp_path / "b.jsonl"
    binary.write_bytes(
        json.dumps({"problem": "1?", "final_answer": "1"}).encode() + b"\n\xff\xfe\n"
    )
    with pytest.raises(DatasetError, match=r"b\.jsonl line 2: not UTF-8 text"):
        load_jsonl(binary)
    with pytest.raises(DatasetError, match="is a directory"):
        load_jsonl(tmp_path)
