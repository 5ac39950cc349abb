"""pipezero.mcts."""
