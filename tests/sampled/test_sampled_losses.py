"""The policy loss over sampled actions, by hand."""

import math

import pytest
import torch

from pipezero.mcts import tanh_gaussian_log_prob
from pipezero.policy.sampled_efficientzero_losses import (
    distinct_slots,
    policy_entropy,
    sampled_action_log_probs,
    sampled_policy_loss,
)


def test_discrete_cross_entropy_on_sampled_actions_by_hand():
    logits = torch.log(torch.tensor([[0.5, 0.25, 0.25]]))
    sampled = torch.tensor([[0, 0, 2]])  # sorted; slot 1 repeats slot 0 (empty)
    target = torch.tensor([[0.75, 0.0, 0.25]])
    log_pi = sampled_action_log_probs(logits, sampled, continuous=False)
    slots = distinct_slots(sampled, continuous=False)
    assert slots.tolist() == [[True, False, True]]
    loss = sampled_policy_loss(log_pi, target, slots)
    assert float(loss) == pytest.approx(-(0.75 * math.log(0.5) + 0.25 * math.log(0.25)))
    # normalised over the distinct sampled actions {0, 2}: pi' = (2/3, 1/3)
    norm = sampled_policy_loss(log_pi, target, slots, normalize=True)
    assert float(norm) == pytest.approx(-(0.75 * math.log(2 / 3) + 0.25 * math.log(1 / 3)))
    kl = sampled_policy_loss(log_pi, target, slots, "KL", normalize=True)
    expected = 0.75 * math.log(0.75 / (2 / 3)) + 0.25 * math.log(0.25 / (1 / 3))
    assert float(kl) == pytest.approx(expected, rel=1e-5)


def test_continuous_log_probs_use_the_tanh_gaussian_and_zero_targets_give_zero():
    params = torch.tensor([[[0.2, -0.5]], [[0.0, 0.0]]])  # [B=2, 1, 2D] with D = 1
    sampled = torch.tensor([[[[0.1], [-0.4], [0.7]]], [[[0.0], [0.5], [-0.5]]]])
    log_pi = sampled_action_log_probs(params, sampled, continuous=True)
    assert log_pi.shape == (2, 1, 3)
    expected = tanh_gaussian_log_prob(sampled[0, 0], torch.tensor([0.2]), torch.tensor([-0.5]))
    assert torch.allclose(log_pi[0, 0], expected)
    target = torch.tensor([[[0.5, 0.5, 0.0]], [[0.0, 0.0, 0.0]]])
    loss = sampled_policy_loss(log_pi, target, distinct_slots(sampled, continuous=True))
    assert float(loss[0, 0]) == pytest.approx(float(-(0.5 * log_pi[0, 0, :2]).sum()))
    assert float(loss[1, 0]) == 0.0


def test_cross_entropy_gradient_moves_the_mean_towards_the_most_visited_action():
    params = torch.tensor([[0.0, -0.5]], requires_grad=True)
    sampled = torch.tensor([[[0.6], [-0.6]]])
    target = torch.tensor([[0.9, 0.1]])
    loss = sampled_policy_loss(
        sampled_action_log_probs(params, sampled, True), target, torch.ones(1, 2, dtype=torch.bool)
    )
    loss.sum().backward()
    assert params.grad[0, 0] < 0  # gradient descent raises the mean towards +0.6


def test_entropy_of_gaussian_and_categorical():
    params = torch.tensor([[0.3, math.log(2.0)]])
    assert float(policy_entropy(params, True)) == pytest.approx(
        0.5 * math.log(2 * math.pi * math.e * 4.0)
    )
    uniform = torch.zeros(1, 4)
    assert float(policy_entropy(uniform, False)) == pytest.approx(math.log(4))


def test_unknown_loss_type_is_rejected():
    with pytest.raises(ValueError, match="policy_loss_type"):
        sampled_policy_loss(
            torch.zeros(1, 2), torch.zeros(1, 2), torch.ones(1, 2, dtype=torch.bool), "mse"
        )
