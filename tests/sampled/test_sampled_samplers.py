"""Samplers of the sampled search: importance-corrected priors and tanh-squashed densities."""

import math

import numpy as np
import pytest
import torch

from pipezero.mcts import (
    CategoricalSampler,
    GaussianSampler,
    SampledActions,
    UniformBoxSampler,
    importance_prior_logits,
    tanh_gaussian_log_prob,
)


def test_importance_prior_is_beta_hat_over_beta_times_pi_by_hand():
    # K = 4 draws of 3 distinct actions: counts 2, 1, 1 -> beta_hat = 1/2, 1/4, 1/4.
    pi = torch.tensor([[0.5, 0.3, 0.2, 0.0]])
    beta = torch.tensor([[0.25, 0.25, 0.5, 0.0]])
    counts = torch.tensor([[2.0, 1.0, 1.0, 0.0]])
    sampled = SampledActions(
        actions=torch.tensor([[0, 1, 2, 2]]),
        log_pi=torch.log(pi.clamp_min(1e-30)),
        log_beta=torch.log(beta.clamp_min(1e-30)),
        counts=counts,
    )
    logits, mask = importance_prior_logits(sampled)
    assert mask.tolist() == [[True, True, True, False]]
    # beta_hat / beta * pi = (0.5/0.25*0.5, 0.25/0.25*0.3, 0.25/0.5*0.2) = (1.0, 0.3, 0.1)
    prior = torch.softmax(logits.masked_fill(~mask, -math.inf), dim=1)
    expected = torch.tensor([1.0, 0.3, 0.1, 0.0]) / 1.4
    assert torch.allclose(prior[0], expected, atol=1e-6)
    assert logits[0, 3] == 0.0  # empty slot


def test_sampling_from_the_prior_gives_the_empirical_distribution():
    gen = torch.Generator().manual_seed(0)
    logits = torch.tensor([[2.0, 0.0, -1.0, 0.5]])
    sampled = CategoricalSampler(1.0).sample(logits, 6, None, gen)
    out, mask = importance_prior_logits(sampled)
    prior = torch.softmax(out.masked_fill(~mask, -math.inf), dim=1)
    assert torch.allclose(prior, sampled.counts / 6.0, atol=1e-6)  # beta = pi: beta_hat


def test_uniform_categorical_sampling_respects_the_mask_and_corrects_by_pi():
    gen = torch.Generator().manual_seed(1)
    logits = torch.log(torch.tensor([[0.7, 0.2, 0.1, 1e-3]]))
    legal = torch.tensor([[True, True, True, False]])
    sampled = CategoricalSampler(math.inf).sample(logits, 64, legal, gen)
    kept = sampled.actions[sampled.counts > 0]
    assert set(kept.tolist()) == {0, 1, 2}  # never the illegal action, all legal ones drawn
    assert torch.allclose(sampled.log_beta, torch.full_like(sampled.log_beta, math.log(1 / 3)))
    # prior over the distinct draws ~ beta_hat / beta * pi
    logits_k, mask = importance_prior_logits(sampled)
    prior = torch.softmax(logits_k.masked_fill(~mask, -math.inf), dim=1)[sampled.counts > 0]
    pi = torch.softmax(logits.masked_fill(~legal, -math.inf), dim=1)[0, kept]
    expected = (sampled.counts[sampled.counts > 0] / 64) * 3 * pi
    assert torch.allclose(prior, expected / expected.sum(), atol=1e-5)


def test_tanh_gaussian_log_prob_matches_torch_transformed_distribution():
    mean, log_std = torch.tensor([0.3, -1.0]), torch.tensor([-0.5, 0.2])
    base = torch.distributions.Normal(mean, log_std.exp())
    dist = torch.distributions.TransformedDistribution(
        base, [torch.distributions.transforms.TanhTransform()]
    )
    a = torch.tensor([[0.1, -0.6], [0.9, 0.99], [-0.95, 0.0]])
    expected = dist.log_prob(a).sum(-1)
    assert torch.allclose(tanh_gaussian_log_prob(a, mean, log_std), expected, atol=1e-4)


def test_tanh_gaussian_density_integrates_to_one():
    a = torch.linspace(-1 + 1e-6, 1 - 1e-6, 400_001, dtype=torch.float64)
    density = tanh_gaussian_log_prob(
        a[:, None], torch.tensor([0.4], dtype=torch.float64), torch.tensor([0.1])
    ).exp()
    assert float(torch.trapezoid(density, a)) == pytest.approx(1.0, abs=1e-3)


def test_squashed_gaussian_sampler_reports_squashed_densities():
    gen = torch.Generator().manual_seed(2)
    params = torch.tensor([[0.5, -0.3, 0.0, -1.0]])  # D = 2: means, log stds
    sampled = GaussianSampler(std_scale=1.0, squash=True).sample(params, 50, None, gen)
    assert sampled.actions.shape == (1, 50, 2)
    assert sampled.actions.abs().max() < 1.0
    expected = tanh_gaussian_log_prob(sampled.actions, params[:, None, :2], params[:, None, 2:])
    assert torch.allclose(sampled.log_pi, expected, atol=1e-3)
    assert torch.allclose(sampled.log_pi, sampled.log_beta)  # beta = pi
    wide = GaussianSampler(std_scale=2.0, squash=True).sample(params, 5, None, gen)
    logits, _ = importance_prior_logits(wide)
    # the tanh Jacobian cancels in pi / beta: the prior equals the unsquashed ratio
    u = torch.atanh(wide.actions)
    ratio = torch.distributions.Normal(params[:, None, :2], params[:, None, 2:].exp()).log_prob(
        u
    ).sum(-1) - torch.distributions.Normal(
        params[:, None, :2], 2 * params[:, None, 2:].exp()
    ).log_prob(u).sum(-1)
    assert torch.allclose(logits, ratio + math.log(1 / 5), atol=1e-3)


def test_uniform_box_sampler_draws_in_the_box_with_uniform_beta():
    gen = torch.Generator().manual_seed(3)
    params = torch.zeros(3, 2)  # D = 1
    sampled = UniformBoxSampler().sample(params, 200, None, gen)
    a = sampled.actions.numpy()
    assert a.shape == (3, 200, 1) and (np.abs(a) < 1).all()
    assert a.min() < -0.9 and a.max() > 0.9
    assert torch.allclose(sampled.log_beta, torch.full((3, 200), math.log(0.5)))
    with pytest.raises(ValueError, match="legal_mask"):
        UniformBoxSampler().sample(params, 2, torch.ones(3, 2, dtype=torch.bool), gen)
