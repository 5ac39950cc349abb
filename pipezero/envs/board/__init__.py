"""Board games as fast NumPy environments with cheap state copies (for AlphaZero search).

- games: :class:`TicTacToeEnv`, :class:`Connect4Env`, :class:`GomokuEnv` (all
  :class:`BoardGame`), by name with :func:`make_game`;
- scripted players: :class:`RandomPlayer`, :class:`RuleBot`, :class:`MinimaxPlayer`
  (TicTacToe), by name with :func:`make_opponent` (:func:`make_opponents`: several);
- matches: :func:`play_match` / :func:`play_games`, results per side in :class:`MatchResult`;
- :class:`BoardGameGymEnv`: gymnasium view with the self-play and play-with-bot battle modes;
- :class:`PettingZooGame`: adapter for PettingZoo classic games (optional dependency).
"""

from pipezero.envs.board.arena import (
    MatchResult,
    Player,
    SideStats,
    choose_actions,
    play_games,
    play_match,
)
from pipezero.envs.board.base import BoardGame
from pipezero.envs.board.bots import RandomPlayer, RuleBot
from pipezero.envs.board.connect4 import Connect4Env
from pipezero.envs.board.gomoku import GomokuEnv
from pipezero.envs.board.gym_env import BATTLE_MODES, BoardGameGymEnv
from pipezero.envs.board.minimax import MinimaxPlayer
from pipezero.envs.board.pettingzoo_game import PettingZooGame
from pipezero.envs.board.registry import (
    GAMES,
    OPPONENTS,
    game_factory,
    make_game,
    make_opponent,
    make_opponents,
)
from pipezero.envs.board.tictactoe import TicTacToeEnv

__all__ = [
    "BATTLE_MODES",
    "GAMES",
    "OPPONENTS",
    "BoardGame",
    "BoardGameGymEnv",
    "Connect4Env",
    "GomokuEnv",
    "MatchResult",
    "MinimaxPlayer",
    "PettingZooGame",
    "Player",
    "RandomPlayer",
    "RuleBot",
    "SideStats",
    "TicTacToeEnv",
    "choose_actions",
    "game_factory",
    "make_game",
    "make_opponent",
    "make_opponents",
    "play_games",
    "play_match",
]
