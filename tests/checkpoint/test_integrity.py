"""Manifests: corrupted checkpoints and damaged buffers are detected and resume falls back to
the previous intact pair, never half-loading; leftovers of interrupted writes are removed."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from ckpt_toy import (
    TinyNet,
    collect_and_learn,
    filled_buffer,
    leftover_files,
    new_buffer,
    tensor_data_spans,
)
from pipezero.middleware import ckpt_saver

from pipezero.checkpoint import (
    CheckpointIntegrityError,
    build_state,
    checkpoint_dir,
    load_checkpoint,
    load_pair,
    manifest_path,
    periodic_name,
    read_manifest,
    resume,
    save_checkpoint,
)
from pipezero.framework import Task, TrainContext

#: Transitions in the buffers of the older and the newer checkpoint.
OLD, NEW = 30, 60


def write_two_pairs(run_dir: Path) -> tuple[Path, Path, TinyNet]:
    """``iter_1`` and ``iter_2`` with buffers of ``OLD`` and ``NEW`` transitions; returns the
    two paths and the policy saved in ``iter_1``."""
    paths = []
    for train_iter, (seed, size) in enumerate([(1, OLD), (2, NEW)], start=1):
        policy = TinyNet(seed)
        ctx = TrainContext(train_iter=train_iter, env_step=size)
        path = checkpoint_dir(run_dir) / periodic_name(train_iter)
        save_checkpoint(path, build_state(ctx, policy, kind="periodic"), filled_buffer(size))
        paths.append(path)
    return paths[0], paths[1], TinyNet(1)


def assert_restored_old_pair(ctx: TrainContext, policy: TinyNet, buffer, old: TinyNet) -> None:
    assert (ctx.train_iter, ctx.env_step) == (1, OLD)
    for got, want in zip(policy.weights(), old.weights(), strict=True):
        assert torch.equal(got, want)
    assert buffer.num_transitions == OLD


def assert_untouched(ctx: TrainContext, policy: TinyNet, buffer) -> None:
    assert (ctx.train_iter, ctx.env_step) == (0, 0)
    for got, want in zip(policy.weights(), TinyNet(7).weights(), strict=True):
        assert torch.equal(got, want)
    assert buffer.num_transitions == 0


def fresh() -> tuple[TrainContext, TinyNet, object]:
    return TrainContext(), TinyNet(7), new_buffer()


# -- checkpoint file corruption -------------------------------------------------------------


def test_single_byte_corruptions_in_tensor_data_are_detected(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    old_path, new_path, old = write_two_pairs(tmp_path)
    spans = tensor_data_spans(new_path)
    total = sum(size for _, size in spans)
    original = new_path.read_bytes()
    rng = np.random.default_rng(20)
    detected = 0
    for _ in range(10):
        # a random byte of the tensor data, every byte equally likely
        k = int(rng.integers(total))
        starts = np.cumsum([0] + [size for _, size in spans])
        span = int(np.searchsorted(starts, k, side="right")) - 1
        damaged = bytearray(original)
        damaged[spans[span][0] + k - int(starts[span])] ^= int(rng.integers(1, 256))
        new_path.write_bytes(bytes(damaged))
        torch.load(new_path, weights_only=True)  # torch itself does not notice

        with pytest.raises(CheckpointIntegrityError, match=r"iter_00000002.pt is damaged"):
            load_checkpoint(new_path)
        ctx, policy, buffer = fresh()
        with pytest.raises(CheckpointIntegrityError, match=r"Resume from the run directory"):
            resume(new_path, ctx, policy, buffer)  # an explicit path: an error, no fallback
        assert_untouched(ctx, policy, buffer)

        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="pipezero.checkpoint"):
            assert resume(tmp_path, ctx, policy, buffer) == old_path
        assert_restored_old_pair(ctx, policy, buffer, old)
        assert any("iter_00000002.pt is damaged" in r.getMessage() for r in caplog.records)
        detected += 1
    assert detected == 10
    new_path.write_bytes(original)
    ctx, policy, buffer = fresh()
    assert resume(tmp_path, ctx, policy, buffer) == new_path


def test_manifest_lists_both_files(tmp_path: Path) -> None:
    _, new_path, _ = write_two_pairs(tmp_path)
    (entry,) = read_manifest(new_path)
    state = load_checkpoint(new_path)
    assert entry.buffer_file == state["buffer_file"]
    assert entry.checkpoint_size == new_path.stat().st_size
    assert entry.buffer_size == (new_path.parent / entry.buffer_file).stat().st_size
    assert len(entry.checkpoint_sha256) == len(entry.buffer_sha256) == 64


def test_a_damaged_manifest_falls_back_too(tmp_path: Path) -> None:
    old_path, new_path, old = write_two_pairs(tmp_path)
    manifest_path(new_path).write_text("{not json")
    with pytest.raises(CheckpointIntegrityError, match=r"manifest .* is damaged"):
        load_checkpoint(new_path)
    ctx, policy, buffer = fresh()
    assert resume(tmp_path, ctx, policy, buffer) == old_path
    assert_restored_old_pair(ctx, policy, buffer, old)


def test_checkpoints_without_manifest_load_with_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Files of an older pipezero, or copied without their manifest, stay loadable; their
    zip CRCs still catch damaged tensor data."""
    _, new_path, _ = write_two_pairs(tmp_path)
    copy = tmp_path / "copied.pt"
    shutil.copy(new_path, copy)
    with caplog.at_level(logging.INFO, logger="pipezero.checkpoint"):
        assert load_checkpoint(copy)["counters"]["train_iter"] == 2
    assert any("has no manifest" in r.getMessage() for r in caplog.records)
    offset, size = tensor_data_spans(copy)[0]
    damaged = bytearray(copy.read_bytes())
    damaged[offset + size // 2] ^= 0xFF
    copy.write_bytes(bytes(damaged))
    with pytest.raises(CheckpointIntegrityError, match=r"copied.pt is damaged: the CRC-32"):
        load_checkpoint(copy)


# -- damaged or missing buffer files --------------------------------------------------------


def _truncate_to(fraction: float):
    def damage(path: Path, rng: np.random.Generator) -> None:
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * fraction)])

    return damage


