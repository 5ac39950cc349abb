"""Hostile inputs to the search core and drivers (issue 20, item 6): each is refused at the API
boundary with a ValueError/TypeError (RuntimeError for calls in the wrong order) that names the
argument and the value. Nothing crashes, nothing allocates without bound, nothing is silently
accepted. Complements test_mcts_bad_input.py (shapes, dtypes, layouts of the batched calls).
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from mcts_fakes import A, B, HashModel, roots

from pipezero.mcts import (
    MAX_ABS_VALUE,
    AlphaZeroSearch,
    CategoricalSampler,
    EfficientZeroSearch,
    Forest,
    GumbelMuZeroSearch,
    MCTSConfig,
    MuZeroSearch,
    SampledMuZeroSearch,
    StochasticMuZeroSearch,
    considered_visit_sequence,
    forest_memory_bytes,
    max_forest_bytes,
    reanalyze_backward,
)
from pipezero.model.protocol import NetworkOutput


def leaves(m: int, **changes: object) -> tuple:
    out = {
        "policy_logits": np.zeros((m, A), np.float32),
        "value": np.zeros(m, np.float32),
        "reward": np.zeros(m, np.float32),
    }
    out.update(changes)
    return out["policy_logits"], out["value"], out["reward"]


# -- runaway allocations ------------------------------------------------------------------------

HUGE_FORESTS = [
    "Forest(2**31 - 1, 1, 1)",
    "Forest(1, 2**28 - 1, 16)",
    "Forest(64, 1000, 2**27)",
    "Forest(1, 2**27, 2**27, selection='gumbel', max_num_considered_actions=2**27)",
]


def test_huge_forests_are_refused_before_any_allocation() -> None:
    """Run in a child with a 2 GiB address-space limit: a regression shows up as a
    MemoryError or a kill there, not as an exhausted test machine."""
    code = textwrap.dedent(
        f"""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))
        from pipezero.mcts._mcts_core import Forest
        for expr in {HUGE_FORESTS!r}:
            try:
                eval(expr)
            except ValueError as err:
                assert "GB, more than the limit" in str(err), str(err)
                assert "lower batch_size, num_simulations or num_actions" in str(err)
            else:
                raise SystemExit("accepted: " + expr)
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_memory_estimate_matches_the_limit_check() -> None:
    limit = max_forest_bytes()
    assert 1e8 < limit < 1e14
    small = forest_memory_bytes(8, 50, 18)
    # 25 bytes per child slot: index, prior, legal flag, and the slot's U and Q (doubles)
    assert 8 * 51 * 18 * 25 < small < 8 * 51 * (18 * 25 + 64) + 10_000
    gumbel = forest_memory_bytes(8, 50, 18, "gumbel", 16)
    assert gumbel == pytest.approx(small + 17 * 50 * 4)
    with pytest.raises(ValueError, match="'batch_size' must be >= 1"):
        forest_memory_bytes(0, 50, 18)


def test_considered_visit_sequence_bounds() -> None:
    with pytest.raises(ValueError, match=r"'m' must be >= 0, got -5"):
        considered_visit_sequence(-5, 10)
    with pytest.raises(ValueError, match=r"'num_simulations' must be in \[0, 2\*\*28\)"):
        considered_visit_sequence(4, -1)
    # a huge m is clamped to the simulations (exact: m >= S gives S zeros), no 8 GB vector
    assert considered_visit_sequence(2**31 - 1, 10) == [0] * 10
    assert considered_visit_sequence(10, 10) == [0] * 10


