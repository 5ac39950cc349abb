"""Stochastic MuZero MLP: shapes, the fused search call, the VQ chance encoder."""

from __future__ import annotations

import pytest
import torch

from pipezero.model.stochastic import LineEncoder, StochasticModelProtocol, StochasticMuZeroMLP


@pytest.fixture
def model() -> StochasticMuZeroMLP:
    torch.manual_seed(0)
    m = StochasticMuZeroMLP((2, 3), 4, 6, latent_dim=8, hidden_dim=16, support_size=5)
    for p in m.parameters():  # the heads start at zero; make the outputs interesting
        torch.nn.init.normal_(p, std=0.3)
    return m


def test_shapes_of_every_function(model):
    assert isinstance(model, StochasticModelProtocol)
    obs = torch.randn(5, 2, 3)
    root = model.initial_inference(obs)
    assert root.latent.shape == (5, 8) and root.policy_logits.shape == (5, 4)
    assert root.value.shape == (5,) and (root.reward == 0).all()
    after = model.afterstate_recurrent_inference(root.latent, torch.tensor([0, 1, 2, 3, 0]))
    assert after.latent.shape == (5, 8) and after.policy_logits.shape == (5, 6)
    assert (after.reward == 0).all()
    nxt = model.recurrent_inference(after.latent, torch.tensor([0, 5, 2, 3, 1]))
    assert nxt.latent.shape == (5, 8) and nxt.policy_logits.shape == (5, 4)
    assert nxt.reward.shape == (5,) and nxt.reward_logits.shape == (5, 11)
    code, one_hot, probs = model.encode_chance(obs, torch.randn(5, 2, 3))
    assert code.shape == (5,) and one_hot.shape == probs.shape == (5, 6)
    torch.testing.assert_close(probs.sum(1), torch.ones(5))
    assert (one_hot.argmax(1) == code).all() and (one_hot.detach().sum(1) == 1).all()


def fused_and_separate_calls(model):
    """One fused search call over mixed leaves, and the two separate calls it replaces:
    ``(latent, index, to_chance, fused, afterstate outputs, state outputs)``."""
    latent = model.initial_inference(torch.randn(6, 2, 3)).latent
    index = torch.tensor([0, 5, 3, 1, 2, 4])
    to_chance = torch.tensor([True, False, True, False, False, True])
    fused = model.stochastic_recurrent_inference(latent, index, to_chance)
    after = model.afterstate_recurrent_inference(latent[to_chance], index[to_chance])
    state = model.recurrent_inference(latent[~to_chance], index[~to_chance])
    return latent, index, to_chance, fused, after, state


def test_fused_search_call_matches_the_two_separate_calls(model):
    _, _, to_chance, fused, after, state = fused_and_separate_calls(model)
    assert fused.policy_logits.shape == (6, 6)
    torch.testing.assert_close(fused.latent[to_chance], after.latent)
    torch.testing.assert_close(fused.policy_logits[to_chance], after.policy_logits)
    torch.testing.assert_close(fused.value[to_chance], after.value)
    assert (fused.reward[to_chance] == 0).all()
    torch.testing.assert_close(fused.latent[~to_chance], state.latent)
    torch.testing.assert_close(fused.policy_logits[~to_chance, :4], state.policy_logits)
    torch.testing.assert_close(fused.value[~to_chance], state.value)
    torch.testing.assert_close(fused.reward[~to_chance], state.reward)


def test_dynamics_takes_code_indices_or_one_hot_rows(model):
    after = torch.randn(3, 8)
    codes = torch.tensor([1, 4, 0])
    by_index = model.dynamics(after, codes)
    by_one_hot = model.dynamics(after, torch.nn.functional.one_hot(codes, 6).float())
    torch.testing.assert_close(by_index[0], by_one_hot[0])
    torch.testing.assert_close(by_index[1], by_one_hot[1])


def test_straight_through_code_carries_gradient_to_the_encoder(model):
    obs, nxt = torch.randn(4, 2, 3), torch.randn(4, 2, 3)
    _, one_hot, _ = model.encode_chance(obs, nxt)
    latent, reward_logits = model.dynamics(torch.randn(4, 8), one_hot)
    (latent.sum() + reward_logits.sum()).backward()
    grads = [p.grad for p in model.encoder.parameters()]
    assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)