def _random_bytes(path: Path, rng: np.random.Generator) -> None:
    path.write_bytes(rng.bytes(path.stat().st_size))


def _random_chunk(path: Path, rng: np.random.Generator) -> None:
    data = bytearray(path.read_bytes())
    start = int(rng.integers(len(data) - 64))
    data[start : start + 64] = rng.bytes(64)
    path.write_bytes(bytes(data))


def _flip_middle_byte(path: Path, rng: np.random.Generator) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _zeros(path: Path, rng: np.random.Generator) -> None:
    path.write_bytes(bytes(path.stat().st_size))


def _pickle(path: Path, rng: np.random.Generator) -> None:
    with open(path, "wb") as f:  # numpy then advises allow_pickle=True
        np.save(f, np.array([{"not": "a buffer"}], dtype=object), allow_pickle=True)


def _delete(path: Path, rng: np.random.Generator) -> None:
    path.unlink()


def _swap_for_other_buffer(path: Path, rng: np.random.Generator) -> None:
    filled_buffer(OLD + 5, seed=9).save(path)  # a valid buffer, not the one saved


DAMAGES = {
    "empty": _truncate_to(0.0),
    "half": _truncate_to(0.5),
    "last byte cut": _truncate_to(1 - 1e-9),
    "random bytes": _random_bytes,
    "random chunk": _random_chunk,
    "one bit": _flip_middle_byte,
    "zeros": _zeros,
    "pickle": _pickle,
    "deleted": _delete,
    "another buffer": _swap_for_other_buffer,
}


def test_ten_damaged_buffers_fall_back_to_the_previous_pair(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fell_back = 0
    rng = np.random.default_rng(4)
    for i, (label, damage) in enumerate(DAMAGES.items()):
        run_dir = tmp_path / f"run{i}"
        old_path, new_path, old = write_two_pairs(run_dir)
        buffer_path = new_path.parent / load_checkpoint(new_path)["buffer_file"]
        damage(buffer_path, rng)

        ctx, policy, buffer = fresh()
        with pytest.raises(CheckpointIntegrityError, match=rf"replay buffer {buffer_path}"):
            resume(new_path, ctx, policy, buffer)  # explicit path: a clear error ...
        assert_untouched(ctx, policy, buffer)  # ... raised before anything was restored

        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="pipezero.checkpoint"):
            assert resume(run_dir, ctx, policy, buffer) == old_path, label
        assert_restored_old_pair(ctx, policy, buffer, old)
        assert any(buffer_path.name in r.getMessage() for r in caplog.records), label
        fell_back += 1
    assert fell_back == 10


@pytest.mark.parametrize("label", [k for k in DAMAGES if k != "another buffer"])
def test_damaged_buffers_of_checkpoints_without_manifest_fall_back(
    tmp_path: Path, label: str
) -> None:
    """Without a manifest, reading the buffer is the check: its errors (missing file, bad
    zip, CRC, numpy's pickle advice) still fall back instead of escaping half-way."""
    old_path, new_path, old = write_two_pairs(tmp_path)
    for path in (old_path, new_path):
        manifest_path(path).unlink()
    buffer_path = new_path.parent / load_checkpoint(new_path)["buffer_file"]
    DAMAGES[label](buffer_path, np.random.default_rng(5))
    ctx, policy, buffer = fresh()
    assert resume(tmp_path, ctx, policy, buffer) == old_path
    assert_restored_old_pair(ctx, policy, buffer, old)


def test_no_intact_pair_is_a_clear_error(tmp_path: Path) -> None:
    old_path, new_path, _ = write_two_pairs(tmp_path)
    for path in (old_path, new_path):
        (path.parent / load_checkpoint(path)["buffer_file"]).unlink()
    ctx, policy, buffer = fresh()
    with pytest.raises(CheckpointIntegrityError, match=r"every checkpoint is damaged") as info:
        resume(tmp_path, ctx, policy, buffer)
    assert "iter_00000001.pt" in str(info.value) and "iter_00000002.pt" in str(info.value)
    assert_untouched(ctx, policy, buffer)
    # the policy alone is intact: resuming without a buffer works
    assert resume(tmp_path, ctx, policy) == new_path


