import numpy as np
import pytest
import torch

from pipezero.model.support import (
    DiscreteSupport,
    decode_value_and_reward,
    inverse_value_transform,
    value_transform,
)


def test_transform_round_trip_float64():
    x = torch.linspace(-1e5, 1e5, 20001, dtype=torch.float64)
    assert torch.allclose(inverse_value_transform(value_transform(x)), x, rtol=1e-10, atol=1e-9)


def test_transform_round_trip_float32_relative():
    x = torch.cat([torch.linspace(-3, 3, 1001), torch.linspace(-1e4, 1e4, 1001)])
    back = inverse_value_transform(value_transform(x))
    rel = (back - x).abs() / x.abs().clamp_min(1.0)
    assert rel.max() < 1e-5


def test_inverse_exact_at_zero_and_odd():
    assert torch.equal(inverse_value_transform(torch.zeros(3)), torch.zeros(3))
    y = torch.tensor([0.5, 3.0, 17.0])
    assert torch.allclose(inverse_value_transform(-y), -inverse_value_transform(y))


def test_transform_known_values():
    # h(3) = sqrt(4) - 1 + 0.003 = 1.003; h(-8) = -(3 - 1) - 0.008
    out = value_transform(torch.tensor([3.0, -8.0, 0.0]))
    assert torch.allclose(out, torch.tensor([1.003, -2.008, 0.0]))


def test_inverse_is_differentiable():
    y = (torch.randn(16, dtype=torch.float64) * 30).requires_grad_()
    assert torch.autograd.gradcheck(inverse_value_transform, (y,))


@pytest.mark.parametrize("support_size", [1, 10, 300])
def test_two_hot_sums_and_round_trip(support_size):
    support = DiscreteSupport(support_size)
    x = torch.cat([torch.randn(500) * 5, torch.tensor([0.0, 1.0, -1.0, 2.5])])
    x = x[value_transform(x).abs() <= support_size]
    probs = support.scalar_to_probs(x)
    assert probs.shape == (x.shape[0], 2 * support_size + 1)
    assert torch.allclose(probs.sum(-1), torch.ones(x.shape[0]))
    assert (probs >= 0).all()
    assert ((probs > 0).sum(-1) <= 2).all()
    assert torch.allclose(support.probs_to_scalar(probs), x, atol=1e-3, rtol=1e-4)


def test_two_hot_neighbouring_bins_and_weights():
    support = DiscreteSupport(5)
    y = torch.tensor([1.25, -2.5])
    probs = support.scalar_to_probs(inverse_value_transform(y))
    # bin index = value + S
    assert probs[0, 6].item() == pytest.approx(0.75, abs=1e-5)
    assert probs[0, 7].item() == pytest.approx(0.25, abs=1e-5)
    assert probs[1, 2].item() == pytest.approx(0.5, abs=1e-5)
    assert probs[1, 3].item() == pytest.approx(0.5, abs=1e-5)


def test_two_hot_clips_to_support_edges():
    support = DiscreteSupport(3)
    probs = support.scalar_to_probs(torch.tensor([1e6, -1e6]))
    assert probs[0, -1] == 1.0 and probs[1, 0] == 1.0
    assert torch.allclose(probs.sum(-1), torch.ones(2))


def test_logits_to_scalar_matches_softmax_expectation():
    support = DiscreteSupport(10)
    target = torch.tensor([4.0, -7.5, 0.0])
    logits = torch.log(support.scalar_to_probs(target) + 1e-12)
    assert torch.allclose(support.logits_to_scalar(logits), target, atol=1e-3)
    assert torch.allclose(support.logits_to_scalar(torch.zeros(2, 21)), torch.zeros(2), atol=1e-6)


def test_wrong_width_and_bad_size_raise():
    support = DiscreteSupport(10)
    with pytest.raises(ValueError, match="support_size=10"):
        support.logits_to_scalar(torch.zeros(2, 20))
    with pytest.raises(ValueError, match="positive int"):
        DiscreteSupport(0)


