"""A training batch turned into torch tensors and moved to the device: plain dict vs treetensor.

The design card names treetensor (PyPI ``DI-treetensor``) for nested batches. This measures
what it costs where pipezero would use it: a MuZero batch of numpy arrays (batch 256, 5 unroll
steps, CartPole-sized observations) made into tensors and moved to ``--device`` in one call,
``ttorch.as_tensor(batch).to(device)``, against a dict comprehension of
``torch.as_tensor(v).to(device)``. Prints JSON (microseconds per batch, and the ratio).

    python benchmarks/treetensor_batch.py [--device cpu] [--repeats 2000]

Needs ``pip install DI-treetensor`` (no longer a dependency of pipezero: see
docs/architecture.md).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch


def make_batch(batch_size: int = 256, unroll: int = 5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    b, u = batch_size, unroll
    return {
        "obs": rng.random((b, u + 1, 4), dtype=np.float32),
        "actions": rng.integers(0, 2, (b, u)),
        "rewards": rng.random((b, u), dtype=np.float32),
        "target_values": rng.random((b, u + 1), dtype=np.float32),
        "target_policies": rng.random((b, u + 1, 2), dtype=np.float32),
        "mask": np.ones((b, u + 1), np.float32),
        "weights": np.ones(b, np.float32),
        "indices": np.arange(b),
        "to_play": np.zeros((b, u + 1), np.int64),
        "bootstrap_search_values": rng.random((b, 3), dtype=np.float32),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=2000)
    args = parser.parse_args()
    try:
        import treetensor.torch as ttorch
    except ImportError:
        raise SystemExit("this benchmark needs treetensor: pip install DI-treetensor") from None
    batch, device = make_batch(), torch.device(args.device)

    def plain() -> object:
        return {k: torch.as_tensor(v).to(device) for k, v in batch.items()}

    def tree() -> object:
        return ttorch.as_tensor(batch).to(device)

    result: dict[str, object] = {"device": str(device), "keys": len(batch), "batch_size": 256}
    for fn in (plain, tree):
        for _ in range(50):
            fn()
        start = time.perf_counter()
        for _ in range(args.repeats):
            fn()
        result[f"{fn.__name__}_us"] = (time.perf_counter() - start) / args.repeats * 1e6
    result["tree_over_plain"] = result["tree_us"] / result["plain_us"]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
