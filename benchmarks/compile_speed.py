"""Search network calls eager vs ``torch.compile``: does compiling pay, per model size?

For the CartPole MLP (latent 128, hidden 128, 601-bin supports; the model of
``mcts_speed.py``) and the MinAtar conv network (``muzero_minatar``'s ``CONV``, NCHW and
channels-last weights), one search network call — ``dynamics`` then ``prediction``, what
``recurrent_inference`` runs before decoding the supports — is timed eager and compiled
(``torch.compile``, default inductor backend, ``dynamic=False``) at ``M`` = 8 and 64 leaves,
one torch thread, best of 3 blocks of calls. The compile time of each shape is reported too
(a search meets every ``M`` from 1 to ``B``). Prints JSON.

    python benchmarks/compile_speed.py
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections.abc import Callable

import torch
from pipezero.recipes.muzero_minatar import CONV

from pipezero.model import MuZeroConv
from pipezero.model.mlp import MuZeroMLP

BATCHES = (8, 64)


def networks() -> dict[str, tuple[torch.nn.Module, tuple[int, ...]]]:
    """name -> (model in eval mode, latent shape)."""
    torch.manual_seed(0)
    mlp = MuZeroMLP(4, 2, latent_dim=128, hidden_dim=128, support_size=300).eval()
    out = {"cartpole_mlp": (mlp, (128,))}
    for layout in ("nchw", "channels_last"):
        conv = MuZeroConv((4, 10, 10), 3, **CONV).eval()
        if layout == "channels_last":
            conv = conv.to(memory_format=torch.channels_last)
        out[f"minatar_conv_{layout}"] = (conv, conv.latent_shape)
    return out


def per_call_us(fn: Callable, latent: torch.Tensor, action: torch.Tensor, calls: int) -> float:
    with torch.inference_mode():
        for _ in range(5):
            fn(latent, action)
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            for _ in range(calls):
                fn(latent, action)
            best = min(best, (time.perf_counter() - start) / calls)
    return 1e6 * best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per timed block")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", module="torch")
    rows = []
    for name, (model, latent_shape) in networks().items():

        def call(latent: torch.Tensor, action: torch.Tensor, model=model):
            next_latent, reward_logits, _ = model.dynamics(latent, action, None)
            return next_latent, reward_logits, *model.prediction(next_latent)

        compiled = torch.compile(call, dynamic=False)
        for m in BATCHES:
            latent = torch.randn(m, *latent_shape)
            if latent.dim() == 4 and name.endswith("channels_last"):
                latent = latent.contiguous(memory_format=torch.channels_last)
            action = torch.zeros(m, dtype=torch.long)
            start = time.perf_counter()
            with torch.inference_mode():
                compiled(latent, action)  # compiles this shape
            compile_s = time.perf_counter() - start
            eager = per_call_us(call, latent, action, args.calls)
            fast = per_call_us(compiled, latent, action, args.calls)
            rows.append({"network": name, "M": m, "eager_us": round(eager, 1),
                         "compiled_us": round(fast, 1), "speedup": round(eager / fast, 2),
                         "compile_s": round(compile_s, 1)})  # fmt: skip
    print(json.dumps({"torch": torch.__version__, "threads": 1, "rows": rows}))


if __name__ == "__main__":
    main()
