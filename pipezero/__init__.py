"""pipezero: MCTS-based reinforcement learning as an event-driven middleware pipeline."""

__version__ = "0.1.0"
