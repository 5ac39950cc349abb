"""Checkpoints: atomic writing, loading, finding the newest one, resuming a run.

A checkpoint is one file written by ``torch.save`` holding a dict:

===================  ==========================================================================
``format_version``   :data:`FORMAT_VERSION`
``meta``             ``kind`` (``"periodic"``, ``"best"``, ``"final"``, ``"recovery"``),
                     ``reason`` (why the run finished or failed), ``eval_return`` (best
                     checkpoints), ``time`` (Unix seconds), ``torch`` (version that wrote it)
``counters``         every persistent context field except ``finish_reason``: ``env_step``,
                     ``env_episode``, ``train_iter``, ``best_eval_return``, ``last_eval_iter``,
                     ``task_step`` and those a recipe's context subclass adds
``policy``           ``policy.state_dict()`` (models, optimizer, schedules)
``rng``              states of Python ``random``, NumPy's global generator and torch (CPU, and
                     every CUDA device when CUDA is available)
``run_state``        states of the task's state providers by name (a collector's unfinished
                     segments, observations and environment snapshots), NumPy values encoded
                     by :func:`~pipezero.checkpoint.plain.encode_numpy`
``buffer_file``      name of the replay buffer file saved beside it, or ``None``
===================  ==========================================================================

Layout of a run directory (written by :func:`pipezero.middleware.ckpt_saver`)::

    RUN_DIR/ckpt/iter_00001000.pt                 periodic, every save_freq train iterations
    RUN_DIR/ckpt/best.pt                          best mean evaluation return so far
    RUN_DIR/ckpt/final.pt                         written when the run finishes (incl. Ctrl-C)
    RUN_DIR/ckpt/recovery.pt                      written when a middleware raised (inspection)
    RUN_DIR/ckpt/iter_00001000.buffer-<id>.npz    replay buffer of that checkpoint (optional)
    RUN_DIR/ckpt/iter_00001000.manifest.json      size and sha256 of the checkpoint and buffer

Every file is written to a temporary file in the same directory, flushed, synced and renamed
over its destination (``os.replace``), in an order that leaves the old or the new pair
(checkpoint + buffer) intact whenever the process is killed (see :func:`save_checkpoint`).
Loading verifies a pair against its manifest before restoring anything; :func:`resume` falls
back from a damaged pair to the previous intact one and removes what interrupted writes left
(:func:`remove_leftovers`).
"""

from pipezero.checkpoint.cleanup import remove_leftovers
from pipezero.checkpoint.files import (
    BEST_NAME,
    CKPT_DIR,
    FINAL_NAME,
    FORMAT_VERSION,
    RECOVERY_NAME,
    buffer_files,
    checkpoint_dir,
    latest_checkpoint,
    load_checkpoint,
    periodic_checkpoints,
    periodic_name,
    resumable_checkpoints,
    save_checkpoint,
)
from pipezero.checkpoint.manifest import (
    CheckpointIntegrityError,
    ManifestEntry,
    manifest_path,
    read_manifest,
    state_dict_fingerprint,
)
from pipezero.checkpoint.resuming import load_pair, restore_state, resume
from pipezero.checkpoint.state import (
    Stateful,
    build_state,
    capture_rng_state,
    eval_mean_return,
    restore_rng_state,
)

__all__ = [
    "BEST_NAME",
    "CKPT_DIR",
    "FINAL_NAME",
    "FORMAT_VERSION",
    "RECOVERY_NAME",
    "CheckpointIntegrityError",
    "ManifestEntry",
    "Stateful",
    "buffer_files",
    "build_state",
    "capture_rng_state",
    "checkpoint_dir",
    "eval_mean_return",
    "latest_checkpoint",
    "load_checkpoint",
    "load_pair",
    "manifest_path",
    "periodic_checkpoints",
    "periodic_name",
    "read_manifest",
    "remove_leftovers",
    "restore_rng_state",
    "restore_state",
    "resumable_checkpoints",
    "resume",
    "save_checkpoint",
    "state_dict_fingerprint",
]
