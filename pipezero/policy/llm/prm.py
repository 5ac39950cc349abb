"""Process reward models: ``score(state, step) -> [0, 1]``, the probability that the newest
reasoning step is good.

- :class:`OracleArithmeticPRM` checks every equation of a step exactly (with fractions);
- :class:`StepTagPRM` is the interface of a learned PRM: a language model that reads the text
  followed by a step tag and scores the step by ``P(good)`` at the last tag.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from pipezero.envs.math_reasoning import extract_answer, normalize_answer

__all__ = ["OracleArithmeticPRM", "ProcessRewardModel", "StepTagPRM", "evaluate_expression"]

_EQUATION = re.compile(r"([\d\s.+\-*/x×÷()]*\d[\d\s.+\-*/x×÷()]*)=\s*(-?\d[\d,]*(?:\.\d+)?)")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_OPS: dict[type, Callable[[Fraction, Fraction], Fraction]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


@runtime_checkable
class ProcessRewardModel(Protocol):
    """Scores the newest step of each state."""

    def score(self, states: Sequence[str], steps: Sequence[str]) -> np.ndarray:
        """``[B]`` floats in ``[0, 1]``: how good ``steps[i]`` is after ``states[i]``."""
        ...


def evaluate_expression(expr: str) -> Fraction | None:
    """Exact value of an arithmetic expression (``+ - * /``, ``x``/``×``/``÷``, parentheses),
    or ``None`` if it is not one (or divides by zero)."""
    text = expr.replace("×", "*").replace("x", "*").replace("÷", "/").strip()
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        return None

    def value(node: ast.AST) -> Fraction:
        if isinstance(node, ast.Expression):
            return value(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return Fraction(str(node.value))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = value(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](value(node.left), value(node.right))
        raise ValueError(f"not arithmetic: {ast.dump(node)}")

    try:
        return value(tree)
    except (ValueError, ZeroDivisionError):
        return None


class OracleArithmeticPRM:
    """Exact checker of arithmetic reasoning lines.

    A step scores 1 when every ``expression = number`` in it is exactly right and (with
    ``check_operands``) every number of the expressions already appears in the state (the
    problem or an earlier result); 0 when one is wrong. A line without an equation that
    states the answer scores 1 if the answer equals the last result computed in the state,
    0 if not, and ``neutral_score`` if nothing was computed yet; any other line scores
    ``unparsed_score``.

    Args:
        check_operands: require the operands to come from the state.
        unparsed_score: score of a line that neither computes nor answers.
        neutral_score: score of an answer line when the state holds no result to compare with.
    """

    def __init__(
        self, check_operands: bool = True, unparsed_score: float = 0.0, neutral_score: float = 0.5
    ) -> None:
        self.check_operands = check_operands
        self.unparsed_score = unparsed_score
        self.neutral_score = neutral_score

    @staticmethod
    def _last_result(state: str) -> str | None:
        found = _EQUATION.findall(state)
        return found[-1][1] if found else None

    def score_one(self, state: str, step: str) -> float:
        """Score of one step given the state before it."""
        equations = _EQUATION.findall(step)
        if equations:
            known = {Fraction(n) for n in _NUMBER.findall(state)}
            for lhs, rhs in equations:
                value = evaluate_expression(lhs)
                if value is None or value != Fraction(rhs.replace(",", "")):
                    return 0.0
                if self.check_operands and any(
                    Fraction(n) not in known for n in _NUMBER.findall(lhs)
                ):
                    return 0.0
            return 1.0
        answer = extract_answer(step)
        if answer is None:
            return self.unparsed_score
        last = self._last_result(state)
        if last is None:
            return self.neutral_score
        return 1.0 if normalize_answer(answer) == normalize_answer(last) else 0.0

    def score(self, states: Sequence[str], steps: Sequence[str]) -> np.ndarray:
        if len(states) != len(steps):
            raise ValueError(f"got {len(states)} states but {len(steps)} steps")
        return np.array([self.score_one(s, t) for s, t in zip(states, steps, strict=True)])


class StepTagPRM:
    """A learned PRM read at its step tag (the Math-Shepherd convention).

    The input is ``state + step + step_tag``; the score is ``softmax(logits[good, bad])[good]``
    at the position of the *last* step tag token, i.e. the tag that closes the newest step
    (earlier tags, if the text holds any, belong to earlier steps).

    Args:
        logits_fn: ``(ids [B, L], mask [B, L]) -> logits [B, L, V]`` of the reward model.
        encode: text -> token ids of the reward model's tokenizer.
        step_tag_id: token id of the step tag.
        good_id, bad_id: token ids read as "good step" and "bad step".
        pad_id: padding id.
        device: where the token batch is built for ``logits_fn`` (the reward model's
            device); the scores come back as a NumPy array.
    """

    def __init__(
        self,
        logits_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        encode: Callable[[str], list[int]],
        step_tag_id: int,
        good_id: int,
        bad_id: int,
        pad_id: int = 0,
        device: torch.device | str = "cpu",
    ) -> None:
        self.device = torch.device(device)
        self.logits_fn = logits_fn
        self.encode = encode
        self.step_tag_id = step_tag_id
        self.good_id = good_id
        self.bad_id = bad_id
        self.pad_id = pad_id

    @torch.no_grad()
    def score(self, states: Sequence[str], steps: Sequence[str]) -> np.ndarray:
        if len(states) != len(steps):
            raise ValueError(f"got {len(states)} states but {len(steps)} steps")
        rows = [[*self.encode(s + t), self.step_tag_id] for s, t in zip(states, steps, strict=True)]
        width = max(len(r) for r in rows)
        host = torch.device("cpu")
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long, device=host)
        mask = torch.zeros((len(rows), width), dtype=torch.bool, device=host)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r, device=host)
            mask[i, : len(r)] = True
        ids, mask = ids.to(self.device), mask.to(self.device)
        logits = self.logits_fn(ids, mask)
        is_tag = (ids == self.step_tag_id) & mask
        positions = torch.arange(width, device=self.device).expand_as(ids)
        last_tag = torch.where(is_tag, positions, -1).max(dim=1).values  # [B]
        at_tag = logits[torch.arange(len(rows), device=self.device), last_tag]  # [B, V]
        pair = torch.stack([at_tag[:, self.good_id], at_tag[:, self.bad_id]], dim=-1)
        return torch.softmax(pair.float(), dim=-1)[:, 0].cpu().numpy()
