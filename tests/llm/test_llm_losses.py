"""PPO clipping, the approximate KL, the clipped Huber value loss and the KL to the base."""

from __future__ import annotations

import pytest
import torch

from pipezero.policy.llm.losses import (
    approx_kl,
    clipped_value_loss,
    entropy_from_logits,
    kl_to_base,
    ppo_policy_loss,
    token_logprobs,
)


def test_clipped_surrogate_stops_the_gradient_beyond_the_clip_range() -> None:
    old = torch.zeros(1, 4)
    # ratios 1.5, 0.5, 1.1, 0.9 with advantages +1, -1, +1, -1
    lp = torch.log(torch.tensor([[1.5, 0.5, 1.1, 0.9]])).requires_grad_(True)
    adv = torch.tensor([[1.0, -1.0, 1.0, -1.0]])
    loss, stats = ppo_policy_loss(lp, old, adv, torch.ones(1, 4, dtype=torch.bool), clip=0.2)
    # objective per token: min(r*A, clip(r)*A) = 1.2, -0.8, 1.1, -0.9
    assert loss.item() == pytest.approx(-(1.2 - 0.8 + 1.1 - 0.9) / 4)
    loss.backward()
    grad = lp.grad[0]
    assert grad[0] == 0 and grad[1] == 0  # clipped: no incentive to move further
    assert grad[2] == pytest.approx(-1.1 / 4) and grad[3] == pytest.approx(0.9 / 4)
    assert stats["clipfrac"] == pytest.approx(0.5)


def test_clipping_keeps_the_pessimistic_side() -> None:
    # ratio 0.5 with a positive advantage is not clipped (the unclipped term is lower)
    lp = torch.log(torch.tensor([[0.5]])).requires_grad_(True)
    loss, _ = ppo_policy_loss(
        lp, torch.zeros(1, 1), torch.ones(1, 1), torch.ones(1, 1, dtype=torch.bool), 0.2
    )
    loss.backward()
    assert loss.item() == pytest.approx(-0.5) and lp.grad.item() == pytest.approx(-0.5)


def test_masked_tokens_do_not_count() -> None:
    lp = torch.tensor([[0.0, 5.0]])
    loss, _ = ppo_policy_loss(
        lp, torch.zeros(1, 2), torch.ones(1, 2), torch.tensor([[True, False]]), 0.2
    )
    assert loss.item() == pytest.approx(-1.0)
    assert approx_kl(lp, torch.zeros(1, 2), torch.tensor([[True, False]])).item() == 0.0


def test_approx_kl_is_zero_for_equal_policies_and_positive_otherwise() -> None:
    lp = torch.tensor([[-1.0, -2.0]])
    mask = torch.ones(1, 2, dtype=torch.bool)
    assert approx_kl(lp, lp, mask).item() == 0.0
    log_ratio = torch.tensor([0.1, -0.3])
    expected = (log_ratio.exp() - 1 - log_ratio).mean()
    assert approx_kl(lp + log_ratio, lp, mask).item() == pytest.approx(expected.item())


def test_value_loss_is_clipped_huber() -> None:
    old = torch.tensor([0.0, 0.0])
    ret = torch.tensor([1.0, 0.0])
    values = torch.tensor([0.5, 3.0])
    mask = torch.ones(2, dtype=torch.bool)
    loss = clipped_value_loss(values, old, ret, mask, clip=0.2, huber_delta=1.0)
    # first: huber(0.5, 1) = 0.125; clipped value 0.2 -> huber(0.2, 1) = 0.32 -> max = 0.32
    # second: huber(3, 0) = 2.5; clipped 0.2 -> 0.02 -> max = 2.5
    assert loss.item() == pytest.approx((0.32 + 2.5) / 2)


def test_kl_to_base_and_entropy() -> None:
    lp = torch.tensor([[-1.0]])
    mask = torch.ones(1, 1, dtype=torch.bool)
    assert kl_to_base(lp, lp, mask).item() == 0.0
    assert kl_to_base(lp, lp - 0.5, mask).item() > 0
    uniform = torch.zeros(1, 1, 4)
    assert entropy_from_logits(uniform).item() == pytest.approx(torch.log(torch.tensor(4.0)).item())
    assert token_logprobs(uniform, torch.tensor([[2]])).item() == pytest.approx(
        -torch.log(torch.tensor(4.0)).item()
    )
