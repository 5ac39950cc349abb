"""Speed of the batched MCTS: the tree alone and a full MuZero search. Prints JSON.

(a) ``tree``: the C++ forest driven by its Python loop, the network replaced by fixed arrays
    (reset + num_simulations x (simulate + expand)).
(b) ``search``: :class:`~pipezero.mcts.MuZeroSearch` with a CartPole-sized MLP MuZero model
    (latent 128, hidden 128, categorical value/reward supports of 601 bins); the time spent
    inside ``recurrent_inference`` is measured separately, so the share of search time outside
    the model is reported.

Single thread (``torch.set_num_threads(1)``), milliseconds per search (median over repeats).
Usage: ``python benchmarks/mcts_speed.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from pipezero.mcts import Forest, MCTSConfig, MuZeroSearch
from pipezero.model.mlp import MuZeroMLP
from pipezero.model.protocol import NetworkOutput

BATCHES = (1, 8, 64, 256)
ACTIONS = (2, 18)
SIMULATIONS = 50
LIGHTZERO_MS = {  # LightZero 0.2.0 ctree measured on the same machine (issue text)
    "tree": {"B8_A2": 1.3, "B8_A18": [4, 6], "B64_A18": [37, 49], "B256_A18": [183, 204]},
    "search_cartpole_mlp": {"B1": [84, 92], "B8": [87, 99], "B64": 151},
}


def median_ms(fn, repeats: int, min_time: float) -> float:
    """Median wall time of ``fn()`` in ms over ``repeats`` rounds of at least ``min_time`` s."""
    fn()
    samples = []
    for _ in range(repeats):
        n, start = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_time:
                break
        samples.append(1000 * elapsed / n)
    return statistics.median(samples)


def bench_tree(batch: int, actions: int, repeats: int, min_time: float) -> float:
    """ms per search of the core alone with fixed network outputs."""
    rng = np.random.default_rng(0)
    forest = Forest(batch, SIMULATIONS, actions, seed=0)
    root = (
        rng.standard_normal((batch, actions)).astype(np.float32),
        rng.standard_normal(batch).astype(np.float32),
        np.ones((batch, actions), dtype=bool),
        np.full(batch, -1, dtype=np.int32),
    )
    noise = rng.dirichlet([0.3] * actions, size=batch).astype(np.float32)
    logits = rng.standard_normal((batch, actions)).astype(np.float32)
    values = rng.standard_normal(batch).astype(np.float32)
    rewards = rng.standard_normal(batch).astype(np.float32)

    def search() -> None:
        forest.reset(*root, noise=noise, noise_weight=0.25)
        for _ in range(SIMULATIONS):
            m = forest.simulate()
            forest.expand(logits[:m], values[:m], rewards[:m])

    return median_ms(search, repeats, min_time)


class TimedModel:
    """Forwards to a model and accumulates the seconds spent in ``recurrent_inference``."""

    def __init__(self, model: Any) -> None:
        self.model, self.seconds = model, 0.0

    def recurrent_inference(self, latent, action, hidden=None) -> NetworkOutput:
        start = time.perf_counter()
        out = self.model.recurrent_inference(latent, action, hidden)
        self.seconds += time.perf_counter() - start
        return out


def bench_search(batch: int, actions: int, repeats: int, min_time: float) -> dict[str, Any]:
    """ms per full search, ms inside the model, and the share outside it."""
    torch.manual_seed(0)
    model = MuZeroMLP(
        observation_shape=4,
        action_space_size=actions,
        latent_dim=128,
        hidden_dim=128,
        support_size=300,
    )
    model.eval()
    for p in model.parameters():
        nn.init.normal_(p, std=0.05)  # non-zero heads, so the tree is not trivially uniform
    timed = TimedModel(model)
    search = MuZeroSearch(timed, MCTSConfig(num_simulations=SIMULATIONS, seed=0))
    with torch.inference_mode():
        root = model.initial_inference(torch.randn(batch, 4))
    counts = {"searches": 0}

    def run() -> None:
        search.search(root)
        counts["searches"] += 1

    timed.seconds, counts["searches"] = 0.0, 0
    total = median_ms(run, repeats, min_time)
    # model share from a separate, equally long pass so both are measured the same way
    timed.seconds, counts["searches"] = 0.0, 0
    start = time.perf_counter()
    for _ in range(max(3, int(min_time * 1000 / max(total, 1e-3)))):
        run()
    wall = time.perf_counter() - start
    model_share = timed.seconds / wall
    return {
        "ms_per_search": round(total, 3),
        "ms_in_model": round(total * model_share, 3),
        "share_outside_model": round(1 - model_share, 3),
        "model": "pipezero.model.mlp.MuZeroMLP(latent 128, hidden 128, support 601 bins)",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter repeats")
    args = parser.parse_args()
    repeats, min_time = (3, 0.1) if args.quick else (5, 0.3)
    torch.set_num_threads(1)
    report: dict[str, Any] = {
        "num_simulations": SIMULATIONS,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "tree_ms": {},
        "search": {},
        "lightzero_0.2.0_ms": LIGHTZERO_MS,
    }
    for a in ACTIONS:
        for b in BATCHES:
            report["tree_ms"][f"B{b}_A{a}"] = round(bench_tree(b, a, repeats, min_time), 4)
    for a in ACTIONS:
        for b in BATCHES:
            report["search"][f"B{b}_A{a}"] = bench_search(b, a, repeats, min_time)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
