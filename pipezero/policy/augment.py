"""Board-symmetry data augmentation of MuZero-family training batches.

A symmetry of a board game (a rotation or reflection) maps every position to an equally good
one and every move to its mirrored move: values, rewards and chance probabilities do not
change, observations and policies are permuted. Replacing each sampled row of a batch by a
random symmetry of itself multiplies the positions the network sees (8 for a square board) at
the cost of a few gathers.

Symmetries come as ``(cell_perms [G, H * W], action_perms [G, A])``, the convention of the
games' ``symmetries()`` (:meth:`pipezero.envs.board.base.BoardGame.symmetries`,
:func:`pipezero.envs.game2048.symmetries`): the transformed board is
``board.reshape(-1)[cell_perms[g]]`` and its move ``a`` is the original move
``action_perms[g, a]``.
"""

from __future__ import annotations

import numpy as np

from pipezero.data.batch import Batch


def check_symmetries(
    symmetries: tuple[np.ndarray, np.ndarray], owner: str
) -> tuple[np.ndarray, np.ndarray]:
    """``(cell_perms [G, H * W], action_perms [G, A])`` as int64 arrays, or a ``ValueError``
    naming ``owner`` when the shapes or the permutations are wrong."""
    cells, actions = (np.asarray(s, dtype=np.int64) for s in symmetries)
    if cells.ndim != 2 or actions.ndim != 2 or cells.shape[0] != actions.shape[0]:
        raise ValueError(
            f"{owner}: symmetries must be (cell_perms [G, H*W], action_perms [G, A]) with the "
            f"same G, got shapes {list(cells.shape)} and {list(actions.shape)}"
        )
    for name, perms in (("cell_perms", cells), ("action_perms", actions)):
        if not (np.sort(perms, axis=1) == np.arange(perms.shape[1])).all():
            raise ValueError(f"{owner}: every row of {name} must be a permutation, got {perms}")
    return cells, actions


def augment_batch(
    batch: Batch[np.ndarray],
    symmetries: tuple[np.ndarray, np.ndarray],
    rng: np.random.Generator,
) -> Batch[np.ndarray]:
    """A copy of ``batch`` (from ``ReplayBuffer.sample``) with each row replaced by a random
    symmetry of itself.

    Transformed: the board observations ``obs`` and ``unroll_obs`` (Stochastic MuZero) on
    their last two axes ``H, W``, the per-action ``target_policy`` and ``action_masks`` on
    their last axis, and the unrolled ``actions [B, K]``. Values, rewards, masks, weights and
    the bootstrap observations are unchanged: a symmetric position has the same value, so
    the target network may read the original.
    """
    if batch.root_sampled_actions is not None:
        raise ValueError(
            "augment_batch: the batch holds sampled actions (Sampled EfficientZero), which a "
            "permutation of the action indices does not transform; set use_augmentation=False"
        )
    cells, actions = symmetries
    obs = batch.obs
    if obs.ndim < 3 or obs.shape[-2] * obs.shape[-1] != cells.shape[1]:
        raise ValueError(
            f"augment_batch: observations [B, ..., H, W] with H * W = {cells.shape[1]} cells "
            f"needed for these symmetries, got obs of shape {list(obs.shape)}"
        )
    b = obs.shape[0]
    pick = rng.integers(len(cells), size=b)
    row_cells, row_actions = cells[pick], actions[pick]  # [B, H*W], [B, A]

    def permute_board(x: np.ndarray) -> np.ndarray:
        flat = x.reshape(b, -1, x.shape[-2] * x.shape[-1])
        return np.take_along_axis(flat, row_cells[:, None, :], axis=2).reshape(x.shape)

    def permute_actions(x: np.ndarray) -> np.ndarray:
        flat = x.reshape(b, -1, x.shape[-1])
        return np.take_along_axis(flat, row_actions[:, None, :], axis=2).reshape(x.shape)

    # The stored move a is the transformed board's move a' with row_actions[a'] == a.
    inverse = np.argsort(row_actions, axis=1)
    return batch.replace(
        obs=permute_board(batch.obs),
        unroll_obs=None if batch.unroll_obs is None else permute_board(batch.unroll_obs),
        target_policy=permute_actions(batch.target_policy),
        action_masks=permute_actions(batch.action_masks),
        actions=np.take_along_axis(inverse, batch.actions.astype(np.int64), axis=1),
    )
