"""The simulation loop shared by the drivers (pipezero/mcts/loop.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipezero.mcts import Forest, MCTSConfig, MuZeroSearch
from pipezero.mcts.loop import Expansion, run_simulations
from pipezero.model.protocol import NetworkOutput


def test_loop_evaluates_only_pending_leaves_and_counts_network_calls() -> None:
    # Two trees of two root actions whose children are all terminal: at most four leaves
    # ever need an evaluation, the remaining simulations only back up.
    batch, sims, actions = 2, 8, 2
    forest = Forest(batch, sims, actions, discount=1.0, seed=0)
    forest.reset(
        np.zeros((batch, actions), np.float32),
        np.zeros(batch, np.float32),
        np.ones((batch, actions), bool),
        np.full(batch, -1, np.int32),
    )
    seen: list[int] = []

    def evaluate(m: int) -> Expansion:
        assert forest.num_pending == m
        seen.append(m)
        # odd calls pretend no network was needed (AlphaZero: only terminal states)
        evaluated = m if len(seen) % 2 else 0
        return Expansion(
            np.zeros((m, actions), np.float32),
            np.full(m, 0.5, np.float32),
            np.ones(m, np.float32),
            np.zeros((m, actions), bool),  # terminal: no legal action
            None,
            evaluated,
        )

    calls, leaves = run_simulations(forest, sims, evaluate)
    assert seen and min(seen) >= 1 and sum(seen) == batch * actions
    assert len(seen) < sims  # the other simulations had nothing to evaluate
    assert calls == len(seen[0::2])
    assert leaves == sum(seen[0::2])
    visits = forest.root_visit_counts()
    np.testing.assert_array_equal(visits.sum(axis=1), [sims, sims])
    np.testing.assert_array_equal(forest.node_kind[:, 1 : 1 + actions], 1)  # terminal nodes
    # every return is reward 1 + value 0.5 (terminal nodes back up their stored value)
    np.testing.assert_allclose(forest.root_q_values(), 1.5)


def _random_tree(seed: int, batch: int, actions: int, sims: int, players: bool) -> tuple:
    rng = np.random.default_rng(seed)
    forest = Forest(batch, sims, actions, seed=seed)
    legal = rng.random((batch, actions)) < 0.8
    legal[:, 0] = True
    to_play = np.where(np.arange(batch) % 2 == 0, 1, 2) if players else np.full(batch, -1)
    forest.reset(
        rng.standard_normal((batch, actions)).astype(np.float32),
        rng.standard_normal(batch).astype(np.float32),
        legal,
        to_play.astype(np.int32),
    )
    outputs = [
        (
            rng.standard_normal((batch, actions)).astype(np.float32),
            rng.standard_normal(batch).astype(np.float32),
            rng.standard_normal(batch).astype(np.float32),
        )
        for _ in range(sims)
    ]
    return forest, outputs


def _tree_state(forest: Forest) -> tuple[np.ndarray, ...]:
    return (
        forest.root_visit_counts(),
        forest.root_values(),
        forest.root_q_values(),
        np.array(forest.node_visits),
        np.array(forest.node_value_sum),
        np.array(forest.children_index),
    )


def test_step_is_expand_then_simulate() -> None:
    # Forest.step (the loop's one call per simulation) builds the same trees, bit for bit, as
    # separate expand and simulate calls: one- and two-player trees, partial legal masks.
    for seed, players in ((0, False), (1, True), (2, False)):
        batch, actions, sims = 5, 7, 30
        split, outputs = _random_tree(seed, batch, actions, sims, players)
        fused, _ = _random_tree(seed, batch, actions, sims, players)
        pending = []
        for logits, value, reward in outputs:
            m = split.simulate()
            pending.append(m)
            split.expand(logits[:m], value[:m], reward[:m])
        m = fused.simulate()
        for i, (logits, value, reward) in enumerate(outputs):
            assert m == pending[i]
            m = fused.step(logits[:m], value[:m], reward[:m])
        assert m == 0  # no simulation left
        for a, b in zip(_tree_state(split), _tree_state(fused), strict=True):
            np.testing.assert_array_equal(a, b)
        # each root child's visits are the visits of the node it points to
        visits, children = np.array(fused.node_visits), np.array(fused.children_index)
        for t in range(batch):
            row = children[t, 0]
            expected = np.where(row >= 0, visits[t, np.maximum(row, 0)], 0)
            np.testing.assert_array_equal(fused.root_visit_counts()[t], expected)


def test_step_needs_a_pending_simulation() -> None:
    forest, outputs = _random_tree(0, 2, 3, 4, False)
    logits, value, reward = outputs[0]
    with pytest.raises(RuntimeError, match="call simulate"):
        forest.step(logits, value, reward)
    m = forest.simulate()
    with pytest.raises(ValueError, match=r"Forest.step: argument 'value' must be a C-contiguous"):
        forest.step(logits[:m], value[:m].astype(np.float64), reward[:m])


class _ShiftModel:
    """A tiny real dynamics: the next latent is the parent's latent rolled by the action + 1,
    plus one; policy, value and reward are read off the new latent. Any mix-up of which
    parent's latent is gathered, or where a new latent is stored, changes the search."""

    def __init__(self, actions: int, dtype: torch.dtype = torch.float32) -> None:
        self.actions, self.dtype = actions, dtype

    def recurrent_inference(
        self, latent: torch.Tensor, action: torch.Tensor, hidden: object = None
    ) -> NetworkOutput:
        rows = [torch.roll(latent[i], int(action[i]) + 1, dims=-1) for i in range(latent.shape[0])]
        nxt = (torch.stack(rows) + 1.0).to(self.dtype)
        flat = nxt.reshape(nxt.shape[0], -1).float()
        return NetworkOutput(
            latent=nxt,
            policy_logits=torch.sin(flat[:, : self.actions]),
            value=torch.cos(flat.sum(1)),
            reward=torch.sin(flat[:, 0]),
        )