def test_bad_sizes_are_rejected():
    with pytest.raises(ValueError, match="chance_space_size"):
        StochasticMuZeroMLP(4, 2, 0)


def test_pair_convolutions_for_board_observations():
    torch.manual_seed(0)
    model = StochasticMuZeroMLP((16, 4, 4), 4, 32, latent_dim=8, hidden_dim=16, pair_channels=3)
    obs = torch.zeros(2, 16, 4, 4)
    obs[:, 0] = 1.0
    other = obs.clone()
    other[1, 0, 0, :2] = 0.0
    other[1, 1, 0, :2] = 1.0  # two equal neighbours: a pair the convolutions see
    out = model.initial_inference(other)
    assert out.latent.shape == (2, 8) and out.policy_logits.shape == (2, 4)
    assert not torch.allclose(out.latent[0], out.latent[1])
    with pytest.raises(ValueError, match="pair_channels needs board observations"):
        StochasticMuZeroMLP(10, 2, 4, pair_channels=4)


def test_afterstate_reward_moves_the_reward_onto_the_afterstate_rows():
    torch.manual_seed(0)
    model = StochasticMuZeroMLP(
        (2, 3), 4, 6, latent_dim=8, hidden_dim=16, support_size=5, afterstate_reward=True
    )
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.3)
    latent, index, to_chance, fused, after, state = fused_and_separate_calls(model)
    # The move's reward comes with the afterstate; the chance edge carries none.
    assert (after.reward != 0).all() and (state.reward == 0).all()
    torch.testing.assert_close(fused.reward[to_chance], after.reward)
    assert (fused.reward[~to_chance] == 0).all()
    _, logits = model.afterstate_transition(latent[to_chance], index[to_chance])
    torch.testing.assert_close(after.reward_logits, logits)
    with pytest.raises(ValueError, match="afterstate_reward must be a bool"):
        StochasticMuZeroMLP(4, 2, 3, afterstate_reward=1)


def test_line_encoders_see_whole_rows_and_columns():
    torch.manual_seed(0)
    model = StochasticMuZeroMLP((16, 4, 4), 4, 32, latent_dim=8, hidden_dim=16, line_channels=5)
    assert model.repr_trunk[0].in_features == 16 * 16 + 5 * (4 + 4)
    obs = torch.zeros(2, 16, 4, 4)
    obs[:, 0] = 1.0
    obs[1, 0, 2, 0] = obs[1, 0, 2, 3] = 0.0
    obs[1, 1, 2, 0] = obs[1, 1, 2, 3] = 1.0  # two equal tiles at both ends of a row
    rows = model.line_rows(obs).reshape(2, 5, 4)  # channel-major: [B, channels, rows]
    assert torch.equal(rows[0, :, [0, 1, 3]], rows[1, :, [0, 1, 3]])
    assert not torch.equal(rows[0, :, 2], rows[1, :, 2])
    assert model.initial_inference(obs).latent.shape == (2, 8)
    with pytest.raises(ValueError, match="line_channels needs board observations"):
        StochasticMuZeroMLP(10, 2, 4, line_channels=4)
    with pytest.raises(ValueError, match="line_channels must be an int"):
        StochasticMuZeroMLP((16, 4, 4), 4, 32, line_channels=-1)


@pytest.mark.parametrize("rows", [True, False])
def test_line_encoder_computes_the_line_convolutions(rows: bool):
    """The matrix-product forward pass equals running its two convolutions (kernel (1, W) or
    (H, 1), then 1 x 1), in the same feature order, with the same gradients."""
    torch.manual_seed(0)
    obs = torch.randn(6, 16, 4, 3)  # H != W, so rows and columns cannot be confused
    encoder = LineEncoder(16, 3 if rows else 4, 5, "relu", rows=rows)
    conv1, _, conv2, _ = encoder
    assert conv1.kernel_size == ((1, 3) if rows else (4, 1))
    want = torch.relu(conv2(torch.relu(conv1(obs)))).flatten(1)
    (grad_want,) = torch.autograd.grad(want.square().sum(), conv1.weight)
    got = encoder(obs)
    (grad_got,) = torch.autograd.grad(got.square().sum(), conv1.weight)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(grad_got, grad_want)
