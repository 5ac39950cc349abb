"""Self-supervised temporal consistency (EfficientZero, Ye et al. 2021, section 4.1).

The latent predicted by unrolling the dynamics ``k`` steps is pushed towards the latent the
representation network produces from the real observation ``k`` steps later. As in SimSiam
(Chen & He 2021), both go through a projection head; the *online* branch (dynamics) also
goes through a prediction head, and the *target* branch (representation of the real
observation) is detached. The loss is the negative cosine similarity.

Usage in a loss (shapes ``[B, *L]``)::

    online = model.project(unrolled_latent, with_grad=True)  # projection + prediction head
    target = model.project(model.representation(next_obs), with_grad=False)  # detached
    consistency_loss = negative_cosine_similarity(online, target)  # [B]
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def negative_cosine_similarity(
    x1: torch.Tensor, x2: torch.Tensor, eps: float = 1e-8
) -> torch.Tensor:
    """``-cos(x1, x2)`` along the last dimension.

    Args:
        x1: ``[*, P]`` online projections (after the prediction head).
        x2: ``[*, P]`` target projections; detach them for the SimSiam stop-gradient.
        eps: floor on the norms.

    Returns:
        ``[*]`` values in ``[-1, 1]``; -1 when the vectors point the same way.
    """
    if x1.shape != x2.shape:
        raise ValueError(
            f"negative_cosine_similarity needs equal shapes, got {tuple(x1.shape)} and "
            f"{tuple(x2.shape)}; project both latents with the same model"
        )
    return -(F.normalize(x1, dim=-1, eps=eps) * F.normalize(x2, dim=-1, eps=eps)).sum(dim=-1)


class ProjectionHead(nn.Module):
    """SimSiam projection: ``[B, in_dim] -> [B, out_dim]``.

    Linear -> BatchNorm -> ReLU -> Linear -> BatchNorm -> ReLU -> Linear -> BatchNorm.
    Batch normalisation needs ``B > 1`` in training mode.
    """

    def __init__(self, in_dim: int, hidden_dim: int = 256, out_dim: int = 256) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden_dim),
            nn.BatchNorm1d(hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, hidden_dim),
            nn.BatchNorm1d(hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, out_dim),
            nn.BatchNorm1d(out_dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, in_dim] -> [B, out_dim]``."""
        return self.net(x)


class PredictionHead(nn.Module):
    """SimSiam predictor on the online branch: ``[B, dim] -> [B, dim]``.

    Linear -> BatchNorm -> ReLU -> Linear (a bottleneck of ``hidden_dim``).
    """

    def __init__(self, dim: int = 256, hidden_dim: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, hidden_dim),
            nn.BatchNorm1d(hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, dim] -> [B, dim]``."""
        return self.net(x)


class ConsistencyHeads(nn.Module):
    """Projection and prediction heads over flattened latents.

    Args:
        latent_numel: number of elements of one latent (``D`` or ``C * H * W``).
        projection_hidden_dim: hidden width of the projection head.
        projection_dim: ``P``, output width of the projection (and prediction) head.
        prediction_hidden_dim: bottleneck of the prediction head.
    """

    def __init__(
        self,
        latent_numel: int,
        projection_hidden_dim: int = 256,
        projection_dim: int = 256,
        prediction_hidden_dim: int = 64,
    ) -> None:
        super().__init__()
        self.projection = ProjectionHead(latent_numel, projection_hidden_dim, projection_dim)
        self.prediction = PredictionHead(projection_dim, prediction_hidden_dim)

    def forward(self, latent: torch.Tensor, with_grad: bool = True) -> torch.Tensor:
        """Project latents ``[B, *L]`` to ``[B, P]``.

        Args:
            latent: ``[B, *L]`` latent states (flattened here).
            with_grad: ``True`` for the online branch (projection + prediction head, keeps
                the graph); ``False`` for the target branch (projection only, detached).
        """
        x = latent.reshape(latent.shape[0], -1)
        if with_grad:
            return self.prediction(self.projection(x))
        with torch.no_grad():
            return self.projection(x).detach()
