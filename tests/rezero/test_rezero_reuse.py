"""Backward-view reuse: equal to a full search where the reused value is exact, and cheaper."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rezero_toy import A, ConstantModel, episode_segments

from pipezero.mcts import MCTSConfig, MuZeroSearch
from pipezero.model import MuZeroMLP
from pipezero.policy.rezero_reanalyze import ReanalyzeResult, reanalyze_windows

# r = 0.25, discount 0.5: v = r / (1 - discount) = 0.5, exact in binary.
VALUE, REWARD, DISCOUNT = 0.5, 0.25, 0.5
LOGITS = [0.0, 0.37, 1.13]  # distinct priors: no ties, so no tie-breaking draws


def constant_search(model: ConstantModel, sims: int = 30) -> MuZeroSearch:
    return MuZeroSearch(model, MCTSConfig(num_simulations=sims, discount_factor=DISCOUNT, seed=3))


def test_reused_root_child_gives_the_same_search_as_expanding_it():
    model = ConstantModel(VALUE, REWARD, LOGITS)
    root = model.initial_inference(torch.zeros(4, 2))
    full = constant_search(model).search(root, add_exploration_noise=False)
    full_states = model.states
    taken = np.array([0, 1, 2, 2])
    reused = constant_search(model).search(
        root,
        add_exploration_noise=False,
        reuse_action=taken,
        reuse_value=np.full(4, VALUE, np.float32),
        reuse_reward=np.full(4, REWARD, np.float32),
    )
    np.testing.assert_array_equal(reused.visit_counts.numpy(), full.visit_counts.numpy())
    np.testing.assert_allclose(reused.root_value.numpy(), full.root_value.numpy(), atol=1e-6)
    # simulations that chose the reused child evaluated no state
    assert model.states - full_states < full_states - root.value.shape[0]
    assert reused.num_leaf_evaluations < full.num_leaf_evaluations


def test_backward_windows_with_reuse_equal_full_reanalysis_when_values_are_exact():
    segments = episode_segments(15, terminated=False)  # truncated: every window ends searched
    model = ConstantModel(VALUE, REWARD, LOGITS)
    full = reanalyze_windows(segments, model, constant_search(model), reuse=False)
    reuse = reanalyze_windows(segments, model, constant_search(model), reuse=True)
    for a, b in zip(full.child_visits, reuse.child_visits, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    for a, b in zip(full.root_values, reuse.root_values, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert reuse.num_state_evaluations < full.num_state_evaluations
    assert reuse.num_reused_roots == full.num_states - len(segments)  # all but each last one


def test_full_reanalysis_evaluates_one_root_and_one_leaf_per_simulation():
    segments = episode_segments(20)
    sims = 7
    model = ConstantModel(VALUE, REWARD, LOGITS)
    result = reanalyze_windows(segments, model, constant_search(model, sims), reuse=False)
    positions = sum(s.length + s.num_padding for s in segments)
    assert result.num_states == positions
    assert result.num_state_evaluations == positions * (1 + sims)
    assert result.evaluations_per_state == 1 + sims
    # the counted calls and states are the ones the model saw
    assert result.num_network_calls == model.calls
    assert result.num_state_evaluations == model.states
    assert [v.shape for v in result.child_visits] == [
        (s.length + s.num_padding, A) for s in segments
    ]


def test_reuse_counts_fewer_states_with_a_learned_model():
    torch.manual_seed(0)
    segments = episode_segments(30, seed=1)
    mlp = MuZeroMLP((2,), A, latent_dim=16, hidden_dim=16, support_size=5, reward_support_size=5)
    cfg = MCTSConfig(num_simulations=10, seed=0)
    full = reanalyze_windows(segments, mlp, MuZeroSearch(mlp, cfg), reuse=False)
    reuse = reanalyze_windows(segments, mlp, MuZeroSearch(mlp, cfg), reuse=True)
    assert full.evaluations_per_state == 11
    assert reuse.evaluations_per_state < full.evaluations_per_state
    for visits in reuse.child_visits:
        np.testing.assert_allclose(visits.sum(axis=1), 1.0, atol=1e-5)


def test_terminal_end_is_reused_with_value_zero():
    """The last transition before a terminal state reuses value 0 (exact), so every position of
    a window that ends the episode is reused."""
    segments = episode_segments(4, terminated=True)  # one short segment, final obs at 4
    model = ConstantModel(0.0, 0.0, LOGITS)
    result = reanalyze_windows(segments, model, constant_search(model), reuse=True)
    assert result.num_reused_roots == result.num_states == 4


def test_empty_input():
    model = ConstantModel(VALUE, REWARD, LOGITS)
    assert reanalyze_windows([], model, constant_search(model)) == ReanalyzeResult([], [])


@pytest.mark.parametrize("reuse", [True, False])
def test_windows_of_different_lengths_are_searched_together(reuse):
    segments = episode_segments(9) + episode_segments(3, seed=2, marker=1.0)
    lengths = [s.length + s.num_padding for s in segments]
    assert len(set(lengths)) > 1
    model = ConstantModel(VALUE, REWARD, LOGITS)
    together = reanalyze_windows(segments, model, constant_search(model), reuse=reuse)
    alone = [reanalyze_windows([s], model, constant_search(model), reuse=reuse) for s in segments]
    for joint, single in zip(together.child_visits, alone, strict=True):
        np.testing.assert_allclose(joint, single.child_visits[0], atol=1e-6)