# -- constructor arguments ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "pattern"),
    [
        ((2**31, 1, 1), {}, ValueError, r"'batch_size' must be <= 2147483647, got 2147483648"),
        ((2.5, 1, 1), {}, TypeError, r"'batch_size' must be an int, got float 2.5"),
        ((True, 1, 1), {}, TypeError, r"'batch_size' must be an int, got bool"),
        ((1, "8", 1), {}, TypeError, r"'num_simulations' must be an int, got str"),
        ((1, 2**28, 1), {}, ValueError, r"'num_simulations' must be <= 268435455"),
        ((1, 4, 0), {}, ValueError, r"'num_actions' must be >= 1, got 0"),
        ((1, 4, 2), {"seed": -1}, ValueError, r"'seed' must be in \[0, 2\*\*64\), got -1"),
        ((1, 4, 2), {"seed": 2**64}, ValueError, r"'seed' must be in \[0, 2\*\*64\)"),
        ((1, 4, 2), {"selection": 3}, TypeError, r"'selection' must be 'puct' or 'gumbel'"),
        ((1, 4, 2), {"value_prefix": 2}, TypeError, r"'value_prefix' must be a bool, got int"),
        ((1, 4, 2), {"pb_c_init": "1.25"}, TypeError, r"'pb_c_init' must be a real number"),
        ((1, 4, 2), {"pb_c_base": float("inf")}, ValueError, r"'pb_c_base' must be > 0.*inf"),
        ((1, 4, 2), {"pb_c_init": 1e300}, ValueError, r"'pb_c_init' must be >= 0 and <= 1e\+20"),
        ((1, 4, 2), {"value_delta_max": np.inf}, ValueError, r"'value_delta_max'.*got inf"),
        ((1, 4, 2), {"value_scale": -1.0}, ValueError, r"'value_scale' must be >= 0"),
        ((1, 4, 2), {"maxvisit_init": np.nan}, ValueError, r"'maxvisit_init'.*got nan"),
        ((1, 4, 2), {"discount": float("nan")}, ValueError, r"'discount' must be in \[0, 1\]"),
        (
            (1, 4, 2),
            {"max_num_considered_actions": 0},
            ValueError,
            r"'max_num_considered_actions' must be >= 1, got 0",
        ),
        (
            (1, 4, 2),
            {"value_prefix": True, "lstm_horizon_len": 0},
            ValueError,
            r"'lstm_horizon_len' must be >= 1 with value_prefix=True.*got 0",
        ),
        (
            (1, 4, 2),
            {"value_prefix": True, "lstm_horizon_len": -3},
            ValueError,
            r"'lstm_horizon_len' must be >= 1 with value_prefix=True.*got -3",
        ),
    ],
)
def test_forest_constructor_names_the_bad_argument(
    args: tuple, kwargs: dict, error: type, pattern: str
) -> None:
    with pytest.raises(error, match=pattern):
        Forest(*args, **kwargs)


def test_numpy_scalars_are_accepted_as_settings() -> None:
    forest = Forest(np.int64(2), np.int32(3), np.int64(4), pb_c_init=np.float32(1.0))
    assert (forest.batch_size, forest.num_nodes_capacity, forest.num_actions) == (2, 4, 4)


