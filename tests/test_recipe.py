import json

import numpy as np
import pytest
import torch

from pipezero.config import ConfigError, merge_config
from pipezero.framework import TrainContext
from pipezero.recipe import build_config, recipe_parser, result_line, seed_everything

DEFAULTS = {"seed": 0, "exp_dir": "runs/x", "max_env_step": 100, "policy": {"batch_size": 256}}


def defaults(settings):
    return merge_config(DEFAULTS, settings)


def test_precedence_defaults_then_recipe_then_set_then_flags():
    parser = recipe_parser("Test recipe.\n\nmore")
    args = parser.parse_args(["--set", "policy.batch_size=64", "--set", "seed=3", "--seed", "7"])
    cfg = build_config(defaults, {"policy": {"batch_size": 128}, "max_env_step": 50}, args)
    assert cfg.policy.batch_size == 64
    assert cfg.seed == 7  # the flag beats --set
    assert cfg.max_env_step == 50
    assert cfg.exp_dir == "runs/x"


def test_bad_key_without_parser_raises_config_error():
    args = recipe_parser(None).parse_args(["--set", "policy.batch_szie=1"])
    with pytest.raises(ConfigError, match="did you mean 'batch_size'"):
        build_config(defaults, {}, args)


def test_bad_key_with_parser_is_a_usage_error(capsys):
    parser = recipe_parser("Test recipe.")
    args = parser.parse_args(["--set", "policy.batch_szie=1"])
    with pytest.raises(SystemExit) as exc:
        build_config(defaults, {}, args, parser)
    assert exc.value.code == 2
    assert "did you mean 'batch_size'" in capsys.readouterr().err


def test_seed_everything_makes_draws_repeatable():
    seed_everything(5)
    first = (np.random.rand(), torch.rand(1).item())
    seed_everything(5)
    assert (np.random.rand(), torch.rand(1).item()) == first


def test_result_line_is_parseable_json_with_counters():
    ctx = TrainContext()
    ctx.env_step, ctx.train_iter = 12, 3
    ctx.finish_reason = "max_steps"
    line = result_line(ctx, algorithm="muzero", seed=1, start=0.0, eval_history=[1])
    assert line.startswith("RESULT ")
    summary = json.loads(line.removeprefix("RESULT "))
    assert summary["env_step"] == 12 and summary["train_iter"] == 3
    assert summary["algorithm"] == "muzero" and summary["eval_history"] == [1]
    assert summary["finish_reason"] == "max_steps"
