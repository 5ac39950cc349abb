"""AlphaZero search over real game states (Silver et al., 2018).

The trees hold environment copies instead of latents: node ``n`` of tree ``b`` keeps the game
reached by the actions on its path in a preallocated ``[B, N]`` object array. The simulations
run the drivers' shared loop (:mod:`pipezero.mcts.loop`): each selects one leaf per tree (C++);
this driver's leaf evaluation steps a copy of its parent's game with the chosen action and
evaluates the observations of all non-terminal leaves of the batch in one network call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import torch

from pipezero.mcts._common import (
    ArrayLike,
    f32,
    make_forest,
    root_noise_array,
    root_result,
)
from pipezero.mcts._mcts_core import Forest
from pipezero.mcts.config import MCTSConfig, as_config
from pipezero.mcts.loop import Expansion, LeafEvaluation, run_simulations
from pipezero.mcts.result import SearchResult

#: ``observations [M, *O]`` -> ``(policy_logits [M, A], value [M])``, the value from the
#: point of view of the player to move in each observation.
Evaluator = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


class SearchableGame(Protocol):
    """What AlphaZero search needs from a game (e.g. :class:`~pipezero.envs.board.TicTacToeEnv`).

    ``step`` returns gymnasium's ``(obs, reward, terminated, truncated, info)`` with the reward
    of the player who moved; ``to_play`` is -1 for single-player games, else 1 or 2.
    """

    num_actions: int
    to_play: int

    def copy(self) -> SearchableGame: ...

    def step(self, action: int) -> tuple[Any, float, bool, bool, dict[str, Any]]: ...

    def legal_actions_mask(self) -> np.ndarray: ...

    def observation(self) -> np.ndarray: ...


class AlphaZeroSearch:
    """Batched AlphaZero search with PUCT, min-max normalised Q and root Dirichlet noise.

    Args:
        evaluate: the network, ``observations [M, *O] -> (policy_logits [M, A], value [M])``.
        config: :class:`MCTSConfig` or mapping (``discount_factor`` is usually 1.0 here).

    Terminal states (``terminated``) become leaves with value 0 whose reward carries the
    outcome; ``truncated`` states are leaves valued by the network. Neither is expanded.
    """

    def __init__(
        self, evaluate: Evaluator, config: MCTSConfig | Mapping[str, Any] | None = None
    ) -> None:
        if not callable(evaluate):
            raise TypeError(
                f"AlphaZeroSearch: argument 'evaluate' must be callable "
                f"(observations -> (policy_logits, value)), got {type(evaluate).__name__}"
            )
        self.evaluate = evaluate
        self.config = as_config(config)
        self.rng = np.random.default_rng(self.config.seed)
        #: Cumulative network calls (roots included) and evaluated states.
        self.network_calls = 0
        self.leaf_evaluations = 0
        self._forest: Forest | None = None

    @torch.inference_mode()
    def search(
        self,
        games: Sequence[SearchableGame],
        *,
        add_exploration_noise: bool = True,
        root_noise: ArrayLike | None = None,
    ) -> SearchResult:
        """Search from the current state of each of the ``B`` games (they are not modified).

        Args:
            games: ``B`` games, all with the same ``num_actions`` ``A`` and not finished.
            add_exploration_noise: Dirichlet noise on the root priors (self-play).
            root_noise: ``[B, A]`` noise to use instead of a fresh Dirichlet sample.

        Returns:
            :class:`SearchResult`; ``num_network_calls`` counts the root evaluation too.
        """
        batch = len(games)
        if batch == 0:
            raise ValueError("AlphaZeroSearch.search: 'games' is empty; pass at least one game")
        num_actions = int(games[0].num_actions)
        mask = np.stack([g.legal_actions_mask() for g in games]).astype(np.bool_)
        if mask.shape != (batch, num_actions):
            raise ValueError(
                f"games[i].legal_actions_mask() must give [A] = [{num_actions}] bools each, "
                f"stacked {list(mask.shape)}"
            )
        to_play = np.array([g.to_play for g in games], dtype=np.int32)
        logits, value = self._evaluate(np.stack([g.observation() for g in games]), batch)
        forest = self._forest_for(batch, num_actions)
        noise = root_noise_array(self.config, self.rng, root_noise, add_exploration_noise, mask)
        forest.reset(
            logits, value, mask, to_play, noise=noise, noise_weight=self.config.root_noise_weight
        )
        states = np.empty(batch * forest.num_nodes_capacity, dtype=object)
        states[:: forest.num_nodes_capacity] = list(games)
        self.network_calls += 1
        self.leaf_evaluations += batch
        evaluate = self._leaf_evaluation(forest, states)
        calls, leaves = run_simulations(forest, self.config.num_simulations, evaluate)
        self.network_calls += calls
        self.leaf_evaluations += leaves
        return root_result(forest, calls + 1, leaves + batch)

    def _leaf_evaluation(self, forest: Forest, states: np.ndarray) -> LeafEvaluation:
        """Step a copy of each pending leaf's parent game with the chosen action (kept in
        ``states [B * N]`` at the new node), then evaluate the observations of the new
        non-terminal states in one network call."""
        parents, slots, nodes = forest.eval_parent, forest.eval_action, forest.eval_node
        num_actions = forest.num_actions

        def evaluate(m: int) -> Expansion:
            logits = np.zeros((m, num_actions), dtype=np.float32)
            values = np.zeros(m, dtype=np.float32)
            rewards = np.zeros(m, dtype=np.float32)
            legal = np.zeros((m, num_actions), dtype=np.bool_)
            players = np.empty(m, dtype=np.int32)
            evaluate_rows: list[int] = []
            observations = []
            for j in range(m):
                game = states[parents[j]].copy()
                _, reward, terminated, truncated, _ = game.step(int(slots[j]))
                states[nodes[j]] = game
                rewards[j] = reward
                players[j] = game.to_play
                if not terminated:
                    if not truncated:
                        legal[j] = game.legal_actions_mask()
                    evaluate_rows.append(j)
                    observations.append(game.observation())
            if evaluate_rows:
                batch_logits, batch_values = self._evaluate(
                    np.stack(observations), len(evaluate_rows)
                )
                logits[evaluate_rows] = batch_logits
                values[evaluate_rows] = batch_values
            return Expansion(logits, values, rewards, legal, players, len(evaluate_rows))

        return evaluate

    def _evaluate(self, observations: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
        logits, value = self.evaluate(torch.from_numpy(observations))
        logits, value = f32(logits), f32(value.reshape(-1))
        if logits.shape[0] != count or value.shape != (count,):
            raise ValueError(
                f"evaluate() must return policy_logits [M, A] and value [M] for M = {count} "
                f"observations, got {list(logits.shape)} and {list(value.shape)}"
            )
        return logits, value

    def _forest_for(self, batch: int, num_actions: int) -> Forest:
        forest = self._forest
        if forest is None or forest.batch_size != batch or forest.num_actions != num_actions:
            forest = make_forest(self.config, batch, num_actions, "puct", value_prefix=False)
            self._forest = forest
        return forest
