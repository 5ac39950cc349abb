"""Gradient averaging across ranks, hooked into autograd so policies need no change.

:class:`GradientAverager` registers a post-accumulate hook on every trainable parameter of a
module. The first hook that fires in a backward pass queues one callback at the end of that
backward pass (the mechanism torch's own data-parallel wrappers use); the callback flattens
every gradient into one buffer per dtype, all-reduces it and writes the mean back. So when
``loss.backward()`` returns, the gradients are the mean over the ranks, *before* the policy
clips their norm, checks them for NaN and steps the optimizer. With equal per-rank batches this
is exactly the gradient of the mean loss over the concatenated batch: the ranks stay identical
and match one process trained on the concatenated batch.

Why not ``torch.nn.parallel.DistributedDataParallel``: it synchronises only gradients produced
through its own ``forward``, while MuZero-family policies call ``representation``,
``dynamics`` and ``prediction`` directly (and several times per update).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import torch
import torch.distributed as dist
from torch import nn
from torch.autograd import Variable

from pipezero.distributed.process_group import collective_device, get_rank, get_world_size

__all__ = ["GradientAverager", "broadcast_module"]

logger = logging.getLogger(__name__)

# The update counter travels with the gradients (as a float); keep it exactly representable.
_COUNTER_MOD = 1 << 20


class GradientAverager:
    """Average the gradients (and floating-point buffers) of ``module`` over the ranks after
    every backward pass through it.

    Each backward pass costs one all-reduce per parameter dtype. A counter of reduced updates
    rides along: if the ranks disagree (one rank skipped a backward pass, e.g. after a
    non-finite loss, while the others did not) the next reduce raises ``RuntimeError`` instead
    of silently mixing gradients of different updates.

    Floating-point buffers (e.g. BatchNorm running statistics) are averaged at the same time,
    so they stay identical across ranks too. Without a process group (or with one rank) the
    hooks do nothing.

    Args:
        module: the trained module (e.g. ``policy.model``).
        average_buffers: also average the module's floating-point buffers.

    Attributes:
        num_reduces: backward passes reduced so far.
    """

    def __init__(self, module: nn.Module, *, average_buffers: bool = True) -> None:
        self.params = [p for p in module.parameters() if p.requires_grad]
        if not self.params:
            raise ValueError(f"{type(module).__name__} has no trainable parameter to average")
        self.buffers = (
            [b for b in module.buffers() if torch.is_floating_point(b)] if average_buffers else []
        )
        self.num_reduces = 0
        self._queued = False
        self._handles = [p.register_post_accumulate_grad_hook(self._on_grad) for p in self.params]

    def remove(self) -> None:
        """Remove the hooks; gradients are no longer averaged."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _on_grad(self, _param: torch.Tensor) -> None:
        if self._queued or get_world_size() == 1:
            return
        self._queued = True
        Variable._execution_engine.queue_callback(self._reduce)

    @torch.no_grad()
    def _reduce(self) -> None:
        self._queued = False
        world = get_world_size()
        tensors = [p.grad for p in self.params if p.grad is not None] + self.buffers
        groups: dict[tuple[torch.dtype, torch.device], list[torch.Tensor]] = {}
        for t in tensors:
            groups.setdefault((t.dtype, t.device), []).append(t)
        expected = float(self.num_reduces % _COUNTER_MOD)
        for i, ((dtype, device), members) in enumerate(groups.items()):
            parts = [t.reshape(-1) for t in members]
            if i == 0:
                parts.append(torch.tensor([expected], dtype=dtype, device=device))
            flat = torch.cat(parts).to(collective_device())  # NCCL: CPU models go via the GPU
            dist.all_reduce(flat, op=dist.ReduceOp.SUM)
            if i == 0:
                counter_sum = float(flat[-1])
                if counter_sum != expected * world:
                    raise RuntimeError(
                        f"rank {get_rank()}: gradient reduce #{self.num_reduces} met reduces "
                        f"of other updates (counter sum {counter_sum:g}, expected "
                        f"{expected * world:g}); the ranks fell out of step, usually because "
                        f"one rank skipped a backward pass (a non-finite loss) or trained a "
                        f"different number of updates. Give every rank the same update_count "
                        f"(calc_update_count(..., reduce_sum=all_reduce_sum) and ddp_sync)"
                    )
            flat /= world
            offset = 0
            flat = flat.to(device)
            for t in members:
                n = t.numel()
                t.copy_(flat[offset : offset + n].view_as(t))
                offset += n
        self.num_reduces += 1


@torch.no_grad()
def broadcast_module(modules: nn.Module | Iterable[nn.Module], src: int = 0) -> None:
    """Copy the parameters and buffers of rank ``src`` into the same modules on every rank
    (so every rank starts from rank 0's initialisation); no-op without a process group.
    Modules given twice (e.g. a shared acting model) are sent once."""
    if get_world_size() == 1:
        return
    seen: set[int] = set()
    for module in [modules] if isinstance(modules, nn.Module) else modules:
        if id(module) in seen:
            continue
        seen.add(id(module))
        for t in [*module.parameters(), *module.buffers()]:
            box = t.data.to(collective_device())
            dist.broadcast(box, src=src)
            if box is not t.data:
                t.data.copy_(box)
