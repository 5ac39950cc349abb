"""Drivers with real torch models: shapes, counters, determinism, samplers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from pipezero.mcts import (
    CategoricalSampler,
    EfficientZeroSearch,
    GaussianSampler,
    GumbelMuZeroSearch,
    MCTSConfig,
    MuZeroSearch,
    SampledEfficientZeroSearch,
    SampledMuZeroSearch,
)
from pipezero.mcts.samplers import importance_prior_logits
from pipezero.model.mlp import MuZeroMLP
from pipezero.model.protocol import NetworkOutput


@pytest.fixture
def mlp() -> MuZeroMLP:
    torch.manual_seed(0)
    model = MuZeroMLP(
        observation_shape=4, action_space_size=3, latent_dim=16, hidden_dim=16, support_size=5
    )
    for p in model.parameters():  # the heads start at zero; make the outputs interesting
        nn.init.normal_(p, std=0.3)
    return model


def test_muzero_mlp_search_shapes_and_counters(mlp: MuZeroMLP) -> None:
    cfg = MCTSConfig(num_simulations=25, seed=4)
    search = MuZeroSearch(mlp, cfg)
    root = mlp.initial_inference(torch.randn(5, 4))
    mask = torch.ones(5, 3, dtype=torch.bool)
    mask[0, 1] = False
    result = search.search(root, mask)
    assert result.visit_counts.shape == (5, 3) and result.visit_counts.dtype == torch.int64
    assert result.visit_counts.sum(1).tolist() == [25] * 5 and result.visit_counts[0, 1] == 0
    torch.testing.assert_close(result.policy_target.sum(1), torch.ones(5))
    assert result.root_value.shape == (5,) and torch.isfinite(result.root_value).all()
    assert result.num_network_calls == 25 and result.num_leaf_evaluations == 125
    assert search.network_calls == 25
    visited = result.visit_counts > 0
    assert (
        torch.isfinite(result.q_values[visited]).all()
        and torch.isnan(result.q_values[~visited]).all()
    )
    again = MuZeroSearch(mlp, cfg).search(root, mask)
    assert torch.equal(again.visit_counts, result.visit_counts), "same seed, same search"
    other = search.search(mlp.initial_inference(torch.randn(2, 4)))  # new batch size
    assert other.visit_counts.shape == (2, 3)


def test_gumbel_greedy_evaluation_is_deterministic(mlp: MuZeroMLP) -> None:
    root = mlp.initial_inference(torch.randn(4, 4))
    cfg = MCTSConfig(num_simulations=12, max_num_considered_actions=2)
    a = GumbelMuZeroSearch(mlp, cfg).search(root, add_exploration_noise=False)
    b = GumbelMuZeroSearch(mlp, cfg.replace(seed=9)).search(root, add_exploration_noise=False)
    assert torch.equal(a.action, b.action) and torch.equal(a.visit_counts, b.visit_counts)
    assert (a.visit_counts > 0).sum(1).le(2).all(), "only the m considered actions are visited"
    assert torch.equal(a.policy_target, a.improved_policy)


class TinyEfficientZero(nn.Module):
    """Latent dynamics plus an LSTM value-prefix head, hidden (h, c) of shape [1, M, 4]."""

    def __init__(self, num_actions: int = 3) -> None:
        super().__init__()
        self.num_actions = num_actions
        self.dynamics = nn.Linear(8 + num_actions, 8)
        self.lstm = nn.LSTM(8, 4)
        self.prefix = nn.Linear(4, 1)
        self.policy = nn.Linear(8, num_actions)
        self.value = nn.Linear(8, 1)
        self.zero_hidden_inputs = 0

    def _heads(self, latent, prefix, hidden) -> NetworkOutput:
        return NetworkOutput(
            latent, self.policy(latent), self.value(latent)[:, 0], prefix, hidden=hidden
        )

    def initial_inference(self, obs: torch.Tensor) -> NetworkOutput:
        latent = torch.tanh(obs)
        zeros = torch.zeros(1, len(obs), 4)
        return self._heads(latent, torch.zeros(len(obs)), (zeros, zeros.clone()))

    def recurrent_inference(self, latent, action, hidden=None) -> NetworkOutput:
        h, c = hidden
        assert h.shape == (1, len(latent), 4) and c.shape == h.shape
        self.zero_hidden_inputs += int((h.abs().sum(dim=(0, 2)) == 0).sum())
        onehot = nn.functional.one_hot(action, self.num_actions).float()
        nxt = torch.tanh(self.dynamics(torch.cat([latent, onehot], 1)))
        out, (h2, c2) = self.lstm(nxt.unsqueeze(0), (h, c))
        return self._heads(nxt, self.prefix(out[0])[:, 0], (h2, c2))


def test_efficientzero_with_an_lstm_model() -> None:
    torch.manual_seed(1)
    model = TinyEfficientZero()
    root = model.initial_inference(torch.randn(6, 8))
    search = EfficientZeroSearch(model, MCTSConfig(num_simulations=30, lstm_horizon_len=2))
    result = search.search(root)
    assert result.visit_counts.sum(1).tolist() == [30] * 6
    depth = search._forest.node_depth
    resets_below_root = int(((depth % 2 == 0) & (depth > 0)).sum())
    assert resets_below_root > 0
    # children of the root and of every depth-2k node start from a zero LSTM state
    assert model.zero_hidden_inputs >= int((depth == 1).sum())


def test_categorical_sampler_merges_repeats_and_respects_masks() -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.tensor([[0.0, 2.0, -1.0, 0.5], [1.0, 1.0, 1.0, 1.0]])
    mask = torch.tensor([[True, True, False, True], [True, True, True, True]])
    sampled = CategoricalSampler().sample(logits, 16, mask, gen)
    assert sampled.counts.sum(1).tolist() == [16.0, 16.0]
    used = sampled.counts > 0
    assert (sampled.actions[0][used[0]] != 2).all()
    assert len(set(sampled.actions[0][used[0]].tolist())) == int(used[0].sum())
    prior_logits, slot_mask = importance_prior_logits(sampled)
    prior = torch.softmax(prior_logits.masked_fill(~slot_mask, -torch.inf), 1)
    # with beta = pi the corrected prior is the empirical distribution of the draws
    torch.testing.assert_close(prior, sampled.counts / 16)


def test_gaussian_sampler_importance_weights() -> None:
    gen = torch.Generator().manual_seed(0)
    params = torch.tensor([[0.0, 1.0, -1.0, -0.5]])  # D = 2: means then log stds
    same = GaussianSampler().sample(params, 8, None, gen)
    logits, mask = importance_prior_logits(same)
    assert mask.all() and torch.allclose(logits, torch.full_like(logits, -np.log(8)))
    wide = GaussianSampler(std_scale=2.0).sample(params, 8, None, gen)
    logits, _ = importance_prior_logits(wide)
    torch.testing.assert_close(logits, np.log(1 / 8) + wide.log_pi - wide.log_beta)
    with pytest.raises(ValueError, match=r"\[M, 2D\]"):
        GaussianSampler().sample(torch.zeros(1, 3), 4, None, gen)


class ContinuousModel(nn.Module):
    """Continuous-action MuZero-style model: actions [M, 2], policy params [M, 4]."""

    def __init__(self) -> None:
        super().__init__()
        self.dyn = nn.Linear(8 + 2, 8)
        self.head = nn.Linear(8, 4 + 2)

    def _out(self, latent, reward) -> NetworkOutput:
        out = self.head(latent)
        return NetworkOutput(latent, out[:, :4], out[:, 4], reward)

    def initial_inference(self, obs):
        return self._out(torch.tanh(obs), torch.zeros(len(obs)))

    def recurrent_inference(self, latent, action, hidden=None):
        assert action.shape == (len(latent), 2) and action.dtype == torch.float32
        nxt = torch.tanh(self.dyn(torch.cat([latent, action], 1)))
        return self._out(nxt, nxt[:, 0])


def test_sampled_continuous_search() -> None:
    torch.manual_seed(2)
    model = ContinuousModel()
    root = model.initial_inference(torch.randn(3, 8))
    search = SampledMuZeroSearch(
        model, GaussianSampler(), MCTSConfig(num_simulations=20, num_of_sampled_actions=5)
    )
    result = search.search(root, add_exploration_noise=False)
    assert result.visit_counts.shape == (3, 5) and result.visit_counts.sum().item() == 60
    assert result.sampled_actions.shape == (3, 5, 2)
    np.testing.assert_allclose(search._forest.children_prior[:, 0], 0.2, rtol=1e-6)


def test_sampled_discrete_with_value_prefix_model() -> None:
    torch.manual_seed(3)
    model = TinyEfficientZero(num_actions=6)
    root = model.initial_inference(torch.randn(4, 8))
    mask = torch.ones(4, 6, dtype=torch.bool)
    mask[:, :2] = False
    search = SampledEfficientZeroSearch(
        model, CategoricalSampler(), MCTSConfig(num_simulations=15, num_of_sampled_actions=4)
    )
    result = search.search(root, mask)
    assert result.visit_counts.sum(1).tolist() == [15] * 4
    visited = result.sampled_actions[result.visit_counts > 0]
    assert (visited >= 2).all(), "only legal root actions are sampled and visited"


def test_improved_target_of_a_puct_search_is_the_cores_gumbel_transform(mlp: MuZeroMLP) -> None:
    """Without root noise the search's stored prior is the network's, so the NumPy improved
    policy must equal the C++ one (``Forest.improved_policy``) on the same tree."""
    cfg = MCTSConfig(num_simulations=10, policy_target="improved", seed=3)
    search = MuZeroSearch(mlp, cfg)
    root = mlp.initial_inference(torch.randn(6, 4))
    mask = torch.ones(6, 3, dtype=torch.bool)
    mask[1, 2] = False
    result = search.search(root, mask, add_exploration_noise=False)
    core = search._forest.improved_policy()
    np.testing.assert_allclose(result.policy_target.numpy(), core, atol=2e-6)
    assert torch.equal(result.policy_target, result.improved_policy)
    assert result.policy_target[1, 2] == 0
    visits = result.visit_counts.float() / 10
    assert not torch.allclose(result.policy_target, visits), "not the visit counts"
    plain = MuZeroSearch(mlp, cfg.replace(policy_target="visits")).search(
        root, mask, add_exploration_noise=False
    )
    assert torch.equal(plain.visit_counts, result.visit_counts), "the search itself is unchanged"
    torch.testing.assert_close(plain.policy_target, visits)
    assert plain.improved_policy is None


def test_improved_target_uses_the_noise_free_prior_and_completed_q() -> None:
    """One root worked by hand: prior ``softmax(2, 0, 0)``, visits (3, 1, 0), Q (0.1, 0.6, -),
    network value 0.2; the improved policy moves mass to the better-valued second action."""
    from pipezero.mcts._common import improved_policy

    logits = np.array([[2.0, 0.0, 0.0]], np.float32)
    legal = np.ones((1, 3), bool)
    visits = np.array([[3, 1, 0]])
    q = np.array([[0.1, 0.6, np.nan]], np.float32)
    prior = np.exp(logits[0]) / np.exp(logits[0]).sum()
    mixed = (0.2 + 4 * (prior[0] * 0.1 + prior[1] * 0.6) / (prior[0] + prior[1])) / 5
    completed = np.array([0.1, 0.6, mixed])
    sigma = (50 + 3) * 0.1 * (completed - 0.1) / 0.5
    expected = np.exp(np.log(prior) + sigma)
    expected /= expected.sum()
    got = improved_policy(logits, legal, visits, q, np.array([0.2], np.float32), MCTSConfig())
    np.testing.assert_allclose(got[0], expected, rtol=1e-5)
    assert got[0, 1] > 0.9 > visits[0, 1] / 4, "the visit target gives it 0.25"
    legal[0, 1] = False  # an illegal action gets nothing and does not enter the rescaling
    got = improved_policy(logits, legal, visits, q, np.array([0.2], np.float32), MCTSConfig())
    assert got[0, 1] == 0 and np.isclose(got[0].sum(), 1)


def test_improved_target_is_refused_where_a_driver_cannot_give_it() -> None:
    with pytest.raises(ValueError, match="policy_target must be one of"):
        MCTSConfig(policy_target="q")
    cfg = MCTSConfig(num_simulations=4, policy_target="improved")
    with pytest.raises(ValueError, match="SampledMuZeroSearch returns visit counts only"):
        SampledMuZeroSearch(ContinuousModel(), GaussianSampler(), cfg)
