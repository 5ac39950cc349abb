"""What the checkpoint manifest's sha256 costs on a realistically sized checkpoint pair.

Writes a periodic checkpoint (a ~1.2M-parameter policy with Adam moments) with a replay buffer
of MinAtar-like (``[4, 10, 10]`` uint8) or Atari-like (``[4, 96, 96]`` uint8 stacks, as the
buffer file stores them) observations, then times: the whole ``save_checkpoint`` (buffer,
checkpoint, manifest, fsyncs), the sha256 of both files alone (what the manifest adds to a
save) and, for comparison, their CRC-32, their verification, and the whole verified read
(``load_pair``, what ``resume`` does).
Prints one JSON line. Usage::

    python benchmarks/checkpoint_checksum.py --obs minatar --transitions 100000
    python benchmarks/checkpoint_checksum.py --obs atari --transitions 20000
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
import torch

from pipezero.checkpoint import build_state, load_pair, read_manifest, save_checkpoint
from pipezero.checkpoint.manifest import describe_file, verify_buffer_file, verify_checkpoint_file
from pipezero.data import GameSegmentWriter, ReplayBuffer
from pipezero.framework import TrainContext

OBS = {"minatar": (4, 10, 10), "atari": (4, 96, 96)}
NUM_ACTIONS = 6


class Policy:
    def __init__(self) -> None:
        self.model = torch.nn.Sequential(
            torch.nn.Linear(400, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 768)
        )
        self.optimizer = torch.optim.Adam(self.model.parameters())
        self.model(torch.zeros(1, 400)).sum().backward()
        self.optimizer.step()  # Adam moments exist, as in a training run

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}


def make_buffer(obs_shape: tuple[int, ...], transitions: int) -> ReplayBuffer:
    rng = np.random.default_rng(0)
    writer = GameSegmentWriter(
        obs_shape,
        NUM_ACTIONS,
        game_segment_length=200,
        num_unroll_steps=5,
        td_steps=5,
        obs_dtype=np.uint8,
    )
    buffer = ReplayBuffer(transitions, num_unroll_steps=5, td_steps=5, seed=0)
    mask = np.ones(NUM_ACTIONS, dtype=bool)
    frames = rng.integers(0, 256, size=(64, *obs_shape), dtype=np.uint8)
    for t in range(transitions):
        writer.append(frames[t % 64], mask, -1, t % NUM_ACTIONS, 0.0, np.ones(NUM_ACTIONS), 0.0)
        if (t + 1) % 1000 == 0:
            writer.end_episode(frames[0], terminated=True)
            buffer.extend(writer.pop_finished())
    return buffer


def crc32_file(path: Path) -> int:
    """CRC-32 of a file read like ``describe_file`` reads it (the cheaper alternative)."""
    crc, chunk = 0, bytearray(1 << 20)
    view = memoryview(chunk)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(chunk):
            crc = zlib.crc32(view[:n], crc)
    return crc


def timed(fn, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--obs", choices=sorted(OBS), default="minatar")
    parser.add_argument("--transitions", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    buffer = make_buffer(OBS[args.obs], args.transitions)
    state = build_state(TrainContext(train_iter=1000), Policy(), kind="periodic")
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:
        path = Path(tmp) / "ckpt" / "iter_00001000.pt"
        save_s = timed(lambda: save_checkpoint(path, state, buffer), args.repeat)
        (entry,) = read_manifest(path)
        buffer_path = path.parent / entry.buffer_file
        sha_s = timed(lambda: (describe_file(path), describe_file(buffer_path)), args.repeat)
        crc_s = timed(lambda: (crc32_file(path), crc32_file(buffer_path)), args.repeat)
        verify_s = timed(
            lambda: verify_buffer_file(path, verify_checkpoint_file(path)), args.repeat
        )
        empty = ReplayBuffer(args.transitions, num_unroll_steps=5, td_steps=5)
        load_s = timed(lambda: load_pair(path, empty), args.repeat)
        sizes = (entry.checkpoint_size, entry.buffer_size)
    total_mb = sum(sizes) / 1e6
    print(
        json.dumps(
            {
                "obs": args.obs,
                "transitions": args.transitions,
                "checkpoint_mb": round(sizes[0] / 1e6, 1),
                "buffer_mb": round(sizes[1] / 1e6, 1),
                "save_checkpoint_s": round(save_s, 3),
                "sha256_both_files_s": round(sha_s, 3),
                "sha256_share_of_save": round(sha_s / save_s, 3),
                "sha256_mb_per_s": round(total_mb / sha_s),
                "crc32_both_files_s": round(crc_s, 3),
                "verify_both_files_s": round(verify_s, 3),
                "load_pair_s": round(load_s, 3),
                "sha256_share_of_load": round(verify_s / load_s, 3),
                "torch": torch.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
