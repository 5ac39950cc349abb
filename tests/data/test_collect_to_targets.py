"""End to end on real parts: CartPole -> segments -> replay -> value targets -> loss."""

import numpy as np
import torch

from pipezero.data import (
    GameSegmentWriter,
    ReplayBuffer,
    compute_value_targets,
    value_target_inputs,
)
from pipezero.envs import BatchEnv
from pipezero.model import EfficientZeroMLP, negative_cosine_similarity


def test_collect_sample_and_compute_losses():
    k, n, num_envs = 3, 5, 4
    envs = BatchEnv.make("CartPole-v1", num_envs=num_envs, seed=0)
    writers = [GameSegmentWriter((4,), 2, 20, k, n) for _ in range(num_envs)]
    buffer = ReplayBuffer(500, k, n, discount_factor=0.99, seed=0)
    model = EfficientZeroMLP(4, 2, latent_dim=16, hidden_dim=16, support_size=10)
    rng = np.random.default_rng(0)
    obs = envs.reset()
    for _ in range(150):
        visits = rng.random((num_envs, 2)) + 0.1  # stands in for a search
        actions = visits.argmax(1)
        step = envs.step(actions)
        for i, w in enumerate(writers):
            w.append(obs.observation[i], obs.action_mask[i], obs.to_play[i], actions[i],
                     step.reward[i], visits[i], 0.0)  # fmt: skip
            if step.done[i]:
                w.end_episode(step.final_observation[i], step.terminated[i])
            buffer.extend(w.pop_finished())
        obs = step.obs
    assert buffer.num_transitions > 100

    batch = buffer.sample(32, with_unroll_obs=True)
    t = batch.to("cpu")
    inputs = value_target_inputs(t)
    with torch.no_grad():
        boot_values = model.initial_inference(inputs.obs).value
    targets = compute_value_targets(inputs, boot_values)
    assert targets.shape == (32, k + 1) and torch.isfinite(targets).all()
    # CartPole rewards are 1 per step, so every target is at least its first reward
    assert (targets[inputs.mask.bool() & (t.policy_mask > 0)] >= 1.0 - 1e-5).all()

    out = model.initial_inference(t.obs)
    latent, hidden = out.latent, out.hidden
    loss = torch.zeros(())
    for step_k in range(k):
        out = model.recurrent_inference(latent, t.actions[:, step_k], hidden)
        target_latent = model.project(model.representation(t.unroll_obs[:, step_k]), False)
        consistency = negative_cosine_similarity(model.project(out.latent), target_latent)
        loss = loss + (consistency * t.unroll_obs_mask[:, step_k]).mean()
        latent, hidden = out.latent, out.hidden
    loss.backward()
    assert torch.isfinite(loss)
