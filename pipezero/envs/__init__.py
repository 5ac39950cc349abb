"""pipezero.envs: gymnasium adapter and batched stepping (board games in pipezero.envs.board;
2048 in pipezero.envs.game2048, registered with gymnasium as ``pipezero/Game2048-v0``)."""

from pipezero.envs.batch_env import BatchEnv, BatchObs, BatchStep, EnvError
from pipezero.envs.game2048 import Game2048, Game2048Env
from pipezero.envs.gym_adapter import EnvObs, EpisodeStats, GymAdapter, StepResult

__all__ = [
    "BatchEnv",
    "BatchObs",
    "BatchStep",
    "EnvError",
    "EnvObs",
    "EpisodeStats",
    "Game2048",
    "Game2048Env",
    "GymAdapter",
    "StepResult",
]
