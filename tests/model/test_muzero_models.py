import pytest
import torch

from pipezero.model import (
    EfficientZeroConv,
    EfficientZeroMLP,
    MuZeroConv,
    MuZeroMLP,
    MuZeroModelProtocol,
    negative_cosine_similarity,
)
from pipezero.model.conv import downsampled_size

B = 5


def _mlp(**kw):
    return MuZeroMLP(4, 3, latent_dim=16, hidden_dim=32, support_size=10, **kw)


def _ez_mlp():
    return EfficientZeroMLP(
        (2, 3), 3, latent_dim=16, hidden_dim=32, support_size=10, lstm_hidden_size=8
    )


def _conv():
    return MuZeroConv((2, 6, 6), 3, num_channels=8, downsample=False, support_size=10)


def _ez_conv():
    return EfficientZeroConv(
        (2, 6, 6), 3, num_channels=8, downsample=False, support_size=10, lstm_hidden_size=8
    )


def _perturb(model):
    """Output heads start at zero; perturb every weight so outputs and gradients are generic."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


MODELS = {"mlp": _mlp, "ez_mlp": _ez_mlp, "conv": _conv, "ez_conv": _ez_conv}


@pytest.mark.parametrize("name", list(MODELS))
def test_shapes_dtypes_and_protocol(name):
    torch.manual_seed(0)
    model = _perturb(MODELS[name]())
    assert isinstance(model, MuZeroModelProtocol)
    obs = torch.rand(B, *model.observation_shape)
    out = model.initial_inference(obs)
    latent_shape = (16,) if "mlp" in name else (8, 6, 6)
    assert out.latent.shape == (B, *latent_shape)
    assert out.policy_logits.shape == (B, 3)
    assert out.value.shape == (B,) and out.value.dtype == torch.float32
    assert torch.equal(out.reward, torch.zeros(B))
    assert out.value_logits.shape == (B, 21)
    is_ez = name.startswith("ez")
    if is_ez:
        h, c = out.hidden
        assert h.shape == c.shape == (1, B, 8)
        assert not h.any()
    else:
        assert out.hidden is None

    rec = model.recurrent_inference(out.latent, torch.tensor([0, 1, 2, 1, 0]), out.hidden)
    assert rec.latent.shape == out.latent.shape
    assert rec.policy_logits.shape == (B, 3)
    assert rec.value.shape == rec.reward.shape == (B,)
    assert rec.reward_logits.shape == rec.value_logits.shape == (B, 21)
    assert not torch.allclose(rec.value, rec.reward)
    assert torch.allclose(
        rec.reward, model.reward_support.logits_to_scalar(rec.reward_logits), atol=1e-5
    )
    assert torch.allclose(
        rec.value, model.value_support.logits_to_scalar(rec.value_logits), atol=1e-5
    )
    if is_ez:
        assert rec.hidden[0].shape == (1, B, 8) and rec.hidden[0].any()
    else:
        assert rec.hidden is None


@pytest.mark.parametrize("name", list(MODELS))
def test_gradients_reach_every_parameter_through_an_unroll(name):
    torch.manual_seed(0)
    model = MODELS[name]()
    _perturb(model)
    obs = torch.rand(B, *model.observation_shape)
    out = model.initial_inference(obs)
    loss = out.value_logits.square().mean() + out.policy_logits.square().mean()
    latent, hidden = out.latent, out.hidden
    for step in range(3):
        rec = model.recurrent_inference(latent, torch.full((B,), step % 3), hidden)
        loss = loss + rec.value_logits.square().mean() + rec.reward_logits.square().mean()
        loss = loss + rec.policy_logits.square().mean() + rec.latent.square().mean()
        latent, hidden = rec.latent, rec.hidden
    if name.startswith("ez"):
        online = model.project(latent, with_grad=True)
        target = model.project(model.representation(obs), with_grad=False)
        assert not target.requires_grad
        loss = loss + negative_cosine_similarity(online, target).mean()
    loss.backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert not dead, f"no gradient reaches {dead}"


def test_initial_prediction_is_neutral():
    model = _mlp()
    out = model.initial_inference(torch.rand(B, 4))
    assert torch.allclose(out.value, torch.zeros(B), atol=1e-5)
    assert torch.allclose(out.policy_logits, torch.zeros(B, 3))


def test_action_embedding_equals_one_hot_concat():
    """The dynamics' first layer equals Linear(concat(latent, one_hot(action)))."""
    torch.manual_seed(0)
    model = _mlp()
    latent = torch.randn(B, 16)
    action = torch.tensor([2, 0, 1, 1, 2])
    weight = torch.cat([model.dyn_latent_in.weight, model.dyn_action_embed.weight.T], dim=1)
    x = torch.cat([latent, torch.nn.functional.one_hot(action, 3).float()], dim=1)
    expected = torch.nn.functional.linear(x, weight, model.dyn_latent_in.bias)
    got = model.dyn_latent_in(latent) + model.dyn_action_embed(action)
    assert torch.allclose(got, expected, atol=1e-6)


