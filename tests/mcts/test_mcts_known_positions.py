"""Searches that must reach a known answer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mcts_fakes import HashModel, hashed_legal

from pipezero.envs.board import TicTacToeEnv
from pipezero.mcts import (
    AlphaZeroSearch,
    GumbelMuZeroSearch,
    MCTSConfig,
    MuZeroSearch,
    reanalyze_backward,
)
from pipezero.model.protocol import NetworkOutput


def uniform_evaluator(calls: list[int]):
    """A network that knows nothing: uniform policy, value 0 (pure search)."""

    def evaluate(obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        calls.append(obs.shape[0])
        return torch.zeros(obs.shape[0], 9), torch.zeros(obs.shape[0])

    return evaluate


def position(moves: list[int]) -> TicTacToeEnv:
    env = TicTacToeEnv()
    env.reset()
    for move in moves:
        env.step(move)
    return env


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_alphazero_tictactoe_wins_and_blocks(seed: int) -> None:
    # Game 0: X (player 1) holds 0 and 1 and is to move: 2 wins at once.
    # Game 1: X holds 0 and 1, O (player 2) is to move: O must block at 2.
    # Game 2: O holds 6 and 7, O is to move (X threatens 0-1-2 too): 8 wins for O.
    games = [position([0, 3, 1, 4]), position([0, 4, 1]), position([0, 6, 1, 7, 5])]
    calls: list[int] = []
    cfg = MCTSConfig(num_simulations=300, discount_factor=1.0, seed=seed)
    result = AlphaZeroSearch(uniform_evaluator(calls), cfg).search(
        games, add_exploration_noise=False
    )
    assert result.visit_counts.argmax(dim=1).tolist() == [2, 2, 8]
    assert result.visit_counts.sum(dim=1).tolist() == [300, 300, 300]
    # one batched call for the roots, then at most one per simulation
    assert len(calls) == result.num_network_calls <= 301
    assert max(calls) <= 3
    assert [g.board.tolist() for g in games] == [
        position([0, 3, 1, 4]).board.tolist(),
        position([0, 4, 1]).board.tolist(),
        position([0, 6, 1, 7, 5]).board.tolist(),
    ], "the search must not modify the games it was given"


def test_alphazero_never_selects_occupied_cells() -> None:
    game = position([4, 0, 8])
    search = AlphaZeroSearch(uniform_evaluator([]), MCTSConfig(num_simulations=200, seed=3))
    result = search.search([game])
    assert result.visit_counts[0, [0, 4, 8]].tolist() == [0, 0, 0]
    forest = search._forest
    legal = forest.children_legal.astype(bool)
    children = forest.children_index
    assert (children[~legal] == -1).all()


def test_masked_actions_are_never_selected() -> None:
    a, b = 6, 8
    model = HashModel(a, logit_levels=2)
    roots = model.initial_inference(torch.arange(b))
    rng = np.random.default_rng(0)
    mask = rng.random((b, a)) > 0.5
    mask[:, 0] = True

    def leaf_mask(out: NetworkOutput) -> np.ndarray:
        return np.array(
            [hashed_legal(int(h), a, terminal_rate=0.0) for h in out.latent[:, 0].tolist()]
        )

    search = MuZeroSearch(model, MCTSConfig(num_simulations=200, seed=1), leaf_mask_fn=leaf_mask)
    result = search.search(roots, mask)
    assert (result.visit_counts[torch.from_numpy(~mask)] == 0).all()
    forest = search._forest
    used = forest.node_visits > 0  # [B, N]
    legal = forest.children_legal.astype(bool)  # [B, N, A]
    children = forest.children_index
    assert (children[used][~legal[used]] == -1).all()
    for tree in range(b):
        for node in np.flatnonzero(used[tree])[1:]:
            parent = forest.node_parent[tree, node]
            assert legal[tree, parent, forest.node_action[tree, node]]


class BanditModel:
    """One-step bandit: arm ``a`` pays ``q[b, a]`` and leads to a state of value 0."""

    def __init__(self, q: torch.Tensor) -> None:
        self.q = q

    def recurrent_inference(self, latent, action, hidden=None) -> NetworkOutput:
        rows = latent[:, 0].long()
        n = len(rows)
        return NetworkOutput(
            latent=latent,
            policy_logits=torch.zeros(n, self.q.shape[1]),
            value=torch.zeros(n),
            reward=self.q[rows, action],
        )


@pytest.mark.parametrize(
    ("num_simulations", "considered"), [(2, 4), (5, 4), (16, 4), (64, 4), (8, 8), (40, 8)]
)
def test_gumbel_improved_policy_is_never_worse_than_prior(
    num_simulations: int, considered: int
) -> None:
    """Danihelka et al. (2022), policy improvement with completed Q: the improved policy's
    expected completed Q is at least the prior's. Visited arms have their true Q here, so
    when every arm is visited this is the true expected payoff."""
    gen = torch.Generator().manual_seed(num_simulations)
    b, a = 64, 8
    q = torch.rand(b, a, generator=gen) * 2 - 1
    logits = torch.randn(b, a, generator=gen) * 2
    prior = torch.softmax(logits, 1)
    root_value = (prior * q).sum(1)
    root = NetworkOutput(
        latent=torch.arange(b, dtype=torch.float32).view(b, 1),
        policy_logits=logits,
        value=root_value,
        reward=torch.zeros(b),
    )
    cfg = MCTSConfig(
        num_simulations=num_simulations, max_num_considered_actions=considered, discount_factor=1.0
    )

    def terminal(out: NetworkOutput) -> np.ndarray:  # every arm ends the episode
        return np.zeros(tuple(out.policy_logits.shape), dtype=bool)

    result = GumbelMuZeroSearch(BanditModel(q), cfg, leaf_mask_fn=terminal).search(root)
    q_visited = result.q_values[result.visit_counts > 0]
    torch.testing.assert_close(q_visited, q[result.visit_counts > 0])
    visited = result.visit_counts > 0
    total = result.visit_counts.sum(1)
    mean_visited_q = (prior * q * visited).sum(1) / (prior * visited).sum(1)
    v_mix = (root_value + total * mean_visited_q) / (1 + total)
    completed_q = torch.where(visited, q, v_mix[:, None])
    improved_value = (result.improved_policy * completed_q).sum(1)
    assert (improved_value >= (prior * completed_q).sum(1) - 1e-5).all()
    if num_simulations >= a and considered >= a:
        assert visited.all()
        assert ((result.improved_policy * q).sum(1) >= root_value - 1e-5).all()
    assert torch.allclose(result.improved_policy.sum(1), torch.ones(b))
    assert result.action.shape == (b,)


class ChainModel:
    """Deterministic chain of ``length`` states: action 0 pays 1, others pay 0; every action
    moves one step right; values are exact (discount 1). Counts its calls."""

    def __init__(self, length: int, num_actions: int = 3) -> None:
        self.length, self.num_actions, self.calls = length, num_actions, 0

    def _out(self, s: torch.Tensor, reward: torch.Tensor) -> NetworkOutput:
        remaining = (self.length - s).clamp_min(0).float()
        return NetworkOutput(
            latent=s.view(-1, 1).float(),
            policy_logits=torch.zeros(len(s), self.num_actions),
            value=remaining,
            reward=reward,
        )

    def initial_inference(self, obs: torch.Tensor) -> NetworkOutput:
        return self._out(obs.long(), torch.zeros(len(obs)))

    def recurrent_inference(self, latent, action, hidden=None) -> NetworkOutput:
        self.calls += 1
        s = latent[:, 0].long()
        reward = ((action == 0) & (s < self.length)).float()
        return self._out(s + 1, reward)


def test_rezero_reuse_same_action_fewer_network_calls() -> None:
    length, sims = 6, 30
    cfg = MCTSConfig(num_simulations=sims, discount_factor=1.0)
    obs = torch.arange(length).view(length, 1)  # T = 6 steps of one trajectory (B = 1)
    actions = torch.zeros(length, 1, dtype=torch.long)
    rewards = torch.ones(length, 1)

    full_model = ChainModel(length)
    full = MuZeroSearch(full_model, cfg)
    full_actions, full_calls = [], 0
    for t in range(length):
        r = full.search(full_model.initial_inference(obs[t]), add_exploration_noise=False)
        full_actions.append(int(r.visit_counts.argmax()))
        full_calls += r.num_network_calls
    assert full_calls == full_model.calls == length * sims

    reuse_model = ChainModel(length)
    out = reanalyze_backward(
        MuZeroSearch(reuse_model, cfg),
        reuse_model,
        obs,
        actions,
        rewards,
        bootstrap_value=torch.zeros(1),
    )
    assert out.visit_counts.argmax(dim=2)[:, 0].tolist() == full_actions == [0] * length
    assert out.num_network_calls == reuse_model.calls < full_calls
    # the reused child of every step but the last got the searched value of the next step
    assert out.root_value.shape == (length, 1) and torch.isfinite(out.root_value).all()