def test_decode_pair_equal_and_unequal_supports():
    a, b = DiscreteSupport(5), DiscreteSupport(7)
    lv, lr = torch.randn(4, 11), torch.randn(4, 11)
    v, r = decode_value_and_reward(a, lv, a, lr)
    assert torch.allclose(v, a.logits_to_scalar(lv)) and torch.allclose(r, a.logits_to_scalar(lr))
    lr7 = torch.randn(4, 15)
    v, r = decode_value_and_reward(a, lv, b, lr7)
    assert torch.allclose(r, b.logits_to_scalar(lr7))


def _float64_decode(support: DiscreteSupport, logits: torch.Tensor) -> torch.Tensor:
    probs = torch.softmax(logits.double(), dim=-1)
    bins = torch.arange(-support.support_size, support.support_size + 1, dtype=torch.float64)
    return inverse_value_transform(probs @ bins, support.eps)


def test_core_decode_matches_a_float64_decode():
    # The C++ decode of CPU float32 logits (search's hot path): column slices of fused
    # outputs, sharp and flat distributions, values far out on the support; within float
    # rounding of a float64 decode, like torch's softmax expectation. Widths 3 to 601: rows
    # shorter than a vector, and every kind of tail after whole vectors of 4, 8 or 16 lanes.
    torch.manual_seed(0)
    for size in (1, 3, 7, 10, 20, 31, 32, 300):
        support = DiscreteSupport(size)
        width = 2 * size + 1
        for rows in (1, 3, 8, 64):
            scale = torch.tensor([0.1, 3.0, 30.0]).repeat(rows)[:rows, None]
            fused = torch.randn(rows, 5 + width) * scale
            logits = fused[:, 5:]  # rows spaced apart
            exact = _float64_decode(support, logits)
            torch_decode = support.expectation(logits)
            torch_decode = inverse_value_transform(torch_decode, support.eps).double()
            torch_error = (torch_decode - exact).abs().max().item()
            tol = 4 * torch_error + 1e-5 * (1 + exact.abs().max().item())
            v = support.logits_to_scalar(logits)
            assert v.dtype == torch.float32 and v.shape == (rows,)
            assert (v.double() - exact).abs().max().item() <= tol, (size, rows)
            value, reward = decode_value_and_reward(support, logits, support, fused[:, 5:].flip(0))
            assert torch.equal(value, v)
            assert torch.equal(reward, support.logits_to_scalar(logits.flip(0).contiguous()))


def test_core_decode_leaves_autograd_and_other_dtypes_to_torch():
    support = DiscreteSupport(5)
    logits = torch.randn(4, 11, requires_grad=True)
    v = support.logits_to_scalar(logits)
    v.sum().backward()  # the torch path, differentiable
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    double = support.logits_to_scalar(logits.detach().double())
    assert double.dtype == torch.float32
    torch.testing.assert_close(double, v.detach(), rtol=1e-5, atol=1e-5)


def test_core_decode_checks_its_arguments():
    from pipezero.mcts._mcts_core import decode_supports

    with pytest.raises(ValueError, match=r"heads.*\[R, 2S \+ 1\] = \[2, 11\]"):
        decode_supports((np.zeros((2, 11), np.float32), np.zeros((2, 9), np.float32)), 5, 0.001)
    with pytest.raises(ValueError, match="at least one"):
        decode_supports((), 5, 0.001)
    with pytest.raises(ValueError, match="'eps' must be in"):
        decode_supports((np.zeros((2, 11), np.float32),), 5, -1.0)
    assert decode_supports((np.zeros((0, 11), np.float32),), 5, 0.001).shape == (1, 0)
    # a uniform distribution has expectation 0: h^-1(0) = 0 exactly
    assert decode_supports((np.zeros((3, 11), np.float32),), 5, 0.001).tolist() == [[0.0] * 3]
