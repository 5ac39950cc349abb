"""The contract between policies and the middleware that drive them.

Middleware (``env_collect``, ``offpolicy_learn``, ``interval_eval``, ``ckpt_saver``) only call
the methods of :class:`PolicyProtocol`; every algorithm's policy implements it. Shapes use
``N`` for the number of environments acting at once, ``A`` for actions, ``*O`` for the
observation shape and ``B`` for a training batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from pipezero.data.batch import Batch


@dataclass
class ActResult:
    """What a policy decided for ``N`` environments.

    Attributes:
        action: ``[N]`` int64 actions to take (``[N, D]`` float32 in ``[-1, 1]`` for
            continuous actions).
        visit_policy: ``[N, A]`` float32 search policy target (normalised visit counts, or the
            improved policy for Gumbel MuZero); stored in the game segment. ``[N, Ks]`` over
            the sampled actions for a sampled search.
        root_value: ``[N]`` float32 search value of each root, from the mover's view.
        predicted_value: ``[N]`` float32 value predicted by the network at the root (before
            search); ``|predicted - root_value|`` is the initial replay priority.
        sampled_actions: ``[N, Ks, *action_shape]`` actions a sampled search considered at
            each root (stored in the game segment), ``None`` for other searches.
    """

    action: np.ndarray
    visit_policy: np.ndarray
    root_value: np.ndarray
    predicted_value: np.ndarray
    sampled_actions: np.ndarray | None = None


@dataclass
class LearnResult:
    """Outcome of one gradient update.

    Attributes:
        info: scalar diagnostics for loggers (``total_loss``, ``value_loss``, ``lr``, ...).
        priorities: ``[B]`` new replay priorities of the sampled transitions, or ``None``.
        skipped: True when the update was not applied (non-finite loss); ``info`` says why.
    """

    info: dict[str, float] = field(default_factory=dict)
    priorities: np.ndarray | None = None
    skipped: bool = False


@runtime_checkable
class PolicyProtocol(Protocol):
    """What the standard middleware need from a policy."""

    def collect(
        self, obs: np.ndarray, action_mask: np.ndarray, to_play: np.ndarray, env_step: int
    ) -> ActResult:
        """Act for collection: search with root noise, sample by the visit-count temperature
        schedule at ``env_step``. ``obs [N, *O]``, ``action_mask [N, A]`` bool, ``to_play [N]``."""
        ...

    def evaluate(self, obs: np.ndarray, action_mask: np.ndarray, to_play: np.ndarray) -> ActResult:
        """Act for evaluation: search without noise, take the most visited action."""
        ...

    def learn(self, batch: Batch[np.ndarray]) -> LearnResult:
        """One gradient update on a batch sampled from the replay buffer."""
        ...

    def get_weights(self) -> Any:
        """A snapshot of the learner's weights, safe to hand to another thread or process."""
        ...

    def set_weights(self, weights: Any) -> None:
        """Load a snapshot from :meth:`get_weights` into the acting (collect/eval) model."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: models, target model, optimizer, schedules, RNGs."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`state_dict`."""
        ...
