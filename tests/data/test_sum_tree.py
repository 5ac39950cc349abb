import numpy as np
import pytest

from pipezero.data import SumTree


def test_total_get_and_update_with_duplicates():
    tree = SumTree(6)
    tree.update(np.array([0, 2, 5, 2]), np.array([1.0, 9.0, 3.0, 2.0]))  # last value wins
    assert tree.total == pytest.approx(6.0)
    assert tree.get(np.array([0, 1, 2, 5])).tolist() == [1.0, 0.0, 2.0, 3.0]
    tree.update(np.array([0]), 0.0)
    assert tree.total == pytest.approx(5.0)


def test_find_maps_prefix_sums_to_leaves():
    tree = SumTree(4)
    tree.update(np.arange(4), np.array([1.0, 0.0, 2.0, 1.0]))
    found = tree.find(np.array([0.0, 0.99, 1.0, 2.99, 3.0, 3.999]))
    assert found.tolist() == [0, 0, 2, 2, 3, 3]


def test_sampling_proportions_statistical():
    rng = np.random.default_rng(0)
    prio = np.array([1.0, 2.0, 0.0, 3.0, 4.0, 0.5, 0.0])
    tree = SumTree(len(prio))
    tree.update(np.arange(len(prio)), prio)
    counts = np.zeros(len(prio))
    for stratified in (True, False):
        for _ in range(40):
            idx, vals = tree.sample(1000, rng, stratified=stratified)
            assert np.array_equal(vals, prio[idx])
            counts += np.bincount(idx, minlength=len(prio))
    freq = counts / counts.sum()
    assert counts[2] == counts[6] == 0  # zero priority is never drawn
    assert np.allclose(freq, prio / prio.sum(), atol=0.01)


def test_zero_leaves_never_drawn_at_range_edges():
    # With these values, rounding in the descent at the top of the range would walk into the
    # empty last leaf if the descent did not refuse empty subtrees.
    prio = np.array(
        [
            0.11993412971699546,
            6.0624819668826015,
            0.004773314335428581,
            0.00141656362071233,
            1.0590172157875388,
            0.0,
            8.57389382427477,
            0.0,
        ]
    )
    tree = SumTree(8)
    tree.update(np.arange(8), prio)
    edges = np.array([0.0, np.nextafter(tree.total, 0), tree.total * (1 - 1e-16), 7.2])
    assert (prio[tree.find(edges)] > 0).all()


def test_errors():
    tree = SumTree(3)
    with pytest.raises(ValueError, match="total is 0"):
        tree.find(np.array([0.0]))
    with pytest.raises(IndexError, match=r"\[0, 3\)"):
        tree.update(np.array([3]), np.array([1.0]))
    with pytest.raises(ValueError, match=">= 0"):
        tree.update(np.array([0]), np.array([-1.0]))
    with pytest.raises(ValueError, match="positive int"):
        SumTree(0)
