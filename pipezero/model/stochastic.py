"""Stochastic MuZero networks (Antonoglou et al., 2022): afterstates and chance codes.

Stochastic MuZero splits an environment step into the agent's action and the environment's
chance outcome:

- representation ``h``: observation ``[B, *O]`` -> state latent ``[B, D]``;
- afterstate dynamics ``phi``: (state, action) -> afterstate latent ``[B, D]``;
- afterstate prediction ``psi``: afterstate -> chance-code logits ``[B, C]`` (``sigma``) and
  afterstate value logits ``[B, 2S + 1]`` (``Q``);
- dynamics ``g``: (afterstate, chance code) -> next state latent and reward logits (or, with
  ``afterstate_reward=True``, ``phi`` predicts the reward: environments whose reward is
  fixed by the move before the chance outcome, such as 2048);
- prediction ``f``: state -> policy logits ``[B, A]`` and value logits;
- encoder ``e``: (observation ``o_t``, next observation ``o_{t+1}``) -> one of ``C`` chance
  codes, a VQ-VAE with the fixed codebook of one-hot vectors: the code is the argmax of the
  encoder's softmax, used as a one-hot with a straight-through gradient, and a commitment
  loss pulls the softmax towards it (:meth:`StochasticMuZeroMLP.encode_chance`).

Design for the search (one batched network call per simulation): a simulation's new leaf is
an afterstate in some trees (the parent is a decision node) and a state in others (the parent
is a chance node). Here ``phi`` and ``g`` are *one* transition network ``T(latent, token)``
whose input token is the action (``token = a``) or ``A + code``, and ``f`` and ``psi`` are
column blocks of *one* output layer, so a batch that mixes both kinds is a single forward pass
(:meth:`StochasticMuZeroMLP.stochastic_recurrent_inference`). States and afterstates
therefore share the latent shape ``[D]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import nn

from pipezero.model.common import LatentNorm, as_shape, check_positive_int, make_activation, mlp
from pipezero.model.protocol import NetworkOutput
from pipezero.model.support import DiscreteSupport, decode_value_and_reward


@runtime_checkable
class StochasticModelProtocol(Protocol):
    """What :class:`~pipezero.mcts.StochasticMuZeroSearch` needs from a model.

    ``action_space_size`` (``A``) and ``chance_space_size`` (``C``) attributes, and:

    - ``initial_inference(obs [B, *O])`` -> :class:`NetworkOutput` of the root states
      (``policy_logits [B, A]``);
    - ``stochastic_recurrent_inference(latent [M, *L], index [M] int64, to_chance [M] bool)``
      -> :class:`NetworkOutput` where rows with ``to_chance`` apply the afterstate dynamics
      to action ``index`` (``latent`` is the afterstate, ``policy_logits[:, :C]`` the chance
      logits, ``value`` the afterstate value, ``reward`` 0) and the other rows apply the
      dynamics to chance code ``index`` (next state, ``policy_logits[:, :A]``, its value and
      the reward). ``policy_logits`` has ``max(A, C)`` columns.
    """

    action_space_size: int
    chance_space_size: int

    def initial_inference(self, obs: torch.Tensor) -> NetworkOutput: ...

    def stochastic_recurrent_inference(
        self, latent: torch.Tensor, index: torch.Tensor, to_chance: torch.Tensor
    ) -> NetworkOutput: ...


def _trunk(in_dim: int, hidden_dim: int, num_layers: int, activation: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(num_layers):
        layers += [nn.Linear(in_dim if i == 0 else hidden_dim, hidden_dim)]
        layers += [make_activation(activation)]
    return nn.Sequential(*layers)


class LineEncoder(nn.Sequential):
    """One two-layer MLP applied to every row (``rows=True``) or every column of a board.

    ``[B, C, H, W]`` -> ``[B, channels * L]`` (``L`` lines, channel-major): a convolution with
    kernel ``(1, W)`` / ``(H, 1)`` then a ``1 x 1`` one, each followed by the activation. The
    parameters are the two ``nn.Conv2d`` s (so checkpoints keep their layout), but the forward
    pass runs them as matrix products over the lines: on one CPU thread 2.2x faster forward +
    backward than the convolutions (768 2048 boards: 2.2 vs 4.8 ms).

    Args:
        in_channels: ``C``.
        length: cells per line (``W`` for rows, ``H`` for columns).
        channels: output features per line.
        activation: hidden activation name.
        rows: encode rows (else columns).
    """

    def __init__(
        self, in_channels: int, length: int, channels: int, activation: str, rows: bool
    ) -> None:
        super().__init__(
            nn.Conv2d(in_channels, channels, (1, length) if rows else (length, 1)),
            make_activation(activation),
            nn.Conv2d(channels, channels, 1),
            make_activation(activation),
        )
        self.rows = rows

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        conv1, act1, conv2, act2 = self
        # lines [B, L, C * length], features ordered (channel, cell) as in the kernels
        lines = obs.permute(0, 2, 1, 3) if self.rows else obs.permute(0, 3, 1, 2)
        b, n = lines.shape[:2]
        x = act1(F.linear(lines.reshape(b, n, -1), conv1.weight.flatten(1), conv1.bias))
        x = act2(F.linear(x, conv2.weight.flatten(1), conv2.bias))  # [B, L, channels]
        return x.transpose(1, 2).reshape(b, -1)


class StochasticMuZeroMLP(nn.Module):
    """Stochastic MuZero with MLP functions, for vector or small board observations.

    Args:
        observation_shape: ``*O`` (flattened, so any shape works, e.g. ``(16, 4, 4)``).
        action_space_size: ``A``.
        chance_space_size: ``C``, the number of chance codes of the VQ encoder.
        latent_dim: ``D``, shared by states and afterstates.
        hidden_dim: width of the hidden layers.
        support_size: ``S`` of the value supports (state and afterstate values).
        reward_support_size: ``S_r`` of the reward support (defaults to ``support_size``).
        num_hidden_layers: hidden layers of the representation, transition and prediction.
        encoder_hidden_dim: width of the chance encoder's hidden layer.
        pair_channels: for board observations ``[C, H, W]``: channels of two convolutions
            with kernels ``(1, 2)`` and ``(2, 1)`` (every horizontally and vertically adjacent
            pair of cells) whose outputs join the flattened observation at the input of the
            representation; 0 (default) feeds the flattened observation alone. Merges and
            captures in board games are properties of neighbouring cells, which an MLP on the
            raw planes learns slowly (on 2048 boards, the reward of each move reached a test
            correlation of 0.93 after 500 supervised steps with 64 pair channels, 0.62 without).
        line_channels: for board observations ``[C, H, W]``: width of two
            :class:`LineEncoder` s, one shared by the rows and one by the columns; the
            ``(H + W) * line_channels`` features join the representation's input. A 2048 move
            slides and merges whole lines, gaps included, so the reward of a move is a sum over
            lines of one function of a line. 0 (default) adds none.
        afterstate_reward: where the reward of a step is predicted. ``False`` (the paper's
            form): by the dynamics ``g(as, c)``, on the edge from the chance node to the next
            state. ``True``: by the afterstate dynamics ``phi(s, a)``, on the edge from the
            decision node into the chance node, for environments whose reward is a function
            of ``(s, a)`` alone (2048: the merges happen before the tile spawns), so the
            reward does not depend on the sampled chance code. The tree's backup is the same
            (``Q(s, a) = r + V(as)``, ``V(as) = E_c[discount * V(s')]``).
        latent_norm: ``"layernorm"``, ``"minmax"`` or ``"none"``.
        activation: hidden activation name.

    Example:
        >>> model = StochasticMuZeroMLP((16, 4, 4), 4, 32, support_size=10)
        >>> root = model.initial_inference(torch.zeros(2, 16, 4, 4))
        >>> after = model.afterstate_recurrent_inference(root.latent, torch.tensor([0, 3]))
        >>> after.policy_logits.shape  # chance logits
        torch.Size([2, 32])
        >>> nxt = model.recurrent_inference(after.latent, torch.tensor([5, 7]))
    """

    def __init__(
        self,
        observation_shape: int | Sequence[int],
        action_space_size: int,
        chance_space_size: int,
        latent_dim: int = 128,
        hidden_dim: int = 128,
        support_size: int = 300,
        reward_support_size: int | None = None,
        num_hidden_layers: int = 1,
        encoder_hidden_dim: int = 128,
        pair_channels: int = 0,
        line_channels: int = 0,
        afterstate_reward: bool = False,
        latent_norm: str = "layernorm",
        activation: str = "relu",
    ) -> None:
        super().__init__()
        self.observation_shape = as_shape("observation_shape", observation_shape)
        self.action_space_size = check_positive_int("action_space_size", action_space_size)
        self.chance_space_size = check_positive_int("chance_space_size", chance_space_size)
        self.latent_dim = check_positive_int("latent_dim", latent_dim)
        check_positive_int("hidden_dim", hidden_dim)
        check_positive_int("num_hidden_layers", num_hidden_layers)
        check_positive_int("encoder_hidden_dim", encoder_hidden_dim)
        self.value_support = DiscreteSupport(support_size)
        self.reward_support = DiscreteSupport(
            support_size if reward_support_size is None else reward_support_size
        )
        obs_dim = 1
        for d in self.observation_shape:
            obs_dim *= d
        self.obs_dim = obs_dim
        a, c, nv = self.action_space_size, self.chance_space_size, self.value_support.size

        if (
            isinstance(pair_channels, bool)
            or not isinstance(pair_channels, int)
            or pair_channels < 0
        ):
            raise ValueError(f"pair_channels must be an int >= 0, got {pair_channels!r}")
        repr_in = obs_dim
        self.pair_h: nn.Module | None = None
        self.pair_v: nn.Module | None = None
        if pair_channels:
            if len(self.observation_shape) != 3 or min(self.observation_shape[1:]) < 2:
                raise ValueError(
                    f"pair_channels needs board observations [C, H, W] with H, W >= 2, got "
                    f"observation_shape {self.observation_shape}; use pair_channels=0"
                )
            ch, h, w = self.observation_shape
            self.pair_h = nn.Conv2d(ch, pair_channels, (1, 2))
            self.pair_v = nn.Conv2d(ch, pair_channels, (2, 1))
            repr_in += pair_channels * (h * (w - 1) + (h - 1) * w)
        self.pair_act = make_activation(activation)
        if (
            isinstance(line_channels, bool)
            or not isinstance(line_channels, int)
            or line_channels < 0
        ):
            raise ValueError(f"line_channels must be an int >= 0, got {line_channels!r}")
        self.line_rows: nn.Module | None = None
        self.line_cols: nn.Module | None = None
        if line_channels:
            if len(self.observation_shape) != 3:
                raise ValueError(
                    f"line_channels needs board observations [C, H, W], got observation_shape "
                    f"{self.observation_shape}; use line_channels=0"
                )
            ch, h, w = self.observation_shape
            self.line_rows = LineEncoder(ch, w, line_channels, activation, rows=True)
            self.line_cols = LineEncoder(ch, h, line_channels, activation, rows=False)
            repr_in += line_channels * (h + w)
        if not isinstance(afterstate_reward, bool):
            raise ValueError(f"afterstate_reward must be a bool, got {afterstate_reward!r}")
        self.afterstate_reward = afterstate_reward

        self.repr_trunk = _trunk(repr_in, hidden_dim, num_hidden_layers, activation)
        self.repr_out = nn.Linear(hidden_dim, latent_dim)
        self.latent_norm = LatentNorm((latent_dim,), latent_norm)

        # transition T(latent, token): token < A is an action (afterstate dynamics phi),
        # token = A + code a chance code (dynamics g); one embedding row per token.
        self.trans_latent_in = nn.Linear(latent_dim, hidden_dim)
        self.trans_token_embed = nn.Embedding(a + c, hidden_dim)
        self.trans_act = make_activation(activation)
        self.trans_trunk = _trunk(hidden_dim, hidden_dim, num_hidden_layers - 1, activation)
        self.trans_out = nn.Linear(hidden_dim, latent_dim + self.reward_support.size)

        # prediction f and afterstate prediction psi as column blocks of one layer:
        # [policy A | value 2S+1 | chance C | afterstate value 2S+1]
        self.pred_trunk = _trunk(latent_dim, hidden_dim, num_hidden_layers, activation)
        self.pred_out = nn.Linear(hidden_dim, a + nv + c + nv)
        self._splits = (a, nv, c, nv)

        # chance encoder e(o_t, o_{t+1}) -> code logits
        self.encoder = mlp(2 * obs_dim, [encoder_hidden_dim], c, activation)

        nn.init.zeros_(self.pred_out.weight)
        nn.init.zeros_(self.pred_out.bias)
        nn.init.zeros_(self.trans_out.weight[latent_dim:])
        nn.init.zeros_(self.trans_out.bias[latent_dim:])

    # -- the learned functions ------------------------------------------------------------

    def representation(self, obs: torch.Tensor) -> torch.Tensor:
        """``h``: observations ``[B, *O]`` -> state latents ``[B, D]``."""
        obs = obs.float()
        x = obs.reshape(obs.shape[0], -1)
        if self.pair_h is not None and self.pair_v is not None:
            pairs_h = self.pair_act(self.pair_h(obs)).flatten(1)
            pairs_v = self.pair_act(self.pair_v(obs)).flatten(1)
            x = torch.cat([x, pairs_h, pairs_v], dim=1)
        if self.line_rows is not None and self.line_cols is not None:
            rows = self.line_rows(obs).flatten(1)
            cols = self.line_cols(obs).flatten(1)
            x = torch.cat([x, rows, cols], dim=1)
        return self.latent_norm(self.repr_out(self.repr_trunk(x)))

    def _transition(
        self, latent: torch.Tensor, token_embedding: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``T``: ``(latent [B, D], token embedding [B, H])`` -> ``(next latent [B, D],
        reward logits [B, 2S_r + 1])``; residual, then normalised."""
        x = self.trans_act(self.trans_latent_in(latent) + token_embedding)
        out = self.trans_out(self.trans_trunk(x))
        d = self.latent_dim
        return self.latent_norm(latent + out[:, :d]), out[:, d:]

    def afterstate_dynamics(self, latent: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """``phi``: ``(state [B, D], action [B] int64)`` -> afterstate ``[B, D]``."""
        return self.afterstate_transition(latent, action)[0]

    def afterstate_transition(
        self, latent: torch.Tensor, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``phi`` with its reward output: ``(state [B, D], action [B] int64)`` ->
        ``(afterstate [B, D], reward logits [B, 2S_r + 1])``; the reward logits are the
        step's reward only with ``afterstate_reward=True`` (otherwise untrained)."""
        return self._transition(latent, self.trans_token_embed(action.reshape(-1)))

    def dynamics(
        self, afterstate: torch.Tensor, code: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``g``: ``(afterstate [B, D], code)`` -> ``(next state [B, D], reward logits)``.

        ``code`` is ``[B]`` int64 code indices, or ``[B, C]`` one-hot rows (possibly with a
        straight-through gradient from :meth:`encode_chance`). With ``afterstate_reward=True``
        the reward logits are untrained (the reward comes from :meth:`afterstate_transition`).
        """
        a = self.action_space_size
        if code.dim() == 1:
            embedding = self.trans_token_embed(code + a)
        else:
            embedding = (
                code.to(self.trans_token_embed.weight.dtype) @ (self.trans_token_embed.weight[a:])
            )
        return self._transition(afterstate, embedding)

    def _heads(self, latent: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``(policy [B, A], value [B, 2S+1], chance [B, C], afterstate value [B, 2S+1])``."""
        return torch.split(self.pred_out(self.pred_trunk(latent)), self._splits, dim=1)

    def prediction(self, latent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``f``: states ``[B, D]`` -> ``(policy_logits [B, A], value_logits [B, 2S + 1])``."""
        policy, value, _, _ = self._heads(latent)
        return policy, value

    def afterstate_prediction(self, afterstate: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``psi``: afterstates ``[B, D]`` -> ``(chance_logits [B, C], value_logits
        [B, 2S + 1])``."""
        _, _, chance, value = self._heads(afterstate)
        return chance, value

    def encode_chance(
        self, obs: torch.Tensor, next_obs: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The VQ chance encoder on ``(o_t [B, *O], o_{t+1} [B, *O])``.

        Returns:
            ``(code [B] int64, one_hot [B, C] float with a straight-through gradient to the
            encoder, probs [B, C] the encoder's softmax, for the commitment loss)``.
        """
        x = torch.cat([obs.reshape(obs.shape[0], -1), next_obs.reshape(obs.shape[0], -1)], 1)
        probs = F.softmax(self.encoder(x.float()), dim=1)
        code = probs.argmax(dim=1)
        hard = F.one_hot(code, self.chance_space_size).to(probs.dtype)
        return code, probs + (hard - probs).detach(), probs

    # -- inference for the search ----------------------------------------------------------

    def initial_inference(self, obs: torch.Tensor) -> NetworkOutput:
        """Root states: observations ``[B, *O]`` -> :class:`NetworkOutput` (reward 0)."""
        latent = self.representation(obs)
        policy, value_logits = self.prediction(latent)
        return NetworkOutput(
            latent=latent,
            policy_logits=policy,
            value=self.value_support.logits_to_scalar(value_logits),
            reward=latent.new_zeros(latent.shape[0]),
            value_logits=value_logits,
        )

    def afterstate_recurrent_inference(
        self, latent: torch.Tensor, action: torch.Tensor, hidden: Any = None
    ) -> NetworkOutput:
        """``phi`` then ``psi``: ``policy_logits`` holds the chance logits ``[B, C]``, ``value``
        the afterstate value, ``reward`` the move's reward with ``afterstate_reward=True``,
        zeros otherwise."""
        after, reward_logits = self.afterstate_transition(latent, action)
        chance, value_logits = self.afterstate_prediction(after)
        value, reward = decode_value_and_reward(
            self.value_support, value_logits, self.reward_support, reward_logits
        )
        if not self.afterstate_reward:
            reward = torch.zeros_like(reward)
        return NetworkOutput(
            latent=after,
            policy_logits=chance,
            value=value,
            reward=reward,
            value_logits=value_logits,
            reward_logits=reward_logits if self.afterstate_reward else None,
        )

    def recurrent_inference(
        self, afterstate: torch.Tensor, code: torch.Tensor, hidden: Any = None
    ) -> NetworkOutput:
        """``g`` then ``f``: next states from afterstates ``[B, D]`` and codes ``[B]``
        (``reward`` zeros with ``afterstate_reward=True``)."""
        latent, reward_logits = self.dynamics(afterstate, code)
        policy, value_logits = self.prediction(latent)
        value, reward = decode_value_and_reward(
            self.value_support, value_logits, self.reward_support, reward_logits
        )
        if self.afterstate_reward:
            reward = torch.zeros_like(reward)
        return NetworkOutput(
            latent=latent,
            policy_logits=policy,
            value=value,
            reward=reward,
            value_logits=value_logits,
            reward_logits=None if self.afterstate_reward else reward_logits,
        )

    def stochastic_recurrent_inference(
        self, latent: torch.Tensor, index: torch.Tensor, to_chance: torch.Tensor
    ) -> NetworkOutput:
        """One forward pass for a batch mixing both expansions (see the module doc).

        Args:
            latent: ``[M, D]`` parents: states where ``to_chance``, afterstates elsewhere.
            index: ``[M]`` int64 action (``to_chance``) or chance code (otherwise).
            to_chance: ``[M]`` bool, the new node is an afterstate (chance node).

        Returns:
            :class:`NetworkOutput` with ``latent [M, D]``, ``policy_logits [M, max(A, C)]``
            (chance logits in the first ``C`` columns of afterstate rows, policy logits in the
            first ``A`` of state rows, zeros elsewhere), ``value [M]`` and ``reward [M]``
            (0 for afterstate rows, or for state rows with ``afterstate_reward=True``).
        """
        a, c = self.action_space_size, self.chance_space_size
        token = torch.where(to_chance, index, index + a)
        nxt, reward_logits = self._transition(latent, self.trans_token_embed(token))
        policy, value_logits, chance, after_value_logits = self._heads(nxt)
        width = max(a, c)
        chance_rows = to_chance[:, None]
        logits = torch.where(
            chance_rows, F.pad(chance, (0, width - c)), F.pad(policy, (0, width - a))
        )
        value_logits = torch.where(chance_rows, after_value_logits, value_logits)
        value, reward = decode_value_and_reward(
            self.value_support, value_logits, self.reward_support, reward_logits
        )
        return NetworkOutput(
            latent=nxt,
            policy_logits=logits,
            value=value,
            reward=torch.where(to_chance == self.afterstate_reward, reward, 0.0),
            value_logits=value_logits,
            reward_logits=reward_logits,
        )
