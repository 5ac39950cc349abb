"""Default configuration of a UniZero experiment: MuZero's run, search, replay and optimiser
keys, a transformer world model, segment collection and periodic buffer reanalysis.

What differs from :mod:`pipezero.policy.muzero_config` (LightZero's names where it has them):

- ``model``: keyword arguments of :class:`~pipezero.model.unizero.UniZeroModel` (encoder,
  ``latent_dim``, ``num_layers``, ``num_heads``, ``context_length`` in tokens, ...);
- ``num_segments``: ``env_collect`` returns once this many game segments are finished instead
  of after ``collect_env_steps`` batched steps (``None``: the step count rules);
- ``latent_loss_weight``: weight of the next-latent loss (the world model's observation loss);
- ``target_update_type`` is ``"soft"`` with ``target_update_theta``: the target world model
  follows the learner by Polyak averaging after every update;
- ``buffer_reanalyze_freq``, ``reanalyze_partition``, ``reanalyze_batch_size``: the schedule
  of the ``buffer_reanalyze`` middleware (passes per collect over the oldest part of the
  buffer); with ``collect_with_pure_policy`` (MuZero's key) it reanalyses new segments at once;
- MuZero's ``dynamics_gradient_scale`` is gone: there is no recurrent unroll to scale.
"""

from __future__ import annotations

import copy
from typing import Any

from easydict import EasyDict

from pipezero.config import merge_config
from pipezero.policy.muzero_config import MUZERO_CONFIG

_policy = copy.deepcopy(MUZERO_CONFIG["policy"])
del _policy["dynamics_gradient_scale"]
_policy["model"] = {
    "encoder": "mlp",  # "mlp" for vector observations, "conv" for stacked frames
    "latent_dim": 64,
    "num_layers": 2,
    "num_heads": 2,
    "context_length": 12,  # tokens (2 per environment step) in every KV cache
    "mlp_ratio": 2,
    "dropout": 0.0,
    "support_size": 20,
    "reward_support_size": 5,
    "head_hidden_dim": 64,
    "encoder_hidden_dim": 128,
    "encoder_layers": 1,
    "activation": "gelu",
    "num_channels": 32,  # conv encoder only
    "num_res_blocks": 1,
    "downsample": True,
    "obs_scale": 1.0,
}
_policy.update(
    {
        "num_segments": None,
        "latent_loss_weight": 2.0,
        "target_update_type": "soft",
        "target_update_theta": 0.05,
        "learning_rate": 1e-3,
        "weight_decay": 1e-4,
        "buffer_reanalyze_freq": 0.5,
        "reanalyze_partition": 0.75,
        "reanalyze_batch_size": 32,
    }
)

UNIZERO_CONFIG: EasyDict = EasyDict(
    {**copy.deepcopy(MUZERO_CONFIG), "exp_dir": "runs/unizero", "policy": _policy}
)


def unizero_config(overrides: dict[str, Any] | None = None) -> EasyDict:
    """The UniZero defaults merged with ``overrides`` (validated)."""
    return merge_config(UNIZERO_CONFIG, overrides)


#: UniZero on Atari (Pong by default): conv encoder with the stride-16 stem on 96x96 frames,
#: LightZero's UniZero Atari schedule (segments of 400 steps, 8 per collect, unrolls of 10,
#: reanalysis of the oldest 75% of the buffer every 50 collects). The ``env`` section also takes
#: the options of :func:`pipezero.envs.atari.make_atari_env`; ``episode_life`` and
#: ``clip_rewards`` apply to the collector environments only.
UNIZERO_ATARI_CONFIG: EasyDict = merge_config(
    UNIZERO_CONFIG, {"exp_dir": "runs/unizero_atari", "max_env_step": 100_000}
)
UNIZERO_ATARI_CONFIG["env"] = {
    "env_id": "ALE/Pong-v5",
    "collector_env_num": 8,
    "evaluator_env_num": 3,
    "screen_size": 96,
    "frame_stack": 4,
    "frame_skip": 4,
    "noop_max": 30,
    "sticky_action_prob": 0.25,
    "full_action_space": False,
    "max_episode_frames": 108_000,
    "episode_life": True,
    "clip_rewards": True,
}
UNIZERO_ATARI_CONFIG.policy.model.update(
    {
        "encoder": "conv",
        "latent_dim": 128,
        "num_layers": 2,
        "num_heads": 4,
        "context_length": 22,  # a whole training window: z_0, a_0, ..., z_10
        "support_size": 300,
        "reward_support_size": 10,  # clipped rewards
        "head_hidden_dim": 128,
        "num_channels": 64,
        "num_res_blocks": 1,
        "downsample": True,
        "obs_scale": 1.0 / 255.0,
    }
)
UNIZERO_ATARI_CONFIG.policy.update(
    {
        "num_simulations": 50,
        "game_segment_length": 400,
        "num_segments": 8,
        "td_steps": 5,
        "num_unroll_steps": 10,
        "batch_size": 64,
        "replay_ratio": 0.25,
        "min_buffer_transitions": 2_000,
        "optim_type": "AdamW",
        "learning_rate": 1e-4,
        "eval_freq": 2_000,
        "n_evaluator_episode": 3,
        "stop_value": 20.0,  # Pong's maximum is 21
        "manual_temperature_decay": True,
        "threshold_env_steps_for_final_temperature": 100_000,
        "buffer_reanalyze_freq": 1 / 50,
        "reanalyze_partition": 0.75,
        "reanalyze_batch_size": 16,
    }
)
UNIZERO_ATARI_CONFIG = EasyDict(UNIZERO_ATARI_CONFIG)


def unizero_atari_config(overrides: dict[str, Any] | None = None) -> EasyDict:
    """The UniZero Atari defaults merged with ``overrides`` (validated)."""
    return merge_config(UNIZERO_ATARI_CONFIG, overrides)
