"""Speed of the batched MCTS: the tree alone and a full MuZero search. Prints JSON.

(a) ``tree``: the C++ forest driven by its Python loop, the network replaced by fixed arrays
    (a fresh Dirichlet root noise, reset, simulate, num_simulations x step (expand + the next
    simulate, the call the drivers' loop makes), then the root visit counts and values read
    back).
(b) ``search``: ``initial_inference`` of the observations, then
    :class:`~pipezero.mcts.MuZeroSearch` with root noise, with a CartPole-sized MLP MuZero
    model (latent 128, hidden 128, categorical value/reward supports of 601 bins). The time
    spent inside the model's calls is measured separately, so the share of search time outside
    the model is reported.

With ``--anchor`` the benchmark measures LightZero 0.2.0 on the same cases in the same command:
its tree alone (``batch_traverse`` + ``batch_backpropagate``) and its full search
(``MuZeroMCTSCtree`` with its own CartPole MLP), from ``../shared/anchors/lightzero_mcts.py``
run by the anchor venv's python (built by ``../shared/anchors/setup_lightzero.sh``). The two
sides alternate case by case for ``--rounds`` rounds, so a load change on the machine hits
both; the JSON gives each side's median and the ratio LightZero / pipezero. No anchor figure
is written in this file: every one printed was measured by the run that prints it.

Single thread (``torch.set_num_threads(1)``), milliseconds per search (median over repeats).
Usage: ``python benchmarks/mcts_speed.py [--quick] [--anchor [--rounds R]]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from pipezero.mcts import Forest, MCTSConfig, MuZeroSearch
from pipezero.mcts._common import dirichlet_noise
from pipezero.model.mlp import MuZeroMLP
from pipezero.model.protocol import NetworkOutput
from pipezero.recipe.benchmarking import git_commit

BATCHES = (1, 8, 64, 256)
ACTIONS = (2, 18)
SIMULATIONS = 50
#: The side-by-side cases of issue 19: (case, B, A).
ANCHOR_CASES = (
    ("tree", 8, 18),
    ("tree", 64, 18),
    ("tree", 256, 18),
    ("tree", 8, 2),
    ("search", 1, 2),
    ("search", 8, 2),
    ("search", 64, 2),
    ("search", 256, 2),
)
REPO = Path(__file__).resolve().parents[1]
DEFAULT_ANCHOR_DIR = REPO.parent / "shared" / "anchors"
DEFAULT_ANCHOR_PYTHON = (
    Path(os.environ.get("LZ_VENV", Path(os.environ.get("TMPDIR", "/tmp")) / "anchors" / "lz"))
    / "bin"
    / "python"
)
#: Run by the anchor venv's python: imports the anchor script from its own folder and answers
#: one JSON line per case read from stdin (ms per search, median of ``reps`` searches).
ANCHOR_SERVER = """
import json, sys
sys.path.insert(0, sys.argv[1])
import lightzero_mcts as lz
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    c = json.loads(line)
    if c["case"] == "tree":
        ms = lz.tree_only(c["B"], c["A"], c["sims"], reps=c["reps"])
    else:
        ms = lz.full_search(c["B"], c["sims"], reps=c["reps"])
    print(json.dumps({"ms_per_search": ms}), flush=True)