@pytest.mark.parametrize(
    ("field", "value", "error", "pattern"),
    [
        ("num_simulations", 10**10, ValueError, r"num_simulations must be <= 268435455"),
        ("num_simulations", True, TypeError, r"num_simulations must be an int, got True"),
        ("lstm_horizon_len", 0, ValueError, r"lstm_horizon_len must be >= 1, got 0"),
        ("seed", 2**70, ValueError, r"seed must be <= 18446744073709551615"),
        ("pb_c_init", 1e300, ValueError, r"pb_c_init must be <= 1e\+20"),
        ("gumbel_scale", "1", TypeError, r"gumbel_scale must be a real number, got '1'"),
        ("num_of_sampled_actions", 0, ValueError, r"num_of_sampled_actions must be >= 1"),
    ],
)
def test_mcts_config_bounds(field: str, value: object, error: type, pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        MCTSConfig(**{field: value})


def test_mcts_config_turns_numpy_numbers_into_python_ones() -> None:
    cfg = MCTSConfig(num_simulations=np.int64(7), pb_c_init=np.float32(1.5))
    assert type(cfg.num_simulations) is int and type(cfg.pb_c_init) is float


# -- values: NaN, inf, overflow -----------------------------------------------------------------


def test_values_that_would_overflow_float32_are_refused() -> None:
    """3e38 is finite in float32 but sums along a path overflow to inf: refused with the bound."""
    forest = Forest(B, 4, A)
    pattern = r"'value' must have magnitude <= 1e\+20 \(pipezero.mcts.MAX_ABS_VALUE\), got 3e\+38"
    with pytest.raises(ValueError, match=pattern):
        forest.reset(**roots(value=np.full(B, 3e38, np.float32)))
    forest.reset(**roots())
    m = forest.simulate()
    with pytest.raises(ValueError, match=r"'reward' must have magnitude <= 1e\+20.*at \[0\]"):
        forest.expand(*leaves(m, reward=np.full(m, 3e38, np.float32)))
    with pytest.raises(ValueError, match=r"'policy_logits' must have magnitude"):
        forest.expand(*leaves(m, policy_logits=np.full((m, A), -1e30, np.float32)))
    forest.expand(*leaves(m))  # the failed calls changed nothing


def test_values_at_the_bound_give_finite_results() -> None:
    forest = Forest(B, 30, A, value_prefix=False)
    big = np.nextafter(np.float32(MAX_ABS_VALUE), np.float32(0))  # the largest float32 <= 1e20
    forest.reset(**roots(value=np.full(B, big, np.float32)))
    for i in range(30):
        m = forest.simulate()
        sign = 1 if i % 2 else -1
        forest.expand(*leaves(m, value=np.full(m, sign * big), reward=np.full(m, big)))
    assert np.isfinite(forest.root_values()).all()
    q = forest.root_q_values()
    assert np.isfinite(q[~np.isnan(q)]).all()


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"noise": np.full((B, A), 3e38, np.float32)}, r"'noise' must be in \[0, 1\].*3e\+38"),
        ({"noise": np.full((B, A), np.nan, np.float32)}, r"'noise' must be in \[0, 1\].*nan"),
        ({"noise_weight": float("nan")}, r"'noise_weight' must be in \[0, 1\], got nan"),
        ({"gumbel": np.full((B, A), 3e38, np.float32)}, r"'gumbel' must have magnitude"),
        ({"reuse_value": np.zeros(B, np.float32)}, r"'reuse_value'.*need 'reuse_action'"),
        ({"reuse_reward": np.zeros(B, np.float32)}, r"'reuse_reward' need 'reuse_action'"),
    ],
)
def test_reset_options_are_checked_even_when_unused(kwargs: dict, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        Forest(B, 4, A).reset(**roots(), **kwargs)


def test_reuse_value_beyond_the_bound_is_refused() -> None:
    with pytest.raises(ValueError, match=r"'reuse_value' must have magnitude"):
        Forest(B, 4, A).reset(
            **roots(),
            reuse_action=np.array([0, -1, 1]),
            reuse_value=np.full(B, 1e21, np.float32),
            reuse_reward=np.zeros(B, np.float32),
        )


def test_gumbel_action_needs_a_gumbel_forest() -> None:
    forest = Forest(B, 4, A)
    forest.reset(**roots())
    for _ in range(4):
        forest.expand(*leaves(forest.simulate()))
    with pytest.raises(RuntimeError, match=r"selection='puct'.*needs selection='gumbel'"):
        forest.gumbel_action()
    gumbel = Forest(B, 4, A, selection="gumbel")
    gumbel.reset(**roots(), gumbel=np.zeros((B, A), np.float32))
    for _ in range(4):
        gumbel.expand(*leaves(gumbel.simulate()))
    assert gumbel.gumbel_action().shape == (B,)


def test_empty_batch_arrays_name_the_expected_shape() -> None:
    with pytest.raises(ValueError, match=r"'policy_logits'.*\[B, A\] = \[3, 4\].*\(0, 4\)"):
        Forest(B, 4, A).reset(
            np.zeros((0, A), np.float32),
            np.zeros(0, np.float32),
            np.ones((0, A), bool),
            np.zeros(0, np.int32),
        )


# -- drivers ----------------------------------------------------------------------------------


@pytest.fixture
def model() -> HashModel:
    return HashModel(A)


@pytest.fixture
def root(model: HashModel) -> NetworkOutput:
    return model.initial_inference(torch.arange(B))


def config() -> MCTSConfig:
    return MCTSConfig(num_simulations=4)


def empty_root() -> NetworkOutput:
    return NetworkOutput(
        latent=torch.zeros(0, 1),
        policy_logits=torch.zeros(0, A),
        value=torch.zeros(0),
        reward=torch.zeros(0),
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda m: MuZeroSearch(m, config()),
        lambda m: GumbelMuZeroSearch(m, config()),
        lambda m: SampledMuZeroSearch(
            m, CategoricalSampler(), config().replace(num_of_sampled_actions=2)
        ),
    ],
)
def test_drivers_refuse_an_empty_batch(model: HashModel, make) -> None:
    with pytest.raises(ValueError, match=r"shape \[0, 4\]: an empty batch"):
        make(model).search(empty_root())


