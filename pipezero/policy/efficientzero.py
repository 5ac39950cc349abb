"""EfficientZero policy (Ye et al., 2021): MuZero plus value prefix and temporal consistency.

What changes from :class:`~pipezero.policy.muzero.MuZeroPolicy`:

- the search is :class:`~pipezero.mcts.EfficientZeroSearch` (rewards are differences of the
  predicted value prefix, whose LSTM restarts every ``lstm_horizon_len`` steps);
- the reward head is trained on *value prefixes*: running sums of the rewards that restart
  before unroll steps ``0, H, 2H, ...`` (``H = lstm_horizon_len``), and the LSTM state is
  reset at the same steps during the unroll;
- a self-supervised consistency loss (SimSiam): the latent reached after ``k`` dynamics steps,
  through the projection and prediction heads, is pulled towards the detached projection of
  the representation of the real observation ``k`` steps later; weight ``ssl_loss_weight``,
  masked after the episode's final observation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from pipezero.data import value_prefix_targets
from pipezero.data.batch import Batch
from pipezero.mcts import EfficientZeroSearch, MuZeroSearch
from pipezero.policy.efficientzero_config import EFFICIENTZERO_CONFIG
from pipezero.policy.muzero import MuZeroPolicy


class EfficientZeroPolicy(MuZeroPolicy):
    """EfficientZero acting and learning; arguments as :class:`MuZeroPolicy`, with a model
    that also predicts value prefixes and has consistency heads (e.g. ``EfficientZeroMLP``).
    The consistency loss is :class:`MuZeroPolicy`'s (``ssl_loss_weight``, 2 here)."""

    default_config: Mapping[str, Any] = EFFICIENTZERO_CONFIG["policy"]
    search_class: type[MuZeroSearch] = EfficientZeroSearch

    def __init__(self, cfg: Mapping[str, Any], model: torch.nn.Module, **kwargs: Any) -> None:
        if getattr(model, "consistency", None) is None:
            raise TypeError(
                f"EfficientZeroPolicy needs a model with consistency heads, such as "
                f"EfficientZeroMLP or EfficientZeroConv; got {type(model).__name__}"
            )
        super().__init__(cfg, model, **kwargs)
        if int(self.cfg.lstm_horizon_len) < 1:
            raise ValueError(
                f"lstm_horizon_len must be >= 1 for training, got {self.cfg.lstm_horizon_len!r}"
            )

    @property
    def needs_unroll_obs(self) -> bool:
        """Always: the consistency loss needs the observations along the unroll."""
        return True

    def reward_targets(self, batch: Batch[np.ndarray]) -> np.ndarray:
        """``[B, K]`` value-prefix targets of the stored rewards."""
        return value_prefix_targets(batch.rewards, int(self.cfg.lstm_horizon_len))

    def dynamics_hidden(self, step: int, hidden: Any) -> Any:
        """Reset the LSTM state (``None``) before unroll steps ``0, H, 2H, ...``."""
        return None if step % int(self.cfg.lstm_horizon_len) == 0 else hidden
