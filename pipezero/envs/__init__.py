"""pipezero.envs: gymnasium adapter and batched stepping (board games in pipezero.envs.board)."""

from pipezero.envs.batch_env import BatchEnv, BatchObs, BatchStep, EnvError
from pipezero.envs.gym_adapter import EnvObs, EpisodeStats, GymAdapter, StepResult

__all__ = [
    "BatchEnv",
    "BatchObs",
    "BatchStep",
    "EnvError",
    "EnvObs",
    "EpisodeStats",
    "GymAdapter",
    "StepResult",
]
