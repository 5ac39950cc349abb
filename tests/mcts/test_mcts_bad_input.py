"""Bad input raises a ValueError that names the argument, the expected shape and what was
received; it never crashes the process and never leaves a forest half-updated."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from mcts_fakes import A, B, HashModel, roots

from pipezero.mcts import Forest, GumbelMuZeroSearch, MCTSConfig, MuZeroSearch
from pipezero.model.protocol import NetworkOutput


@pytest.fixture
def forest() -> Forest:
    return Forest(B, 8, A, seed=0)


@pytest.mark.parametrize(
    ("changes", "patterns"),
    [
        (
            {"policy_logits": np.zeros((B, A), np.float64)},
            ["'policy_logits'", r"\[B, A\] = \[3, 4\]", "float64"],
        ),
        (
            {"policy_logits": np.zeros((B, A + 1), np.float32)},
            ["'policy_logits'", r"\[3, 4\]", r"\(3, 5\)"],
        ),
        (
            {"policy_logits": np.zeros((A, B), np.float32).T},
            ["'policy_logits'", "contiguous.*rows"],
        ),
        ({"value": [0.0, 0.0, 0.0]}, ["'value'", r"\[B\] = \[3\]", "list"]),
        ({"value": np.zeros((B, 1), np.float32)}, ["'value'", r"\[B\] = \[3\]", r"\(3, 1\)"]),
        ({"legal_mask": np.ones((B, A), np.int8)}, ["'legal_mask'", "bool", "int8"]),
        ({"to_play": np.full(B, -1, np.int64)}, ["'to_play'", "int32", "int64"]),
        ({"to_play": np.array([1, 3, 2], np.int32)}, ["'to_play'", "got 3"]),
        (
            {"legal_mask": np.array([[True] * A, [False] * A, [True] * A])},
            ["'legal_mask'", "row 1"],
        ),
        (
            {"policy_logits": np.array([[0, np.nan, 0, 0]] * B, np.float32)},
            ["'policy_logits'", "nan", r"\[0, 1\]"],
        ),
        ({"value": np.array([0, np.inf, 0], np.float32)}, ["'value'", "inf", r"\[1\]"]),
    ],
)
def test_reset_rejects_bad_roots(forest: Forest, changes: dict, patterns: list[str]) -> None:
    with pytest.raises(ValueError) as info:
        forest.reset(**roots(**changes))
    for pattern in patterns:
        assert re.search(pattern, str(info.value)), str(info.value)


def test_illegal_logits_may_be_infinite(forest: Forest) -> None:
    logits = np.zeros((B, A), np.float32)
    mask = np.ones((B, A), bool)
    logits[:, 0], mask[:, 0] = -np.inf, False  # masked entries are ignored
    forest.reset(**roots(policy_logits=logits, legal_mask=mask))


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        (
            {"reuse_action": np.array([0, 9, -1])},
            r"'reuse_action' must be -1 or in \[0, 4\), got 9",
        ),
        ({"reuse_action": np.array([0, 1, -1], np.int32)}, "'reuse_action'.*int64.*int32"),
        (
            {"noise": np.full((B, A), -0.1, np.float32), "noise_weight": 0.25},
            r"'noise' must be in \[0, 1\]",
        ),
        ({"noise": np.full((B, A), 0.1, np.float32), "noise_weight": 1.5}, "'noise_weight'"),
        ({"gumbel": np.full((B, A), np.nan, np.float32)}, "'gumbel' must be finite"),
    ],
)
def test_reset_rejects_bad_options(forest: Forest, kwargs: dict, pattern: str) -> None:
    if "reuse_action" in kwargs:
        kwargs.update(reuse_value=np.zeros(B, np.float32), reuse_reward=np.zeros(B, np.float32))
    with pytest.raises(ValueError, match=pattern):
        forest.reset(**roots(), **kwargs)


def test_reuse_of_an_illegal_action_is_rejected(forest: Forest) -> None:
    mask = np.ones((B, A), bool)
    mask[1, 2] = False
    with pytest.raises(ValueError, match=r"'reuse_action' is 2 at \[1\].*illegal"):
        forest.reset(
            **roots(legal_mask=mask),
            reuse_action=np.array([0, 2, -1]),
            reuse_value=np.zeros(B, np.float32),
            reuse_reward=np.zeros(B, np.float32),
        )


def test_expand_rejects_bad_outputs_and_stays_usable(forest: Forest) -> None:
    forest.reset(**roots())
    m = forest.simulate()
    assert m == B
    good = (np.zeros((m, A), np.float32), np.zeros(m, np.float32), np.zeros(m, np.float32))
    with pytest.raises(ValueError, match=r"'policy_logits'.*\[M, A\] = \[3, 4\].*\(2, 4\)"):
        forest.expand(good[0][:2], good[1], good[2])
    with pytest.raises(ValueError, match=r"'value' must be finite, got nan at \[2\]"):
        forest.expand(good[0], np.array([0, 0, np.nan], np.float32), good[2])
    with pytest.raises(ValueError, match=r"'reward'.*float32.*float64"):
        forest.expand(good[0], good[1], np.zeros(m))
    with pytest.raises(ValueError, match=r"'legal_mask'.*\[M, A\]"):
        forest.expand(*good, legal_mask=np.ones((m, A + 1), bool))
    with pytest.raises(ValueError, match=r"'to_play' must hold -1.*got 0"):
        forest.expand(*good, to_play=np.zeros(m, np.int32))
    forest.expand(*good)  # nothing was changed by the failed calls
    assert forest.simulations_done == 1
    assert forest.node_visits[:, 0].tolist() == [2] * B


def test_calls_out_of_order_raise_runtime_error(forest: Forest) -> None:
    with pytest.raises(RuntimeError, match="no search yet"):
        forest.root_visit_counts()
    with pytest.raises(RuntimeError, match="reset"):
        forest.simulate()
    forest.reset(**roots())
    with pytest.raises(RuntimeError, match="simulate"):
        forest.expand(
            np.zeros((0, A), np.float32), np.zeros(0, np.float32), np.zeros(0, np.float32)
        )
    forest.simulate()
    with pytest.raises(RuntimeError, match="expand"):
        forest.simulate()


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"batch_size": 0}, "'batch_size' must be >= 1.*got 0"),
        ({"num_simulations": 0}, "'num_simulations' must be >= 1"),
        ({"selection": "ucb"}, "'selection' must be 'puct' or 'gumbel', got 'ucb'"),
        ({"value_delta_max": 0.0}, "'value_delta_max' must be > 0"),
        ({"discount": 1.5}, r"'discount' must be in \[0, 1\]"),
    ],
)
def test_forest_rejects_bad_settings(kwargs: dict, pattern: str) -> None:
    args = {"batch_size": 2, "num_simulations": 4, "num_actions": 3} | kwargs
    with pytest.raises(ValueError, match=pattern):
        Forest(args.pop("batch_size"), args.pop("num_simulations"), args.pop("num_actions"), **args)


class BrokenModel(HashModel):
    """Returns NaN values or misshapen logits on demand."""

    def __init__(self, problem: str) -> None:
        super().__init__(A)
        self.problem = problem

    def recurrent_inference(self, latent, action, hidden=None) -> NetworkOutput:
        out = super().recurrent_inference(latent, action, hidden)
        if self.problem == "nan":
            out.value = out.value * float("nan")
        elif self.problem == "shape":
            out.policy_logits = out.policy_logits[:, :-1]
        elif self.problem == "value2d":
            out.value = out.value[:, None]
        return out


@pytest.mark.parametrize(
    ("problem", "pattern"),
    [
        ("nan", "'value' must be finite, got nan"),
        ("shape", r"'policy_logits'.*\[M, A\] = \[3, 4\].*\(3, 3\)"),
        ("value2d", r"'value'.*\[M\] = \[3\].*\(3, 1\)"),
    ],
)
def test_driver_reports_bad_model_outputs(problem: str, pattern: str) -> None:
    model = BrokenModel(problem)
    with pytest.raises(ValueError, match=pattern):
        MuZeroSearch(model, MCTSConfig(num_simulations=4)).search(
            model.initial_inference(torch.arange(B))
        )


def test_driver_rejects_bad_masks_and_players() -> None:
    model = HashModel(A)
    root = model.initial_inference(torch.arange(B))
    search = MuZeroSearch(model, MCTSConfig(num_simulations=4))
    with pytest.raises(ValueError, match=r"'legal_mask' must be a bool.*\[3, 4\].*int64"):
        search.search(root, torch.ones(B, A, dtype=torch.long))
    with pytest.raises(
        ValueError, match=r"'legal_mask' must have shape \[B, A\] = \[3, 4\], got \[3, 2\]"
    ):
        search.search(root, torch.ones(B, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"'legal_mask' has no legal action in row 0"):
        search.search(root, torch.zeros(B, A, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"'to_play'.*\[B\] = \[3\].*float32"):
        search.search(root, to_play=torch.zeros(B))
    with pytest.raises(ValueError, match="'root_noise' must have shape"):
        search.search(root, root_noise=np.zeros((B, A + 1)))
    with pytest.raises(ValueError, match=r"'gumbel' must have shape \[3, 4\]"):
        GumbelMuZeroSearch(model, MCTSConfig(num_simulations=4)).search(root, gumbel=np.zeros(B))
    with pytest.raises(ValueError, match="reuse_action needs reuse_value and reuse_reward"):
        search.search(root, reuse_action=torch.zeros(B, dtype=torch.long))
    search.search(root)  # still fine afterwards


def test_scribbling_on_the_exported_buffers_cannot_corrupt_the_core(forest: Forest) -> None:
    forest.reset(**roots())
    m = forest.simulate()
    for name in ("eval_rows", "eval_parent", "eval_action", "eval_action_flat", "eval_node"):
        getattr(forest, name)[:] = 10**9
    forest.expand(np.zeros((m, A), np.float32), np.zeros(m, np.float32), np.zeros(m, np.float32))
    assert forest.node_visits[:, 0].tolist() == [2] * B
    with pytest.raises(ValueError, match="read-only"):
        forest.node_visits[0, 0] = 5


def test_logits_may_be_a_column_slice_of_a_wider_output(forest: Forest) -> None:
    fused = np.random.default_rng(0).standard_normal((B, A + 7)).astype(np.float32)
    other = Forest(B, 8, A, seed=0)
    forest.reset(**roots(policy_logits=fused[:, 2 : 2 + A]))
    other.reset(**roots(policy_logits=np.ascontiguousarray(fused[:, 2 : 2 + A])))
    np.testing.assert_array_equal(forest.children_prior[:, 0], other.children_prior[:, 0])


def test_random_garbage_only_raises_value_or_runtime_errors() -> None:
    """A small fuzz: random dtypes, shapes, layouts and values for every array argument."""
    rng = np.random.default_rng(0)
    forest = Forest(B, 6, A, seed=0)
    dtypes = [np.float32, np.float64, np.int32, np.int64, np.bool_, np.int8]

    def junk(shape: tuple[int, ...], dtype: type) -> object:
        """Half the time a well-formed array (possibly with NaN/huge values), else garbage."""
        kind = rng.integers(8)
        if kind == 0:
            return None
        if kind == 1:
            return [0.0] * shape[0]
        dims = shape
        if kind == 2:
            dims = tuple(max(0, int(d + rng.integers(-1, 2))) for d in shape)
        with np.errstate(invalid="ignore", over="ignore"):
            values = rng.standard_normal(dims) * 10.0 ** rng.integers(0, 40)
            values[rng.random(dims) < 0.05] = np.nan
            arr = values.astype(dtype if kind > 3 else dtypes[rng.integers(len(dtypes))])
        if arr.ndim == 2 and kind == 3:
            arr = np.repeat(arr, 2, axis=1)[:, ::2]
        return arr

    expanded = 0
    for _ in range(400):
        args = [junk((B, A), np.float32), junk((B,), np.float32), junk((B, A), np.bool_)]
        args.append(junk((B,), np.int32))
        if rng.random() < 0.5:
            args = list(roots().values())
        try:
            forest.reset(
                *args,
                noise=junk((B, A), np.float32) if rng.random() < 0.3 else None,
                noise_weight=0.3,
            )
            for _ in range(3):
                m = forest.simulate()
                mask = junk((m, A), np.bool_) if rng.random() < 0.3 else None
                forest.expand(
                    junk((m, A), np.float32),
                    junk((m,), np.float32),
                    junk((m,), np.float32),
                    legal_mask=mask,
                )
                expanded += 1
        except (ValueError, RuntimeError):
            pass
    assert expanded > 0, "some garbage must be plausible enough to be expanded"
