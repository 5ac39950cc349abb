"""Math problems and final answers: the record type, answer extraction and comparison."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction

__all__ = ["Problem", "answers_match", "boxed_answers", "extract_answer", "normalize_answer"]

# "The answer is 42", "answer: -3.5", "#### 1,234" (GSM8K); the number may carry '$' and commas.
_ANSWER_PATTERNS = (
    re.compile(r"answer\s*(?:is|=|:)\s*\$?\s*(-?[\d,]*\.?\d+(?:/\d+)?)", re.IGNORECASE),
    re.compile(r"####\s*\$?\s*(-?[\d,]*\.?\d+(?:/\d+)?)"),
)
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_TEXT_WRAPPER = re.compile(r"\\(?:text|textbf|mathrm|mbox)\{([^{}]*)\}")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")  # the comma of "1,200", not of "(3,4)"
_FRAC = re.compile(r"\\frac\{([^{}]*)\}\{([^{}]*)\}")


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


def boxed_answers(text: str) -> list[tuple[int, str]]:
    """``(position, content)`` of every ``\\boxed{...}`` (or ``\\fbox{...}``) in ``text``,
    braces balanced (``\\boxed{\\frac{1}{2}}`` gives ``\\frac{1}{2}``); an unclosed one is
    left out."""
    found = []
    for m in _BOXED.finditer(text):
        depth, start = 1, m.end()
        for i in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            if depth == 0:
                found.append((m.start(), text[start:i].strip()))
                break
    return found


def extract_answer(text: str) -> str | None:
    """The final answer stated in ``text`` (``"The answer is 42"``, GSM8K's ``"#### 42"``,
    MATH's ``"\\boxed{42}"``), or ``None``.

    When several answers are stated the last one counts.
    """
    found: list[tuple[int, str]] = boxed_answers(text)
    for pattern in _ANSWER_PATTERNS:
        found.extend((m.start(), m.group(1)) for m in pattern.finditer(text))
    if not found:
        return None
    return max(found)[1]


def _plain(latex: str) -> str:
    """``latex`` without the markup that does not change a final answer: ``$``, spacing
    commands, ``\\left``/``\\right``, ``\\text{...}`` wrappers, degree and percent signs;
    ``\\frac{a}{b}`` (also ``\\dfrac``, ``\\tfrac``, ``\\frac12``) becomes ``(a)/(b)``."""
    text = latex.replace("$", "")
    for drop in ("\\left", "\\right", "\\!", "\\,", "\\;", "\\:", "\\%", "^\\circ", "^{\\circ}"):
        text = text.replace(drop, "")
    text = _TEXT_WRAPPER.sub(r"\1", text)
    text = re.sub(r"\\[dt]frac", r"\\frac", text)
    text = re.sub(r"\\frac(\d)(\d)", r"\\frac{\1}{\2}", text)
    while (m := _FRAC.search(text)) is not None:
        text = f"{text[: m.start()]}({m.group(1)})/({m.group(2)}){text[m.end() :]}"
    return text


def normalize_answer(answer: str) -> str:
    """Canonical text of an answer: numbers lose ``$``, commas, spaces and trailing zeros
    (``"$1,200.50" -> "2401/2"`` as an exact fraction, ``"42.0" -> "42"``), LaTeX fractions
    of numbers are numbers (``"\\frac{1}{2}" -> "1/2"``, equal to ``"0.5"``); other text is
    lower-cased and stripped of spaces, of LaTeX markup that does not change the answer
    (:func:`_plain`) and of a final period."""
    text = _plain(answer.strip()).replace(" ", "")
    value = _number(_THOUSANDS.sub("", text))
    if value is None:
        return text.rstrip(".").lower()
    return str(value)


def _number(text: str) -> Fraction | None:
    """The exact value of a signed number or quotient of two (``"-(3)/(4)"``), else ``None``."""
    sign, body = (-1, text[1:]) if text.startswith("-") else (1, text)
    num, sep, den = body.partition("/")
    try:
        if sep:
            return sign * Fraction(_unwrap(num)) / Fraction(_unwrap(den))
        return sign * Fraction(_unwrap(body))
    except (ValueError, ZeroDivisionError):
        return None


def _unwrap(text: str) -> str:
    """``text`` without one pair of enclosing parentheses."""
    return text[1:-1] if text.startswith("(") and text.endswith(")") else text


def answers_match(predicted: str | None, truth: str) -> bool:
    """Whether a predicted final answer equals the ground truth (exact, after normalising)."""
    return predicted is not None and normalize_answer(predicted) == normalize_answer(truth)
