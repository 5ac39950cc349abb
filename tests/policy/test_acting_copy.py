"""policy.acting_copy: an acting policy for another role that never shares the learner's model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from policy_toy import fill_buffer, tiny_policy


def _obs(n: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    obs = rng.normal(size=(n, 4)).astype(np.float32)
    return obs, np.ones((n, 2), dtype=bool), np.full(n, -1)


def _same_params(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    pairs = zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    return all(torch.equal(x, y) for x, y in pairs)


@pytest.mark.parametrize("kind", ["muzero", "efficientzero"])
def test_copy_acts_like_the_policy_until_the_learner_moves(kind: str) -> None:
    policy = tiny_policy(kind, seed=2)
    actor = policy.acting_copy(seed=2)
    assert actor.acting_model is not policy.model and not actor.share_acting_model
    obs, mask, to_play = _obs()
    ours, theirs = policy.evaluate(obs, mask, to_play), actor.evaluate(obs, mask, to_play)
    np.testing.assert_allclose(ours.visit_policy, theirs.visit_policy)

    buffer = fill_buffer(policy)
    for _ in range(3):
        batch = buffer.sample(16, with_unroll_obs=policy.needs_unroll_obs)
        assert not policy.learn(batch).skipped
    assert not _same_params(actor.acting_model, policy.model), "learning left the copy alone"
    actor.set_weights(policy.get_weights())
    assert _same_params(actor.acting_model, policy.model)


def test_set_weights_on_the_copy_leaves_the_learner_model_alone() -> None:
    policy = tiny_policy(seed=0)
    before = {k: v.clone() for k, v in policy.model.state_dict().items()}
    actor = policy.acting_copy(seed=1)
    zeros = {k: torch.zeros_like(v) for k, v in policy.get_weights().items()}
    actor.set_weights(zeros)
    assert all(torch.equal(before[k], v) for k, v in policy.model.state_dict().items())
    assert all(not v.any() for v in actor.acting_model.state_dict().values())
    obs, mask, to_play = _obs()
    assert actor.collect(obs, mask, to_play, env_step=0).action.shape == (3,)
