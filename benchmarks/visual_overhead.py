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
variant the median env steps/s and CPU milliseconds per env step, and their overheads
against ``off`` (positive: slower / more CPU). The load average before and after is recorded
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", default="muzero_cartpole")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-env-step", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    args = parser.parse_args()
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
        for figures in summary.values():
            speed = figures["median_env_steps_per_s"] / base["median_env_steps_per_s"]
            cpu = figures["median_cpu_ms_per_env_step"] / base["median_cpu_ms_per_env_step"]
            figures["wall_overhead_pct"] = round(100 * (1 - speed), 2)
            figures["cpu_overhead_pct"] = round(100 * (cpu - 1), 2)
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
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
