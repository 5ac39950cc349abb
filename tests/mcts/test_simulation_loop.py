"""The simulation loop shared by the drivers (pipezero/mcts/loop.py)."""

from __future__ import annotations

import numpy as np

from pipezero.mcts import Forest
from pipezero.mcts.loop import Expansion, run_simulations


def test_loop_evaluates_only_pending_leaves_and_counts_network_calls() -> None:
    # Two trees of two root actions whose children are all terminal: at most four leaves
    # ever need an evaluation, the remaining simulations only back up.
    batch, sims, actions = 2, 8, 2
    forest = Forest(batch, sims, actions, discount=1.0, seed=0)
    forest.reset(
        np.zeros((batch, actions), np.float32),
        np.zeros(batch, np.float32),
        np.ones((batch, actions), bool),
        np.full(batch, -1, np.int32),
    )
    seen: list[int] = []

    def evaluate(m: int) -> Expansion:
        assert forest.num_pending == m
        seen.append(m)
        # odd calls pretend no network was needed (AlphaZero: only terminal states)
        evaluated = m if len(seen) % 2 else 0
        return Expansion(
            np.zeros((m, actions), np.float32),
            np.full(m, 0.5, np.float32),
            np.ones(m, np.float32),
            np.zeros((m, actions), bool),  # terminal: no legal action
            None,
            evaluated,
        )

    calls, leaves = run_simulations(forest, sims, evaluate)
    assert seen and min(seen) >= 1 and sum(seen) == batch * actions
    assert len(seen) < sims  # the other simulations had nothing to evaluate
    assert calls == len(seen[0::2])
    assert leaves == sum(seen[0::2])
    visits = forest.root_visit_counts()
    np.testing.assert_array_equal(visits.sum(axis=1), [sims, sims])
    np.testing.assert_array_equal(forest.node_kind[:, 1 : 1 + actions], 1)  # terminal nodes
    # every return is reward 1 + value 0.5 (terminal nodes back up their stored value)
    np.testing.assert_allclose(forest.root_q_values(), 1.5)
