"""Atari through ale-py and gymnasium's wrappers: shapes, protocol settings, life handling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("ale_py")
pytest.importorskip("cv2")

from pipezero.data.frame_store import FrameReplayBuffer
from pipezero.envs import BatchEnv
from pipezero.envs.atari import is_atari_id, make_atari_env
from pipezero.model import MuZeroConv


@pytest.mark.parametrize("size", [96, 84])
def test_preprocessed_observations(size):
    env = make_atari_env("ALE/Pong-v5", screen_size=size)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4, size, size) and obs.dtype == np.uint8
    assert env.action_space.n == 6  # Pong's minimal action set
    np.testing.assert_array_equal(obs[0], obs[3])  # a new episode stacks its first frame
    obs, *_ = env.step(0)
    assert obs.shape == (4, size, size)
    ale = env.unwrapped.ale
    assert ale.getFloat("repeat_action_probability") == pytest.approx(0.25)


def test_protocol_options_reach_the_emulator():
    env = make_atari_env("PongNoFrameskip-v4", full_action_space=True, sticky_action_prob=0.0)
    assert env.action_space.n == 18
    assert env.unwrapped.ale.getFloat("repeat_action_probability") == 0.0
    env = make_atari_env("ALE/Pong-v5", max_episode_frames=80)
    env.reset(seed=0)
    steps, truncated = 0, False
    while not truncated:
        *_, terminated, truncated, _ = env.step(0)
        steps += 1
        assert not terminated
    assert (80 - 30) // 4 <= steps <= 80 // 4  # no-op starts use up to 30 frames


def test_a_lost_life_ends_the_training_episode_but_not_the_game():
    env = make_atari_env("ALE/Breakout-v5", episode_life=True, sticky_action_prob=0.0)
    env.reset(seed=0)
    lives = env.unwrapped.ale.lives()
    rng = np.random.default_rng(0)
    for _ in range(2000):
        _, _, terminated, truncated, info = env.step(int(rng.integers(4)))
        if terminated or truncated:
            break
    assert terminated and not info["game_over"]
    assert env.unwrapped.ale.lives() == lives - 1
    env.reset()  # continues the game: the lives are not restored
    assert env.unwrapped.ale.lives() == lives - 1


def test_evaluation_env_plays_through_lost_lives():
    env = make_atari_env("ALE/Breakout-v5", episode_life=False, sticky_action_prob=0.0)
    env.reset(seed=0)
    lives = env.unwrapped.ale.lives()
    rng = np.random.default_rng(0)
    while env.unwrapped.ale.lives() == lives:
        _, _, terminated, _, _ = env.step(int(rng.integers(4)))
        assert not terminated


def test_batch_env_builds_ale_ids_and_factories():
    assert is_atari_id("ALE/Pong-v5") and is_atari_id("BreakoutNoFrameskip-v4")
    assert not is_atari_id("CartPole-v1")
    envs = BatchEnv.make("ALE/Pong-v5", 2, seed=0, screen_size=84)
    obs = envs.reset()
    assert obs.observation.shape == (2, 4, 84, 84) and obs.observation.dtype == np.float32
    assert obs.observation.max() > 1.0  # raw 0..255 values
    assert envs.obs_storage_dtype == np.uint8
    step = envs.step(np.zeros(2, dtype=np.int64))
    assert step.obs.observation.shape == (2, 4, 84, 84)
    built = BatchEnv.make(lambda: make_atari_env("ALE/Pong-v5", screen_size=84), 2, seed=0)
    assert built.observation_shape == (4, 84, 84)
    assert BatchEnv.make("CartPole-v1", 1).obs_storage_dtype == np.float32


def test_collected_pong_stacks_survive_the_frame_store():
    from atari_toy import record_segments

    env = make_atari_env("ALE/Pong-v5", max_episode_frames=400)
    segments, expected = record_segments(env, 250, 30, 2, 3, seed=1)
    buffer = FrameReplayBuffer(10_000, num_unroll_steps=2, td_steps=3)
    for seg in segments:
        buffer.push(seg)
    for seg, obs in zip(segments, expected, strict=True):
        np.testing.assert_array_equal(np.asarray(seg.obs), obs)


@pytest.mark.parametrize("size", [96, 84])
def test_conv_model_downsamples_frames_to_6x6(size):
    model = MuZeroConv((4, size, size), 6, num_channels=8, support_size=5, fc_hidden_sizes=(8,))
    out = model.initial_inference(torch.zeros(2, 4, size, size))
    assert out.latent.shape == (2, 8, 6, 6) and out.policy_logits.shape == (2, 6)
