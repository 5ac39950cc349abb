"""Chance nodes in the C++ tree: the backup is the expectation over chance codes, so with a
perfect model the root Q values equal exact expectimax values."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from stoch_mdp import (
    MOVE_REWARD,
    ONE_LEVEL,
    TWO_LEVEL,
    AfterstateRewardModel,
    PerfectModel,
    expectimax_q,
)

from pipezero.mcts import Forest, MCTSConfig
from pipezero.mcts.stochastic import StochasticMuZeroSearch

DISCOUNT = 0.9


def search_mdp(mdp, num_simulations, root_mask, **config):
    model = PerfectModel(mdp)
    cfg = MCTSConfig(num_simulations=num_simulations, discount_factor=DISCOUNT, **config)
    search = StochasticMuZeroSearch(model, cfg, leaf_mask_fn=model.leaf_mask)
    root = model.initial_inference(torch.zeros(root_mask.shape[0], 1))
    return search, search.search(root, root_mask, add_exploration_noise=False)


def test_one_level_chance_backup_is_the_exact_expectation():
    exact = expectimax_q(ONE_LEVEL, 0, DISCOUNT)
    _, result = search_mdp(ONE_LEVEL, 200, PerfectModel(ONE_LEVEL).root_mask(0))
    np.testing.assert_allclose(result.q_values[0].numpy(), exact, atol=1e-5)


def test_root_q_values_match_expectimax_on_a_two_level_mdp():
    exact = expectimax_q(TWO_LEVEL, 0, DISCOUNT)
    # One tree per root action (only that action legal), so each Q gets every simulation.
    _, result = search_mdp(TWO_LEVEL, 10_000, np.eye(3, dtype=bool))
    q = np.diag(result.q_values.numpy())
    np.testing.assert_allclose(q, exact, atol=0.03)
    # Decision nodes below the root average over their actions, so they never overshoot.
    assert (q <= exact + 1e-5).all()


def test_reward_on_the_edge_into_the_chance_node_backs_up_like_expectimax():
    # Q(s, a) = r(s, a) + sum_c P(c) discount V(s'_c): the values of the reward on the chance
    # edges, when every outcome of a move has the move's reward (as in 2048).
    one_level = {0: MOVE_REWARD[0]}
    model = AfterstateRewardModel(one_level)
    cfg = MCTSConfig(num_simulations=200, discount_factor=DISCOUNT)
    search = StochasticMuZeroSearch(model, cfg, leaf_mask_fn=model.leaf_mask)
    root = model.initial_inference(torch.zeros(1, 1))
    result = search.search(root, model.root_mask(0), add_exploration_noise=False)
    exact = expectimax_q(one_level, 0, DISCOUNT)
    np.testing.assert_allclose(result.q_values[0].numpy(), exact, atol=1e-5)

    exact = expectimax_q(MOVE_REWARD, 0, DISCOUNT)
    for model_class in (PerfectModel, AfterstateRewardModel):
        model = model_class(MOVE_REWARD)
        cfg = MCTSConfig(num_simulations=5000, discount_factor=DISCOUNT)
        search = StochasticMuZeroSearch(model, cfg, leaf_mask_fn=model.leaf_mask)
        root = model.initial_inference(torch.zeros(3, 1))
        result = search.search(root, np.eye(3, dtype=bool), add_exploration_noise=False)
        q = np.diag(result.q_values.numpy())
        np.testing.assert_allclose(q, exact, atol=0.1)
        assert (q <= exact + 1e-5).all()


def test_full_search_prefers_the_expectimax_action():
    exact = expectimax_q(TWO_LEVEL, 0, DISCOUNT)
    _, result = search_mdp(TWO_LEVEL, 2000, PerfectModel(TWO_LEVEL).root_mask(0))
    assert int(result.visit_counts[0].argmax()) == int(np.nanargmax(exact))
    best = int(np.nanargmax(exact))
    assert abs(float(result.q_values[0, best]) - exact[best]) < 0.05


def test_chance_codes_are_visited_in_proportion_to_their_prior():
    search, result = search_mdp(ONE_LEVEL, 101, np.array([[True, False, False]]))
    forest = search._forest
    chance = forest.children_index[0, 0, 0]
    assert forest.node_is_chance[0, chance] == 1 and forest.node_is_chance[0, 0] == 0
    codes = forest.children_index[0, chance, :3]
    visits = forest.node_visits[0, codes]
    # prior 0.5 / 0.3 / 0.2 over 100 visits of the afterstate (argmax P / (n + 1))
    np.testing.assert_allclose(visits, [50, 30, 20], atol=1)
    assert result.visit_counts[0].tolist() == [101, 0, 0]


def test_one_network_call_per_simulation_with_mixed_leaf_kinds():
    from pipezero.model.stochastic import StochasticMuZeroMLP

    torch.manual_seed(0)
    model = StochasticMuZeroMLP(8, 3, 5, latent_dim=16, hidden_dim=16, support_size=5)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.3)
    search = StochasticMuZeroSearch(model, MCTSConfig(num_simulations=30, seed=1))
    calls = []
    inner = model.stochastic_recurrent_inference

    def spy(latent, index, to_chance):
        calls.append(to_chance.clone())
        return inner(latent, index, to_chance)

    model.stochastic_recurrent_inference = spy
    result = search.search(model.initial_inference(torch.randn(6, 8)))
    assert len(calls) == result.num_network_calls <= 30
    assert any(c.any() and (~c).any() for c in calls), "some simulation mixed both kinds"
    assert result.visit_counts.shape == (6, 3) and result.visit_counts.sum(1).tolist() == [30] * 6
    assert torch.isfinite(result.root_value).all()


def test_stochastic_forest_rejects_unsupported_modes():
    with pytest.raises(ValueError, match="stochastic=True needs selection='puct'"):
        Forest(1, 4, 3, selection="gumbel", stochastic=True)
    model = PerfectModel(ONE_LEVEL)
    search = StochasticMuZeroSearch(model, {"num_simulations": 4})
    root = model.initial_inference(torch.zeros(1, 1))
    with pytest.raises(ValueError, match="reuse_action"):
        search.search(root, reuse_action=np.array([0]), reuse_value=[0.0], reuse_reward=[0.0])


def test_plain_forest_behaviour_is_unchanged_by_the_chance_flag():
    forest = Forest(1, 3, 2)
    assert not forest.stochastic
    forest.reset(
        np.zeros((1, 2), np.float32),
        np.zeros(1, np.float32),
        np.ones((1, 2), bool),
        np.full(1, -1, np.int32),
    )
    assert forest.simulate() == 1 and forest.eval_chance[0] == 0


def test_search_with_the_true_2048_model_takes_the_big_merge():
    from oracle2048 import Oracle2048

    from pipezero.envs.game2048 import LEFT, RIGHT, encode_board, legal_actions_mask

    board = np.zeros((4, 4), np.uint8)
    board[0, :2] = 6  # two 64s side by side: left or right scores 128
    board[2, 3] = 1
    oracle = Oracle2048()
    search = StochasticMuZeroSearch(
        oracle, MCTSConfig(num_simulations=40, discount_factor=0.99), leaf_mask_fn=oracle.leaf_mask
    )
    root = oracle.initial_inference(torch.from_numpy(encode_board(board)[None]))
    result = search.search(root, legal_actions_mask(board)[None], add_exploration_noise=False)
    best = int(result.visit_counts[0].argmax())
    assert best in (LEFT, RIGHT)
    assert result.q_values[0, best] >= 128  # the merge reward reaches the root's Q
