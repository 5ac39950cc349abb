import numpy as np
import pytest

from pipezero.policy.temperature import sample_actions, visit_count_temperature


def test_fixed_temperature_ignores_env_step():
    for step in (0, 10**6):
        t = visit_count_temperature(
            step,
            manual_temperature_decay=False,
            fixed_temperature_value=0.25,
            threshold_env_steps_for_final_temperature=100,
        )
        assert t == 0.25


def test_manual_decay_steps_at_half_and_three_quarters():
    def temp(step):
        return visit_count_temperature(
            step,
            manual_temperature_decay=True,
            fixed_temperature_value=1.0,
            threshold_env_steps_for_final_temperature=1000,
        )

    assert [temp(s) for s in (0, 499, 500, 749, 750, 10**6)] == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]


def test_bad_temperature_settings_are_rejected():
    with pytest.raises(ValueError, match="fixed_temperature_value"):
        visit_count_temperature(
            0,
            manual_temperature_decay=False,
            fixed_temperature_value=0.0,
            threshold_env_steps_for_final_temperature=1,
        )
    with pytest.raises(ValueError, match="threshold_env_steps"):
        visit_count_temperature(
            0,
            manual_temperature_decay=True,
            fixed_temperature_value=1.0,
            threshold_env_steps_for_final_temperature=0,
        )


def test_sampling_follows_visit_counts_at_temperature_one():
    rng = np.random.default_rng(0)
    visits = np.tile([[1, 3]], (20000, 1))
    actions = sample_actions(visits, 1.0, rng)
    assert abs(actions.mean() - 0.75) < 0.02


def test_low_temperature_sharpens_and_tiny_temperature_is_argmax():
    rng = np.random.default_rng(0)
    visits = np.tile([[1, 3]], (20000, 1))
    # T = 0.5 squares the counts: p(1) = 9 / 10.
    assert abs(sample_actions(visits, 0.5, rng).mean() - 0.9) < 0.02
    assert (sample_actions(np.array([[5, 6, 2]]), 1e-6, rng) == 1).all()


def test_rows_without_visits_sample_uniformly_among_legal_actions():
    rng = np.random.default_rng(0)
    visits = np.zeros((3000, 3))
    legal = np.tile([[True, False, True]], (3000, 1))
    actions = sample_actions(visits, 1.0, rng, legal)
    assert set(np.unique(actions)) == {0, 2}
    assert abs((actions == 0).mean() - 0.5) < 0.05
