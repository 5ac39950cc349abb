"""pipezero.distributed: several learner processes (torch.distributed) and Ray self-play.

- :mod:`~pipezero.distributed.process_group`: ranks and collectives that are no-ops without a
  process group, and the process group started from torchrun's environment;
- :mod:`~pipezero.distributed.grad_sync`: gradient averaging hooked into autograd;
- :mod:`~pipezero.distributed.rank0`: run a middleware on rank 0 only;
- :mod:`~pipezero.distributed.ray_collector`: a pool of Ray actors with weight broadcast and
  restarts (imports ``ray`` only when used; ``pip install "pipezero[ray]"``).
"""

from .grad_sync import GradientAverager, broadcast_module
from .process_group import (
    TORCHRUN_ENV_VARS,
    DistInfo,
    all_gather_object,
    all_reduce_mean,
    all_reduce_sum,
    barrier,
    broadcast_object,
    collective_device,
    ddp_all_reduce_sum,
    ddp_synchronize,
    get_rank,
    get_world_size,
    init_distributed,
    is_initialized,
    is_rank0,
    rank_seed,
    shutdown_distributed,
)
from .rank0 import rank0_only
from .ray_collector import ActorResult, RayActorPool, SelfPlayWorker, import_ray, init_local_ray

__all__ = [
    "TORCHRUN_ENV_VARS",
    "ActorResult",
    "DistInfo",
    "GradientAverager",
    "RayActorPool",
    "SelfPlayWorker",
    "all_gather_object",
    "all_reduce_mean",
    "all_reduce_sum",
    "barrier",
    "broadcast_module",
    "broadcast_object",
    "collective_device",
    "ddp_all_reduce_sum",
    "ddp_synchronize",
    "get_rank",
    "get_world_size",
    "import_ray",
    "init_distributed",
    "init_local_ray",
    "is_initialized",
    "is_rank0",
    "rank0_only",
    "rank_seed",
    "shutdown_distributed",
]
