"""Build the policy and the replay buffer of a MuZero-family run from its config.

The MuZero-family recipes (``recipes/muzero_cartpole.py`` and those reusing its chain,
``recipes/muzero_tictactoe.py``, ``recipes/rezero_atari.py``,
``recipes/sampled_efficientzero_pendulum.py``) call :func:`build_muzero` and then list their
middleware, as the AlphaZero recipes call :func:`pipezero.policy.alphazero_build.build_alphazero`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from pipezero.data import ReplayBuffer
from pipezero.model import MuZeroMLP
from pipezero.policy.muzero import MuZeroPolicy


def build_muzero(
    cfg: Mapping[str, Any],
    envs: Any,
    policy_class: Callable[..., Any] = MuZeroPolicy,
    model_class: Callable[..., Any] = MuZeroMLP,
    buffer_class: type[ReplayBuffer] = ReplayBuffer,
    *,
    device: str = "cpu",
) -> tuple[Any, ReplayBuffer]:
    """``(policy, buffer)`` of ``cfg`` (a full config: ``seed``, ``policy``): the policy over a
    ``model_class`` network sized for ``envs`` (a :class:`~pipezero.envs.BatchEnv`; its
    ``action_dim`` for continuous actions, else its ``action_space_size``) with
    ``cfg.policy.model``, on ``device``; the buffer of ``buffer_class.from_config``. Both are
    seeded ``cfg.seed``; the model is built first (it draws its initial weights from torch's
    global generator). A ``model_class`` whose ``continuous_from_env`` is true (Sampled
    EfficientZero's) also gets ``continuous_action_space=envs.continuous``."""
    p, seed = cfg["policy"], cfg["seed"]
    actions = envs.action_dim if envs.continuous else envs.action_space_size
    kwargs = dict(p["model"])
    if getattr(model_class, "continuous_from_env", False):
        kwargs["continuous_action_space"] = bool(envs.continuous)
    if float(p.get("ssl_loss_weight", 0) or 0) > 0 and _takes(model_class, "consistency_heads"):
        kwargs.setdefault("consistency_heads", True)  # the heads the consistency loss trains
    model = model_class(envs.observation_shape, actions, **kwargs)
    policy = policy_class(p, model, seed=seed, device=device)
    return policy, buffer_class.from_config(p, seed=seed)


def _takes(model_class: Callable[..., Any], name: str) -> bool:
    """Whether ``model_class(...)`` has a keyword ``name``."""
    try:
        return name in inspect.signature(model_class).parameters
    except (TypeError, ValueError):
        return False
