"""Board games as fast NumPy environments with cheap state copies (for AlphaZero search)."""

from pipezero.envs.board.tictactoe import TicTacToeEnv

__all__ = ["TicTacToeEnv"]