@pytest.mark.parametrize("kind", ["layernorm", "minmax"])
def test_latent_normalisation(kind):
    model = _mlp(latent_norm=kind)
    latent = model.initial_inference(torch.randn(B, 4) * 100).latent
    if kind == "layernorm":
        assert torch.allclose(latent.mean(-1), torch.zeros(B), atol=1e-5)
        assert torch.allclose(latent.var(-1, unbiased=False), torch.ones(B), atol=1e-3)
    else:
        assert torch.allclose(latent.amin(-1), torch.zeros(B))
        assert torch.allclose(latent.amax(-1), torch.ones(B))


def test_actions_change_the_next_latent():
    torch.manual_seed(0)
    model = _mlp()
    latent = model.initial_inference(torch.rand(1, 4)).latent.expand(3, -1)
    nxt = model.recurrent_inference(latent, torch.tensor([0, 1, 2])).latent
    assert not torch.allclose(nxt[0], nxt[1]) and not torch.allclose(nxt[1], nxt[2])


def test_ez_hidden_none_starts_a_new_horizon():
    torch.manual_seed(0)
    model = _ez_mlp().eval()
    out = model.initial_inference(torch.rand(B, 2, 3))
    a = torch.zeros(B, dtype=torch.long)
    from_zero = model.recurrent_inference(out.latent, a, out.hidden)
    from_none = model.recurrent_inference(out.latent, a, None)
    assert torch.allclose(from_zero.reward_logits, from_none.reward_logits)
    with pytest.raises(ValueError, match=r"\[1, B, H\]"):
        model.recurrent_inference(out.latent, a, (torch.zeros(B, 8), torch.zeros(B, 8)))


def test_negative_cosine_similarity():
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    assert torch.allclose(negative_cosine_similarity(x, x * 3), torch.tensor([-1.0, -1.0]))
    assert torch.allclose(negative_cosine_similarity(x, -x), torch.tensor([1.0, 1.0]))
    assert torch.allclose(negative_cosine_similarity(x, x.flip(0)), torch.zeros(2))
    with pytest.raises(ValueError, match="equal shapes"):
        negative_cosine_similarity(x, x[:, :1])


@pytest.mark.parametrize(("size", "expected"), [(96, 6), (84, 6), (64, 4)])
def test_downsample_sizes(size, expected):
    assert downsampled_size(size) == expected


def test_conv_downsample_stem_runs_on_atari_frames():
    model = MuZeroConv((4, 84, 84), 6, num_channels=8, support_size=5).eval()
    with torch.inference_mode():
        out = model.initial_inference(torch.rand(2, 4, 84, 84))
    assert out.latent.shape == (2, 8, 6, 6) == (2, *model.latent_shape)


def test_bad_arguments_raise_helpful_errors():
    with pytest.raises(ValueError, match="action_space_size"):
        MuZeroMLP(4, 0)
    with pytest.raises(ValueError, match="latent_norm"):
        MuZeroMLP(4, 2, latent_norm="batch")
    with pytest.raises(ValueError, match="activation"):
        MuZeroMLP(4, 2, activation="swish2")
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        MuZeroConv((4,), 2)
