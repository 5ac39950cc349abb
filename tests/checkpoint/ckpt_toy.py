"""Small real parts for the checkpoint tests: a policy, a replay buffer, a training chain,
and where a checkpoint keeps its tensor data."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipezero.data import GameSegmentWriter, ReplayBuffer
from pipezero.framework import Middleware, TrainContext, middleware

#: Observation shape: 4 KiB per float32 observation, so buffers of a few hundred
#: transitions take a noticeable time to write.
OBS_SHAPE = (4, 16, 16)
NUM_ACTIONS = 3


class TinyNet:
    """A two-layer MLP trained by Adam: weights and optimizer moments to checkpoint."""

    def __init__(self, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.model = torch.nn.Sequential(
            torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 4)
        )
        with torch.no_grad():
            for p in self.model.parameters():
                p.copy_(torch.randn(p.shape, generator=generator) * 0.1)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)

    def train_step(self) -> None:
        x = torch.randn(8, 32)
        loss = self.model(x).pow(2).mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()

    def weights(self) -> list[torch.Tensor]:
        return [p.detach().clone() for p in self.model.parameters()]

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])


def new_buffer(seed: int = 0) -> ReplayBuffer:
    return ReplayBuffer(100_000, num_unroll_steps=2, td_steps=3, seed=seed)


def episode(num_steps: int, rng: np.random.Generator) -> list:
    """Finished segments of one episode of ``num_steps`` random transitions."""
    writer = GameSegmentWriter(
        OBS_SHAPE, NUM_ACTIONS, game_segment_length=8, num_unroll_steps=2, td_steps=3
    )
    mask = np.ones(NUM_ACTIONS, dtype=bool)
    for _ in range(num_steps):
        writer.append(
            rng.standard_normal(OBS_SHAPE, dtype=np.float32),
            mask,
            -1,
            int(rng.integers(NUM_ACTIONS)),
            float(rng.normal()),
            rng.random(NUM_ACTIONS),
            float(rng.normal()),
        )
    writer.end_episode(rng.standard_normal(OBS_SHAPE, dtype=np.float32), terminated=True)
    return writer.pop_finished()


def filled_buffer(num_transitions: int, seed: int = 0) -> ReplayBuffer:
    buffer = new_buffer(seed)
    buffer.extend(episode(num_transitions, np.random.default_rng(seed)))
    return buffer


def collect_and_learn(policy: TinyNet, buffer: ReplayBuffer) -> Middleware:
    """One step: an episode of 2-6 transitions into ``buffer`` (counted in ``env_step``),
    then one Adam update (``train_iter``)."""

    def step(ctx: TrainContext) -> None:
        rng = np.random.default_rng(ctx.task_step)
        num_steps = int(rng.integers(2, 7))
        buffer.extend(episode(num_steps, rng))
        ctx.env_step += num_steps
        ctx.env_episode += 1
        policy.train_step()
        ctx.train_iter += 1

    return middleware(
        step,
        name="collect_and_learn",
        role="learner",
        reads=("env_step", "train_iter", "task_step"),
        writes=("env_step", "env_episode", "train_iter"),
    )


def tensor_data_spans(path: Path) -> list[tuple[int, int]]:
    """``(offset, size)`` in ``path`` of the raw data of every tensor of a torch.save archive
    (the ``<archive>/data/<n>`` members, stored uncompressed)."""
    spans = []
    with zipfile.ZipFile(path) as archive, open(path, "rb") as f:
        for info in archive.infolist():
            if "/data/" not in info.filename or info.file_size == 0:
                continue
            f.seek(info.header_offset)
            header = f.read(30)
            name_len, extra_len = struct.unpack("<HH", header[26:30])
            spans.append((info.header_offset + 30 + name_len + extra_len, info.file_size))
    return spans


def leftover_files(ckpt_dir: Path) -> list[str]:
    """What interrupted writes leave: temporary files, buffers no checkpoint names, manifests
    without their checkpoint (read independently of ``remove_leftovers``)."""
    names = {p.name for p in ckpt_dir.iterdir()}
    named = set()
    for name in names:
        if name.endswith(".pt") and not name.startswith("."):
            state = torch.load(ckpt_dir / name, weights_only=True, mmap=True)
            named.add(state["buffer_file"])
    orphan_manifests = {
        name
        for name in names
        if name.endswith(".manifest.json") and name.replace(".manifest.json", ".pt") not in names
    }
    orphan_buffers = {name for name in names if name.endswith(".npz") and name not in named}
    temporaries = {name for name in names if name.endswith(".tmp")}
    return sorted(temporaries | orphan_buffers | orphan_manifests)
