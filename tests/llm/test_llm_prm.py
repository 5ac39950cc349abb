"""Process reward models: the exact arithmetic oracle and the step-tag reading of a learned PRM."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipezero.model.lm import CharTokenizer
from pipezero.policy.llm.prm import (
    OracleArithmeticPRM,
    ProcessRewardModel,
    StepTagPRM,
    evaluate_expression,
)

STATE = "Q: From 34: +12, -9.\n"


@pytest.mark.parametrize(
    ("state", "step", "score"),
    [
        (STATE, "34+12=46\n", 1.0),
        (STATE, "34+12=47\n", 0.0),  # wrong sum
        (STATE, "35+11=46\n", 0.0),  # right sum, operands not in the problem
        (STATE + "34+12=46\n", "46-9=37\n", 1.0),  # an earlier result is a known operand
        (STATE + "34+12=46\n46-9=37\n", "The answer is 37\n", 1.0),
        (STATE + "34+12=46\n46-9=37\n", "The answer is 38\n", 0.0),
        (STATE, "The answer is 37\n", 0.5),  # nothing computed yet: neutral
        (STATE, "let me think\n", 0.0),  # neither computes nor answers
        ("Q: 7 and 2\n", "7/2 = 3.5\n", 1.0),  # exact fractions, spaces allowed
        ("Q: 7 and 2\n", "7/0=1\n", 0.0),
    ],
)
def test_oracle_checks_each_step_exactly(state: str, step: str, score: float) -> None:
    prm = OracleArithmeticPRM()
    assert isinstance(prm, ProcessRewardModel)
    assert prm.score([state], [step]).tolist() == [score]


def test_oracle_without_operand_check_only_checks_arithmetic() -> None:
    prm = OracleArithmeticPRM(check_operands=False)
    assert prm.score_one(STATE, "35+11=46\n") == 1.0


def test_evaluate_expression_is_exact_and_refuses_non_arithmetic() -> None:
    assert evaluate_expression("(1+2)*3/4") == pytest.approx(9 / 4)
    assert evaluate_expression("2 x 3") == 6
    assert evaluate_expression("__import__('os')") is None
    assert evaluate_expression("1/0") is None


def test_step_tag_prm_reads_the_last_step_tag() -> None:
    tok = CharTokenizer()
    tag, good, bad = tok.encode("#")[0], tok.encode("+")[0], tok.encode("-")[0]

    def logits_fn(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # At each position the "good" logit is the position index: reading a tag earlier in
        # the text would give a smaller P(good) than reading the last one.
        b, length = ids.shape
        out = torch.zeros(b, length, tok.vocab_size)
        out[:, :, good] = torch.arange(length, dtype=torch.float32) * 0.1
        return out

    prm = StepTagPRM(logits_fn, tok.encode, step_tag_id=tag, good_id=good, bad_id=bad)
    states = ["Q: a#\nstep one#\n", "Q: b\n"]  # the first text holds earlier tags
    steps = ["step two", "x"]
    scores = prm.score(states, steps)
    last = [len(tok.encode(s + t)) for s, t in zip(states, steps, strict=True)]
    want = 1.0 / (1.0 + np.exp(-0.1 * np.array(last, dtype=np.float64)))
    np.testing.assert_allclose(scores, want, rtol=1e-6)


def test_score_checks_lengths() -> None:
    with pytest.raises(ValueError, match="2 states but 1 steps"):
        OracleArithmeticPRM().score(["a", "b"], ["c"])
