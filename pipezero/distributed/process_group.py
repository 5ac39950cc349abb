"""torch.distributed helpers: ranks, collectives on tensors and Python numbers, launch checks.

Every helper works with and without a running process group: without one (a plain
``python recipe.py``) the rank is 0, the world size 1 and every collective returns its input
unchanged, so library code calls them unconditionally. This is what LightZero users know as
``ddp_synchronize`` (:func:`barrier`) and ``ddp_all_reduce_sum`` (:func:`all_reduce_sum`); both
names are kept as aliases.

A process group is started by :func:`init_distributed` from the environment ``torchrun`` sets
(``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``): gloo on CPU,
NCCL when CUDA is available.
"""

from __future__ import annotations

import atexit
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist

__all__ = [
    "TORCHRUN_ENV_VARS",
    "DistInfo",
    "all_gather_object",
    "all_reduce_mean",
    "all_reduce_sum",
    "barrier",
    "broadcast_object",
    "collective_device",
    "ddp_all_reduce_sum",
    "ddp_synchronize",
    "get_rank",
    "get_world_size",
    "init_distributed",
    "is_initialized",
    "is_rank0",
    "rank_seed",
    "shutdown_distributed",
]

logger = logging.getLogger(__name__)

#: Variables ``torchrun`` sets for every process it starts; :func:`init_distributed` needs them.
TORCHRUN_ENV_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
#: Seeds of rank ``r`` are offset by ``r * RANK_SEED_STRIDE`` (see :func:`rank_seed`).
RANK_SEED_STRIDE = 100_003