@pytest.mark.parametrize(
    ("change", "error", "pattern"),
    [
        (
            lambda r: {"latent": torch.cat([r.latent, r.latent[:1]])},
            ValueError,
            r"root.latent must have the batch size B = 3.*\[4, 1\]",
        ),
        (
            lambda r: {"value": r.value[:2]},
            ValueError,
            r"'value'.*\[B\] = \[3\].*\(2,\)",
        ),
        (
            lambda r: {"policy_logits": r.policy_logits.numpy()},
            TypeError,
            r"root.policy_logits must be a torch.Tensor, got ndarray",
        ),
        (
            lambda r: {"policy_logits": r.policy_logits.long()},
            TypeError,
            r"root.policy_logits must be a floating-point tensor, got torch.int64",
        ),
        (
            lambda r: {"policy_logits": r.policy_logits[0]},
            ValueError,
            r"root.policy_logits must have shape \[B, A\], got \[4\]",
        ),
        (
            lambda r: {"value": r.value + 3e38},
            ValueError,
            r"'value' must have magnitude <= 1e\+20",
        ),
    ],
)
def test_driver_checks_the_root_output(
    model: HashModel, root: NetworkOutput, change, error: type, pattern: str
) -> None:
    bad = dataclasses.replace(root, **change(root))
    with pytest.raises(error, match=pattern):
        MuZeroSearch(model, config()).search(bad)
    with pytest.raises(error, match=pattern):
        GumbelMuZeroSearch(model, config()).search(bad)


def test_driver_checks_the_search_arguments(model: HashModel, root: NetworkOutput) -> None:
    search = MuZeroSearch(model, config())
    with pytest.raises(ValueError, match=r"'to_play'.*\[B\] = \[3\].*shape \[4\]"):
        search.search(root, to_play=np.ones(B + 1, np.int64))
    with pytest.raises(ValueError, match=r"'to_play' must hold -1.*got 3 at \[1\]"):
        search.search(root, to_play=[1, 3, 2])
    with pytest.raises(ValueError, match=r"reuse_value and reuse_reward need reuse_action"):
        search.search(root, reuse_value=torch.zeros(B))
    with pytest.raises(ValueError, match=r"'reuse_action' must hold integers, got dtype float32"):
        search.search(
            root,
            reuse_action=torch.zeros(B),
            reuse_value=torch.zeros(B),
            reuse_reward=torch.zeros(B),
        )
    with pytest.raises(ValueError, match=r"'reuse_action'.*\[B\] = \[3\].*\(4,\)"):
        search.search(
            root,
            reuse_action=torch.zeros(B + 1, dtype=torch.long),
            reuse_value=torch.zeros(B),
            reuse_reward=torch.zeros(B),
        )
    with pytest.raises(ValueError, match=r"'noise' must be in \[0, 1\].*nan"):
        search.search(root, root_noise=np.full((B, A), np.nan))
    assert int(search.search(root, [[True] * A] * B).visit_counts.sum()) == B * 4


