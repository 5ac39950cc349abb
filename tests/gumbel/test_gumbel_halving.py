"""Gumbel search on a bandit with known Q: Gumbel-top-k, sequential halving, completed Q."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gumbel_toy import BanditModel

from pipezero.mcts import GumbelMuZeroSearch, MCTSConfig, considered_visit_sequence


def search_bandit(q, num_simulations, m, logits=None, gumbel=None, noise=False):
    model = BanditModel(q, logits)
    config = MCTSConfig(num_simulations=num_simulations, max_num_considered_actions=m)
    root = model.initial_inference(torch.zeros(1, 1))
    search = GumbelMuZeroSearch(model, config)
    kwargs = {} if gumbel is None else {"gumbel": np.asarray([gumbel], dtype=np.float32)}
    return search.search(root, add_exploration_noise=noise, **kwargs)


def expected_visits_by_rank(m: int, num_simulations: int) -> list[int]:
    """Visits of the considered actions ranked by Q under sequential halving: the schedule
    ``considered_visit_sequence`` lists, per simulation, the visit count the chosen action
    has before it, so ``count(v)`` actions reach ``v + 1`` visits."""
    seq = considered_visit_sequence(m, num_simulations)
    counts = np.bincount(np.asarray(seq))
    return [int((counts > rank).sum()) for rank in range(m)]


def test_halving_keeps_the_better_half_by_q():
    # 4 arms, 8 simulations: one visit each, then the best two (by Q) get two more each.
    q = [0.1, 0.9, 0.5, 0.3]
    result = search_bandit(q, num_simulations=8, m=4)
    assert result.visit_counts[0].tolist() == [1, 3, 3, 1]
    assert int(result.action[0]) == 1  # tie 3-3 broken by logits + sigma(Q): the best arm
    np.testing.assert_allclose(result.q_values[0].numpy(), q, atol=1e-6)


@pytest.mark.parametrize(("num_arms", "num_simulations"), [(8, 32), (6, 20), (5, 50)])
def test_visits_follow_the_halving_schedule(num_arms, num_simulations):
    rng = np.random.default_rng(num_arms)
    q = rng.permutation(np.linspace(-1.0, 1.0, num_arms)).tolist()
    result = search_bandit(q, num_simulations, m=num_arms)
    visits = result.visit_counts[0].numpy()
    by_rank = visits[np.argsort(q)[::-1]]  # best arm first
    assert by_rank.tolist() == expected_visits_by_rank(num_arms, num_simulations)
    assert visits.sum() == num_simulations
    assert int(result.action[0]) == int(np.argmax(q))


def test_gumbel_top_k_considers_the_m_best_of_g_plus_logits():
    q = [0.9, 0.8, 0.1, 0.2]  # the best arms by Q are *not* among the sampled ones
    gumbel = [0.0, 0.5, 2.0, 1.0]  # top-2 of g + logits (uniform logits): arms 2 and 3
    result = search_bandit(q, num_simulations=8, m=2, gumbel=gumbel)
    assert result.visit_counts[0].tolist() == [0, 0, 4, 4]
    # tie 4-4, broken by g + logits + sigma(completed Q): the completed Qs 0.1 (arm 2), 0.2
    # (arm 3) and v_mix = 8 * 0.15 / 9 (arms 0, 1) rescale to 0 and 1, so arm 2 scores
    # 2.0 + 0 and arm 3 scores 1.0 + (50 + 4) * 0.1 = 6.4: the search overrules the noise
    assert int(result.action[0]) == 3


def test_improved_policy_is_softmax_of_logits_plus_sigma_of_completed_q():
    q = [0.9, 0.8, 0.1, 0.2]
    logits = [0.3, -0.2, 0.5, 0.1]
    gumbel = [-5.0, -5.0, 5.0, 5.0]  # consider arms 2 and 3 only: 0 and 1 stay unvisited
    result = search_bandit(q, num_simulations=8, m=2, logits=logits, gumbel=gumbel)
    visits = result.visit_counts[0].numpy().astype(np.float64)
    assert visits.tolist() == [0, 0, 4, 4]
    prior = np.exp(logits) / np.exp(logits).sum()
    seen = visits > 0
    # completed Q: Q for visited arms, the mixed value for the others (root value v = 0)
    v_mix = 0.0 + visits.sum() * (prior[seen] * np.array(q)[seen]).sum() / prior[seen].sum()
    v_mix /= 1.0 + visits.sum()
    completed = np.where(seen, q, v_mix)
    rescaled = (completed - completed.min()) / (completed.max() - completed.min())
    sigma = (50.0 + visits.max()) * 0.1 * rescaled  # maxvisit_init = 50, value_scale = 0.1
    expected = np.exp(np.log(prior) + sigma)
    expected /= expected.sum()
    np.testing.assert_allclose(result.improved_policy[0].numpy(), expected, rtol=1e-4)
    np.testing.assert_allclose(result.policy_target[0].numpy(), expected, rtol=1e-4)