def _search(latent_dtype: torch.dtype, in_core: bool, shape: tuple[int, ...]) -> tuple:
    torch.manual_seed(0)
    batch, actions = 6, 3
    latent = torch.randn(batch, *shape).to(latent_dtype)
    root = NetworkOutput(
        latent=latent,
        policy_logits=torch.randn(batch, actions),
        value=torch.randn(batch),
        reward=torch.zeros(batch),
    )

    class Driver(MuZeroSearch):
        latents_in_core = in_core

    search = Driver(_ShiftModel(actions, latent_dtype), MCTSConfig(num_simulations=25, seed=1))
    results = [search.search(root), search.search(root)]  # the second reuses the store
    assert (search._gathered is not None) == (in_core and latent_dtype == torch.float32)
    return tuple(t for r in results for t in (r.visit_counts, r.root_value, r.q_values))


def test_latents_stored_in_the_core_give_the_torch_store_results() -> None:
    # The forest's latent store (gather in simulate, scatter in step) against the driver's
    # torch [B * N, *S] store: same searches, bit for bit, for flat and image-shaped latents.
    for shape in ((4,), (2, 3, 2)):
        core = _search(torch.float32, True, shape)
        torch_store = _search(torch.float32, False, shape)
        for a, b in zip(core, torch_store, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0, equal_nan=True)
    # float64 latents stay in the torch store
    _search(torch.float64, True, (4,))


def test_forest_latent_store_checks_its_arguments() -> None:
    forest, outputs = _random_tree(0, 2, 3, 4, False)
    forest.use_latents(5)
    forest.set_root_latents(np.arange(10, dtype=np.float32).reshape(2, 5))
    m = forest.simulate()
    np.testing.assert_array_equal(forest.latent_gather[:m], np.arange(10).reshape(2, 5)[:m])
    logits, value, reward = outputs[0]
    with pytest.raises(ValueError, match=r"argument 'latent' must be .* got None"):
        forest.step(logits[:m], value[:m], reward[:m])
    with pytest.raises(ValueError, match="5 floats per latent"):
        forest.step(logits[:m], value[:m], reward[:m], latent=np.zeros((m, 4), np.float32))
    new = np.full((m, 5), 7.0, np.float32)
    m2 = forest.step(logits[:m], value[:m], reward[:m], latent=new)
    # each gathered row is the latent of its pending parent: a root's, or a node just stored
    roots = np.arange(10, dtype=np.float32).reshape(2, 5)
    nodes = forest.num_nodes_capacity
    for p in range(m2):
        tree, parent = divmod(int(forest.eval_parent[p]), nodes)
        want = roots[tree] if parent == 0 else np.full(5, 7.0, np.float32)
        np.testing.assert_array_equal(forest.latent_gather[p], want)
    plain, _ = _random_tree(0, 2, 3, 4, False)
    with pytest.raises(RuntimeError, match="use_latents"):
        plain.set_root_latents(np.zeros((2, 5), np.float32))


