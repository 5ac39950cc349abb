"""PettingZoo classic games through the adapter (skipped when pettingzoo is not installed)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip(
    "pettingzoo.classic",
    reason="pettingzoo[classic] is optional and not installed: pip install 'pettingzoo[classic]'",
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pettingzoo's own

from pipezero.envs.board import PettingZooGame, RandomPlayer, play_match  # noqa: E402
from pipezero.mcts import AlphaZeroSearch, MCTSConfig  # noqa: E402


def test_tictactoe_adapter_tracks_players_rewards_and_winner() -> None:
    game = PettingZooGame("tictactoe_v3", seed=0)
    assert (game.num_actions, game.observation_shape, game.to_play) == (9, (3, 3, 3), 1)
    # PettingZoo numbers cells column by column: 0, 3, 6 is the top row.
    steps = [game.step(a) for a in (0, 1, 3, 4, 6)]
    assert [s[1] for s in steps] == [0, 0, 0, 0, 1.0] and steps[-1][2]
    assert game.winner == 1 and game.done and not game.legal_actions_mask().any()
    with pytest.raises(RuntimeError, match="game is over"):
        game.step(2)
    game.reset()
    game.step(4)
    with pytest.raises(ValueError, match=r"action 4 is illegal; legal actions are \[0, 1, 2, 3, 5"):
        game.step(4)
    obs = game.observation()
    assert obs.dtype == np.float32 and obs[1].sum() == 1 and obs[2].max() == 0  # O to move


def test_copies_are_independent_and_search_finds_the_win() -> None:
    game = PettingZooGame("connect_four_v3", seed=0)
    for column in (0, 6, 1, 6, 2):  # X threatens to complete the bottom row at column 3
        game.step(column)
    game.step(5)
    clone = game.copy()
    clone.step(3)
    assert clone.winner == 1 and game.winner is None and game.num_moves == 6

    def uniform(obs):
        import torch

        return torch.zeros(len(obs), 7), torch.zeros(len(obs))

    search = AlphaZeroSearch(uniform, MCTSConfig(num_simulations=100, discount_factor=1.0))
    result = search.search([game], add_exploration_noise=False)
    assert int(result.visit_counts.argmax()) == 3


def test_random_matches_run_to_the_end() -> None:
    result = play_match(lambda: PettingZooGame("tictactoe_v3"), RandomPlayer(0), RandomPlayer(1), 6)
    assert result.total.games == 6
