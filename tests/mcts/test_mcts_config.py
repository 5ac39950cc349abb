"""MCTSConfig validation, root noise and the sequential-halving schedule."""

from __future__ import annotations

import numpy as np
import pytest

from pipezero.mcts import MCTSConfig, considered_visit_sequence
from pipezero.mcts._common import dirichlet_noise


def test_defaults_use_lightzero_names_and_values() -> None:
    cfg = MCTSConfig()
    assert (cfg.pb_c_base, cfg.pb_c_init, cfg.root_noise_weight) == (19652.0, 1.25, 0.25)
    assert (
        MCTSConfig.from_dict({"num_simulations": 8, "root_dirichlet_alpha": 0.1}).num_simulations
        == 8
    )


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [
        ("pb_c_int", "pb_c_init"),
        ("num_simulation", "num_simulations"),
        ("discount", "discount_factor"),
    ],
)
def test_unknown_keys_are_rejected_with_a_suggestion(key: str, suggestion: str) -> None:
    with pytest.raises(ValueError, match=f"unknown key '{key}'; did you mean '{suggestion}'"):
        MCTSConfig.from_dict({key: 1})
    with pytest.raises(ValueError, match=f"did you mean '{suggestion}'"):
        MCTSConfig().replace(**{key: 1})
    with pytest.raises(ValueError, match=f"did you mean '{suggestion}'"):
        MCTSConfig(**{key: 1})


@pytest.mark.parametrize(
    ("field", "value", "pattern"),
    [
        ("num_simulations", 0, "num_simulations must be >= 1, got 0"),
        ("num_simulations", 2.5, "num_simulations must be an int, got 2.5"),
        ("pb_c_base", 0.0, "pb_c_base must be > 0.0, got 0.0"),
        ("discount_factor", 1.2, "discount_factor must be <= 1.0, got 1.2"),
        ("root_noise_weight", -0.1, "root_noise_weight must be >= 0.0"),
        ("root_dirichlet_alpha", float("nan"), "root_dirichlet_alpha must be a finite number"),
        ("value_delta_max", 0, "value_delta_max must be > 0.0"),
        ("max_num_considered_actions", 0, "max_num_considered_actions must be >= 1"),
    ],
)
def test_bad_values_are_rejected(field: str, value: object, pattern: str) -> None:
    with pytest.raises((ValueError, TypeError), match=pattern):
        MCTSConfig(**{field: value})


def test_dirichlet_noise_lives_on_legal_actions_and_sums_to_one() -> None:
    legal = np.random.default_rng(0).random((50, 7)) > 0.4
    legal[:, 3] = True
    noise = dirichlet_noise(np.random.default_rng(1), 0.3, legal)
    assert noise.dtype == np.float32 and noise.shape == (50, 7)
    assert (noise[~legal] == 0).all()
    np.testing.assert_allclose(noise.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize(("m", "n"), [(16, 50), (4, 10), (2, 7), (5, 100), (8, 8), (3, 2)])
def test_sequential_halving_schedule(m: int, n: int) -> None:
    seq = considered_visit_sequence(m, n)
    assert len(seq) == n
    assert seq[: min(m, n)] == [0] * min(m, n), "first round: every considered action once"
    assert all(b >= a for a, b in zip(seq[::m], seq[m::m], strict=False))
    assert considered_visit_sequence(1, 5) == [0, 1, 2, 3, 4]