def test_a_driver_changing_latent_size_gets_a_fresh_store() -> None:
    # One driver, latents of 4 then 6 floats then float64 (the torch store), then 4 again: each
    # search matches a fresh driver's, and a forest's store is never resized under its views.
    torch.manual_seed(0)
    batch, actions = 3, 2

    def root(dim: int, dtype: torch.dtype) -> NetworkOutput:
        return NetworkOutput(
            latent=torch.randn(batch, dim).to(dtype),
            policy_logits=torch.randn(batch, actions),
            value=torch.randn(batch),
            reward=torch.zeros(batch),
        )

    config = MCTSConfig(num_simulations=10, seed=2)
    shared = MuZeroSearch(_ShiftModel(actions), config)
    cases = ((4, torch.float32), (6, torch.float32), (6, torch.float64), (4, torch.float32))
    for dim, dtype in cases:
        r = root(dim, dtype)
        shared.model = _ShiftModel(actions, dtype)
        fresh = MuZeroSearch(_ShiftModel(actions, dtype), config)
        got = shared.search(r, add_exploration_noise=False)
        want = fresh.search(r, add_exploration_noise=False)
        assert torch.equal(got.visit_counts, want.visit_counts)
        torch.testing.assert_close(got.q_values, want.q_values, rtol=0, atol=0, equal_nan=True)
    forest, _ = _random_tree(0, 2, 3, 4, False)
    forest.use_latents(5)
    with pytest.raises(RuntimeError, match="cannot change"):
        forest.use_latents(6)
    with pytest.raises(RuntimeError, match="cannot change"):
        forest.use_latents(0)


def _output(logits: torch.Tensor, value: torch.Tensor, latent: torch.Tensor) -> NetworkOutput:
    return NetworkOutput(
        latent=latent,
        policy_logits=logits,
        value=value,
        reward=value * 2,
        value_logits=None,
        reward_logits=None,
        hidden=None,
    )


def test_leaf_arrays_are_views_and_what_the_core_refuses_is_converted() -> None:
    from pipezero.mcts._common import conform_leaf_arrays, leaf_arrays

    head = torch.randn(3, 7)  # a fused head: the logits are a column slice, rows 7 apart
    plain = _output(head[:, :4], torch.randn(3), torch.randn(3, 5))
    arrays = leaf_arrays(plain, 3, True)
    assert all(a.dtype == np.float32 for a in arrays)
    for array, tensor in zip(
        arrays, (plain.policy_logits, plain.value, plain.reward, plain.latent), strict=True
    ):
        assert np.shares_memory(array, tensor.numpy())  # no copy on the usual path
    assert leaf_arrays(plain, 3, False)[3] is None
    # the usual layout passes through the conversion untouched
    assert all(a is b for a, b in zip(conform_leaf_arrays(3, *arrays), arrays, strict=True))

    # a tensor needing its gradient is brought to the host here, as float32 C-order arrays
    grad = _output(head[:, :4], torch.randn(3), torch.randn(5, 3, requires_grad=True).t())
    latent = leaf_arrays(grad, 3, True)[3]
    assert latent.flags.c_contiguous and latent.dtype == np.float32
    np.testing.assert_array_equal(latent, grad.latent.detach().numpy())

    # another dtype, a transposed latent and a strided value are handed over as they are (the
    # core refuses them), and conform_leaf_arrays gives the same numbers in the core's layout
    odd = _output(head[:, :4].double(), torch.randn(6)[::2], torch.randn(5, 3).t())
    raw = leaf_arrays(odd, 3, True)
    assert raw[0].dtype == np.float64 and not raw[3].flags.c_contiguous
    logits, value, reward, latent = conform_leaf_arrays(3, *raw)
    np.testing.assert_allclose(logits, odd.policy_logits.float().numpy())
    np.testing.assert_array_equal(value, odd.value.numpy())
    np.testing.assert_array_equal(reward, odd.reward.numpy())
    np.testing.assert_array_equal(latent, odd.latent.contiguous().numpy())
    assert latent.flags.c_contiguous and value.strides == (4,) and logits.dtype == np.float32
    with pytest.raises(ValueError, match=r"for M = 2 leaves"):
        conform_leaf_arrays(2, *arrays)


class _OddLayoutModel(_ShiftModel):
    """:class:`_ShiftModel`'s outputs in layouts the core does not read in place: float64
    logits, a strided value, a transposed (Fortran-order) latent."""

    def recurrent_inference(
        self, latent: torch.Tensor, action: torch.Tensor, hidden: object = None
    ) -> NetworkOutput:
        out = super().recurrent_inference(latent, action, hidden)
        return NetworkOutput(
            latent=out.latent.t().contiguous().t(),
            policy_logits=out.policy_logits.double(),
            value=torch.stack((out.value, out.value), 1)[:, 0],
            reward=out.reward,
        )


def test_a_search_converts_outputs_the_core_refuses() -> None:
    torch.manual_seed(0)
    batch, actions = 5, 3
    root = NetworkOutput(
        latent=torch.randn(batch, 4),
        policy_logits=torch.randn(batch, actions),
        value=torch.randn(batch),
        reward=torch.zeros(batch),
    )
    config = MCTSConfig(num_simulations=20, seed=3)
    want = MuZeroSearch(_ShiftModel(actions), config).search(root)
    got = MuZeroSearch(_OddLayoutModel(actions), config).search(root)
    assert torch.equal(got.visit_counts, want.visit_counts)
    torch.testing.assert_close(got.q_values, want.q_values, rtol=0, atol=0, equal_nan=True)
