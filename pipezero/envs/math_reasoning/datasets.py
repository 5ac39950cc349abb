"""Load math problems from JSONL files.

Two line formats are understood:

- ``{"problem": "...", "final_answer": "42"}`` (optionally ``"steps": ["...", ...]``);
- GSM8K: ``{"question": "...", "answer": "step\\nstep\\n#### 42"}``; the lines before
  ``####`` become the worked solution, with the ``<<48/2=24>>`` calculator annotations removed.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipezero.envs.math_reasoning.problems import Problem

__all__ = ["DatasetError", "load_jsonl", "parse_record", "split_problems"]

FORMATS = ("auto", "final_answer", "gsm8k")
_CALC_ANNOTATION = re.compile(r"<<[^>]*>>")


class DatasetError(ValueError):
    """A dataset file or record is malformed; the message names the file and line."""


def _text(record: dict[str, Any], key: str, where: str) -> str:
    value = record.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and key != "question":
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise DatasetError(
            f"{where}: field {key!r} must be a non-empty string, got {value!r} "
            f"(keys present: {sorted(record)})"
        )
    return value.strip()


def _gsm8k(record: dict[str, Any], where: str, uid: str) -> Problem:
    question = _text(record, "question", where)
    answer = _text(record, "answer", where)
    solution, sep, final = answer.rpartition("####")
    if not sep or not final.strip():
        raise DatasetError(
            f"{where}: a GSM8K 'answer' must end with '#### <final answer>', got {answer[-60:]!r}"
        )
    steps = tuple(
        line.strip() for line in _CALC_ANNOTATION.sub("", solution).splitlines() if line.strip()
    )
    return Problem(question, final.strip(), steps, uid)


def _final_answer(record: dict[str, Any], where: str, uid: str) -> Problem:
    question = _text(record, "problem", where)
    final = _text(record, "final_answer", where)
    steps = record.get("steps", [])
    if not isinstance(steps, list) or not all(isinstance(s, str) for s in steps):
        raise DatasetError(f"{where}: field 'steps' must be a list of strings, got {steps!r}")
    return Problem(question, final, tuple(s.strip() for s in steps if s.strip()), uid)


def parse_record(record: Any, fmt: str = "auto", where: str = "record", uid: str = "") -> Problem:
    """Turn one decoded JSON object into a :class:`Problem`.

    Args:
        record: the decoded JSON value of one line.
        fmt: ``"final_answer"``, ``"gsm8k"`` or ``"auto"`` (decided by the keys present).
        where: location used in error messages (``"train.jsonl line 7"``).
        uid: identifier stored in the problem.

    Raises:
        DatasetError: not an object, or required fields missing or of the wrong type.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown dataset format {fmt!r}; use one of {FORMATS}")
    if not isinstance(record, dict):
        raise DatasetError(f"{where}: expected a JSON object, got {type(record).__name__}")
    if fmt == "auto":
        if "problem" in record or "final_answer" in record:
            fmt = "final_answer"
        elif "question" in record or "answer" in record:
            fmt = "gsm8k"
        else:
            raise DatasetError(
                f"{where}: cannot tell the format from keys {sorted(record)}; expected "
                f"'problem' + 'final_answer' or GSM8K 'question' + 'answer'"
            )
    return _gsm8k(record, where, uid) if fmt == "gsm8k" else _final_answer(record, where, uid)


def load_jsonl(path: str | os.PathLike[str], fmt: str = "auto") -> list[Problem]:
    """Read every non-blank line of a JSONL file as a :class:`Problem`.

    ``uid`` is ``"<file name>:<line number>"``.

    Raises:
        FileNotFoundError: no such file.
        DatasetError: a line is not valid JSON or lacks the fields of ``fmt``; the message
            gives the file, the 1-based line number and what was wrong. An empty file is an
            error too.
    """
    path = Path(path)
    problems: list[Problem] = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{path} line {number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{where}: invalid JSON ({exc.msg}): {line[:80]!r}") from exc
            problems.append(parse_record(record, fmt, where, uid=f"{path.name}:{number}"))
    if not problems:
        raise DatasetError(f"{path} holds no problems (the file is empty or blank)")
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
