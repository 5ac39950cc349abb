"""The core releases the GIL: searches in two Python threads run inside C++ at once.

Checked by overlap, not by timing: a test hook makes the first batched call wait (with the
GIL released) until a second batched call is running too. Were the GIL held, the second
thread could never enter, the wait would time out and at most one call would be seen.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch
from mcts_fakes import HashModel

from pipezero.mcts import Forest, MCTSConfig, MuZeroSearch
from pipezero.mcts import _mcts_core as core


@pytest.fixture(autouse=True)
def clean_probe():
    core._set_rendezvous(0, 0)
    core._max_concurrent_calls(reset=True)
    yield
    core._set_rendezvous(0, 0)


def fresh_forest(batch: int = 4, actions: int = 3) -> tuple[Forest, tuple]:
    forest = Forest(batch, 20, actions, seed=1)
    root = (
        np.zeros((batch, actions), np.float32),
        np.zeros(batch, np.float32),
        np.ones((batch, actions), bool),
        np.full(batch, -1, np.int32),
    )
    return forest, root


def test_two_threads_are_inside_the_core_at_once() -> None:
    model = HashModel(5)
    cfg = MCTSConfig(num_simulations=30, seed=2)
    roots = [model.initial_inference(torch.arange(i * 8, i * 8 + 8)) for i in range(2)]
    expected = [MuZeroSearch(model, cfg).search(r).visit_counts for r in roots]
    results: list = [None, None]
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            results[i] = MuZeroSearch(model, cfg).search(roots[i]).visit_counts
        except BaseException as err:  # reported by the main thread
            errors.append(err)

    core._max_concurrent_calls(reset=True)
    core._set_rendezvous(2, 20_000)
    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert core._max_concurrent_calls() >= 2, "the two searches never ran in C++ at the same time"
    for got, want in zip(results, expected, strict=True):
        assert torch.equal(got, want), "parallel searches must give the same trees as serial ones"


def test_one_forest_used_from_two_threads_raises_instead_of_racing() -> None:
    forest, root = fresh_forest()
    forest.reset(*root)
    core._set_rendezvous(2, 20_000)  # the simulate() below waits inside the core
    worker = threading.Thread(target=forest.simulate)
    worker.start()
    deadline = time.monotonic() + 20
    while core._active_calls() == 0 and time.monotonic() < deadline:
        time.sleep(0.001)
    assert core._active_calls() == 1
    with pytest.raises(RuntimeError, match="already in use"):
        forest.simulate()
    core._set_rendezvous(0, 0)  # release the waiting call
    worker.join()
