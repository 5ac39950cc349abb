"""A sampled training batch moved to the device: the typed ``Batch`` vs treetensor vs a dict.

The design card names treetensor (PyPI ``DI-treetensor``) for nested batches. This measures
what each candidate costs where pipezero uses its batch, on one real
:meth:`~pipezero.data.ReplayBuffer.sample` (batch 256, 5 unroll steps, 5 td steps, with the
unroll observations; ``--obs cartpole``: 4 floats, ``--obs atari``: 4x84x84 uint8 frames):

- ``typed_to``: ``batch.to(device)``, the typed :class:`~pipezero.data.Batch` (a frozen
  dataclass), every array in one packed host-to-device copy;
- ``treetensor_to``: ``ttorch.as_tensor(batch.arrays()).to(device)``, the same arrays as a
  treetensor tree;
- ``dict_to``: ``{k: torch.as_tensor(v).to(device)}``, the per-array copies of a plain dict;
- ``*_read``: reading every field of the moved batch (attribute access on both).

Prints JSON (microseconds per batch, and treetensor over typed).

    python benchmarks/treetensor_batch.py [--device cpu] [--obs cartpole] [--repeats 500]

Needs ``pip install DI-treetensor`` (not a dependency of pipezero: see docs/architecture.md).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import numpy as np
import torch

from pipezero.data import Batch, GameSegmentWriter, ReplayBuffer


def sampled_batch(obs: str, batch_size: int = 256, k: int = 5, n: int = 5) -> Batch[np.ndarray]:
    """One batch sampled from 20 random episodes of 200 steps (6 actions)."""
    rng = np.random.default_rng(0)
    shape, dtype = ((4,), np.float32) if obs == "cartpole" else ((4, 84, 84), np.uint8)
    writer = GameSegmentWriter(shape, 6, 200, k, n, obs_dtype=dtype)
    buffer = ReplayBuffer(100_000, k, n, seed=0)
    frames = (rng.random((32, *shape)) * 255).astype(dtype)
    for _ in range(20):
        for j in range(200):
            writer.append(frames[j % 32], np.ones(6, bool), -1, int(rng.integers(6)), 1.0,
                          rng.random(6), 0.5)  # fmt: skip
        writer.end_episode(frames[0], True)
        buffer.extend(writer.pop_finished())
    return buffer.sample(batch_size, with_unroll_obs=True)


def per_call_us(fn: Callable[[], object], repeats: int) -> float:
    for _ in range(max(5, repeats // 20)):
        fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--obs", choices=("cartpole", "atari"), default="cartpole")
    parser.add_argument("--repeats", type=int, default=500)
    args = parser.parse_args()
    try:
        import treetensor.torch as ttorch
    except ImportError:
        raise SystemExit("this benchmark needs treetensor: pip install DI-treetensor") from None
    batch, device = sampled_batch(args.obs), torch.device(args.device)
    arrays = batch.arrays()
    typed, tree = batch.to(device), ttorch.as_tensor(arrays).to(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def timed(fn: Callable[[], object]) -> float:
        return per_call_us(lambda: (fn(), sync()), args.repeats)

    result: dict[str, object] = {
        "device": str(device),
        "obs": args.obs,
        "fields": len(arrays),
        "batch_size": batch.batch_size,
        "typed_to_us": timed(lambda: batch.to(device)),
        "treetensor_to_us": timed(lambda: ttorch.as_tensor(arrays).to(device)),
        "dict_to_us": timed(lambda: {k: torch.as_tensor(v).to(device) for k, v in arrays.items()}),
        "typed_read_us": timed(lambda: [getattr(typed, name) for name in arrays]),
        "treetensor_read_us": timed(lambda: [getattr(tree, name) for name in arrays]),
    }
    result["treetensor_over_typed_to"] = result["treetensor_to_us"] / result["typed_to_us"]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
