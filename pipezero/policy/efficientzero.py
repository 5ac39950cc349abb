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
from pipezero.data.transfer import DeviceBatch
from pipezero.mcts import EfficientZeroSearch, MuZeroSearch
from pipezero.model.consistency import negative_cosine_similarity
from pipezero.policy.efficientzero_config import EFFICIENTZERO_CONFIG
from pipezero.policy.losses import unroll_step_weights
from pipezero.policy.muzero import MuZeroPolicy, Unroll
from pipezero.policy.targets import UnrollTargets


class EfficientZeroPolicy(MuZeroPolicy):
    """EfficientZero acting and learning; arguments as :class:`MuZeroPolicy`, with a model
    that also has ``project(latent, with_grad)`` (e.g. ``EfficientZeroMLP``)."""

    default_config: Mapping[str, Any] = EFFICIENTZERO_CONFIG["policy"]
    search_class: type[MuZeroSearch] = EfficientZeroSearch

    def __init__(self, cfg: Mapping[str, Any], model: torch.nn.Module, **kwargs: Any) -> None:
        if not hasattr(model, "project"):
            raise TypeError(
                f"EfficientZeroPolicy needs a model with consistency heads (project()), such "
                f"as EfficientZeroMLP; got {type(model).__name__}"
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

    def losses(
        self, unroll: Unroll, targets: UnrollTargets, batch: DeviceBatch
    ) -> dict[str, torch.Tensor]:
        """MuZero's losses plus ``consistency_loss`` ``[B]`` weighted by ``ssl_loss_weight``."""
        out = super().losses(unroll, targets, batch)
        k = unroll.reward_logits.shape[1]
        weight = float(self.cfg.ssl_loss_weight)
        if k == 0 or weight == 0.0:
            return out
        if batch.tensors.unroll_obs is None:
            raise ValueError(
                "EfficientZero's consistency loss needs the observations along the unroll; "
                "sample the batch with ReplayBuffer.sample(..., with_unroll_obs=True)"
            )
        b = unroll.latents.shape[0]
        next_obs = batch.tensors.unroll_obs.float()
        mask = batch.tensors.unroll_obs_mask.float()
        with torch.no_grad():
            target = self.model.project(
                self.model.representation(next_obs.flatten(0, 1)), with_grad=False
            )
        online = self.model.project(unroll.latents[:, 1:].flatten(0, 1), with_grad=True)
        similarity = negative_cosine_similarity(online.float(), target.float()).view(b, k)
        w = unroll_step_weights(k, self.device)[1:]
        out["consistency_loss"] = (similarity * mask * w).sum(1)
        out["per_sample"] = out["per_sample"] + weight * out["consistency_loss"]
        return out
