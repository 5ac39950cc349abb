"""Build the parts of an AlphaZero board-game run from its config, and read them back.

The recipes (``recipes/alphazero_*.py``) call :func:`build_alphazero` and then list their
middleware; ``pipezero play`` calls :func:`find_run_config` and :func:`load_alphazero_player`
on a checkpoint.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipezero.config import merge_config
from pipezero.data import ReplayBuffer
from pipezero.envs.board import BoardGame, Player, game_factory, make_opponent, make_opponents
from pipezero.model.alphazero_net import AlphaZeroNet
from pipezero.policy.alphazero import AlphaZeroPolicy, outcome_buffer_settings
from pipezero.policy.alphazero_config import ALPHAZERO_CONFIG
from pipezero.policy.board_player import AlphaZeroPlayer

#: The run's configuration in its run directory, written by the recipe runner
#: (:data:`pipezero.recipe.CONFIG_FILE`): ``{"recipe", "algorithm", "config", ...}``.
CONFIG_NAME = "config.json"


@dataclass
class AlphaZeroParts:
    """Everything a recipe assembles its chain from.

    Attributes:
        make_game: builds a fresh game of the configured kind.
        policy: the policy (network, optimizer, searches).
        buffer: replay buffer whose n-step targets are the final outcomes.
        agent: the policy as a player (noise-free search), for evaluation.
        opponents: evaluation opponents by name (``policy.eval_opponents``).
        bot: the collection opponent in ``play_with_bot`` mode, else ``None``.
    """

    make_game: Callable[[], BoardGame]
    policy: AlphaZeroPolicy
    buffer: ReplayBuffer
    agent: AlphaZeroPlayer
    opponents: dict[str, Player]
    bot: Player | None


def build_network(cfg: Mapping[str, Any], game: BoardGame) -> AlphaZeroNet:
    """The :class:`AlphaZeroNet` of ``cfg.policy.model`` for ``game``'s board."""
    return AlphaZeroNet(game.observation_shape, game.num_actions, **cfg["policy"]["model"])


def build_alphazero(cfg: Mapping[str, Any], device: str = "cpu") -> AlphaZeroParts:
    """Build the game factory, network, policy, buffer, agent and opponents of ``cfg``
    (a full AlphaZero config: ``seed``, ``env``, ``policy``); the network lives on
    ``device``."""
    env, p, seed = cfg["env"], cfg["policy"], int(cfg["seed"])
    make_game = game_factory(env["game"], **env["game_kwargs"])
    game = make_game()
    model = build_network(cfg, game)
    policy = AlphaZeroPolicy(p, model, symmetries=game.symmetries(), seed=seed, device=device)
    use_priority = bool(p["use_priority"])
    buffer = ReplayBuffer(
        capacity=int(p["replay_buffer_size"]),
        priority_prob_alpha=float(p["priority_prob_alpha"]) if use_priority else 0.0,
        priority_prob_beta=float(p["priority_prob_beta"]) if use_priority else 0.0,
        seed=seed,
        **outcome_buffer_settings(game.max_game_length),
    )
    opponents = make_opponents(p["eval_opponents"], seed)
    bot = None
    if env["battle_mode"] == "play_with_bot":
        bot = make_opponent(env["bot"], seed=seed + 99)
    return AlphaZeroParts(make_game, policy, buffer, AlphaZeroPlayer(policy), opponents, bot)


def find_run_config(checkpoint: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The ``config.json`` of the run a checkpoint belongs to (``RUN_DIR/ckpt/x.pt`` or
    ``RUN_DIR``), or ``None`` if there is none."""
    path = Path(checkpoint)
    for directory in (path, path.parent, path.parent.parent):
        candidate = directory / CONFIG_NAME
        if candidate.is_file():
            return json.loads(candidate.read_text())
    return None


def load_alphazero_player(
    policy_state: Mapping[str, Any],
    run_config: Mapping[str, Any] | None,
    game: BoardGame,
    num_simulations: int | None = None,
) -> AlphaZeroPlayer:
    """An :class:`AlphaZeroPlayer` from a checkpoint's ``policy`` state.

    Args:
        policy_state: ``checkpoint["policy"]`` (holds the policy config and the weights).
        run_config: the run's ``config.json`` content, or ``None``.
        game: a game of the kind the network was trained on.
        num_simulations: search budget per move (default: the run's
            ``eval_num_simulations``).

    Raises:
        ValueError: the weights do not fit the game's board.
    """
    policy_cfg = dict(policy_state.get("config") or {})
    if not policy_cfg and run_config is not None:
        policy_cfg = dict(run_config["config"]["policy"])
    cfg = merge_config(ALPHAZERO_CONFIG, {"policy": policy_cfg})
    if num_simulations is not None:
        cfg = merge_config(cfg, {"policy": {"eval_num_simulations": int(num_simulations)}})
    cfg = merge_config(cfg, {"policy": {"use_augmentation": False}})
    model = build_network(cfg, game)
    try:
        model.load_state_dict(policy_state["model"])
    except RuntimeError as err:
        raise ValueError(
            f"the checkpoint's network does not fit a {game.rows}x{game.cols} "
            f"{type(game).__name__}; was it trained on another game or board size? ({err})"
        ) from err
    return AlphaZeroPlayer(AlphaZeroPolicy(cfg["policy"], model, symmetries=game.symmetries()))
