"""UniZero world model: a transformer over interleaved latent-state and action tokens.

UniZero (Pu et al., 2024) replaces MuZero's recurrent dynamics by one causal transformer that
reads the sequence ``z_0, a_0, z_1, a_1, ...`` (``z_t`` the latent of an observation, ``a_t``
the embedded action):

- at a latent token ``z_t`` it predicts the policy and the value of that state;
- at an action token ``a_t`` it predicts the reward of the transition and the next latent
  ``z_{t+1}``.

Training is teacher-forced (:meth:`UniZeroModel.forward_sequence`): the latent tokens are the
encoder's latents of the real observations, all positions in one pass. Acting and the tree
search run the same network one token at a time with a rolling KV cache of
``context_length`` tokens (:class:`~pipezero.model.unizero.transformer.KVWindow`).

The search keeps one state per tree node and calls ``recurrent_inference`` once per simulation
(:mod:`pipezero.mcts`). For this model the state of a node is its KV window: the keys and
values of the last ``context_length`` tokens that lead to it (the environment's real history
at the root, then the actions and predicted latents along the tree path), plus its latent and
its token count, packed into one row of ``state_size`` floats. ``NetworkOutput.latent`` is
that packed row; :meth:`UniZeroModel.unpack_state` reads it back. A recurrent inference thus
feeds two tokens (the action, then the predicted next latent) through the cached window,
never the whole path.

Values and rewards are categorical over :class:`~pipezero.model.support.DiscreteSupport`, as
in the other MuZero-family models.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pipezero.model.common import check_positive_int, mlp
from pipezero.model.protocol import NetworkOutput
from pipezero.model.support import DiscreteSupport, decode_value_and_reward
from pipezero.model.unizero.encoders import ConvEncoder, MLPEncoder
from pipezero.model.unizero.transformer import KVWindow, WindowTransformer

ENCODERS = ("mlp", "conv")


@dataclass
class SequenceOutput:
    """Teacher-forced predictions along ``K + 1`` latent and ``K`` action tokens.

    Attributes:
        policy_logits: ``[B, K + 1, A]`` at the latent tokens.
        value_logits: ``[B, K + 1, 2S + 1]`` at the latent tokens.
        reward_logits: ``[B, K, 2S_r + 1]`` at the action tokens.
        next_latents: ``[B, K, D]`` predicted latents of the next observations (normalised).
    """

    policy_logits: torch.Tensor
    value_logits: torch.Tensor
    reward_logits: torch.Tensor
    next_latents: torch.Tensor


class UniZeroModel(nn.Module):
    """Transformer world model with reward, value, policy and next-latent heads.

    Args:
        observation_shape: ``*O``: ``(4,)`` for CartPole, ``(C, H, W)`` for stacked frames.
        action_space_size: ``A``.
        encoder: ``"mlp"`` (vector observations) or ``"conv"`` (images, downsampled).
        latent_dim: ``D``, width of latents and tokens.
        num_layers: transformer blocks.
        num_heads: attention heads (``D / num_heads`` must be even).
        context_length: ``W``, tokens each token attends to, and the size of the KV caches
            (2 tokens per environment step).
        mlp_ratio: width of the block MLPs in units of ``D``.
        dropout: dropout on the residual branches while training.
        support_size: ``S`` of the value support.
        reward_support_size: ``S_r`` of the reward support (default ``support_size``).
        head_hidden_dim: hidden width of the four prediction heads.
        encoder_hidden_dim, encoder_layers, activation: MLP encoder sizes.
        num_channels, num_res_blocks, downsample, obs_scale: conv encoder settings (see
            :class:`~pipezero.model.unizero.encoders.ConvEncoder`).

    Example:
        >>> model = UniZeroModel(4, 2, latent_dim=32, num_heads=2, context_length=8)
        >>> root = model.initial_inference(torch.zeros(3, 4))   # root.latent: [3, state_size]
        >>> out = model.recurrent_inference(root.latent, torch.zeros(3, dtype=torch.long))
        >>> out.value.shape, out.reward.shape, out.policy_logits.shape
        (torch.Size([3]), torch.Size([3]), torch.Size([3, 2]))
    """

    def __init__(
        self,
        observation_shape: int | Sequence[int],
        action_space_size: int,
        encoder: str = "mlp",
        latent_dim: int = 64,
        num_layers: int = 2,
        num_heads: int = 2,
        context_length: int = 12,
        mlp_ratio: int = 2,
        dropout: float = 0.0,
        support_size: int = 20,
        reward_support_size: int | None = None,
        head_hidden_dim: int = 64,
        encoder_hidden_dim: int = 128,
        encoder_layers: int = 1,
        activation: str = "gelu",
        num_channels: int = 32,
        num_res_blocks: int = 1,
        downsample: bool = True,
        obs_scale: float = 1.0,
    ) -> None:
        super().__init__()
        self.action_space_size = check_positive_int("action_space_size", action_space_size)
        self.latent_dim = check_positive_int("latent_dim", latent_dim)
        if encoder == "mlp":
            self.encoder: nn.Module = MLPEncoder(
                observation_shape, latent_dim, encoder_hidden_dim, encoder_layers, activation
            )
        elif encoder == "conv":
            self.encoder = ConvEncoder(
                observation_shape, latent_dim, num_channels, num_res_blocks, downsample, obs_scale
            )
        else:
            raise ValueError(
                f"encoder must be one of {ENCODERS} ('mlp' for vectors, 'conv' for images), "
                f"got {encoder!r}"
            )
        self.value_support = DiscreteSupport(support_size)
        self.reward_support = DiscreteSupport(
            support_size if reward_support_size is None else reward_support_size
        )
        self.transformer = WindowTransformer(
            latent_dim, num_layers, num_heads, context_length, mlp_ratio, dropout
        )
        self.action_embed = nn.Embedding(self.action_space_size, latent_dim)
        hidden = (check_positive_int("head_hidden_dim", head_hidden_dim),)
        self.policy_head = mlp(latent_dim, hidden, self.action_space_size, "gelu", True)
        self.value_head = mlp(latent_dim, hidden, self.value_support.size, "gelu", True)
        self.reward_head = mlp(latent_dim, hidden, self.reward_support.size, "gelu", True)
        self.latent_head = mlp(latent_dim, hidden, latent_dim, "gelu")
        t = self.transformer
        self._kv_size = t.num_layers * 2 * t.context_length * t.embed_dim
        #: Floats per packed search state: KV window, latent, token count.
        self.state_size = self._kv_size + latent_dim + 1

    @property
    def context_length(self) -> int:
        """``W``: tokens in every KV window."""
        return self.transformer.context_length

    # -- pieces ----------------------------------------------------------------------------

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        """Observations ``[B, *O]`` -> normalised latents ``[B, D]``."""
        return self.encoder(obs)

    def next_latent(self, action_out: torch.Tensor) -> torch.Tensor:
        """Normalised next-latent prediction from transformer outputs at action tokens."""
        return F.layer_norm(self.latent_head(action_out), (self.latent_dim,))

    def empty_window(self, batch_size: int, like: torch.Tensor) -> KVWindow:
        """KV windows of ``batch_size`` streams with no history."""
        return self.transformer.empty_window(batch_size, like)

    def pack_state(self, window: KVWindow, latent: torch.Tensor) -> torch.Tensor:
        """``(window, latent [B, D])`` -> ``[B, state_size]`` search states."""
        b = latent.shape[0]
        count = window.count.to(latent.dtype).unsqueeze(1)
        return torch.cat((window.kv.reshape(b, -1), latent, count), dim=1)

    def unpack_state(self, state: torch.Tensor) -> tuple[KVWindow, torch.Tensor]:
        """``[B, state_size]`` -> ``(window, latent [B, D])`` (views into ``state``)."""
        if state.dim() != 2 or state.shape[1] != self.state_size:
            raise ValueError(
                f"UniZero search states have shape [B, {self.state_size}] (KV window, latent, "
                f"count), got {list(state.shape)}; pass the latent of this model's "
                "initial_inference / recurrent_inference"
            )
        t = self.transformer
        b, n = state.shape[0], self._kv_size
        kv = state[:, :n].view(b, t.num_layers, 2, t.context_length, t.num_heads, t.head_dim)
        latent = state[:, n : n + self.latent_dim]
        count = state[:, -1].round().long()
        return KVWindow(kv, count), latent

    # -- training --------------------------------------------------------------------------

    def forward_sequence(self, latents: torch.Tensor, actions: torch.Tensor) -> SequenceOutput:
        """Teacher-forced pass over ``z_0, a_0, ..., a_{K-1}, z_K``.

        Args:
            latents: ``[B, K + 1, D]`` latent tokens (encoder latents of the observations).
            actions: ``[B, K]`` int64 actions taken between them.

        Returns:
            :class:`SequenceOutput`.
        """
        b, k1, d = latents.shape
        k = actions.shape[1]
        if k1 != k + 1:
            raise ValueError(
                f"need one latent more than actions (z_0, a_0, ..., z_K), got {k1} latents "
                f"and {k} actions"
            )
        tokens = latents.new_empty(b, 2 * k + 1, d)
        tokens[:, 0::2] = latents
        tokens[:, 1::2] = self.action_embed(actions)
        out = self.transformer(tokens)
        state_out, action_out = out[:, 0::2], out[:, 1::2]
        return SequenceOutput(
            policy_logits=self.policy_head(state_out),
            value_logits=self.value_head(state_out),
            reward_logits=self.reward_head(action_out),
            next_latents=self.next_latent(action_out),
        )

    # -- search protocol -------------------------------------------------------------------

    def initial_inference(self, obs: torch.Tensor) -> NetworkOutput:
        """Root inference without history: ``obs [B, *O]`` -> :class:`NetworkOutput` whose
        ``latent`` is the packed search state ``[B, state_size]``."""
        return self.initial_inference_with_context(obs)

    def initial_inference_with_context(
        self,
        obs: torch.Tensor,
        window: KVWindow | None = None,
        prev_action: torch.Tensor | None = None,
    ) -> NetworkOutput:
        """Root inference that continues each environment's token stream.

        Args:
            obs: ``[B, *O]`` current observations.
            window: each environment's KV window after its previous root latent (``None``:
                no history for any row).
            prev_action: ``[B]`` int64 action taken since that root, ``-1`` for rows whose
                stream starts here (their window is ignored). Required with ``window``.

        Returns:
            :class:`NetworkOutput` at the roots (``reward`` zero); its ``latent`` packs the
            window after the new latent token, ready to be stored as the next context.
        """
        latent = self.encode(obs)
        b = latent.shape[0]
        fresh = self.empty_window(b, latent)
        if window is not None:
            if prev_action is None or prev_action.shape != (b,):
                raise ValueError(
                    f"initial_inference_with_context: a window needs prev_action of shape "
                    f"[{b}] (-1 where the stream starts), got "
                    f"{None if prev_action is None else list(prev_action.shape)}"
                )
            rows = torch.nonzero(prev_action >= 0).flatten()
            if rows.numel():
                _, stepped = self.transformer.step(
                    self.action_embed(prev_action.index_select(0, rows)), window.index(rows)
                )
                fresh.kv.index_copy_(0, rows, stepped.kv)
                fresh.count.index_copy_(0, rows, stepped.count)
        out, window = self.transformer.step(latent, fresh)
        value_logits = self.value_head(out)
        return NetworkOutput(
            latent=self.pack_state(window, latent),
            policy_logits=self.policy_head(out),
            value=self.value_support.logits_to_scalar(value_logits),
            reward=latent.new_zeros(b),
            value_logits=value_logits,
        )

    def recurrent_inference(
        self, latent: torch.Tensor, action: torch.Tensor, hidden: Any = None
    ) -> NetworkOutput:
        """One environment step imagined through the KV cache.

        Args:
            latent: ``[B, state_size]`` packed search states (from a previous inference).
            action: ``[B]`` int64 actions.
            hidden: unused (the KV window is part of ``latent``).

        Returns:
            :class:`NetworkOutput`: the reward predicted at the action token, policy and value
            at the predicted next latent, and the packed state after both tokens.
        """
        window, _ = self.unpack_state(latent)
        action_out, window = self.transformer.step(self.action_embed(action.reshape(-1)), window)
        reward_logits = self.reward_head(action_out)
        next_latent = self.next_latent(action_out)
        state_out, window = self.transformer.step(next_latent, window)
        policy_logits = self.policy_head(state_out)
        value_logits = self.value_head(state_out)
        value, reward = decode_value_and_reward(
            self.value_support, value_logits, self.reward_support, reward_logits
        )
        return NetworkOutput(
            latent=self.pack_state(window, next_latent),
            policy_logits=policy_logits,
            value=value,
            reward=reward,
            value_logits=value_logits,
            reward_logits=reward_logits,
        )
