"""MuZero and EfficientZero policies on tiny real parts (CartPole, 16-wide models)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from policy_toy import copy_batch, fill_buffer, tiny_policy

from pipezero.data import DeviceBatch, compute_value_targets, value_target_inputs
from pipezero.policy import ActResult, LearnResult, PolicyProtocol

KINDS = ["muzero", "muzero_ssl", "efficientzero"]


@pytest.fixture(scope="module", params=KINDS)
def kind_and_batch(request):
    torch.manual_seed(0)
    policy = tiny_policy(request.param)
    buffer = fill_buffer(policy)
    batch = buffer.sample(16, with_unroll_obs=policy.needs_unroll_obs)
    return request.param, batch


def test_policies_satisfy_the_protocol():
    for kind in KINDS:
        assert isinstance(tiny_policy(kind), PolicyProtocol)


@pytest.mark.parametrize("kind", KINDS)
def test_collect_and_evaluate_shapes(kind):
    policy = tiny_policy(kind)
    obs = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    mask = np.array([[True, True], [True, False], [False, True]])
    to_play = np.full(3, -1)
    for act in (policy.collect(obs, mask, to_play, 0), policy.evaluate(obs, mask, to_play)):
        assert isinstance(act, ActResult)
        assert act.action.shape == (3,) and act.action.dtype == np.int64
        assert act.action[1] == 0 and act.action[2] == 1  # legal actions only
        assert act.visit_policy.shape == (3, 2)
        np.testing.assert_allclose(act.visit_policy.sum(1), 1.0, rtol=1e-6)
        assert act.root_value.shape == (3,) and act.predicted_value.shape == (3,)


def test_a_few_updates_on_a_fixed_batch_reduce_the_loss(kind_and_batch):
    kind, batch = kind_and_batch
    torch.manual_seed(0)
    policy = tiny_policy(kind, learning_rate=3e-3)
    first = policy.learn(copy_batch(batch))
    for _ in range(30):
        last = policy.learn(copy_batch(batch))
    assert not first.skipped and not last.skipped
    assert last.info["total_loss"] < 0.8 * first.info["total_loss"], (first.info, last.info)
    assert policy.train_iter == 31
    assert last.priorities.shape == (16,) and (last.priorities > 0).all()
    for key in ("policy_loss", "value_loss", "reward_loss", "grad_norm", "lr"):
        assert np.isfinite(last.info[key])
    if kind == "muzero":
        assert "consistency_loss" not in last.info
    else:
        assert np.isfinite(last.info["consistency_loss"])


def test_non_finite_loss_skips_the_update(kind_and_batch):
    kind, batch = kind_and_batch
    policy = tiny_policy(kind)
    before = {k: v.clone() for k, v in policy.model.state_dict().items()}
    bad = copy_batch(batch)
    bad.obs[0] = np.nan
    result = policy.learn(bad)
    assert isinstance(result, LearnResult)
    assert result.skipped and result.priorities is None
    assert not np.isfinite(result.info["total_loss"]) and result.info["nonfinite"] == 1.0
    assert policy.train_iter == 0
    for k, v in policy.model.state_dict().items():
        torch.testing.assert_close(v, before[k], equal_nan=True)
    assert not policy.learn(copy_batch(batch)).skipped  # the next good batch trains


def test_state_dict_round_trip_continues_identically(kind_and_batch):
    kind, batch = kind_and_batch
    a = tiny_policy(kind, seed=1)
    for _ in range(3):  # also moves the optimizer moments and the target network (freq 2)
        a.learn(copy_batch(batch))
    state = a.state_dict()
    b = tiny_policy(kind, seed=2)
    b.load_state_dict(state)
    assert b.train_iter == 3
    ra, rb = a.learn(copy_batch(batch)), b.learn(copy_batch(batch))
    assert ra.info["total_loss"] == rb.info["total_loss"]
    np.testing.assert_array_equal(ra.priorities, rb.priorities)
    obs, mask, to_play = batch.obs[:4], np.ones((4, 2), bool), np.full(4, -1)
    np.testing.assert_array_equal(
        a.collect(obs, mask, to_play, 0).action, b.collect(obs, mask, to_play, 0).action
    )


def test_a_changed_state_dict_gives_a_different_next_loss(kind_and_batch):
    """Guard for the round-trip test: it must be able to fail."""
    kind, batch = kind_and_batch
    a = tiny_policy(kind, seed=1)
    a.learn(copy_batch(batch))
    b = tiny_policy(kind, seed=1)
    b.load_state_dict(a.state_dict())
    b.learn(copy_batch(batch))
    assert (
        a.learn(copy_batch(batch)).info["total_loss"]
        != tiny_policy(kind, seed=1).learn(copy_batch(batch)).info["total_loss"]
    )


def test_target_network_is_copied_every_target_update_freq():
    policy = tiny_policy("muzero", target_update_freq=2)
    batch = fill_buffer(policy, 20).sample(16)
    policy.learn(copy_batch(batch))
    w = "repr_out.weight"
    assert not torch.equal(policy.target_model.state_dict()[w], policy.model.state_dict()[w])
    policy.learn(copy_batch(batch))
    assert torch.equal(policy.target_model.state_dict()[w], policy.model.state_dict()[w])


def test_soft_target_update_moves_the_target_part_way():
    policy = tiny_policy("muzero", target_update_type="soft", target_update_theta=0.5)
    w = "repr_out.weight"
    old = policy.target_model.state_dict()[w].clone()
    policy.learn(fill_buffer(policy, 20).sample(16))
    new_online = policy.model.state_dict()[w]
    torch.testing.assert_close(policy.target_model.state_dict()[w], 0.5 * old + 0.5 * new_online)


def test_search_bootstrap_learns_from_the_stored_root_values():
    policy = tiny_policy("muzero", value_bootstrap="search")
    batch = fill_buffer(policy, 40).sample(16)
    assert not np.isnan(batch.bootstrap_search_values).any()  # CartPole terminates
    # the untrained model's search values are ~0: give the positions distinct ones
    m = len(batch.bootstrap_search_values)
    batch = batch.replace(bootstrap_search_values=np.linspace(1.0, 2.0, m, dtype=np.float32))
    stored = compute_value_targets(
        value_target_inputs(batch.to("cpu")), torch.as_tensor(batch.bootstrap_search_values)
    )
    torch.testing.assert_close(policy.compute_targets(policy.device_batch(batch)).value, stored)
    network = tiny_policy("muzero").compute_targets(DeviceBatch.move(batch, "cpu")).value
    assert not torch.allclose(network, stored)
    result = policy.learn(copy_batch(batch))
    assert not result.skipped and np.isfinite(result.info["value_loss"])


def test_reanalysis_replaces_the_policy_targets_of_the_first_rows():
    policy = tiny_policy("muzero", reanalyze_ratio=0.5)
    assert policy.needs_unroll_obs
    batch = fill_buffer(policy).sample(16, with_unroll_obs=True)
    batch.target_policy[:] = np.where(batch.policy_mask[..., None] > 0, 0.5, 0.0)
    targets = policy.compute_targets(policy.device_batch(batch))
    searched = batch.policy_mask > 0
    new = targets.policy.numpy()
    # A new search may split 2/2 like the stored 0.5/0.5, but not at every searched position.
    changed = ~np.isclose(new, batch.target_policy).all(-1)
    assert changed[:8][searched[:8]].any()
    assert not changed[8:].any()
    np.testing.assert_allclose(new[:8][searched[:8]].sum(-1), 1.0, rtol=1e-6)


def test_set_weights_is_a_no_op_for_its_own_weights_in_shared_mode():
    policy = tiny_policy("muzero")
    assert policy.acting_model is policy.model
    own = policy.get_weights()
    for v in own.values():
        v.add_(1.0)  # a no-op must not load these
    policy.set_weights(own)
    assert not torch.equal(policy.model.state_dict()["repr_out.bias"], own["repr_out.bias"])


def test_separate_acting_model_follows_set_weights_only():
    policy = tiny_policy("muzero")
    from pipezero.model import MuZeroMLP
    from pipezero.policy import MuZeroPolicy

    sep = MuZeroPolicy(policy.cfg, MuZeroMLP(4, 2, **policy.cfg.model), share_acting_model=False)
    assert sep.acting_model is not sep.model
    sep.learn(fill_buffer(sep, 20).sample(16))
    key = "repr_out.weight"
    assert not torch.equal(sep.acting_model.state_dict()[key], sep.model.state_dict()[key])
    weights = sep.get_weights()
    assert all(not v.requires_grad and v.device.type == "cpu" for v in weights.values())
    sep.set_weights(weights)
    assert torch.equal(sep.acting_model.state_dict()[key], sep.model.state_dict()[key])


def test_config_typos_are_rejected_with_a_suggestion():
    with pytest.raises(ValueError, match="num_simulations"):
        tiny_policy("muzero", num_simulation=3)


def test_efficientzero_needs_a_model_with_consistency_heads():
    from pipezero.model import MuZeroMLP
    from pipezero.policy import EfficientZeroPolicy

    with pytest.raises(TypeError, match="consistency heads"):
        EfficientZeroPolicy({}, MuZeroMLP(4, 2, latent_dim=8, hidden_dim=8, support_size=3))


def test_muzero_consistency_loss_needs_the_heads_and_trains_them(kind_and_batch):
    """ssl_loss_weight > 0 without heads is a clear error; with them the consistency loss
    falls on a fixed batch and moves the heads (a model without them never does)."""
    from pipezero.model import MuZeroMLP
    from pipezero.policy import MuZeroPolicy

    with pytest.raises(ValueError, match="consistency_heads=True"):
        MuZeroPolicy({"ssl_loss_weight": 1.0}, MuZeroMLP(4, 2, latent_dim=8, hidden_dim=8))
    with pytest.raises(RuntimeError, match="consistency_heads=True"):
        MuZeroMLP(4, 2, latent_dim=8).project(torch.zeros(1, 8))
    kind, batch = kind_and_batch
    if kind != "muzero_ssl":
        pytest.skip("the MuZero policy with consistency heads")
    torch.manual_seed(0)
    policy = tiny_policy(kind, learning_rate=3e-3)
    heads = copy.deepcopy(policy.model.consistency.state_dict())
    first = policy.learn(copy_batch(batch)).info["consistency_loss"]
    for _ in range(30):
        last = policy.learn(copy_batch(batch)).info["consistency_loss"]
    assert last < first - 0.05, (first, last)  # negative cosine similarity in [-1, 1]
    moved = policy.model.consistency.state_dict()
    assert any(not torch.equal(heads[k], moved[k]) for k in heads)


@pytest.mark.parametrize("kind", ["muzero", "efficientzero"])
def test_building_a_policy_flushes_denormal_floats(kind):
    """Denormal weights (weight decay on unused inputs) slow CPU matmuls several-fold; a
    policy switches the CPU to flushing them to zero."""
    torch.set_flush_denormal(False)
    assert float(torch.tensor([1e-39]) * 1.0) > 0  # denormals kept
    tiny_policy(kind)
    assert float(torch.tensor([1e-39]) * 1.0) == 0.0


@pytest.mark.parametrize("kind", KINDS)
def test_evaluation_search_can_use_its_own_number_of_simulations(kind):
    """``eval_num_simulations`` sets the evaluation search's budget (collection keeps
    ``num_simulations``), in the acting copies of async mode too; bad values are refused."""
    policy = tiny_policy(kind, num_simulations=6, eval_num_simulations=11)
    assert tiny_policy(kind, num_simulations=6).eval_search.config.num_simulations == 6  # None
    actor = policy.acting_copy(seed=5)
    for p in (policy, actor):
        assert p.collect_search.config.num_simulations == 6
        assert p.eval_search.config.num_simulations == 11
    obs = np.random.default_rng(0).normal(size=(2, 4)).astype(np.float32)
    mask, to_play = np.ones((2, 2), bool), np.full(2, -1)
    policy.evaluate(obs, mask, to_play)
    assert policy.eval_search.network_calls == 11
    policy.collect(obs, mask, to_play, 0)
    assert policy.collect_search.network_calls == 6
    for bad in (0, 2.5):
        with pytest.raises(ValueError, match="eval_num_simulations"):
            tiny_policy(kind, eval_num_simulations=bad)


@pytest.mark.parametrize("kind", ["muzero", "efficientzero"])
def test_improved_policy_target_reaches_collection_and_reanalysis(kind):
    """``policy_target="improved"`` is the target of collection, of reanalysis and of the
    async acting copies; the default stays the visit counts."""
    assert tiny_policy(kind).collect_search.config.policy_target == "visits"
    policy = tiny_policy(kind, num_simulations=6, policy_target="improved", reanalyze_ratio=0.5)
    torch.manual_seed(0)
    for p in policy.model.parameters():  # the heads start at zero: make priors and values differ
        torch.nn.init.normal_(p, std=0.3)
    for other in (policy.target_model, policy.acting_model):
        other.load_state_dict(policy.model.state_dict())
    actor = policy.acting_copy(seed=3)
    for search in (policy.collect_search, policy.reanalyze_search, actor.collect_search):
        assert search.config.policy_target == "improved"
    obs = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    mask, to_play = np.array([[True, True], [True, False], [True, True]]), np.full(3, -1)
    target = policy.collect(obs, mask, to_play, 0).visit_policy
    np.testing.assert_allclose(target.sum(1), 1.0, rtol=1e-6)
    assert target[1, 1] == 0, "illegal actions get nothing"
    counts = target[[0, 2]] * 6
    assert not np.allclose(counts, np.round(counts)), "not visit counts over 6 simulations"
    batch = fill_buffer(policy).sample(8, with_unroll_obs=True)
    reanalysed = policy.compute_targets(policy.device_batch(batch)).policy.numpy()[:4] * 6
    searched = batch.policy_mask[:4] > 0
    assert not np.allclose(reanalysed[searched], np.round(reanalysed[searched]))
    with pytest.raises(ValueError, match="policy_target must be one of"):
        tiny_policy(kind, policy_target="q")


def test_channels_last_conv_policy_learns_as_the_contiguous_one():
    """`policy.channels_last` keeps a conv model's weights NHWC and changes no result beyond
    float rounding: same losses over a few updates, and state dicts load across layouts."""
    from policy_toy import TINY_POLICY

    from pipezero.model import MuZeroConv
    from pipezero.policy import MuZeroPolicy

    torch.manual_seed(0)
    source = tiny_policy("muzero")
    cartpole = fill_buffer(source).sample(16)
    # CartPole's 4 numbers as a 1x2x2 image, so a real batch feeds a conv network
    image = cartpole.replace(
        obs=cartpole.obs.reshape(-1, 1, 2, 2),
        bootstrap_obs=cartpole.bootstrap_obs.reshape(-1, 1, 2, 2),
    )
    net = {"num_channels": 4, "downsample": False, "support_size": 5, "reward_support_size": 2,
           "reward_head_channels": 2, "value_head_channels": 2, "policy_head_channels": 2,
           "fc_hidden_sizes": [8]}  # fmt: skip
    torch.manual_seed(1)
    model = MuZeroConv((1, 2, 2), 2, **net)
    policies = {
        layout: MuZeroPolicy(
            dict(TINY_POLICY, model=net, channels_last=layout), copy.deepcopy(model), seed=0
        )
        for layout in (False, True)
    }
    conv_weight = policies[True].model.repr_blocks[0].conv1.weight
    assert conv_weight.is_contiguous(memory_format=torch.channels_last)
    assert not conv_weight.is_contiguous()  # NHWC strides, not NCHW
    assert policies[False].model.repr_blocks[0].conv1.weight.is_contiguous()
    losses = {
        layout: [p.learn(copy_batch(image)).info["total_loss"] for _ in range(3)]
        for layout, p in policies.items()
    }
    np.testing.assert_allclose(losses[True], losses[False], rtol=1e-4)
    assert losses[True][-1] != losses[True][0]  # the updates did something
    policies[False].load_state_dict(policies[True].state_dict())  # NHWC into NCHW and back
    policies[True].load_state_dict(policies[False].state_dict())
    assert policies[True].model.repr_blocks[0].conv1.weight.is_contiguous(
        memory_format=torch.channels_last
    )
