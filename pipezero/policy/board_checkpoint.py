"""Load a trained board-game agent from a checkpoint, as a player (``pipezero play``, benchmarks).

A checkpoint is found from a run directory (``best.pt``, else the newest of ``final.pt`` and
the periodic ones) or given as a file. The run's ``config.json`` (written by the recipe
runner, :mod:`pipezero.recipe`) says which algorithm (``alphazero``, ``muzero`` or
``gumbel_muzero``) and game it is; AlphaZero checkpoints also carry their policy
config, so a lone AlphaZero ``.pt`` file loads too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipezero.checkpoint import BEST_NAME, checkpoint_dir, latest_checkpoint, load_checkpoint
from pipezero.envs.board import BoardGame, make_game
from pipezero.policy.alphazero_build import find_run_config, load_alphazero_player


def find_checkpoint(path: str | os.PathLike[str]) -> Path:
    """``path`` itself if it is a file; for a run directory its ``best.pt``, else its newest
    checkpoint.

    Raises:
        FileNotFoundError: nothing usable there; the message lists what was looked for.
    """
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise FileNotFoundError(
            f"no checkpoint at {path}: give a run directory (the exp_dir of a recipe) or a "
            f".pt file from its ckpt/ folder"
        )
    best = checkpoint_dir(path) / BEST_NAME
    if best.is_file():
        return best
    found = latest_checkpoint(path)
    if found is None:
        raise FileNotFoundError(
            f"run directory {path} holds no checkpoint (looked for {best}, final.pt and "
            f"iter_*.pt in {checkpoint_dir(path)}); train first or pass a .pt file"
        )
    return found


def game_of_run(run_config: Mapping[str, Any] | None, game_name: str) -> BoardGame:
    """The game ``game_name`` built with the run's ``env.game_kwargs`` (board size...) when
    the run trained on that game."""
    kwargs: dict[str, Any] = {}
    if run_config is not None:
        env = run_config["config"].get("env", {})
        if env.get("game") not in (None, game_name):
            raise ValueError(
                f"the checkpoint was trained on {env.get('game')!r}, not {game_name!r}; "
                f"play it as: pipezero play {env.get('game')} ..."
            )
        kwargs = dict(env.get("game_kwargs") or {})
    return make_game(game_name, **kwargs)


def load_board_player(
    checkpoint: str | os.PathLike[str], game_name: str, num_simulations: int | None = None
) -> tuple[Any, BoardGame, Path]:
    """A player for ``game_name`` from a checkpoint or run directory.

    Args:
        checkpoint: a ``.pt`` file or a run directory.
        game_name: ``"tictactoe"``, ``"connect4"`` or ``"gomoku"``.
        num_simulations: search budget per move (default: the run's evaluation budget).

    Returns:
        ``(player, game, checkpoint_path)``: ``game`` is a fresh game of the trained size.

    Raises:
        FileNotFoundError: no checkpoint found.
        ValueError: the checkpoint is for another game or algorithm than can be loaded.
    """
    path = find_checkpoint(checkpoint)
    run_config = find_run_config(path)
    game = game_of_run(run_config, game_name)
    state = load_checkpoint(path)
    algorithm = run_config["algorithm"] if run_config is not None else None
    if algorithm in ("muzero", "gumbel_muzero"):
        return _load_muzero(state["policy"], run_config, game, num_simulations), game, path
    if algorithm not in (None, "alphazero"):
        raise ValueError(
            f"{path}: pipezero play knows alphazero, muzero and gumbel_muzero, not {algorithm!r}"
        )
    if algorithm is None and "config" not in state["policy"]:
        raise ValueError(
            f"cannot tell how to load {path}: its run has no config.json saying the algorithm "
            f"(alphazero or muzero) and the checkpoint holds no AlphaZero policy config"
        )
    player = load_alphazero_player(state["policy"], run_config, game, num_simulations)
    return player, game, path


def _load_muzero(
    policy_state: Mapping[str, Any],
    run_config: Mapping[str, Any],
    game: BoardGame,
    num_simulations: int | None,
) -> Any:
    from pipezero.model import MuZeroMLP
    from pipezero.policy import GumbelMuZeroPolicy, MuZeroPolicy
    from pipezero.policy.board_player import PolicyPlayer

    algorithm = run_config["algorithm"]
    cfg = dict(run_config["config"]["policy"])
    if num_simulations is not None:
        cfg["num_simulations"] = int(num_simulations)
    model = MuZeroMLP(game.observation_shape, game.num_actions, **cfg["model"])
    policy_class = GumbelMuZeroPolicy if algorithm == "gumbel_muzero" else MuZeroPolicy
    policy = policy_class(cfg, model)
    policy.model.load_state_dict(policy_state["model"])
    single = run_config["config"]["env"].get("battle_mode") == "play_with_bot"
    return PolicyPlayer(policy, single_player=single, name=algorithm)
