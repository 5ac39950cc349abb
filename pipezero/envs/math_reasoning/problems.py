"""Math problems and final answers: the record type, answer extraction and comparison."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction

__all__ = ["Problem", "answers_match", "extract_answer", "normalize_answer"]

# "The answer is 42", "answer: -3.5", "#### 1,234" (GSM8K); the number may carry '$' and commas.
_ANSWER_PATTERNS = (
    re.compile(r"answer\s*(?:is|=|:)\s*\$?\s*(-?[\d,]*\.?\d+(?:/\d+)?)", re.IGNORECASE),
    re.compile(r"####\s*\$?\s*(-?[\d,]*\.?\d+(?:/\d+)?)"),
)


@dataclass(frozen=True)
class Problem:
    """One math problem.

    Attributes:
        question: the problem statement (one or more lines, no trailing newline).
        final_answer: the ground-truth final answer as text (normalised by
            :func:`normalize_answer` when compared).
        steps: a worked solution, one reasoning line per entry, without the final answer
            line (empty when the dataset gives none); used by the supervised warm start.
        uid: an identifier unique within its dataset (line number, generator index, ...).
    """

    question: str
    final_answer: str
    steps: tuple[str, ...] = field(default=())
    uid: str = ""


def extract_answer(text: str) -> str | None:
    """The final answer stated in ``text`` (``"The answer is 42"``, ``"#### 42"``), or ``None``.

    When several answers are stated the last one counts.
    """
    found: list[tuple[int, str]] = []
    for pattern in _ANSWER_PATTERNS:
        found.extend((m.start(), m.group(1)) for m in pattern.finditer(text))
    if not found:
        return None
    return max(found)[1]


def normalize_answer(answer: str) -> str:
    """Canonical text of an answer: numbers lose ``$``, commas, spaces and trailing zeros
    (``"$1,200.50" -> "2401/2"`` as an exact fraction, ``"42.0" -> "42"``); other text is
    lower-cased and stripped of surrounding spaces and a final period."""
    text = answer.strip().replace("$", "").replace(",", "").replace(" ", "")
    try:
        value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        return answer.strip().rstrip(".").lower()
    return str(value)


def answers_match(predicted: str | None, truth: str) -> bool:
    """Whether a predicted final answer equals the ground truth (exact, after normalising)."""
    return predicted is not None and normalize_answer(predicted) == normalize_answer(truth)
