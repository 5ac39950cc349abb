"""A learner rank that dies mid-run takes the whole torchrun job down quickly and visibly.

Two gloo ranks train the MuZero CartPole recipe under torchrun; once rank 0 reports progress,
rank 1 is killed with SIGKILL (an out-of-memory kill, a lost host). The surviving rank must not
wait forever in its next all-reduce: torchrun has to exit non-zero within a bound and leave no
rank process behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ddp_workers import free_port
from test_scale_out_recipes import SMALL

ROOT = Path(__file__).resolve().parents[2]
EXIT_BOUND_S = 30.0  # measured: torchrun ends about half a second after the kill


def rank_pids(launcher_pid: int) -> dict[int, int]:
    """``{rank: pid}`` of the processes torchrun started (read from their environment)."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if parent != launcher_pid:
                continue
            env = dict(
                item.split("=", 1)
                for item in (entry / "environ").read_text().split("\0")
                if "=" in item
            )
        except (OSError, ValueError):
            continue  # the process ended while we looked
        if "RANK" in env:
            out[int(env["RANK"])] = int(entry.name)
    return out


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_sigkill_of_one_rank_ends_the_job_non_zero_within_a_bound(tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2"]
    cmd += ["--master_port", str(free_port()), str(ROOT / "recipes" / "muzero_cartpole.py")]
    cmd += ["--ddp", "--exp-dir", str(tmp_path), "--max-env-step", "10000000", "--log-every", "1"]
    for item in SMALL:
        cmd += ["--set", item]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    log = tmp_path / "torchrun.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + 180
            while "train_iter" not in log.read_text() and proc.poll() is None:
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.2)
            assert proc.poll() is None, log.read_text()[-3000:]  # both ranks are training
            ranks = rank_pids(proc.pid)
            assert sorted(ranks) == [0, 1], ranks
            os.kill(ranks[1], signal.SIGKILL)
            killed_at = time.monotonic()
            rc = proc.wait(timeout=EXIT_BOUND_S + 30)
            took = time.monotonic() - killed_at
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert rc != 0, log.read_text()[-3000:]
    assert took < EXIT_BOUND_S, f"torchrun took {took:.1f} s to end after a rank died"
    assert not alive(ranks[0]), "rank 0 outlived the job"
