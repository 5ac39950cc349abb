"""Toy trajectories shared by the data tests."""

import numpy as np

from pipezero.data import GameSegmentWriter

# Toy layout shared by the data tests: L = 4, K = 1, n = 2 -> padding P = 3.
L, K, N, A = 4, 1, 2, 2


def play_episode(writer, num_steps, terminated=True, start=0, with_pred=False):
    """Record transitions j = start .. start + num_steps - 1 with obs [j], reward j + 1,
    action j % 2, visits [1, 3], root value 10 j and (``with_pred``) predicted value j; then
    end the episode (final obs [start + num_steps])."""
    for j in range(start, start + num_steps):
        writer.append(
            obs=np.array([j], dtype=np.float32),
            action_mask=np.array([True, j % 3 != 0]),
            to_play=-1,
            action=j % 2,
            reward=float(j + 1),
            child_visits=np.array([1.0, 3.0]),
            root_value=10.0 * j,
            **({"pred_value": float(j)} if with_pred else {}),
        )
    if terminated is not None:
        writer.end_episode(np.array([start + num_steps], dtype=np.float32), terminated)


def make_writer():
    return GameSegmentWriter((1,), A, game_segment_length=L, num_unroll_steps=K, td_steps=N)
