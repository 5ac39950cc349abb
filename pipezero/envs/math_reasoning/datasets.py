"""Load math problems from JSONL files.

Three line formats are understood (``fmt="auto"`` tells them by their keys):

- ``{"problem": "...", "final_answer": "42"}`` (optionally ``"steps": ["...", ...]``);
- GSM8K: ``{"question": "...", "answer": "step\\nstep\\n#### 42"}``; the lines before
  ``####`` become the worked solution, with the ``<<48/2=24>>`` calculator annotations removed;
- MATH: ``{"problem": "...", "solution": "... $\\boxed{42}$."}``; the final answer is the
  last ``\\boxed{...}`` of the solution (or an ``"answer"`` field, as in MATH-500).

Worked solutions are cut into steps the way openr writes them: one step per line (blank lines
between steps are dropped); a solution that carries a step tag (Math-Shepherd's ``ки``, which
openr's PRM data uses) is cut at the tags instead, each step's own line breaks becoming
spaces, and the tags removed. Every step is one line, the action of the environment.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipezero.envs.math_reasoning.problems import Problem, boxed_answers

__all__ = [
    "FORMATS",
    "STEP_TAG",
    "DatasetError",
    "load_jsonl",
    "parse_record",
    "split_problems",
    "split_steps",
]

FORMATS = ("auto", "final_answer", "gsm8k", "math")
#: The step tag of Math-Shepherd's and openr's step-labelled data.
STEP_TAG = "ки"
_CALC_ANNOTATION = re.compile(r"<<[^>]*>>")
_EXPECTED = (
    '{"problem": ..., "final_answer": ...} (optionally "steps": [...]), GSM8K\'s '
    '{"question": ..., "answer": "...\\n#### 42"} or MATH\'s {"problem": ..., '
    '"solution": "... \\\\boxed{42}"}'
)


class DatasetError(ValueError):
    """A dataset file or record is malformed; the message names the file and line."""


def _text(record: dict[str, Any], key: str, where: str) -> str:
    value = record.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and key != "question":
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise DatasetError(
            f"{where}: field {key!r} must be a non-empty string, got {value!r} "
            f"(keys present: {sorted(record)}); every line must be one of {_EXPECTED}"
        )
    return value.strip()


def split_steps(solution: str, step_tag: str | None = STEP_TAG) -> tuple[str, ...]:
    """The steps of a worked solution: cut at ``step_tag`` when the text holds one (each
    step's line breaks become spaces), else one step per non-blank line; stripped."""
    if step_tag and step_tag in solution:
        parts = [" ".join(part.split()) for part in solution.split(step_tag)]
    else:
        parts = solution.splitlines()
    return tuple(p.strip() for p in parts if p.strip())


def _gsm8k(record: dict[str, Any], where: str, uid: str, step_tag: str | None) -> Problem:
    question = _text(record, "question", where)
    answer = _text(record, "answer", where)
    solution, sep, final = answer.rpartition("####")
    if not sep or not final.strip():
        raise DatasetError(
            f"{where}: a GSM8K 'answer' must end with '#### <final answer>', got "
            f"{answer[-60:]!r}; add the final answer after '####' on the last line"
        )
    steps = split_steps(_CALC_ANNOTATION.sub("", solution), step_tag)
    final = final.replace(step_tag, "") if step_tag else final  # "#### 42 ки"
    return Problem(question, final.strip(), steps, uid)


def _math(record: dict[str, Any], where: str, uid: str, step_tag: str | None) -> Problem:
    question = _text(record, "problem", where)
    solution = record.get("solution", "")
    if not isinstance(solution, str):
        raise DatasetError(f"{where}: field 'solution' must be a string, got {solution!r}")
    if record.get("answer") not in (None, ""):
        final = _text(record, "answer", where)
    else:
        boxed = boxed_answers(solution)
        if not boxed or not boxed[-1][1]:
            raise DatasetError(
                f"{where}: a MATH 'solution' must state its final answer in \\boxed{{...}} "
                f"(or the line must give it in an 'answer' field); got {solution[-60:]!r}"
            )
        final = boxed[-1][1]
    return Problem(question, final, split_steps(solution, step_tag), uid)


def _final_answer(record: dict[str, Any], where: str, uid: str, step_tag: str | None) -> Problem:
    question = _text(record, "problem", where)
    final = _text(record, "final_answer", where)
    steps = record.get("steps", [])
    if not isinstance(steps, list) or not all(isinstance(s, str) for s in steps):
        raise DatasetError(
            f"{where}: field 'steps' must be a list of strings (one per reasoning step), "
            f"got {steps!r}"
        )
    lines = (" ".join((s.replace(step_tag, " ") if step_tag else s).split()) for s in steps)
    return Problem(question, final, tuple(line for line in lines if line), uid)


_PARSERS = {"final_answer": _final_answer, "gsm8k": _gsm8k, "math": _math}


def _detect(record: dict[str, Any], where: str) -> str:
    if "final_answer" in record:
        return "final_answer"
    if "problem" in record and ("solution" in record or "answer" in record):
        return "math"
    if "problem" in record:
        return "final_answer"  # its error names the missing 'final_answer'
    if "question" in record or "answer" in record:
        return "gsm8k"
    raise DatasetError(
        f"{where}: cannot tell the format from keys {sorted(record)}; every line must be one "
        f"of {_EXPECTED} (or set the format: env.format='final_answer', 'gsm8k' or 'math')"
    )


def parse_record(
    record: Any,
    fmt: str = "auto",
    where: str = "record",
    uid: str = "",
    step_tag: str | None = STEP_TAG,
) -> Problem:
    """Turn one decoded JSON object into a :class:`Problem`.

    Args:
        record: the decoded JSON value of one line.
        fmt: ``"final_answer"``, ``"gsm8k"``, ``"math"`` or ``"auto"`` (decided by the keys
            present: ``final_answer``; ``problem`` with ``solution`` or ``answer``;
            ``question`` with ``answer``).
        where: location used in error messages (``"train.jsonl line 7"``).
        uid: identifier stored in the problem.
        step_tag: solutions holding it are cut into steps at it (``None``: by lines only).

    Raises:
        DatasetError: not an object, or required fields missing or of the wrong type.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown dataset format {fmt!r}; use one of {FORMATS}")
    if not isinstance(record, dict):
        raise DatasetError(
            f"{where}: expected a JSON object, got {type(record).__name__}; every line must "
            f"be one of {_EXPECTED}"
        )
    if fmt == "auto":
        fmt = _detect(record, where)
    return _PARSERS[fmt](record, where, uid, step_tag)


def load_jsonl(
    path: str | os.PathLike[str], fmt: str = "auto", step_tag: str | None = STEP_TAG
) -> list[Problem]:
    """Read every non-blank line of a JSONL file as a :class:`Problem`.

    ``uid`` is ``"<file name>:<line number>"``.

    Raises:
        FileNotFoundError: no such file.
        DatasetError: a line is not valid JSON or lacks the fields of ``fmt``; the message
            gives the file, the 1-based line number, what was wrong and the expected shape.
            A file that is not UTF-8 text or holds no problem is an error too.
    """
    path = Path(path)
    if path.is_dir():
        raise DatasetError(f"{path} is a directory; give the path of a .jsonl file")
    problems: list[Problem] = []
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            where = f"{path} line {number}"
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise DatasetError(
                    f"{where}: not UTF-8 text ({exc.reason}); save the file as UTF-8"
                ) from None
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(
                    f"{where}: invalid JSON ({exc.msg} at column {exc.colno}): "
                    f"{line[:80]!r}; each line must be one whole JSON object"
                ) from exc
            problems.append(parse_record(record, fmt, where, f"{path.name}:{number}", step_tag))
    if not problems:
        raise DatasetError(
            f"{path} holds no problems (the file is empty or blank); write one JSON object "
            f"per line: {_EXPECTED}"
        )
    return problems


def split_problems(
    problems: Sequence[Problem], eval_fraction: float, seed: int
) -> tuple[list[Problem], list[Problem]]:
    """Shuffle with ``seed`` and split into ``(train, held_out)``; held-out keeps
    ``round(eval_fraction * len)`` problems (at least one of each when possible). Problems
    whose question text appears in both parts are removed from the training part."""
    if not 0.0 < eval_fraction < 1.0:
        raise ValueError(f"eval_fraction must be in (0, 1), got {eval_fraction!r}")
    order = np.random.default_rng(seed).permutation(len(problems))
    n_eval = min(max(1, round(eval_fraction * len(problems))), max(len(problems) - 1, 1))
    held_out = [problems[i] for i in order[:n_eval]]
    seen = {p.question for p in held_out}
    train = [problems[i] for i in order[n_eval:] if problems[i].question not in seen]
    return train, held_out
