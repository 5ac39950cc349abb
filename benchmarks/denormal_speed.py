"""What denormal weights cost a CPU network call, and what flushing them saves.

    python benchmarks/denormal_speed.py
    python benchmarks/denormal_speed.py --denormal-fraction 0.1 --repeats 20

Weight decay drives weights that never get a gradient (the input planes of 2048 tiles not yet
seen, unused embedding rows) geometrically towards zero, and after a few thousand updates they
are *denormal* floats (below ~1.2e-38), which x86 CPUs handle in slow microcode. This script
builds the 2048 recipe's Stochastic MuZero network, makes ``--denormal-fraction`` of its
weights denormal (as weight decay would), and times the learner's two heaviest calls with
denormals kept and flushed (``torch.set_flush_denormal``, which every policy now switches on:
``pipezero.policy.schedules.flush_denormals``):

- ``initial_inference`` on 768 boards (the target network's bootstrap values of one batch);
- ``representation`` forward and backward on 128 boards.

Prints one JSON object with the milliseconds per call and the speed-ups.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from pipezero.envs.game2048 import encode_board
from pipezero.model.stochastic import StochasticMuZeroMLP

# recipes/stochastic_muzero_2048.py's network
MODEL = {
    "latent_dim": 128,
    "hidden_dim": 256,
    "support_size": 60,
    "reward_support_size": 30,
    "chance_space_size": 32,
    "line_channels": 64,
    "afterstate_reward": True,
}


def time_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--denormal-fraction", type=float, default=0.1)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not 0.0 <= args.denormal_fraction <= 1.0:
        raise SystemExit(f"--denormal-fraction must be in [0, 1], got {args.denormal_fraction}")
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = StochasticMuZeroMLP((16, 4, 4), 4, **MODEL)
    with torch.no_grad():
        for weight in model.parameters():
            pick = torch.rand(weight.shape) < args.denormal_fraction
            weight[pick] = 1e-39 * torch.sign(weight[pick] + 1e-12)
    boards = rng.integers(0, 8, size=(768, 4, 4))
    obs = torch.from_numpy(np.stack([encode_board(b) for b in boards]))

    def inference() -> None:
        with torch.no_grad():
            model.initial_inference(obs)

    def forward_backward() -> None:
        model.zero_grad(set_to_none=True)
        model.representation(obs[:128]).square().sum().backward()

    result: dict[str, object] = {
        "benchmark": "denormal_speed",
        "denormal_fraction": args.denormal_fraction,
        "repeats": args.repeats,
        "torch": torch.__version__,
    }
    for flush in (False, True):
        torch.set_flush_denormal(flush)
        key = "flushed" if flush else "kept"
        result[f"initial_inference_768_ms_{key}"] = time_ms(inference, args.repeats)
        result[f"representation_fwd_bwd_128_ms_{key}"] = time_ms(forward_backward, args.repeats)
    for name in ("initial_inference_768", "representation_fwd_bwd_128"):
        result[f"{name}_speedup"] = result[f"{name}_ms_kept"] / result[f"{name}_ms_flushed"]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
