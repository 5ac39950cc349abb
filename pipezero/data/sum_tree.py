"""A vectorised sum tree for proportional prioritised sampling (Schaul et al. 2016).

Leaves hold non-negative priorities; every internal node holds the sum of its two children,
so the total is the root and sampling proportional to the priorities is a descent from the
root. All operations take and return NumPy arrays and run one vectorised step per tree level
(``log2(capacity)`` steps), whatever the batch size.

Layout: a complete binary tree in one ``float64`` array of ``2 * size`` entries (``size`` is
``capacity`` rounded up to a power of two); node ``i`` has children ``2i`` and ``2i + 1``,
the root is node 1 and leaf ``k`` is node ``size + k``. Internal sums are recomputed from the
children on every update (not patched by deltas), so rounding errors never accumulate.
"""

from __future__ import annotations

import numpy as np


class SumTree:
    """Sum tree over ``capacity`` leaves.

    Args:
        capacity: number of leaves (priority slots), ``>= 1``.

    Example:
        >>> tree = SumTree(4)
        >>> tree.update(np.array([0, 3]), np.array([1.0, 3.0]))
        >>> tree.total
        4.0
        >>> tree.find(np.array([0.5, 1.5, 3.9]))
        array([0, 3, 3])
    """

    def __init__(self, capacity: int) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int | np.integer) or capacity < 1:
            raise ValueError(f"SumTree capacity must be a positive int, got {capacity!r}")
        self.capacity = int(capacity)
        size = 1
        while size < self.capacity:
            size *= 2
        self._size = size
        self._depth = size.bit_length() - 1  # levels below the root
        self._tree = np.zeros(2 * size, dtype=np.float64)

    @property
    def total(self) -> float:
        """Sum of all leaf values."""
        return float(self._tree[1])

    def _check_indices(self, indices: np.ndarray) -> np.ndarray:
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= self.capacity):
            bad = idx[(idx < 0) | (idx >= self.capacity)][:5]
            raise IndexError(f"SumTree indices must be in [0, {self.capacity}), got {bad}")
        return idx

    def get(self, indices: np.ndarray) -> np.ndarray:
        """Leaf values ``[M]`` (float64) at ``indices`` ``[M]``."""
        return self._tree[self._check_indices(indices) + self._size]

    def update(self, indices: np.ndarray, values: np.ndarray) -> None:
        """Set leaves ``indices`` ``[M]`` to ``values`` ``[M]`` (or a scalar).

        For a repeated index the last value wins. Values must be finite and ``>= 0``.
        """
        idx = self._check_indices(indices)
        vals = np.broadcast_to(np.asarray(values, dtype=np.float64), idx.shape)
        if vals.size and not (np.isfinite(vals).all() and vals.min() >= 0):
            raise ValueError(
                f"SumTree values must be finite and >= 0, got e.g. "
                f"{vals[~np.isfinite(vals) | (vals < 0)][:5]}"
            )
        if idx.size == 0:
            return
        # Keep the last occurrence of each index so the result does not depend on NumPy's
        # order of duplicate assignments.
        _, last = np.unique(idx[::-1], return_index=True)
        keep = idx.size - 1 - last
        nodes = idx[keep] + self._size
        self._tree[nodes] = vals[keep]
        tree = self._tree
        for _ in range(self._depth):
            nodes = np.unique(nodes >> 1)
            tree[nodes] = tree[2 * nodes] + tree[2 * nodes + 1]

    def find(self, values: np.ndarray) -> np.ndarray:
        """Leaves ``[M]`` whose cumulative range ``[prefix, prefix + value)`` holds each of
        ``values`` ``[M]`` (in ``[0, total)``).

        The descent never enters an empty subtree, so the returned leaves always have a
        positive value when ``total > 0``, even with rounding at range edges.
        """
        v = np.asarray(values, dtype=np.float64).reshape(-1).copy()
        if self.total <= 0:
            raise ValueError("SumTree.find() on a tree whose total is 0; add priorities first")
        tree = self._tree
        nodes = np.ones(v.shape, dtype=np.int64)
        for _ in range(self._depth):
            left = 2 * nodes
            left_sum = tree[left]
            go_right = (v >= left_sum) & (tree[left + 1] > 0)
            v -= np.where(go_right, left_sum, 0.0)
            nodes = left + go_right
        return nodes - self._size

    def sample(
        self, batch_size: int, rng: np.random.Generator, stratified: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``batch_size`` leaves with probability proportional to their values.

        Args:
            batch_size: number of draws ``M`` (with replacement).
            rng: the random generator.
            stratified: split ``[0, total)`` into ``M`` equal strata and draw one value in
                each (lower variance, as in prioritised replay); otherwise draw independently.

        Returns:
            ``(indices [M] int64, values [M] float64)``.
        """
        total = self.total
        if stratified:
            u = (np.arange(batch_size) + rng.random(batch_size)) * (total / batch_size)
        else:
            u = rng.random(batch_size) * total
        idx = self.find(np.minimum(u, np.nextafter(total, 0.0)))
        return idx, self._tree[idx + self._size]