T = TypeVar("T")


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the process group.

    Attributes:
        rank: global rank, ``0 .. world_size - 1``.
        world_size: number of processes.
        local_rank: rank on this node (selects the GPU with NCCL).
        backend: ``"gloo"``, ``"nccl"``, or ``"none"`` without a process group.
    """

    rank: int
    world_size: int
    local_rank: int
    backend: str


def is_initialized() -> bool:
    """Whether a default process group is running."""
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    """Global rank of this process; 0 without a process group."""
    return dist.get_rank() if is_initialized() else 0


def get_world_size() -> int:
    """Number of processes in the group; 1 without a process group."""
    return dist.get_world_size() if is_initialized() else 1


def is_rank0() -> bool:
    """True on rank 0 and without a process group: the process that evaluates, logs, saves."""
    return get_rank() == 0


def rank_seed(seed: int) -> int:
    """``seed`` on rank 0, ``seed + rank * 100003`` on other ranks: distinct collection seeds
    per rank, while rank 0 reproduces the single-process run."""
    return int(seed) + get_rank() * RANK_SEED_STRIDE


def collective_device() -> torch.device:
    """Where tensors must live for the group's collectives: the current CUDA device with NCCL,
    the CPU otherwise."""
    if is_initialized() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def barrier() -> None:
    """Wait until every rank reaches this call; no-op without a process group."""
    if get_world_size() > 1:
        dist.barrier()


def _check_reducible(value: Any) -> None:
    if isinstance(value, torch.Tensor):
        return
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(
            f"all_reduce_sum/mean reduce tensors and numbers, got {type(value).__name__} "
            f"({value!r}); convert it to a tensor first"
        )


def _reduce_sum(value: T) -> T:
    """Sum of ``value`` over the ranks, same type and (for tensors) same device as ``value``."""
    if isinstance(value, torch.Tensor):
        out = value.detach().to(collective_device(), copy=True)
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out.to(value.device)  # type: ignore[return-value]
    is_int = isinstance(value, int | np.integer)
    dtype = torch.int64 if is_int else torch.float64
    out = torch.tensor([value], dtype=dtype, device=collective_device())
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return int(out.item()) if is_int else float(out.item())  # type: ignore[return-value]


def all_reduce_sum(value: T) -> T:
    """Sum of ``value`` (tensor, int or float) over every rank; ``value`` itself without a
    process group. Tensors are not modified in place; a reduced copy on the same device is
    returned. Every rank must call it with the same shape and dtype, in the same order."""
    _check_reducible(value)
    if get_world_size() == 1:
        return value
    return _reduce_sum(value)


def all_reduce_mean(value: T) -> T:
    """Mean of ``value`` over every rank (ints become floats); ``value`` without a group."""
    _check_reducible(value)
    if get_world_size() == 1:
        return value
    total = _reduce_sum(value)
    if isinstance(total, torch.Tensor):
        if not torch.is_floating_point(total):
            total = total.double()
        return total / get_world_size()  # type: ignore[return-value]
    return total / get_world_size()  # type: ignore[operator,return-value]


def broadcast_object(obj: T, src: int = 0) -> T:
    """``obj`` of rank ``src`` on every rank (picklable objects); ``obj`` without a group."""
    if get_world_size() == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src, device=collective_device())
    return box[0]


def all_gather_object(obj: T) -> list[T]:
    """``[obj of rank 0, obj of rank 1, ...]`` on every rank; ``[obj]`` without a group."""
    if get_world_size() == 1:
        return [obj]
    out: list[Any] = [None] * get_world_size()
    dist.all_gather_object(out, obj)
    return out


ddp_synchronize = barrier
ddp_all_reduce_sum = all_reduce_sum


def _launch_hint(script: str | None) -> str:
    target = script or "recipes/muzero_cartpole.py"
    return (
        f"launch with torchrun, e.g. `torchrun --nproc_per_node=2 {target} --ddp` "
        f"(one node) or `torchrun --nnodes=2 --node_rank=R --nproc_per_node=2 "
        f"--master_addr=HOST0 --master_port=29500 {target} --ddp` on node R = 0, 1 (HOST0: "
        f"the address of node 0)"
    )


def init_distributed(
    backend: str | None = None,
    *,
    timeout_s: float = 1800.0,
    env: Mapping[str, str] | None = None,
    script: str | None = None,
) -> DistInfo:
    """Start the default process group from torchrun's environment (idempotent).

    Args:
        backend: ``"gloo"`` or ``"nccl"``; ``None``: NCCL when CUDA is available, else gloo.
            With NCCL the process uses GPU ``LOCAL_RANK``.
        timeout_s: seconds a collective may wait for the other ranks before failing (a rank
            that died or stopped calling collectives turns into an error, not a hang).
        env: the environment to read (default ``os.environ``).
        script: the script name used in error messages' launch example.

    Returns:
        This process's :class:`DistInfo`.

    Raises:
        RuntimeError: torchrun's variables are missing (the message says how to launch), the
            values are not integers, NCCL was asked for without CUDA, or torch has no
            distributed support.
    """
    if is_initialized():
        return _info()
    if not dist.is_available():
        raise RuntimeError(
            "this torch build has no torch.distributed support; install a build with it to "
            "use --ddp"
        )
    env = os.environ if env is None else env
    missing = [k for k in TORCHRUN_ENV_VARS if k not in env]
    if missing:
        raise RuntimeError(
            f"--ddp needs the environment torchrun sets for each process ({', '.join(missing)} "
            f"missing); {_launch_hint(script)}. Without --ddp the recipe runs in one process."
        )
    try:
        rank, world, local = (int(env[k]) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    except ValueError as exc:
        raise RuntimeError(
            f"RANK/WORLD_SIZE/LOCAL_RANK must be integers, got RANK={env['RANK']!r}, "
            f"WORLD_SIZE={env['WORLD_SIZE']!r}, LOCAL_RANK={env['LOCAL_RANK']!r}"
        ) from exc
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend not in ("gloo", "nccl"):
        raise ValueError(f"backend must be 'gloo' or 'nccl' (or None), got {backend!r}")
    if backend == "nccl":
        if not torch.cuda.is_available():
            raise RuntimeError("backend 'nccl' needs CUDA; use 'gloo' on CPU")
        torch.cuda.set_device(local)
    addr = env["MASTER_ADDR"]
    host = f"[{addr}]" if ":" in addr and not addr.startswith("[") else addr  # IPv6
    dist.init_process_group(
        backend=backend,
        init_method=f"tcp://{host}:{env['MASTER_PORT']}",
        rank=rank,
        world_size=world,
        timeout=timedelta(seconds=float(timeout_s)),
    )
    atexit.register(shutdown_distributed)
    info = _info()
    logger.info(
        "process group started: rank %d of %d (local rank %d), backend %s",
        info.rank,
        info.world_size,
        info.local_rank,
        info.backend,
    )
    return info


def shutdown_distributed() -> None:
    """Destroy the default process group if one is running (safe to call twice).

    Every rank first waits for the others (at most 60 s): rank 0 hosts the rendezvous store,
    and a rank that tears its group down while another is still finishing can abort that
    rank's teardown (seen as ``terminate called without an active exception``).
    """
    if not is_initialized():
        return
    try:
        if dist.get_backend() == "gloo":
            dist.monitored_barrier(timeout=timedelta(seconds=60))
        else:
            dist.barrier()
    except RuntimeError as exc:  # another rank died or left: shut down anyway
        logger.warning("process group shut down without a final barrier: %s", exc)
    dist.destroy_process_group()


def _info() -> DistInfo:
    if not is_initialized():
        return DistInfo(rank=0, world_size=1, local_rank=0, backend="none")
    local = int(os.environ.get("LOCAL_RANK", dist.get_rank()))
    return DistInfo(dist.get_rank(), dist.get_world_size(), local, str(dist.get_backend()))
