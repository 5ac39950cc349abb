"""Synthetic multi-step arithmetic word problems with worked step-by-step solutions.

A problem starts from a quantity and applies 2-4 operations in order. In the ``"word"``
style each operation is a sentence::

    Mia has 34 pens. She gets 12 more. She gives away 9. She then has 3 times as many.
    How many pens does Mia have now?

and in the compact ``"chain"`` style (a quarter of the characters, for fast CPU runs)::

    From 34: +12, -9, *3.

Both have the worked solution ``34+12=46``, ``46-9=37``, ``37*3=111`` and final answer ``111``.
Every intermediate value is a non-negative integer no larger than ``max_value``; divisions are
exact. Generation is a pure function of the random generator, so a seed fixes the problems.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipezero.envs.math_reasoning.problems import Problem

__all__ = ["ArithmeticConfig", "ArithmeticProblemGenerator"]

_NAMES = (("Ann", "She"), ("Ben", "He"), ("Mia", "She"), ("Sam", "He"), ("Zoe", "She"),
          ("Leo", "He"), ("Eva", "She"), ("Tom", "He"))  # fmt: skip
_ITEMS = ("apples", "coins", "books", "pens", "cards", "shells", "stamps", "marbles")
_SENTENCES = {
    "+": ("{P} gets {b} more.", "{P} finds {b} more."),
    "-": ("{P} gives away {b}.", "{P} loses {b}."),
    "*": ("{P} then has {b} times as many.",),
    "/": ("{P} splits them into {b} equal piles and keeps one pile.",),
}
OPS = tuple(_SENTENCES)
STYLES = ("word", "chain")


@dataclass(frozen=True)
class ArithmeticConfig:
    """Difficulty of generated problems.

    Attributes:
        min_ops, max_ops: operations per problem (reasoning steps before the answer).
        max_start: the starting quantity is drawn from ``[2, max_start]``.
        max_addend: operands of ``+`` and ``-`` are drawn from ``[1, max_addend]``.
        max_factor: operands of ``*`` and ``/`` are drawn from ``[2, max_factor]``.
        max_value: no intermediate value exceeds it.
        ops: the operations allowed, a subset of ``("+", "-", "*", "/")``.
        style: ``"word"`` (sentences) or ``"chain"`` (``From 34: +12, -9, *3.``).
    """

    min_ops: int = 2
    max_ops: int = 4
    max_start: int = 99
    max_addend: int = 99
    max_factor: int = 9
    max_value: int = 999
    ops: tuple[str, ...] = OPS
    style: str = "word"

    def __post_init__(self) -> None:
        if not 1 <= self.min_ops <= self.max_ops:
            raise ValueError(
                f"need 1 <= min_ops <= max_ops, got min_ops={self.min_ops}, max_ops={self.max_ops}"
            )
        bad = [op for op in self.ops if op not in OPS]
        if bad or not self.ops:
            raise ValueError(f"ops must be a non-empty subset of {OPS}, got {self.ops!r}")
        if self.max_start < 2 or self.max_addend < 1 or self.max_factor < 2:
            raise ValueError(
                f"need max_start >= 2, max_addend >= 1, max_factor >= 2; got {self.max_start}, "
                f"{self.max_addend}, {self.max_factor}"
            )
        if self.style not in STYLES:
            raise ValueError(f"style must be one of {STYLES}, got {self.style!r}")
        if self.max_value < self.max_start:
            raise ValueError(
                f"max_value ({self.max_value}) must be >= max_start ({self.max_start})"
            )


def _operand(op: str, x: int, cfg: ArithmeticConfig, rng: np.random.Generator) -> int | None:
    """A random operand for ``x op b`` that keeps the result valid, or ``None``."""
    if op == "+":
        high = min(cfg.max_addend, cfg.max_value - x)
        return int(rng.integers(1, high + 1)) if high >= 1 else None
    if op == "-":
        high = min(cfg.max_addend, x)
        return int(rng.integers(1, high + 1)) if high >= 1 else None
    if op == "*":
        high = min(cfg.max_factor, cfg.max_value // max(x, 1))
        return int(rng.integers(2, high + 1)) if high >= 2 and x > 0 else None
    divisors = [b for b in range(2, cfg.max_factor + 1) if x % b == 0 and x > 0]
    return int(rng.choice(divisors)) if divisors else None


def _apply(op: str, x: int, b: int) -> int:
    return {"+": x + b, "-": x - b, "*": x * b, "/": x // b}[op]


class ArithmeticProblemGenerator:
    """Draws :class:`Problem` s with worked solutions.

    Args:
        config: difficulty (default :class:`ArithmeticConfig`).
    """

    def __init__(self, config: ArithmeticConfig | None = None) -> None:
        self.config = config if config is not None else ArithmeticConfig()

    def sample(self, rng: np.random.Generator, uid: str = "") -> Problem:
        """One problem drawn with ``rng``."""
        cfg = self.config
        name, pronoun = _NAMES[int(rng.integers(len(_NAMES)))]
        item = _ITEMS[int(rng.integers(len(_ITEMS)))]
        x = int(rng.integers(2, cfg.max_start + 1))
        sentences = [f"{name} has {x} {item}."]
        steps: list[str] = []
        starts: list[str] = []  # the value each step starts from
        num_ops = int(rng.integers(cfg.min_ops, cfg.max_ops + 1))
        while len(steps) < num_ops:
            op = cfg.ops[int(rng.integers(len(cfg.ops)))]
            b = _operand(op, x, cfg, rng)
            if b is None:
                continue  # '+' or '-' is always possible, so this ends
            y = _apply(op, x, b)
            templates = _SENTENCES[op]
            sentences.append(templates[int(rng.integers(len(templates)))].format(P=pronoun, b=b))
            steps.append(f"{x}{op}{b}={y}")
            starts.append(str(x))
            x = y
        if cfg.style == "chain":
            ops = ", ".join(
                s.split("=")[0][len(prev) :] for s, prev in zip(steps, starts, strict=True)
            )
            return Problem(f"From {starts[0]}: {ops}.", str(x), tuple(steps), uid)
        sentences.append(f"How many {item} does {name} have now?")
        return Problem(" ".join(sentences), str(x), tuple(steps), uid)

    def generate(
        self, n: int, seed: int, exclude: Sequence[Problem] = (), prefix: str = "gen"
    ) -> list[Problem]:
        """``n`` distinct problems from ``seed`` whose questions are not in ``exclude``.

        Raises:
            RuntimeError: the configuration cannot produce ``n`` distinct problems.
        """
        rng = np.random.default_rng(seed)
        seen = {p.question for p in exclude}
        out: list[Problem] = []
        attempts = 0
        while len(out) < n:
            attempts += 1
            if attempts > 20 * n + 1000:
                raise RuntimeError(
                    f"could only draw {len(out)} distinct problems of {n} requested; widen the "
                    f"ArithmeticConfig ranges or ask for fewer"
                )
            problem = self.sample(rng, uid=f"{prefix}{seed}:{len(out)}")
            if problem.question not in seen:
                seen.add(problem.question)
                out.append(problem)
        return out