"""


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
    legal = np.ones((batch, actions), dtype=bool)
    root = (
        rng.standard_normal((batch, actions)).astype(np.float32),
        rng.standard_normal(batch).astype(np.float32),
        legal,
        np.full(batch, -1, dtype=np.int32),
    )
    logits = rng.standard_normal((batch, actions)).astype(np.float32)
    values = rng.standard_normal(batch).astype(np.float32)
    rewards = rng.standard_normal(batch).astype(np.float32)
    # the fixed outputs for every possible M, sliced once (LightZero's side is handed
    # precomputed lists in the same way)
    outputs = [(logits[:m], values[:m], rewards[:m]) for m in range(batch + 1)]

    def search() -> None:
        noise = dirichlet_noise(rng, 0.3, legal)
        forest.reset(*root, noise=noise, noise_weight=0.25)
        m = forest.simulate()
        for _ in range(SIMULATIONS):  # the drivers' loop: one step (expand + simulate) each
            m = forest.step(*outputs[m])
        forest.root_visit_counts()
        forest.root_values()

    return median_ms(search, repeats, min_time)


class TimedModel:
    """Forwards to a model and accumulates the seconds spent inside its inference calls."""

    def __init__(self, model: Any) -> None:
        self.model, self.seconds = model, 0.0

    def initial_inference(self, obs: torch.Tensor) -> NetworkOutput:
        start = time.perf_counter()
        out = self.model.initial_inference(obs)
        self.seconds += time.perf_counter() - start
        return out

    def recurrent_inference(self, latent, action, hidden=None) -> NetworkOutput:
        start = time.perf_counter()
        out = self.model.recurrent_inference(latent, action, hidden)
        self.seconds += time.perf_counter() - start
        return out


def bench_search(batch: int, actions: int, repeats: int, min_time: float) -> dict[str, Any]:
    """ms per full search (root inference included), ms inside the model, the share outside."""
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
    obs = torch.randn(batch, 4)

    def run() -> None:
        with torch.inference_mode():
            root = timed.initial_inference(obs)
        search.search(root)

    total = median_ms(run, repeats, min_time)
    # model share from a separate, equally long pass so both are measured the same way
    timed.seconds = 0.0
    start = time.perf_counter()
    for _ in range(max(3, int(min_time * 1000 / max(total, 1e-3)))):
        run()
    wall = time.perf_counter() - start
    model_share = timed.seconds / wall
    return {
        "ms_per_search": round(total, 3),
        "ms_in_model": round(total * model_share, 3),
        "share_outside_model": round(1 - model_share, 3),
    }


class Anchor:
    """LightZero 0.2.0 measured in its own venv, one case at a time (a long-lived subprocess)."""

    def __init__(self, python: Path, anchor_dir: Path) -> None:
        script = anchor_dir / "lightzero_mcts.py"
        if not script.is_file():
            sys.exit(f"--anchor: {script} not found; pass --anchor-dir DIR (the shared anchors)")
        if not python.exists():
            sys.exit(
                f"--anchor: the LightZero 0.2.0 anchor venv is missing ({python} not found).\n"
                f"Build it once (about 5 minutes, prints 'ready'):\n"
                f"    bash {anchor_dir / 'setup_lightzero.sh'}\n"
                "or point --anchor-python (or LZ_VENV) at an existing one."
            )
        self.proc = subprocess.Popen(
            [str(python), "-c", ANCHOR_SERVER, str(anchor_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        if self._read().get("ready") is not True:
            sys.exit("--anchor: the anchor process did not start")

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            sys.exit(f"--anchor: the anchor process ended (exit code {self.proc.wait()})")
        return json.loads(line)

    def measure(self, case: str, batch: int, actions: int, reps: int) -> float:
        assert self.proc.stdin is not None
        msg = {"case": case, "B": batch, "A": actions, "sims": SIMULATIONS, "reps": reps}
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()
        return float(self._read()["ms_per_search"])

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()


def side_by_side(args: argparse.Namespace, repeats: int, min_time: float) -> dict[str, Any]:
    """Both sides on the anchor cases, alternating case by case.

    Each round measures every case on our side, then at once on LightZero's, so the two
    measurements of a pair see the same load; ``speedup`` is the median over rounds of the
    pair's ratio LightZero / pipezero, ``speedup_of_minima`` the ratio of each side's fastest
    round (the least disturbed one on a shared machine).
    """
    anchor = Anchor(args.anchor_python, args.anchor_dir)
    ours: dict[str, list[float]] = {}
    outside: dict[str, list[float]] = {}
    theirs: dict[str, list[float]] = {}
    try:
        for _ in range(args.rounds):
            for case, b, a in ANCHOR_CASES:
                key = f"{case}_B{b}_A{a}"
                if case == "tree":
                    ours.setdefault(key, []).append(bench_tree(b, a, repeats, min_time))
                    reps = 10 if b < 256 else 5
                else:
                    res = bench_search(b, a, repeats, min_time)
                    ours.setdefault(key, []).append(res["ms_per_search"])
                    outside.setdefault(key, []).append(res["share_outside_model"])
                    reps = 5 if b < 256 else 3
                theirs.setdefault(key, []).append(anchor.measure(case, b, a, reps))
    finally:
        anchor.close()
    cases = {}
    for key in ours:
        p, lz = ours[key], theirs[key]
        row: dict[str, Any] = {
            "pipezero_ms": round(statistics.median(p), 3),
            "lightzero_ms": round(statistics.median(lz), 3),
            "speedup": round(statistics.median(t / o for t, o in zip(lz, p, strict=True)), 2),
            "speedup_of_minima": round(min(lz) / min(p), 2),
            "pipezero_ms_runs": [round(x, 3) for x in p],
            "lightzero_ms_runs": [round(x, 3) for x in lz],
        }
        if key in outside:
            row["pipezero_share_outside_model"] = round(statistics.median(outside[key]), 3)
        cases[key] = row
    return {
        "lightzero": "LightZero 0.2.0: its ctree; full search with its CartPole MuZeroModelMLP",
        "anchor_script": str(args.anchor_dir / "lightzero_mcts.py"),
        "rounds": args.rounds,
        "cases": cases,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter repeats")
    parser.add_argument(
        "--anchor",
        action="store_true",
        help="measure LightZero 0.2.0 on the issue-19 cases in the same run, side by side",
    )
    parser.add_argument("--rounds", type=int, default=5, help="--anchor: alternating rounds")
    parser.add_argument("--anchor-dir", type=Path, default=DEFAULT_ANCHOR_DIR)
    parser.add_argument("--anchor-python", type=Path, default=DEFAULT_ANCHOR_PYTHON)
    args = parser.parse_args()
    repeats, min_time = (3, 0.1) if args.quick or args.anchor else (5, 0.3)
    torch.set_num_threads(1)
    report: dict[str, Any] = {
        "num_simulations": SIMULATIONS,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "commit": git_commit(REPO),
        "load_avg_start": round(os.getloadavg()[0], 2),
        "model": "pipezero.model.mlp.MuZeroMLP(latent 128, hidden 128, support 601 bins)",
    }
    if args.anchor:
        report["side_by_side"] = side_by_side(args, repeats, min_time)
    else:
        report["tree_ms"], report["search"] = {}, {}
        for a in ACTIONS:
            for b in BATCHES:
                report["tree_ms"][f"B{b}_A{a}"] = round(bench_tree(b, a, repeats, min_time), 4)
        for a in ACTIONS:
            for b in BATCHES:
                report["search"][f"B{b}_A{a}"] = bench_search(b, a, repeats, min_time)
    report["load_avg_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
