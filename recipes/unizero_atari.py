"""UniZero on Atari (Pong by default): transformer world model with KV-cached search.

    pipezero train unizero_atari --device cuda --env-id ALE/Breakout-v5   # default: Pong
    pipezero train unizero_atari --smoke     # every part of the loop in ~10 s on a CPU
    pipezero eval runs/unizero_atari/RUN --episodes 8

The chain, environments, frame-store buffer and result line of :mod:`rezero_atari`
(:func:`~pipezero.recipes.rezero_atari.build`) with UniZero's conv-encoder world model and
policy: ``env_collect`` gathers ``num_segments`` whole segments per call and
``buffer_reanalyze`` refreshes the oldest 75 % of the buffer every 50 collects.
"""

from __future__ import annotations

from functools import partial

from pipezero.recipes.rezero_atari import ATARI_SMOKE, SCALE_OUT  # noqa: F401
from pipezero.recipes.rezero_atari import build as build_atari
from pipezero.recipes.rezero_atari import summary as summary

from pipezero.model.unizero import UniZeroModel
from pipezero.policy.unizero import UniZeroPolicy
from pipezero.policy.unizero_config import unizero_atari_config
from pipezero.recipe import main

CONFIG = unizero_atari_config({"save_freq": 10_000})
#: ``--smoke``: ``rezero_atari``'s Atari smoke settings with a tiny transformer.
SMOKE = ATARI_SMOKE | {
    "max_env_step": 320,
    "env.evaluator_env_num": 1,
    "policy.model.latent_dim": 32,
    "policy.model.num_layers": 1,
    "policy.model.num_heads": 2,
    "policy.model.context_length": 6,
    "policy.model.head_hidden_dim": 32,
    "policy.num_segments": 4,
    "policy.td_steps": 3,
    "policy.num_unroll_steps": 2,
    "policy.min_buffer_transitions": 80,
    "policy.eval_freq": 4,
    "policy.n_evaluator_episode": 1,
    "policy.buffer_reanalyze_freq": 1.0,
}
build = partial(build_atari, policy_class=UniZeroPolicy, model_class=UniZeroModel)

if __name__ == "__main__":
    main(__file__)
