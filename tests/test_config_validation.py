"""Bad config values are refused before anything is built (issue 20, item 5): wrong types,
out-of-range numbers, unknown environment ids, a buffer smaller than a batch. Each error names
the key, the value and what to do; the policies' constructors refuse the same values."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from pipezero.config import ConfigError, check_ranges, merge_config
from pipezero.model import MuZeroMLP
from pipezero.policy import MuZeroPolicy, muzero_config
from pipezero.recipe.flags import UsageError, check_env_id, recipe_parser, resolve_run

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recipes"))
RECIPE = importlib.import_module("muzero_cartpole")


def resolve(*sets: str):
    args = recipe_parser(RECIPE).parse_args(
        ["--smoke", "--exp-dir", "unused", *[a for s in sets for a in ("--set", s)]]
    )
    return resolve_run(RECIPE, args)


BAD_VALUES = [
    # wrong types
    ("env.env_id=42", "'env.env_id' takes a string", "got an int 42"),
    ("policy.num_simulations=2.5", "'policy.num_simulations' takes an int", "2.5"),
    ("policy.learning_rate=abc", "'policy.learning_rate' takes a number", "'abc'"),
    ("policy.use_priority=1", "'policy.use_priority' takes a bool", "1"),
    # out-of-range numbers
    ("policy.batch_size=0", "'policy.batch_size' must be an int >= 1", "got 0"),
    ("policy.num_simulations=-5", "'policy.num_simulations' must be an int >= 1", "-5"),
    ("policy.discount_factor=0", "'policy.discount_factor' must be a number in (0, 1]", "0.0"),
    ("policy.discount_factor=1.5", "'policy.discount_factor' must be a number in (0, 1]", "1.5"),
    ("policy.root_noise_weight=2", "'policy.root_noise_weight' must be a number in [0, 1]", "2"),
    ("policy.root_dirichlet_alpha=0", "'policy.root_dirichlet_alpha' must be a number > 0", "0"),
    ("policy.pb_c_init=-1", "'policy.pb_c_init' must be a number >= 0", "-1.0"),
    ("policy.learning_rate=1e999", "'policy.learning_rate' must be a finite number", "inf"),
    ("policy.value_loss_weight=-1", "'policy.value_loss_weight' must be a number >= 0", "-1"),
    ("policy.min_buffer_transitions=-1", "'policy.min_buffer_transitions' must be", "-1"),
    ("policy.max_consecutive_nan=0", "'policy.max_consecutive_nan' must be an int >= 1", "0"),
    # buffer smaller than batch
    (
        "policy.replay_buffer_size=8",
        "'policy.batch_size' (16) is larger than 'policy.replay_buffer_size' (8)",
        "raise replay_buffer_size or lower batch_size",
    ),
    # unknown environment ids
    ("env.env_id=NoSuchEnv-v9", "gymnasium knows no environment 'NoSuchEnv-v9'", "env.env_id"),
    ("env.env_id=Cartpole-v1", "no environment 'Cartpole-v1'", "did you mean 'CartPole-v1'"),
    ("env.env_id=ALE/Pongg-v5", "no environment 'ALE/Pongg-v5'", "did you mean 'ALE/Pong-v5'"),
    ("env.env_id=MinAtar/Nope-v1", "no environment 'MinAtar/Nope-v1'", "MinAtar/"),
]


@pytest.mark.parametrize(("pair", "names", "value"), BAD_VALUES)
def test_bad_values_are_usage_errors_naming_key_and_value(
    pair: str, names: str, value: str
) -> None:
    with pytest.raises(UsageError) as info:
        resolve(pair)
    assert names in str(info.value) and value in str(info.value), str(info.value)


def test_good_values_pass() -> None:
    run = resolve("env.env_id=CartPole-v1", "policy.discount_factor=1", "policy.pb_c_init=0")
    assert run.cfg.env.env_id == "CartPole-v1" and run.cfg.policy.discount_factor == 1.0
    assert resolve("env.env_id=MinAtar/Breakout-v1").cfg.env.env_id == "MinAtar/Breakout-v1"


@pytest.mark.parametrize(
    ("env_id", "package", "extra"),
    [("MinAtar/Breakout-v1", "minatar", "minatar"), ("ALE/Pong-v5", "ale_py", "atari")],
)
def test_env_ids_of_a_missing_extra_name_it(
    monkeypatch: pytest.MonkeyPatch, env_id: str, package: str, extra: str
) -> None:
    monkeypatch.setitem(sys.modules, package, None)  # import raises ImportError
    with pytest.raises(UsageError, match=rf"needs the '{extra}' extra: pip install .*\[{extra}\]"):
        check_env_id(env_id)


def test_the_recipe_default_env_id_is_trusted() -> None:
    """Recipes may use ids of their own (pipezero-board); only a changed id is checked."""
    board = importlib.import_module("muzero_tictactoe")
    args = recipe_parser(board).parse_args(["--smoke", "--exp-dir", "unused"])
    assert resolve_run(board, args).cfg.env.env_id == "pipezero-board"


def test_nan_is_refused_anywhere() -> None:
    with pytest.raises(ConfigError, match=r"'a.anything' must be a number, not NaN"):
        check_ranges({"a": {"anything": float("nan")}})


def test_policy_constructor_refuses_the_same_values() -> None:
    """Used from Python, not via the command line: the constructor's merge checks ranges."""
    cfg = muzero_config({"policy.model": {"latent_dim": 8, "hidden_dim": 8}}).policy

    def policy(**changes: object) -> MuZeroPolicy:
        return MuZeroPolicy(merge_config(cfg, changes), MuZeroMLP(4, 2, latent_dim=8, hidden_dim=8))

    with pytest.raises(ConfigError, match=r"'num_simulations' takes an int.*2.5"):
        policy(num_simulations=2.5)
    with pytest.raises(ConfigError, match=r"'root_dirichlet_alpha' must be a number > 0"):
        policy(root_dirichlet_alpha=0.0)
    with pytest.raises(ConfigError, match=r"'discount_factor' must be a number in \(0, 1\]"):
        policy(discount_factor=0.0)
    with pytest.raises(ConfigError, match=r"'batch_size' \(512\) is larger than"):
        policy(batch_size=512, replay_buffer_size=256)
    with pytest.raises(ConfigError, match=r"'learning_rate' must be a number > 0, got -0.1"):
        MuZeroPolicy({**cfg, "learning_rate": -0.1}, MuZeroMLP(4, 2, latent_dim=8, hidden_dim=8))
