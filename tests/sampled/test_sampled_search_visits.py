"""The sampled search's visit distribution over the K sampled actions."""

import numpy as np
import torch

from pipezero.mcts import (
    GaussianSampler,
    MCTSConfig,
    SampledEfficientZeroSearch,
    SampledMuZeroSearch,
)
from pipezero.model.protocol import NetworkOutput
from pipezero.model.sampled_efficientzero import SampledEfficientZeroMLP
from pipezero.policy.sampled_efficientzero import make_sampler


class _QuadraticBandit:
    """Continuous bandit: action a earns 1 - (a - 0.3)^2, every state is worth 0 and the
    policy is a wide Gaussian around 0 (pre-tanh). Searched with discount 0, Q(a) = r(a)."""

    def _out(self, latent, reward):
        m = latent.shape[0]
        params = torch.tensor([[0.0, 0.0]]).expand(m, 2)
        return NetworkOutput(latent, params, torch.zeros(m), reward)

    def initial_inference(self, obs):
        return self._out(torch.zeros(obs.shape[0], 1), torch.zeros(obs.shape[0]))

    def recurrent_inference(self, latent, action, hidden=None):
        return self._out(latent, 1.0 - (action[:, 0] - 0.3) ** 2)


def test_visits_concentrate_on_the_best_sampled_action():
    model = _QuadraticBandit()
    config = MCTSConfig(num_simulations=200, num_of_sampled_actions=8, discount_factor=0.0)
    search = SampledMuZeroSearch(model, GaussianSampler(squash=True), config)
    root = model.initial_inference(torch.zeros(4, 1))
    result = search.search(root, add_exploration_noise=False)
    assert result.visit_counts.shape == (4, 8)
    assert (result.visit_counts.sum(1) == 200).all()
    assert torch.allclose(result.policy_target.sum(1), torch.ones(4))
    actions = result.sampled_actions  # [4, 8, 1], tanh-squashed
    assert actions.shape == (4, 8, 1) and actions.abs().max() < 1
    reward = 1.0 - (actions[..., 0] - 0.3) ** 2
    most_visited = result.visit_counts.argmax(1)
    # the most visited sampled action is (one of) the best sampled actions
    chosen = reward.gather(1, most_visited[:, None])[:, 0]
    assert (chosen >= reward.max(1).values - 0.01).all()
    for row in range(4):
        order = np.argsort(-reward[row].numpy())
        visits = result.visit_counts[row].numpy()
        assert visits[order[0]] > visits[order[-1]]
        assert visits[order[:4]].sum() > visits[order[4:]].sum()


def test_search_with_the_sampled_model_fills_k_slots_for_discrete_and_continuous():
    for continuous, size in ((True, 2), (False, 3)):
        model = SampledEfficientZeroMLP(
            4,
            size,
            continuous_action_space=continuous,
            support_size=5,
            latent_dim=16,
            hidden_dim=16,
            lstm_hidden_size=8,
            projection_hidden_dim=8,
            projection_dim=8,
            prediction_hidden_dim=4,
        ).eval()
        config = MCTSConfig(num_simulations=12, num_of_sampled_actions=5)
        search = SampledEfficientZeroSearch(model, make_sampler(model, True), config)
        with torch.inference_mode():
            root = model.initial_inference(torch.randn(3, 4))
        result = search.search(root)
        assert result.visit_counts.shape == (3, 5)
        assert (result.visit_counts.sum(1) == 12).all()
        if continuous:
            assert result.sampled_actions.shape == (3, 5, 2)
        else:
            assert result.sampled_actions.shape == (3, 5)
            assert result.sampled_actions.max() < 3
        assert result.num_network_calls == 12