def test_load_pair_verifies_without_restoring(tmp_path: Path) -> None:
    _, new_path, _ = write_two_pairs(tmp_path)
    state, saved = load_pair(new_path, new_buffer())
    assert state["counters"]["train_iter"] == 2 and saved.num_transitions == NEW
    assert load_pair(new_path)[1] is None  # no buffer asked, none read


# -- leftovers ------------------------------------------------------------------------------


def plant_leftovers(ckpt_dir: Path, new_path: Path) -> list[str]:
    """What kills during writes leave, made the way the writer makes them."""
    planted = [
        f".{new_path.name}.k2j4x8.tmp",  # a complete checkpoint never renamed
        ".iter_00000003.buffer-0123abcd.npz.q1w2e3.tmp",  # a half-written buffer
        f".{manifest_path(new_path).name}.z9y8x7.tmp",
        "iter_00000002.buffer-deadbeef.npz",  # the new buffer of a write killed before its rename
        "iter_00000000.buffer-12345678.npz",  # the buffer of a checkpoint pruned half-way
        "iter_00000003.manifest.json",  # the manifest of a checkpoint never renamed
    ]
    shutil.copy(new_path, ckpt_dir / planted[0])
    (ckpt_dir / planted[1]).write_bytes(b"PK\x03\x04 half a buffer")
    shutil.copy(manifest_path(new_path), ckpt_dir / planted[2])
    filled_buffer(5).save(ckpt_dir / planted[3])
    filled_buffer(5).save(ckpt_dir / planted[4])
    shutil.copy(manifest_path(new_path), ckpt_dir / planted[5])
    return sorted(planted)


def test_resume_removes_leftovers_with_one_log_line_each(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _, new_path, _ = write_two_pairs(tmp_path)
    ckpt_dir = new_path.parent
    kept = sorted(p.name for p in ckpt_dir.iterdir())
    planted = plant_leftovers(ckpt_dir, new_path)
    assert leftover_files(ckpt_dir) == planted
    ctx, policy, buffer = fresh()
    with caplog.at_level(logging.INFO, logger="pipezero.checkpoint"):
        assert resume(tmp_path, ctx, policy, buffer) == new_path
    removed = [r.getMessage() for r in caplog.records if r.getMessage().startswith("removed ")]
    assert sorted(Path(m.split(":")[0].removeprefix("removed ")).name for m in removed) == planted
    assert sorted(p.name for p in ckpt_dir.iterdir()) == kept
    assert leftover_files(ckpt_dir) == []


def test_ckpt_saver_removes_leftovers_when_the_run_starts(tmp_path: Path) -> None:
    _, new_path, _ = write_two_pairs(tmp_path)
    plant_leftovers(new_path.parent, new_path)
    policy, buffer = TinyNet(3), new_buffer()
    task = Task(TrainContext(train_iter=2))
    task.use(collect_and_learn(policy, buffer))
    task.use(ckpt_saver(tmp_path, policy, buffer, save_freq=1, save_buffer=True, keep_last=2))
    task.run(max_steps=1)
    assert leftover_files(new_path.parent) == []


def test_a_damaged_checkpoint_keeps_its_buffers(tmp_path: Path) -> None:
    """Whether an unreadable checkpoint names a buffer is unknown: the buffer stays."""
    _, new_path, _ = write_two_pairs(tmp_path)
    buffer_file = load_checkpoint(new_path)["buffer_file"]
    new_path.write_bytes(b"garbage")
    ctx, policy, buffer = fresh()
    resume(tmp_path, ctx, policy, buffer)
    assert (new_path.parent / buffer_file).is_file() and new_path.is_file()


def test_state_dict_fingerprint_follows_the_values_not_the_file(tmp_path):
    """Equal weights give equal fingerprints (key order and file aside); one changed value or a
    renamed tensor gives another."""
    import torch

    from pipezero.checkpoint import state_dict_fingerprint

    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    state = net.state_dict()
    torch.save(state, tmp_path / "a.pt")
    torch.save(dict(reversed(list(state.items()))), tmp_path / "b.pt")
    assert (tmp_path / "a.pt").read_bytes() != (tmp_path / "b.pt").read_bytes()
    loaded = [torch.load(tmp_path / f"{n}.pt", weights_only=True) for n in "ab"]
    first = state_dict_fingerprint(state)
    assert len(first) == 16 and all(state_dict_fingerprint(s) == first for s in loaded)
    changed = {k: v.clone() for k, v in state.items()}
    changed["0.weight"][1, 2] += 1e-6
    assert state_dict_fingerprint(changed) != first
    renamed = {("x" + k if k == "2.bias" else k): v for k, v in state.items()}
    assert state_dict_fingerprint(renamed) != first
