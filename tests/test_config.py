import pytest

from pipezero.config import ConfigError, merge_config, parse_set_overrides

DEFAULTS = {
    "seed": 0,
    "policy": {"batch_size": 256, "mcts": {"num_simulations": 50}},
    "env": {"env_id": "CartPole-v0", "kwargs": {}},
    "exp_dir": None,
}


def test_merge_overrides_nested_values_without_touching_defaults():
    cfg = merge_config(DEFAULTS, {"policy": {"mcts": {"num_simulations": 25}}})
    assert cfg.policy.mcts.num_simulations == 25
    assert cfg.policy.batch_size == 256
    assert DEFAULTS["policy"]["mcts"]["num_simulations"] == 50


def test_unknown_key_names_closest_valid_key():
    with pytest.raises(ConfigError, match=r"policy.batch_szie.*did you mean 'batch_size'"):
        merge_config(DEFAULTS, {"policy": {"batch_szie": 1}})


def test_section_given_a_scalar_is_rejected():
    with pytest.raises(ConfigError, match="is a section"):
        merge_config(DEFAULTS, {"policy": 3})


def test_scalar_given_a_mapping_is_rejected():
    with pytest.raises(ConfigError, match="takes an int"):
        merge_config(DEFAULTS, {"seed": {"a": 1}})


def test_open_entries_accept_anything():
    cfg = merge_config(DEFAULTS, {"env": {"kwargs": {"render_mode": None}}, "exp_dir": "runs/x"})
    assert cfg.env.kwargs == {"render_mode": None}
    assert cfg.exp_dir == "runs/x"


def test_set_overrides_parse_literals_and_strings():
    parsed = parse_set_overrides(
        [
            "policy.mcts.num_simulations=25",
            "env.env_id=CartPole-v1",
            "policy.flag=True",
            "seed=None",
        ]
    )
    assert parsed == {
        "policy": {"mcts": {"num_simulations": 25}, "flag": True},
        "env": {"env_id": "CartPole-v1"},
        "seed": None,
    }
    cfg = merge_config(DEFAULTS, {k: v for k, v in parsed.items() if k != "policy"})
    assert cfg.env.env_id == "CartPole-v1"


@pytest.mark.parametrize("bad", ["policy.batch_size", "=3"])
def test_set_override_without_key_value_is_rejected(bad):
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_set_overrides([bad])
