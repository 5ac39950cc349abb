"""MuZero with fully connected networks, for vector observations (CartPole, LunarLander, ...).

Three functions, as in the MuZero paper:

- representation ``h``: observation ``[B, *O]`` -> latent ``[B, D]``;
- dynamics ``g``: (latent ``[B, D]``, action ``[B]``) -> next latent ``[B, D]`` and reward
  logits ``[B, 2S_r + 1]``;
- prediction ``f``: latent ``[B, D]`` -> policy logits ``[B, A]`` and value logits
  ``[B, 2S + 1]``.

The forward pass is kept lean because the tree search calls :meth:`recurrent_inference` once
per simulation:

- the one-hot action is never built: concatenating a one-hot to the latent before a linear
  layer equals adding one column of that layer's weight, so the action enters as an
  embedding row added to the latent projection;
- the dynamics trunk produces the next latent and the reward logits with one matmul, and the
  prediction trunk produces the policy and value logits with one matmul;
- latents are normalised with a parameter-free LayerNorm (one fused kernel) by default;
  ``latent_norm="minmax"`` gives MuZero's per-sample rescale to ``[0, 1]``;
- the dynamics are residual (``next = norm(latent + delta)``), which keeps gradients healthy
  through the unroll.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from pipezero.model.base import MuZeroNetwork
from pipezero.model.common import LatentNorm, as_shape, check_positive_int, make_activation
from pipezero.model.consistency import ConsistencyHeads
from pipezero.model.support import DiscreteSupport


def _trunk(in_dim: int, hidden_dim: int, num_layers: int, activation: str) -> nn.Sequential:
    """``num_layers`` x (Linear -> activation), the first taking ``in_dim`` inputs."""
    layers: list[nn.Module] = []
    for i in range(num_layers):
        layers += [nn.Linear(in_dim if i == 0 else hidden_dim, hidden_dim)]
        layers += [make_activation(activation)]
    return nn.Sequential(*layers)


def _run_layers(layers: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """``layers(x)`` calling each layer's ``forward`` directly.

    The search calls the dynamics and prediction functions once per simulation on a few
    dozen latents, where ``Module.__call__`` (hook dispatch) costs about as much as a small
    layer's arithmetic; the MLP's hot path therefore calls ``forward`` itself. Module hooks
    registered on these layers do not run on that path (hooks on the model itself still do).
    """
    for layer in layers:
        x = layer.forward(x)
    return x


class MuZeroMLP(MuZeroNetwork):
    """MuZero model with MLP representation, dynamics and prediction functions.

    Args:
        observation_shape: ``*O``, e.g. ``4`` or ``(4,)`` for CartPole; observations are
            flattened, so any shape works.
        action_space_size: ``A``, the number of discrete actions.
        latent_dim: ``D``, size of the latent state.
        hidden_dim: width of every hidden layer.
        support_size: ``S`` of the value support (``2S + 1`` bins); see
            :class:`~pipezero.model.support.DiscreteSupport`.
        reward_support_size: ``S_r`` of the reward support; defaults to ``support_size``.
        num_hidden_layers: hidden layers in each of the three functions (>= 1).
        latent_norm: ``"layernorm"`` (default), ``"minmax"`` or ``"none"``.
        activation: name of the hidden activation (``"relu"``, ``"elu"``, ``"gelu"``, ...).
        consistency_heads: add EfficientZero's self-supervised consistency heads
            (:class:`~pipezero.model.consistency.ConsistencyHeads`, reached by :meth:`project`),
            which :class:`~pipezero.policy.MuZeroPolicy` trains when ``ssl_loss_weight > 0``
            (LightZero's ``self_supervised_learning_loss`` for MuZero). They take no part in
            acting: the search never calls them.
        projection_hidden_dim: hidden width of the projection head (with the heads).
        projection_dim: output width of the projection and prediction heads (with the heads).
        prediction_hidden_dim: bottleneck of the prediction head (with the heads).

    Example:
        >>> model = MuZeroMLP(observation_shape=4, action_space_size=2, support_size=10)
        >>> out = model.initial_inference(torch.zeros(8, 4))
        >>> out.latent.shape, out.policy_logits.shape, out.value.shape
        (torch.Size([8, 128]), torch.Size([8, 2]), torch.Size([8]))
        >>> out = model.recurrent_inference(out.latent, torch.zeros(8, dtype=torch.long))
    """

    #: False in subclasses that predict rewards elsewhere (EfficientZero's value prefix).
    _reward_from_dynamics_trunk: ClassVar[bool] = True

    def __init__(
        self,
        observation_shape: int | Sequence[int],
        action_space_size: int,
        latent_dim: int = 128,
        hidden_dim: int = 128,
        support_size: int = 300,
        reward_support_size: int | None = None,
        num_hidden_layers: int = 1,
        latent_norm: str = "layernorm",
        activation: str = "relu",
        consistency_heads: bool = False,
        projection_hidden_dim: int = 256,
        projection_dim: int = 256,
        prediction_hidden_dim: int = 64,
    ) -> None:
        super().__init__()
        self.observation_shape = as_shape("observation_shape", observation_shape)
        self.action_space_size = check_positive_int("action_space_size", action_space_size)
        self.latent_dim = check_positive_int("latent_dim", latent_dim)
        check_positive_int("hidden_dim", hidden_dim)
        check_positive_int("num_hidden_layers", num_hidden_layers)
        self.value_support = DiscreteSupport(support_size)
        self.reward_support = DiscreteSupport(
            support_size if reward_support_size is None else reward_support_size
        )
        obs_dim = 1
        for d in self.observation_shape:
            obs_dim *= d
        n_value = self.value_support.size
        n_reward = self.reward_support.size

        # representation: obs -> latent
        self.repr_trunk = _trunk(obs_dim, hidden_dim, num_hidden_layers, activation)
        self.repr_out = nn.Linear(hidden_dim, latent_dim)
        self.latent_norm = LatentNorm((latent_dim,), latent_norm)

        # dynamics: Linear(concat(latent, one_hot(a))) == latent_in(latent) + action_embed[a]
        self.dyn_latent_in = nn.Linear(latent_dim, hidden_dim)
        self.dyn_action_embed = nn.Embedding(self.action_space_size, hidden_dim)
        self.dyn_act = make_activation(activation)
        self.dyn_trunk = _trunk(hidden_dim, hidden_dim, num_hidden_layers - 1, activation)
        # [delta latent | reward logits]; EfficientZero predicts rewards elsewhere.
        reward_bins = n_reward if self._reward_from_dynamics_trunk else 0
        self.dyn_out = nn.Linear(hidden_dim, latent_dim + reward_bins)

        # prediction: latent -> [policy logits | value logits]
        self.pred_trunk = _trunk(latent_dim, hidden_dim, num_hidden_layers, activation)
        self.pred_out = nn.Linear(hidden_dim, self.action_space_size + n_value)

        # Start with a neutral value/reward and a uniform policy: zero the output heads.
        nn.init.zeros_(self.pred_out.weight)
        nn.init.zeros_(self.pred_out.bias)
        nn.init.zeros_(self.dyn_out.weight[latent_dim:])
        nn.init.zeros_(self.dyn_out.bias[latent_dim:])
        # last, so that the other weights are drawn as without them
        self.consistency: ConsistencyHeads | None = None
        if consistency_heads:
            self.consistency = ConsistencyHeads(
                latent_dim, projection_hidden_dim, projection_dim, prediction_hidden_dim
            )

    # -- the three functions -------------------------------------------------------------

    def representation(self, obs: torch.Tensor) -> torch.Tensor:
        """Encode observations ``[B, *O]`` into normalised latents ``[B, D]``."""
        x = obs.reshape(obs.shape[0], -1)
        if x.dtype != torch.float32:
            x = x.float()
        return self.latent_norm(self.repr_out(self.repr_trunk(x)))

    def dynamics(
        self, latent: torch.Tensor, action: torch.Tensor, hidden: Any = None
    ) -> tuple[torch.Tensor, torch.Tensor, Any]:
        """Apply one step of the learned dynamics.

        Args:
            latent: ``[B, D]`` latent states.
            action: ``[B]`` (or ``[B, 1]``) int64 action indices in ``[0, A)``.
            hidden: recurrent reward state; unused by MuZero (see EfficientZero).

        Returns:
            ``(next_latent [B, D], reward_logits [B, 2S_r + 1], None)``.
        """
        return (*self._transition(latent, action), None)

    def _transition(
        self, latent: torch.Tensor, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Next latent ``[B, D]`` and the rest of the dynamics output (reward logits)."""
        # forward() is called directly on the hot path (see _run_layers)
        x = self.dyn_latent_in.forward(latent)
        x += self.dyn_action_embed.forward(action.reshape(-1))
        out = self.dyn_out.forward(_run_layers(self.dyn_trunk, self.dyn_act.forward(x)))
        d = self.latent_dim
        return self.latent_norm.forward(latent + out[:, :d]), out[:, d:]

    def prediction(self, latent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Map latents ``[B, D]`` to ``(policy_logits [B, A], value_logits [B, 2S + 1])``."""
        out = self.pred_out.forward(_run_layers(self.pred_trunk, latent))
        a = self.action_space_size
        return out[:, :a], out[:, a:]

    def project(self, latent: torch.Tensor, with_grad: bool = True) -> torch.Tensor:
        """Consistency projection ``[B, D] -> [B, P]`` (see
        :class:`~pipezero.model.consistency.ConsistencyHeads`); needs the heads."""
        if self.consistency is None:
            raise RuntimeError(
                f"{type(self).__name__} was built without consistency heads; build it with "
                f"consistency_heads=True (policy.model.consistency_heads=true)"
            )
        return self.consistency(latent, with_grad)
