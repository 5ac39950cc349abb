"""Default configuration of a ReZero experiment: the MuZero defaults plus whole-buffer
reanalysis (``buffer_reanalyze``) with backward-view reuse.

New policy keys (LightZero's names where it has them):

- ``reuse_search``: ReZero's backward-view reuse during buffer reanalysis; ``False`` searches
  every position in full (MuZero with the same reanalysis budget).
- ``collect_with_pure_policy`` (MuZero's key) is where ReZero's reanalysis matters most: the
  stored targets then come from reanalysis (new segments are reanalysed in the step that
  collected them).
- ``buffer_reanalyze_freq``: reanalysis passes per collect (per ``env_collect`` call);
  a fraction ``1/k`` means one pass every ``k`` collects.
- ``reanalyze_batch_size``: segments (windows) searched together in one pass; the passes
  walk the buffer from its oldest segment to its newest and start over.
- ``reanalyze_partition``: only the oldest ``reanalyze_partition`` of the buffer's segments
  take part in the walk (1.0: all of them).
"""

from __future__ import annotations

from typing import Any

from easydict import EasyDict

from pipezero.config import merge_config
from pipezero.policy.muzero_config import MUZERO_CONFIG

REZERO_CONFIG: dict[str, Any] = merge_config(MUZERO_CONFIG, {"exp_dir": "runs/rezero"})
REZERO_CONFIG["policy"].update(
    {
        "reuse_search": True,
        "buffer_reanalyze_freq": 1.0,
        "reanalyze_batch_size": 64,
        "reanalyze_partition": 1.0,
    }
)
REZERO_CONFIG = EasyDict(REZERO_CONFIG)


def rezero_config(overrides: dict[str, Any] | None = None) -> EasyDict:
    """The ReZero defaults merged with ``overrides`` (validated)."""
    return merge_config(REZERO_CONFIG, overrides)


#: ReZero on Atari (Pong by default): conv/residual MuZero with a stride-16 stem on 96x96
#: frames, LightZero's Atari sizes. The ``env`` section also takes the options of
#: :func:`pipezero.envs.atari.make_atari_env`; ``episode_life`` and ``clip_rewards`` apply to
#: the collector environments only (evaluation plays whole games with raw scores).
REZERO_ATARI_CONFIG: dict[str, Any] = merge_config(
    REZERO_CONFIG,
    {
        "exp_dir": "runs/rezero_atari",
        "max_env_step": 100_000,  # the Atari 100k budget
    },
)
REZERO_ATARI_CONFIG["env"] = {
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
REZERO_ATARI_CONFIG["policy"]["model"] = {
    "num_channels": 64,
    "num_res_blocks": 1,
    "downsample": True,
    "support_size": 300,
    "reward_support_size": 300,
    "reward_head_channels": 16,
    "value_head_channels": 16,
    "policy_head_channels": 16,
    "fc_hidden_sizes": [32],
    "latent_norm": "minmax",
    "activation": "relu",
}
REZERO_ATARI_CONFIG["policy"].update(
    {
        "num_simulations": 50,
        "game_segment_length": 400,
        "collect_env_steps": 50,  # batched steps per collect (x collector_env_num)
        "td_steps": 5,
        "num_unroll_steps": 5,
        "batch_size": 256,
        "replay_ratio": 0.25,
        "min_buffer_transitions": 2_000,
        "optim_type": "SGD",
        "learning_rate": 0.2,
        "lr_schedule": "linear",
        "lr_decay_iters": 100_000,
        "lr_final_ratio": 0.1,
        "value_loss_weight": 0.25,
        "eval_freq": 2_000,
        "n_evaluator_episode": 3,
        "stop_value": 20.0,  # Pong's maximum is 21
        "manual_temperature_decay": True,
        "threshold_env_steps_for_final_temperature": 100_000,
        "reanalyze_batch_size": 32,  # segments of 400 positions per pass
        "buffer_reanalyze_freq": 0.25,  # one pass every 4 collects
    }
)
REZERO_ATARI_CONFIG = EasyDict(REZERO_ATARI_CONFIG)


def rezero_atari_config(overrides: dict[str, Any] | None = None) -> EasyDict:
    """The ReZero Atari defaults merged with ``overrides`` (validated)."""
    return merge_config(REZERO_ATARI_CONFIG, overrides)
