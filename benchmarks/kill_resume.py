"""SIGKILL a real training run again and again, resuming it each time (issue 20's probe).

Starts ``pipezero train RECIPE`` with a small ``save_freq``, kills it (SIGKILL) either at a
random moment or, every other time, as soon as a checkpoint write is under way (a temporary
file appears in ``RUN_DIR/ckpt``), then starts it again with ``--resume RUN_DIR``. At the end
it resumes the directory once more in this process and prints one JSON line: the kills, how
many aimed ones caught a write, the resumes and fallbacks the runs logged, the leftovers they
removed, what is left after the last resume, and the newest pair's ``env_step``, its buffer
transitions, the transitions its collector state holds (unfinished segments, continued on
resume) and the share of the counted env steps the two account for. With ``--reference``
it then runs the recipe once more without a kill up to the newest checkpoint's ``env_step``
and compares that run's checkpoint of the same train iteration with the newest one of the
killed run (train iterations, buffer transitions, policy tensors bit for bit). Usage::

    python benchmarks/kill_resume.py --kills 20 --recipe muzero_cartpole --save-freq 3
    python benchmarks/kill_resume.py --kills 20 --recipe muzero_cartpole --save-freq 3 --reference
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from pipezero.checkpoint import load_pair, remove_leftovers, resumable_checkpoints
from pipezero.checkpoint.plain import decode_numpy
from pipezero.data import ReplayBuffer


def held_transitions(run_state: dict) -> int:
    """Transitions the collector state of a checkpoint holds outside the replay buffer."""
    collector = decode_numpy(run_state).get("env_collect")
    if collector is None:
        return 0
    segments = list(collector["carried"])
    for writer in collector["writers"]:
        segments += [writer["current"], writer["pending"], *writer["finished"]]
    return sum(int(s["length"]) for s in segments if s is not None)


def compare_with_uninterrupted(
    args: argparse.Namespace, work: Path, newest: Path, state: dict, buffer: ReplayBuffer
) -> dict:
    """Run the recipe without kills to the newest checkpoint's env_step; compare its
    checkpoint of the same name (same train iteration) with the killed run's newest."""
    env_step = state["counters"]["env_step"]
    # A killed run that reached stop_value exited by itself and was resumed past it; the
    # reference must not stop there either (the resumed run continues as if it had not).
    command = ["pipezero", "train", args.recipe, "--set", f"save_freq={args.save_freq}"]
    command += ["--set", "policy.stop_value=1e9"]
    command += ["--max-env-step", str(env_step), "--exp-dir", str(work / "reference")]
    subprocess.run(command, check=True, capture_output=True)
    path = work / "reference" / "ckpt" / newest.name
    if not path.is_file():
        return {"reference": f"the uninterrupted run wrote no {newest.name}"}
    other = load_pair(path)[0]
    other_buffer = ReplayBuffer.load(path.parent / other["buffer_file"])
    mine, theirs = state["policy"]["model"], other["policy"]["model"]
    return {
        "reference_train_iter": [state["counters"]["train_iter"], other["counters"]["train_iter"]],
        "reference_buffer_transitions": [buffer.num_transitions, other_buffer.num_transitions],
        "reference_model_bit_identical": all(torch.equal(mine[k], theirs[k]) for k in mine),
    }


def wait_for(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--recipe", default="muzero_cartpole")
    parser.add_argument("--save-freq", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reference", action="store_true", help="compare with a run not killed")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="kill_resume_"))
    run_dir, ckpt = work / "run", work / "run" / "ckpt"
    logs, aimed_hits = [], 0
    for i in range(args.kills):
        command = ["pipezero", "train", args.recipe, "--set", f"save_freq={args.save_freq}"]
        command += ["--max-env-step", "100000000"]
        command += ["--resume", str(run_dir)] if i else ["--exp-dir", str(run_dir)]
        log = work / f"run_{i}.log"
        with open(log, "w") as out:
            child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        saved = f"checkpoint saved: {ckpt / 'iter_'}"
        if not wait_for(lambda log=log, saved=saved: saved in log.read_text(), 300):
            raise RuntimeError(f"run {i} wrote no periodic checkpoint; see {log}")
        if i % 2:
            aimed_hits += wait_for(lambda: any(p.name.endswith(".tmp") for p in ckpt.iterdir()), 60)
        else:
            time.sleep(rng.uniform(0.0, 3.0))
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        logs.append(log.read_text())
    removed = remove_leftovers(run_dir)
    newest = resumable_checkpoints(run_dir)[0]
    saved = ReplayBuffer.load(ckpt / load_pair(newest)[0]["buffer_file"])
    state, buffer = load_pair(newest, saved)  # verifies the pair
    text = "".join(logs)
    after = [p.name for p in ckpt.iterdir() if p.name.endswith(".tmp")]
    env_step = state["counters"]["env_step"]
    held = held_transitions(state.get("run_state", {}))
    reference = {}
    if args.reference:
        reference = compare_with_uninterrupted(args, work, newest, state, buffer)
    print(
        json.dumps(
            {
                "recipe": args.recipe,
                "kills": args.kills,
                "aimed_kills_during_a_write": f"{aimed_hits}/{args.kills // 2}",
                "resumes": text.count("pipezero.checkpoint.resuming: resumed from"),
                "fallbacks": text.count("trying an older checkpoint"),
                "tracebacks": text.count("Traceback"),
                "leftovers_removed_by_the_runs": text.count("pipezero.checkpoint.cleanup: removed"),
                "leftovers_removed_at_the_end": len(removed),
                "temporary_files_after_resume": len(after),
                "newest": newest.name,
                "env_step": env_step,
                "buffer_transitions": buffer.num_transitions,
                "buffer_share_of_env_steps": round(buffer.num_transitions / env_step, 4),
                "collector_held_transitions": held,
                "accounted_share_of_env_steps": round(
                    (buffer.num_transitions + held) / env_step, 4
                ),
                **reference,
            }
        )
    )
    shutil.rmtree(work)


if __name__ == "__main__":
    sys.exit(main())
