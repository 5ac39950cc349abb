"""Train a recipe under torchrun with ``--ddp``; each rank prints a digest of its trained model.

``python -m torch.distributed.run --nproc_per_node=2 ddp_recipe_digest.py RECIPE [FLAGS...]``
prints ``DIGEST {"rank": r, "sha256": ..., "train_iter": ...}`` on every rank after the
``RESULT`` line: equal digests mean bit-identical parameters and buffers on every rank.
"""

from __future__ import annotations

import hashlib
import json
import sys

import torch
from torch import nn

from pipezero.distributed import grad_sync
from pipezero.recipe import train

#: The modules whose gradients ``ddp_sync`` averages: ``policy.model`` of the recipe.
averaged: list[nn.Module] = []
_init = grad_sync.GradientAverager.__init__


def _recording_init(self: grad_sync.GradientAverager, module: nn.Module, **kwargs) -> None:
    averaged.append(module)
    _init(self, module, **kwargs)


def digest(module: nn.Module) -> str:
    """sha256 of every parameter and buffer of ``module``, in state-dict order."""
    sha = hashlib.sha256()
    for name, value in module.state_dict().items():
        sha.update(name.encode())
        sha.update(value.detach().cpu().contiguous().numpy().tobytes())
    return sha.hexdigest()


if __name__ == "__main__":
    grad_sync.GradientAverager.__init__ = _recording_init  # type: ignore[method-assign]
    ctx = train(sys.argv[1], sys.argv[2:])
    assert len(averaged) == 1, f"expected one averaged model, got {len(averaged)}"
    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    row = {"rank": rank, "sha256": digest(averaged[0]), "train_iter": ctx.train_iter}
    print("DIGEST " + json.dumps(row), flush=True)