class ShortLatentModel(HashModel):
    def recurrent_inference(self, latent, action, hidden=None) -> NetworkOutput:
        out = super().recurrent_inference(latent, action, hidden)
        out.latent = out.latent[:-1]
        return out


class HugeRewardModel(HashModel):
    def recurrent_inference(self, latent, action, hidden=None) -> NetworkOutput:
        out = super().recurrent_inference(latent, action, hidden)
        out.reward = out.reward * 0 + 3e38
        return out


@pytest.mark.parametrize(
    ("model_cls", "pattern"),
    [
        (ShortLatentModel, r"recurrent_inference returned a latent of shape \[2, 1\] for M = 3"),
        (HugeRewardModel, r"Forest.expand: argument 'reward' must have magnitude"),
    ],
)
def test_driver_checks_each_model_output(model_cls: type, pattern: str) -> None:
    bad = model_cls(A)
    with pytest.raises(ValueError, match=pattern):
        MuZeroSearch(bad, config()).search(bad.initial_inference(torch.arange(B)))


def test_constructors_check_their_collaborators(model: HashModel) -> None:
    with pytest.raises(TypeError, match=r"MuZeroSearch: argument 'model' must have a callable"):
        MuZeroSearch(None, config())
    with pytest.raises(TypeError, match=r"EfficientZeroSearch: argument 'model'"):
        EfficientZeroSearch(object(), config())
    with pytest.raises(TypeError, match=r"'leaf_mask_fn' must be callable or None, got int"):
        MuZeroSearch(model, config(), leaf_mask_fn=3)
    with pytest.raises(TypeError, match=r"argument 'sampler' must have a callable sample\(\)"):
        SampledMuZeroSearch(model, None, config())
    with pytest.raises(TypeError, match=r"stochastic_recurrent_inference"):
        StochasticMuZeroSearch(model, config(), chance_space_size=2)
    with pytest.raises(TypeError, match=r"AlphaZeroSearch: argument 'evaluate' must be callable"):
        AlphaZeroSearch("net", config())
    with pytest.raises(TypeError, match=r"config must be an MCTSConfig or a mapping, got str"):
        MuZeroSearch(model, "fast")
    with pytest.raises(ValueError, match=r"lstm_horizon_len must be >= 1"):
        EfficientZeroSearch(model, {"num_simulations": 4, "lstm_horizon_len": 0})


def test_sampled_search_refuses_non_finite_policy_parameters(
    model: HashModel, root: NetworkOutput
) -> None:
    search = SampledMuZeroSearch(
        model, CategoricalSampler(), config().replace(num_of_sampled_actions=2)
    )
    bad = dataclasses.replace(root, policy_logits=root.policy_logits * float("nan"))
    with pytest.raises(ValueError, match=r"policy parameters\) must be finite"):
        search.search(bad)


def test_reanalysis_checks_the_trajectory_shapes(model: HashModel) -> None:
    search = MuZeroSearch(model, config())
    obs = torch.arange(6).view(2, 3)
    with pytest.raises(ValueError, match=r"\[T, B\] = \[2, 3\].*\[2, 2\] and \[2, 3\]"):
        reanalyze_backward(
            search, model, obs, torch.zeros(2, 2, dtype=torch.long), torch.zeros(2, 3)
        )
    with pytest.raises(ValueError, match=r"observations must have shape \[T, B, \*O\]"):
        reanalyze_backward(search, model, torch.arange(3), torch.zeros(3), torch.zeros(3))
