"""What ``--visual`` costs the training loop: env steps/s with and without the page.

    python benchmarks/visual_overhead.py --repeats 5 --max-env-step 1500
    python benchmarks/visual_overhead.py --recipe muzero_minatar --set env.collector_env_num=4

Every run trains the recipe (default ``muzero_cartpole``) in its own process with the same
seed and env-step budget, the early stop disabled (``policy.stop_value=1e9``), so that every
run does the same work. A run's speed is its env steps over its wall time (the ``RESULT``
line's ``wall_s``: training, evaluations, checkpoints). Because a shared machine's load
moves wall times by far more than the few percent looked for, each run's CPU time (user +
system of the training process and all its threads, the page's server thread included; the
client's requests are made by this process and not counted) per env step is recorded too:
it is what the visual mode takes from the training, and it moves much less with the load.
Three variants:

- ``off``: no ``--visual``;
- ``idle``: ``--visual``, nobody watching (the tap only reads a clock);
- ``watched``: ``--visual`` and a client in this process that does what the page does: it
  asks ``stats.json`` every half second and fetches each frame whose version changed (so
  the collector takes pictures, at most one per second per shown environment).

The variants alternate within each repeat (in a rotated order), because a shared machine's
load drifts; the medians over the repeats are compared. JSON on stdout: every run, then per
variant the median env steps/s and CPU milliseconds per env step, their overheads against
``off`` (positive: slower / more CPU), and the median of the overheads paired by repeat
(each run against the ``off`` run of its own repeat). The load average before and after is recorded
beside the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from pipezero.recipe import read_result

VARIANTS = ("off", "idle", "watched")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _watch(url: str, stop: threading.Event, seen: dict[str, int]) -> None:
    """Poll like the page: stats every 0.5 s, each frame whose version changed."""
    shown: dict[str, int] = {}
    while not stop.is_set():
        try:
            with urllib.request.urlopen(url + "stats.json", timeout=2) as response:
                stats = json.loads(response.read())
            for index, version in stats["frames"]["versions"].items():
                if shown.get(index) != version:
                    shown[index] = version
                    with urllib.request.urlopen(f"{url}frame/{index}.png", timeout=2) as r:
                        r.read()
                    seen["frames"] = seen.get("frames", 0) + 1
            seen["stats"] = seen.get("stats", 0) + 1
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
            pass  # not up yet, or already gone
        stop.wait(0.5)


def run_once(args: argparse.Namespace, variant: str, exp_dir: str) -> dict[str, Any]:
    cmd = [
        sys.executable,
        "-m",
        f"pipezero.recipes.{args.recipe}",
        "--seed",
        str(args.seed),
        "--max-env-step",
        str(args.max_env_step),
        "--set",
        "policy.stop_value=1000000000.0",
        "--log-every",
        "0",
        "--exp-dir",
        exp_dir,
        *[x for pair in args.set for x in ("--set", pair)],
    ]
    stop, seen = threading.Event(), {}
    watcher = None
    if variant != "off":
        port = _free_port()
        cmd += ["--visual", "--visual-port", str(port)]
        if variant == "watched":
            watcher = threading.Thread(
                target=_watch, args=(f"http://127.0.0.1:{port}/", stop, seen), daemon=True
            )
            watcher.start()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    stop.set()
    if watcher is not None:
        watcher.join()
    result = read_result(proc.stdout)
    if proc.returncode != 0 or result is None:
        sys.stderr.write(proc.stderr[-3000:])
        raise SystemExit(f"{variant} run failed (exit code {proc.returncode})")
    served = re.search(r"visual mode: open (\S+)", proc.stderr)
    return {
        "variant": variant,
        "env_step": result["env_step"],
        "wall_s": round(result["wall_s"], 3),
        "env_steps_per_s": result["env_step"] / result["wall_s"],
        "cpu_s": round(cpu_s, 3),
        "cpu_ms_per_env_step": 1000 * cpu_s / result["env_step"],
        "served": served.group(1) if served else None,
        "client_requests": seen,
    }


def _cpu_ms(fn: Any, n: int) -> float:
    """CPU milliseconds of one ``fn()`` call, the best of three rounds of ``n`` calls."""
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        for _ in range(n):
            fn()
        best = min(best, (time.process_time() - start) / n * 1000)
    return best


def component_costs(recipe: str) -> dict[str, float]:
    """CPU milliseconds of each thing the visual mode does, measured in this process on the
    recipe's environment: the hook of a watched environment when nobody watches (every env
    step), one picture (draw, resize, store), one PNG encoding, and one ``stats.json``
    request answered by a real server (client and server both in this process: an upper
    bound of the server's share)."""
    from pipezero.envs import BatchEnv
    from pipezero.recipe import load_recipe
    from pipezero.visual import FrameTap, RunBoard, VisualServer, encode_png

    env_id = load_recipe(recipe).CONFIG["env"]["env_id"]
    tap = FrameTap(max_envs=1)
    envs = BatchEnv.make(env_id, 1, seed=0, **tap.render_kwargs(env_id))
    tap.attach(envs)
    obs = envs.reset().observation[0]
    hook = envs.envs[0].step_into.__self__
    idle = _cpu_ms(lambda: hook._capture(obs), 20000)

    def picture() -> None:
        tap.want()
        hook._next = 0.0
        hook._capture(obs)

    costs = {"idle_hook_ms": idle, "picture_ms": _cpu_ms(picture, 100)}
    frame = tap.latest()[0][1]
    costs["png_ms"] = _cpu_ms(lambda: encode_png(frame), 100)
    board = RunBoard(recipe, {"mode": "sync"}, 100_000)
    for k in range(600):  # a long run's curves
        board._next_sample = 0.0
        output = {"total_loss": 1.0, "value_loss": 0.5, "buffer_transitions": k}
        board.record_step(10 * k, k, output)
        board.record_eval(10 * k, float(k))
    server = VisualServer(board, tap)
    url = server.start() + "stats.json"
    try:
        costs["stats_request_ms"] = _cpu_ms(lambda: urllib.request.urlopen(url).read(), 50)
    finally:
        server.stop()
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", default="muzero_cartpole")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-env-step", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    args = parser.parse_args()
    # Run as a script, this file's folder comes first on sys.path and benchmarks/minatar.py
    # would shadow the minatar package.
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    load_before = os.getloadavg()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            shift = repeat % len(args.variants)
            order = args.variants[shift:] + args.variants[:shift]
            for variant in order:
                run = run_once(args, variant, os.path.join(tmp, f"{variant}-{repeat}"))
                run["repeat"] = repeat
                runs.append(run)
                print(json.dumps(run), file=sys.stderr, flush=True)
    summary = {}
    for v in args.variants:
        mine = [r for r in runs if r["variant"] == v]
        summary[v] = {
            "median_env_steps_per_s": statistics.median(r["env_steps_per_s"] for r in mine),
            "median_cpu_ms_per_env_step": statistics.median(r["cpu_ms_per_env_step"] for r in mine),
        }
    if "off" in summary:
        base = summary["off"]
        by_repeat = {(r["variant"], r["repeat"]): r for r in runs}
        for v, figures in summary.items():
            speed = figures["median_env_steps_per_s"] / base["median_env_steps_per_s"]
            cpu = figures["median_cpu_ms_per_env_step"] / base["median_cpu_ms_per_env_step"]
            figures["wall_overhead_pct"] = round(100 * (1 - speed), 2)
            figures["cpu_overhead_pct"] = round(100 * (cpu - 1), 2)
            # paired: each repeat's run against the same repeat's "off" run (the load
            # drifts between repeats far more than within one)
            pairs = [(by_repeat[v, k], by_repeat["off", k]) for k in range(args.repeats)]
            figures["paired_wall_overhead_pct"] = round(
                100
                * statistics.median(
                    1 - a["env_steps_per_s"] / b["env_steps_per_s"] for a, b in pairs
                ),
                2,
            )
            figures["paired_cpu_overhead_pct"] = round(
                100
                * statistics.median(
                    a["cpu_ms_per_env_step"] / b["cpu_ms_per_env_step"] - 1 for a, b in pairs
                ),
                2,
            )
    out = {
        "recipe": args.recipe,
        "seed": args.seed,
        "max_env_step": args.max_env_step,
        "set": args.set,
        "repeats": args.repeats,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "unix_time": time.time(),
        "runs": runs,
        "summary": summary,
    }
    costs = component_costs(args.recipe)
    out["component_cpu_ms"] = costs
    watched = [r for r in runs if r["variant"] == "watched"]
    if watched and "off" in summary:
        steps = sum(r["env_step"] for r in watched)
        frames = sum(r["client_requests"].get("frames", 0) for r in watched)
        stats = sum(r["client_requests"].get("stats", 0) for r in watched)
        # what a watched run adds per env step: the hook of each (of at most 4) watched
        # environments, each picture the page fetched (taken once, encoded once), each stats
        # request; against the CPU an env step of the run costs without the page
        added = (
            costs["idle_hook_ms"]
            + frames / steps * (costs["picture_ms"] + costs["png_ms"])
            + stats / steps * costs["stats_request_ms"]
        )
        per_step = summary["off"]["median_cpu_ms_per_env_step"]
        out["accounted"] = {
            "frames_per_env_step": frames / steps,
            "stats_requests_per_env_step": stats / steps,
            "added_cpu_ms_per_env_step": added,
            "off_cpu_ms_per_env_step": per_step,
            "idle_overhead_pct": round(100 * costs["idle_hook_ms"] / per_step, 4),
            "watched_overhead_pct": round(100 * added / per_step, 3),
        }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
