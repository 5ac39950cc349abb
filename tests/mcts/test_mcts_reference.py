"""The C++ core driven by the Python drivers matches the pure-Python reference exactly.

Same seeds, same network outputs (hashes of the action path), same root noise: the visit
counts must be identical and the values equal up to float rounding, for MuZero, two-player
MuZero, EfficientZero, Gumbel, Sampled (continuous and discrete) and ReZero reuse.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
from mcts_fakes import HashModel, HashSampler, hashed_legal
from mcts_reference import Node, ReferenceTree, as_f32, masked_softmax

from pipezero.mcts import (
    EfficientZeroSearch,
    GumbelMuZeroSearch,
    MCTSConfig,
    MuZeroSearch,
    SampledMuZeroSearch,
)
from pipezero.model.protocol import NetworkOutput

B, A = 6, 5


def config(**overrides: Any) -> MCTSConfig:
    base = dict(
        num_simulations=40,
        pb_c_base=30.0,  # small, so the log term of PUCT matters
        pb_c_init=1.25,
        discount_factor=0.9,
        root_noise_weight=0.25,
        value_delta_max=1.0,  # large enough to bind while the Q range is small
        lstm_horizon_len=2,
        max_num_considered_actions=4,
        num_of_sampled_actions=4,
        seed=11,
    )
    base.update(overrides)
    return MCTSConfig(**base)


def reference_cfg(cfg: MCTSConfig, num_actions: int, selection: str, value_prefix: bool) -> dict:
    return dict(
        num_simulations=cfg.num_simulations,
        num_actions=num_actions,
        pb_c_base=cfg.pb_c_base,
        pb_c_init=cfg.pb_c_init,
        discount=cfg.discount_factor,
        value_delta_max=cfg.value_delta_max,
        lstm_horizon_len=cfg.lstm_horizon_len,
        max_num_considered_actions=cfg.max_num_considered_actions,
        maxvisit_init=cfg.maxvisit_init,
        value_scale=cfg.value_scale,
        seed=cfg.seed,
        selection=selection,
        value_prefix=value_prefix,
    )


def sampled_prior(sampler: HashSampler, h: int, k: int) -> tuple[dict[int, float], list]:
    """Importance-corrected prior beta_hat / beta * pi of the non-empty slots, normalised."""
    actions, log_pi, log_beta, counts = sampler.node_samples(h, k)
    weights = {
        j: (counts[j] / sum(counts)) * math.exp(log_pi[j]) / math.exp(log_beta[j])
        for j in range(k)
        if counts[j] > 0
    }
    total = sum(weights.values())
    return {j: as_f32(w / total) for j, w in weights.items()}, actions


def run_reference(
    model: HashModel,
    roots: NetworkOutput,
    cfg: dict,
    *,
    root_legal: np.ndarray,
    to_play: np.ndarray,
    noise: np.ndarray | None = None,
    noise_weight: float = 0.0,
    gumbel: np.ndarray | None = None,
    reuse: list[tuple[int, float, float] | None] | None = None,
    leaf_legal: bool = False,
    sampler: HashSampler | None = None,
) -> list[ReferenceTree]:
    """One ReferenceTree per root, expanded by calling the model one node at a time."""
    horizon = cfg["lstm_horizon_len"]
    k = cfg["num_actions"]

    def evaluate(parent: Node, action: int):
        key = parent.state["actions"][action] if sampler is not None else action
        act = torch.tensor([key], dtype=torch.float32 if isinstance(key, list) else torch.int64)
        if isinstance(key, list):
            act = act.view(1, -1)
        hidden = None
        if model.value_prefix:
            reset = parent.depth == 0 or (horizon > 0 and parent.depth % horizon == 0)
            hidden = tuple(torch.zeros(1, 1, 1) if reset else x for x in parent.state["hidden"])
        out = model.recurrent_inference(
            torch.tensor([[float(parent.state["hash"])]], dtype=torch.float64), act, hidden
        )
        h = int(out.latent[0, 0].item())
        state = {"hash": h, "hidden": out.hidden, "actions": None}
        if sampler is not None:
            prior, state["actions"] = sampled_prior(sampler, h, k)
        else:
            legal = hashed_legal(h, k) if leaf_legal else [True] * k
            prior = masked_softmax(out.policy_logits[0].tolist(), legal) if any(legal) else {}
        return prior, float(out.value[0]), float(out.reward[0]), None, state

    trees = []
    for b in range(len(to_play)):
        h = int(roots.latent[b, 0].item())
        state = {"hash": h, "hidden": None, "actions": None}
        if model.value_prefix:
            state["hidden"] = tuple(x[:, b : b + 1] for x in roots.hidden)
        if sampler is not None:
            prior, state["actions"] = sampled_prior(sampler, h, k)
        else:
            prior = masked_softmax(roots.policy_logits[b].tolist(), root_legal[b].tolist())
        if noise is not None:
            prior = {
                a: as_f32((1 - noise_weight) * p + noise_weight * float(noise[b, a]))
                for a, p in prior.items()
            }
        root = Node(int(to_play[b]), 0, prior, float(roots.value[b]), state=state)
        tree_cfg = dict(cfg, gumbel_row=None if gumbel is None else [float(x) for x in gumbel[b]])
        tree_cfg["reuse"] = None if reuse is None else reuse[b]
        tree = ReferenceTree(root, evaluate, tree_cfg, b)
        tree.run()
        trees.append(tree)
    return trees


def assert_same(result, trees: list[ReferenceTree]) -> None:
    expected_visits = [t.visit_counts() for t in trees]
    assert result.visit_counts.tolist() == expected_visits
    expected_values = [t.root.value() for t in trees]
    np.testing.assert_allclose(result.root_value.numpy(), expected_values, rtol=1e-5, atol=1e-6)


def roots_and_mask(model: HashModel, seed: int) -> tuple[NetworkOutput, np.ndarray]:
    roots = model.initial_inference(torch.arange(seed, seed + B))
    rng = np.random.default_rng(seed)
    mask = rng.random((B, A)) > 0.25
    mask[np.arange(B), rng.integers(0, A, B)] = True
    return roots, mask


@pytest.mark.parametrize("two_player", [False, True])
def test_muzero_matches_reference(two_player: bool) -> None:
    cfg = config()
    model = HashModel(A, logit_levels=3)
    roots, mask = roots_and_mask(model, 100 + two_player)
    to_play = np.array([1, 2] * (B // 2)) if two_player else np.full(B, -1)
    noise = np.random.default_rng(3).dirichlet([0.3] * A, size=B).astype(np.float32) * mask
    driver = MuZeroSearch(
        model,
        cfg,
        leaf_mask_fn=lambda out: np.array(
            [hashed_legal(int(h), A) for h in out.latent[:, 0].tolist()], dtype=bool
        ),
    )
    result = driver.search(
        roots, torch.from_numpy(mask), torch.from_numpy(to_play), root_noise=noise
    )
    trees = run_reference(
        model,
        roots,
        reference_cfg(cfg, A, "puct", False),
        root_legal=mask,
        to_play=to_play,
        noise=noise,
        noise_weight=cfg.root_noise_weight,
        leaf_legal=True,
    )
    assert_same(result, trees)
    assert result.num_network_calls <= cfg.num_simulations


def test_efficientzero_value_prefix_matches_reference() -> None:
    cfg = config(lstm_horizon_len=2, discount_factor=0.95)
    model = HashModel(A, value_prefix=True)
    roots, mask = roots_and_mask(model, 200)
    to_play = np.full(B, -1)
    driver = EfficientZeroSearch(model, cfg)
    result = driver.search(roots, mask, to_play, add_exploration_noise=False)
    trees = run_reference(
        model, roots, reference_cfg(cfg, A, "puct", True), root_legal=mask, to_play=to_play
    )
    assert_same(result, trees)
    depths = driver._forest.node_depth
    assert depths.max() > 2, "the trees must be deep enough to cross an LSTM reset"


@pytest.mark.parametrize("two_player", [False, True])
def test_gumbel_matches_reference(two_player: bool) -> None:
    cfg = config(num_simulations=30, max_num_considered_actions=4)
    model = HashModel(A, logit_levels=4)
    roots, mask = roots_and_mask(model, 300 + two_player)
    to_play = np.array([2, 1] * (B // 2)) if two_player else np.full(B, -1)
    gumbel = np.random.default_rng(5).gumbel(size=(B, A)).astype(np.float32)
    result = GumbelMuZeroSearch(model, cfg).search(roots, mask, to_play, gumbel=gumbel)
    trees = run_reference(
        model,
        roots,
        reference_cfg(cfg, A, "gumbel", False),
        root_legal=mask,
        to_play=to_play,
        gumbel=gumbel,
    )
    assert_same(result, trees)
    for b, tree in enumerate(trees):
        improved = tree.improved_policy(tree.root)
        expected = [improved.get(a, 0.0) for a in range(A)]
        np.testing.assert_allclose(
            result.improved_policy[b].numpy(), expected, rtol=1e-5, atol=1e-7
        )
        assert int(result.action[b]) == tree.gumbel_action()


@pytest.mark.parametrize("dim", [2, 0], ids=["continuous", "discrete"])
def test_sampled_matches_reference(dim: int) -> None:
    k = 4
    cfg = config(num_of_sampled_actions=k)
    model = HashModel(A, sampled=True)
    sampler = HashSampler(num_actions=A, dim=dim)
    roots = model.initial_inference(torch.arange(400, 400 + B))
    to_play = np.full(B, -1)
    noise = np.random.default_rng(9).dirichlet([0.5] * k, size=B).astype(np.float32)
    driver = SampledMuZeroSearch(model, sampler, cfg)
    result = driver.search(roots, to_play=to_play, root_noise=noise)
    ref_cfg = reference_cfg(cfg, k, "puct", False)
    trees = run_reference(
        model,
        roots,
        ref_cfg,
        root_legal=np.ones((B, k), bool),
        to_play=to_play,
        noise=noise,
        noise_weight=cfg.root_noise_weight,
        sampler=sampler,
    )
    assert_same(result, trees)
    for b, tree in enumerate(trees):
        assert result.sampled_actions[b].tolist() == tree.root.state["actions"]


def test_rezero_reuse_matches_reference() -> None:
    cfg = config()
    model = HashModel(A)
    roots, mask = roots_and_mask(model, 500)
    to_play = np.array([1, 2] * (B // 2))
    reuse_action = np.array([int(np.flatnonzero(mask[b])[0]) if b % 3 else -1 for b in range(B)])
    reuse_value = np.linspace(-0.5, 0.5, B).astype(np.float32)
    reuse_reward = np.linspace(0.2, -0.2, B).astype(np.float32)
    driver = MuZeroSearch(model, cfg)
    result = driver.search(
        roots,
        mask,
        to_play,
        add_exploration_noise=False,
        reuse_action=reuse_action,
        reuse_value=reuse_value,
        reuse_reward=reuse_reward,
    )
    reuse = [
        None
        if reuse_action[b] < 0
        else (int(reuse_action[b]), float(reuse_value[b]), float(reuse_reward[b]))
        for b in range(B)
    ]
    trees = run_reference(
        model,
        roots,
        reference_cfg(cfg, A, "puct", False),
        root_legal=mask,
        to_play=to_play,
        reuse=reuse,
    )
    assert_same(result, trees)
