"""GPU figures of the Atari networks: update throughput, search latency, a timed recipe run.

Run by ``benchmarks/gpu_check.sh`` on a CUDA machine; prints one JSON object (and writes it
with ``--out``):

- ``machine``: the card (``torch.cuda.get_device_name``), torch, CUDA and cuDNN versions;
- ``updates``: ``ReZeroPolicy.learn`` on the ``rezero_atari`` network (batch 256, 5 unroll
  steps, 4x96x96 uint8 frames, 6 actions) in float32 and bf16, and ``UniZeroPolicy.learn``
  on the ``unizero_atari`` world model (its batch 64, 10 unroll steps), each as
  milliseconds and updates per second over pre-sampled batches (sampling timed apart);
- ``search``: a full 50-simulation search (``policy.evaluate``) at ``B = 8, 64, 256``;
- ``recipe``: ``recipes/rezero_atari.py --device cuda --max-minutes M`` on Pong: its
  ``RESULT`` line's env steps, updates, rates and seconds per middleware;
- ``estimate_atari100k_hours``: the wall time of a 100k-env-step run of ReZero and UniZero
  built from those rates (see :func:`estimate`).

The replay buffers hold random frames: update and search costs do not depend on the pixels.

    python benchmarks/gpu_throughput.py --device cuda --recipe-minutes 4 --out gpu.json
    python benchmarks/gpu_throughput.py --cpu-smoke     # tiny sizes on the CPU (a test runs it)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipezero.data import GameSegmentWriter, ReplayBuffer
from pipezero.model import MuZeroConv
from pipezero.model.unizero import UniZeroModel
from pipezero.policy.rezero import ReZeroPolicy
from pipezero.policy.rezero_config import rezero_atari_config
from pipezero.policy.unizero import UniZeroPolicy
from pipezero.policy.unizero_config import unizero_atari_config
from pipezero.recipe.train import read_result

ATARI_OBS = (4, 96, 96)  # frame_stack x screen_size^2, uint8
SMOKE_OBS = (4, 32, 32)  # --cpu-smoke: the same networks on smaller frames
ATARI_ACTIONS = 6  # Pong's minimal action set
#: --cpu-smoke: the same code paths at sizes a CPU runs in seconds.
SMOKE_POLICY = {
    "batch_size": 8,
    "num_simulations": 4,
    "num_unroll_steps": 2,
    "td_steps": 2,
    "game_segment_length": 20,
}
SMOKE_MODELS = {
    "rezero": {"num_channels": 8, "support_size": 10, "reward_support_size": 10},
    "unizero": {
        "num_channels": 8,
        "latent_dim": 16,
        "head_hidden_dim": 16,
        "support_size": 10,
        "reward_support_size": 5,
        "context_length": 6,
    },
}


def machine(device: torch.device) -> dict[str, Any]:
    """The card and the software versions the figures were measured with."""
    info: dict[str, Any] = {
        "device": str(device),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "cpu_threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        info["card"] = torch.cuda.get_device_name(device)
        info["capability"] = list(torch.cuda.get_device_capability(device))
        info["memory_gib"] = round(torch.cuda.get_device_properties(device).total_memory / 2**30)
    return info


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def frame_shape(smoke: bool) -> tuple[int, int, int]:
    return SMOKE_OBS if smoke else ATARI_OBS


def build_policy(kind: str, device: torch.device, amp: str | None, smoke: bool) -> Any:
    """The ``rezero_atari`` (``kind="rezero"``) or ``unizero_atari`` policy and network."""
    overrides: dict[str, Any] = {"policy.amp": amp}
    if smoke:
        overrides |= {f"policy.{k}": v for k, v in SMOKE_POLICY.items()}
        overrides |= {f"policy.model.{k}": v for k, v in SMOKE_MODELS[kind].items()}
    obs = frame_shape(smoke)
    if kind == "rezero":
        cfg = rezero_atari_config(overrides)
        model = MuZeroConv(obs, ATARI_ACTIONS, **cfg.policy.model)
        policy_class = ReZeroPolicy
    else:
        cfg = unizero_atari_config(overrides)
        model = UniZeroModel(obs, ATARI_ACTIONS, **cfg.policy.model)
        policy_class = UniZeroPolicy
    return policy_class(cfg.policy, model, seed=0, device=device)


def random_buffer(
    policy: Any, transitions: int, shape: tuple[int, int, int], seed: int = 0
) -> ReplayBuffer:
    """A replay buffer of ``transitions`` random uint8 frames in segments of the policy's
    ``game_segment_length`` (episodes of 4 segments), with uniform search statistics."""
    c = policy.cfg
    rng = np.random.default_rng(seed)
    buffer = ReplayBuffer(
        transitions + c.game_segment_length,
        c.num_unroll_steps,
        c.td_steps,
        c.discount_factor,
        seed=seed,
    )
    writer = GameSegmentWriter(
        shape,
        ATARI_ACTIONS,
        c.game_segment_length,
        c.num_unroll_steps,
        c.td_steps,
        obs_dtype=np.uint8,
    )
    legal = np.ones(ATARI_ACTIONS, dtype=bool)
    visits = np.full(ATARI_ACTIONS, 1.0 / ATARI_ACTIONS, dtype=np.float32)
    episode = 4 * c.game_segment_length
    for t in range(transitions):
        frame = rng.integers(0, 256, shape, dtype=np.uint8)
        reward = float(rng.choice([-1.0, 0.0, 0.0, 0.0, 1.0]))
        writer.append(frame, legal, -1, int(rng.integers(ATARI_ACTIONS)), reward, visits, 0.0)
        if (t + 1) % episode == 0:
            writer.end_episode(rng.integers(0, 256, shape, dtype=np.uint8), True)
    if transitions % episode:
        writer.end_episode(rng.integers(0, 256, shape, dtype=np.uint8), False)
    for segment in writer.pop_finished():
        buffer.push(segment)
    return buffer


def timed(fn: Callable[[], Any], device: torch.device, repeats: int, warmup: int) -> float:
    """Mean seconds of ``fn()`` over ``repeats`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync(device)
    return (time.perf_counter() - start) / repeats


def update_throughput(
    kind: str, device: torch.device, amp: str | None, repeats: int, smoke: bool
) -> dict[str, Any]:
    """Milliseconds per ``learn`` (and per ``sample``) on pre-sampled batches."""
    policy = build_policy(kind, device, amp, smoke)
    c = policy.cfg
    transitions = max(4 * c.game_segment_length, 4 * c.batch_size)
    buffer = random_buffer(policy, transitions, frame_shape(smoke))
    unroll_obs = bool(policy.needs_unroll_obs)
    start = time.perf_counter()
    batches = [buffer.sample(c.batch_size, with_unroll_obs=unroll_obs) for _ in range(4)]
    sample_s = (time.perf_counter() - start) / len(batches)
    calls = iter(range(10**9))
    learn_s = timed(
        lambda: policy.learn(batches[next(calls) % len(batches)]),
        device,
        repeats,
        warmup=1 if smoke else 2,
    )
    return {
        "network": f"{kind}_atari",
        "amp": amp,
        "batch_size": int(c.batch_size),
        "num_unroll_steps": int(c.num_unroll_steps),
        "learn_ms": round(1000 * learn_s, 2),
        "updates_per_s": round(1 / learn_s, 2),
        "sample_ms": round(1000 * sample_s, 2),
        "parameters": sum(p.numel() for p in policy.model.parameters()),
    }


def search_latency(
    kind: str, device: torch.device, batch: int, repeats: int, smoke: bool, amp: str | None
) -> dict[str, Any]:
    """Milliseconds of one full search (``policy.evaluate``) over ``batch`` roots."""
    policy = build_policy(kind, device, amp, smoke)
    rng = np.random.default_rng(batch)
    obs = rng.integers(0, 256, (batch, *frame_shape(smoke)), dtype=np.uint8)
    legal = np.ones((batch, ATARI_ACTIONS), dtype=bool)
    to_play = np.full(batch, -1, dtype=np.int64)
    seconds = timed(lambda: policy.evaluate(obs, legal, to_play), device, repeats, warmup=1)
    return {
        "network": f"{kind}_atari",
        "amp": amp,
        "batch": batch,
        "num_simulations": int(policy.cfg.num_simulations),
        "search_ms": round(1000 * seconds, 2),
        "ms_per_root": round(1000 * seconds / batch, 3),
    }


def recipe_run(device: torch.device, minutes: float, smoke: bool, work: Path) -> dict[str, Any]:
    """``rezero_atari`` for ``minutes`` on ``device`` (``--smoke`` instead when ``smoke``)."""
    cmd = [sys.executable, "-m", "pipezero.cli", "train", "rezero_atari"]
    work = work.resolve()
    cmd += ["--device", str(device), "--seed", "0", "--exp-dir", str(work / "rezero_atari")]
    cmd += ["--smoke"] if smoke else ["--max-minutes", str(minutes)]
    start = time.perf_counter()
    # Not from this checkout's root, where `-m pipezero.cli` would import the source tree,
    # which lacks the recipes an installed (non-editable) pipezero ships.
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=work)
    result = read_result(proc.stdout)
    if proc.returncode != 0 or result is None:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    keep = ("env_step", "train_iter", "wall_s", "env_steps_per_s", "train_steps_per_s")
    out = {k: result[k] for k in keep if k in result}
    out["middleware_seconds"] = result.get("middleware_seconds", {})
    out["process_wall_s"] = round(time.perf_counter() - start, 1)
    out["command"] = " ".join(cmd[1:])
    if result.get("wall_s"):
        out["env_steps_per_wall_s"] = round(result["env_step"] / result["wall_s"], 2)
    return out


def per_unit(seconds: dict[str, float], name: str, count: float) -> float:
    """Seconds of middleware ``name`` per unit of ``count`` (0 when it never ran)."""
    return float(seconds.get(name, 0.0)) / count if count else 0.0


def estimate(report: dict[str, Any], env_steps: int = 100_000) -> dict[str, Any]:
    """Hours of an ``env_steps`` run of ReZero and UniZero on this machine.

    ReZero, from the recipe run: ``env_steps x`` (collection + reanalysis + evaluation
    seconds per env step) ``+ env_steps x replay_ratio x`` seconds per update. UniZero
    swaps in its own costs: the per-step collection cost of ReZero with ReZero's search at
    ``B = 8`` replaced by UniZero's, reanalysis scaled by the same search ratio, and its
    updates at ``replay_ratio x env_steps`` with the measured UniZero update time. Both
    ignore that reanalysis grows with the buffer, so they are lower bounds of that part.
    """
    run = report.get("recipe")
    if not run or not run.get("env_step") or not run.get("train_iter"):
        return {"note": "no recipe run with updates: nothing to estimate from"}
    seconds = run["middleware_seconds"]
    steps = run["env_step"]
    collect = per_unit(seconds, "env_collect", steps)
    reanalyze = per_unit(seconds, "buffer_reanalyze", steps)
    evaluate = per_unit(seconds, "interval_eval", steps)
    update = per_unit(seconds, "offpolicy_learn", run["train_iter"])
    rezero_cfg, unizero_cfg = rezero_atari_config(), unizero_atari_config()
    rezero_s = env_steps * (collect + reanalyze + evaluate) + (
        env_steps * rezero_cfg.policy.replay_ratio * update
    )
    out: dict[str, Any] = {
        "env_steps": env_steps,
        "rezero_hours": round(rezero_s / 3600, 2),
        "rezero_parts_s_per_env_step": {
            "collect": collect,
            "reanalyze": reanalyze,
            "evaluate": evaluate,
            "update_s": update,
        },
    }
    search = {(s["network"], s["batch"]): s["search_ms"] for s in report.get("search", [])}
    unizero_update = [
        u for u in report.get("updates", []) if u["network"] == "unizero_atari" and not u["amp"]
    ]
    envs = int(rezero_cfg.env.collector_env_num)
    rz, uz = search.get(("rezero_atari", envs)), search.get(("unizero_atari", envs))
    if rz and uz and unizero_update:
        ratio = uz / rz
        uz_collect = max(collect - rz / 1000 / envs, 0.0) + uz / 1000 / envs
        uz_s = env_steps * (uz_collect + reanalyze * ratio + evaluate * ratio) + (
            env_steps * unizero_cfg.policy.replay_ratio * unizero_update[0]["learn_ms"] / 1000
        )
        out["unizero_hours"] = round(uz_s / 3600, 2)
        out["unizero_search_ratio"] = round(ratio, 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny sizes on the CPU")
    parser.add_argument("--batches", type=int, nargs="+", default=[8, 64, 256])
    parser.add_argument("--repeats", type=int, default=10, help="timed updates / searches")
    parser.add_argument("--recipe-minutes", type=float, default=4.0, help="0: no recipe run")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    smoke = args.cpu_smoke
    device = torch.device("cpu" if smoke else args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error(f"--device {device}: torch {torch.__version__} sees no CUDA device")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    repeats = 2 if smoke else args.repeats
    batches = [2, 4] if smoke else args.batches
    report: dict[str, Any] = {"machine": machine(device), "smoke": smoke, "updates": []}
    for kind, amp in (("rezero", None), ("rezero", "bf16"), ("unizero", None), ("unizero", "bf16")):
        report["updates"].append(update_throughput(kind, device, amp, repeats, smoke))
        print(json.dumps(report["updates"][-1]), file=sys.stderr, flush=True)
    report["search"] = []
    for kind in ("rezero", "unizero"):
        for b in sorted({*batches, 8}):
            report["search"].append(search_latency(kind, device, b, repeats, smoke, None))
            print(json.dumps(report["search"][-1]), file=sys.stderr, flush=True)
    if args.recipe_minutes > 0:
        with tempfile.TemporaryDirectory() as work:
            report["recipe"] = recipe_run(device, args.recipe_minutes, smoke, Path(work))
    report["estimate_atari100k_hours"] = estimate(report)
    text = json.dumps(report, indent=2)
    if args.out is not None:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
