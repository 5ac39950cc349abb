"""KV-cached inference of the UniZero world model equals uncached recomputation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from unizero_toy import tiny_model

from pipezero.mcts import MCTSConfig, MuZeroSearch
from pipezero.model.unizero import WindowTransformer

ATOL = 2e-5


@pytest.mark.parametrize("context_length", [3, 8, 20])
def test_transformer_steps_equal_the_full_pass(context_length):
    torch.manual_seed(0)
    net = WindowTransformer(16, num_layers=3, num_heads=2, context_length=context_length).eval()
    tokens = torch.randn(4, 11, 16)
    with torch.no_grad():
        full = net(tokens)
        window = net.empty_window(4, tokens)
        stepped = []
        for t in range(tokens.shape[1]):
            out, window = net.step(tokens[:, t], window)
            stepped.append(out)
    torch.testing.assert_close(torch.stack(stepped, 1), full, atol=ATOL, rtol=0)
    assert window.count.tolist() == [11] * 4


def test_window_limits_attention_to_context_length():
    torch.manual_seed(0)
    net = WindowTransformer(16, num_layers=1, num_heads=2, context_length=3).eval()
    tokens = torch.randn(1, 6, 16)
    changed = tokens.clone()
    changed[:, 0] = torch.randn(16)  # outside the window of tokens 3.. in a one-layer network
    with torch.no_grad():
        a, b = net(tokens), net(changed)
    assert not torch.allclose(a[:, 2], b[:, 2])
    torch.testing.assert_close(a[:, 3:], b[:, 3:])


def test_search_chain_equals_teacher_forced_pass_on_the_same_tokens():
    """initial_inference + recurrent_inference along a path (window rolls over: context 6 <
    9 tokens) give the outputs of one forward pass over z0, a0, z1', a1, z2', ... where z'
    are the latents the chain predicted."""
    model = tiny_model()
    obs = torch.randn(3, 4)
    actions = torch.tensor([[0, 1, 1, 0], [1, 1, 0, 0], [0, 0, 1, 1]])
    with torch.no_grad():
        out = model.initial_inference(obs)
        latents = [model.unpack_state(out.latent)[1]]
        values, policies, rewards = [out.value_logits], [out.policy_logits], []
        for k in range(actions.shape[1]):
            out = model.recurrent_inference(out.latent, actions[:, k])
            latents.append(model.unpack_state(out.latent)[1])
            values.append(out.value_logits)
            policies.append(out.policy_logits)
            rewards.append(out.reward_logits)
        seq = model.forward_sequence(torch.stack(latents, 1), actions)
    torch.testing.assert_close(torch.stack(values, 1), seq.value_logits, atol=ATOL, rtol=0)
    torch.testing.assert_close(torch.stack(policies, 1), seq.policy_logits, atol=ATOL, rtol=0)
    torch.testing.assert_close(torch.stack(rewards, 1), seq.reward_logits, atol=ATOL, rtol=0)
    torch.testing.assert_close(torch.stack(latents[1:], 1), seq.next_latents, atol=ATOL, rtol=0)


def test_root_with_history_equals_teacher_forcing_on_real_observations():
    model = tiny_model()
    obs = torch.randn(2, 5, 4)
    actions = torch.tensor([[0, 1, 0, 1], [1, 0, 0, 1]])
    with torch.no_grad():
        window, prev = None, None
        values = []
        for t in range(5):
            root = model.initial_inference_with_context(obs[:, t], window, prev)
            values.append(root.value_logits)
            if t < 4:
                window, prev = model.unpack_state(root.latent)[0], actions[:, t]
        latents = model.encode(obs.flatten(0, 1)).view(2, 5, -1)
        seq = model.forward_sequence(latents, actions)
    torch.testing.assert_close(torch.stack(values, 1), seq.value_logits, atol=ATOL, rtol=0)


def test_rows_without_history_start_a_new_stream():
    model = tiny_model()
    obs0, obs1 = torch.randn(2, 4), torch.randn(2, 4)
    with torch.no_grad():
        first = model.initial_inference_with_context(obs0)
        window = model.unpack_state(first.latent)[0]
        mixed = model.initial_inference_with_context(obs1, window, torch.tensor([1, -1]))
        fresh = model.initial_inference(obs1)
    torch.testing.assert_close(mixed.value_logits[1], fresh.value_logits[1])
    assert not torch.allclose(mixed.value_logits[0], fresh.value_logits[0])
    counts = model.unpack_state(mixed.latent)[0].count.tolist()
    assert counts == [3, 1]  # z0, a0, z1 for the continuing row; z1 alone for the new one


def test_state_pack_round_trip_and_shape_errors():
    model = tiny_model()
    with torch.no_grad():
        root = model.initial_inference(torch.randn(2, 4))
    assert root.latent.shape == (2, model.state_size)
    window, latent = model.unpack_state(root.latent)
    torch.testing.assert_close(model.pack_state(window, latent), root.latent)
    with pytest.raises(ValueError, match="search states have shape"):
        model.unpack_state(root.latent[:, :-1])
    with pytest.raises(ValueError, match="prev_action"):
        model.initial_inference_with_context(torch.randn(2, 4), window, None)


def test_search_makes_one_network_call_per_simulation():
    model = tiny_model()
    search = MuZeroSearch(model, MCTSConfig(num_simulations=7, seed=0))
    with torch.no_grad():
        root = model.initial_inference(torch.randn(3, 4))
    result = search.search(root, np.ones((3, 2), dtype=bool), add_exploration_noise=False)
    assert result.num_network_calls == 7
    assert result.visit_counts.sum(1).tolist() == [7, 7, 7]
    assert torch.isfinite(result.root_value).all()
