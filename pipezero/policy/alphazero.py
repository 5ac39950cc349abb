"""AlphaZero policy (Silver et al., 2018): search real game states, learn from self-play.

Acting: :meth:`AlphaZeroPolicy.collect_games` searches a batch of games with root Dirichlet
noise (``num_simulations``) and samples each game's move from the visit counts for its first
``temperature_moves`` moves, then takes the most visited move; :meth:`evaluate_games`
searches without noise (``eval_num_simulations``) and takes the most visited move; with
``eval_average_symmetries`` its network call averages over the board's symmetries, so the
agent plays mirrored positions alike (a deterministic agent against a nearly deterministic
bot otherwise wins one line and loses its mirror image).

Learning, on ``B`` positions sampled from the replay buffer: the policy head is fitted to the
search's visit distribution (cross-entropy) and the ``tanh`` value head to the game's final
outcome ``z`` from the point of view of the player to move at that position (squared error).
``z`` comes out of the buffer's n-step targets: the buffer is built with ``num_unroll_steps=0``,
``td_steps >= max_game_length`` and ``discount_factor=1``, so ``reward_sum`` is the signed
sum of the rewards to the end of the game, i.e. +1 / -1 / 0 for a win / loss / draw of the
mover. With ``use_augmentation`` each sampled position is replaced by a random symmetry of
the board (8 for square boards, the mirror for Connect4).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from pipezero.config import merge_config, plain_config
from pipezero.data.batch import Batch
from pipezero.mcts import AlphaZeroSearch, MCTSConfig, SearchableGame, SearchResult
from pipezero.policy.alphazero_config import ALPHAZERO_CONFIG
from pipezero.policy.base import ActResult, LearnResult
from pipezero.policy.losses import soft_cross_entropy
from pipezero.policy.policy_state import PolicyStateMixin
from pipezero.policy.schedules import flush_denormals, make_lr_scheduler, make_optimizer
from pipezero.policy.temperature import sample_actions

logger = logging.getLogger(__name__)


def outcome_buffer_settings(max_game_length: int) -> dict[str, Any]:
    """Replay-buffer arguments whose n-step value targets are the final outcomes:
    ``num_unroll_steps=0``, ``td_steps=max_game_length``, ``discount_factor=1``."""
    return {"num_unroll_steps": 0, "td_steps": int(max_game_length), "discount_factor": 1.0}


class AlphaZeroPolicy(PolicyStateMixin):
    """AlphaZero acting and learning on games that implement ``SearchableGame``.

    Args:
        cfg: the ``policy`` section (see :mod:`pipezero.policy.alphazero_config`); missing
            keys take the defaults, unknown keys are rejected.
        model: ``obs [B, C, H, W] -> (policy_logits [B, A], value [B])`` with values in
            ``[-1, 1]``, e.g. :class:`~pipezero.model.alphazero_net.AlphaZeroNet`.
        symmetries: ``(cell_perms [G, H * W], action_perms [G, A])`` from
            ``game.symmetries()``, needed when ``use_augmentation`` is true.
        seed: seeds move sampling, augmentation and the search noise.
        share_acting_model: act with the learner model itself (sync mode); ``False`` keeps a
            copy updated only by :meth:`set_weights`.
        device: where the model lives.
    """

    default_config: Mapping[str, Any] = ALPHAZERO_CONFIG["policy"]
    needs_unroll_obs = False  # read by offpolicy_learn

    def __init__(
        self,
        cfg: Mapping[str, Any],
        model: nn.Module,
        *,
        symmetries: tuple[np.ndarray, np.ndarray] | None = None,
        seed: int = 0,
        share_acting_model: bool = True,
        device: torch.device | str = "cpu",
    ) -> None:
        self.cfg = merge_config(self.default_config, cfg)
        self.device = torch.device(device)
        self.model = model.to(self.device)
        self.share_acting_model = share_acting_model
        self.acting_model = (
            self.model
            if share_acting_model
            else copy.deepcopy(self.model).eval().requires_grad_(False)
        )
        flush_denormals()  # weight-decayed weights turn denormal and slow the CPU
        self.optimizer = make_optimizer(self.model.parameters(), self.cfg)
        self.lr_scheduler = make_lr_scheduler(self.optimizer, self.cfg)
        self.train_iter = 0
        self.rng = np.random.default_rng(seed)
        self.symmetries = self._check_symmetries(symmetries)
        mcts = self.mcts_config(seed)
        eval_sims = self.cfg.eval_num_simulations or self.cfg.num_simulations
        self.collect_search = AlphaZeroSearch(self._evaluate, mcts)
        evaluate = self._evaluate_symmetric if self.cfg.eval_average_symmetries else self._evaluate
        self.eval_search = AlphaZeroSearch(
            evaluate, mcts.replace(num_simulations=int(eval_sims), seed=seed + 1)
        )
        self._root_value: torch.Tensor | None = None
        self._published: dict[str, torch.Tensor] | None = None

    def _check_symmetries(
        self, symmetries: tuple[np.ndarray, np.ndarray] | None
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        needed = [k for k in ("use_augmentation", "eval_average_symmetries") if self.cfg[k]]
        if symmetries is None:
            if needed:
                raise ValueError(
                    f"AlphaZeroPolicy: {needed[0]}=True needs symmetries=game.symmetries(); "
                    f"pass them or set policy.{needed[0]}=False"
                )
            return None
        cells, actions = (torch.as_tensor(np.asarray(s), dtype=torch.long) for s in symmetries)
        if cells.ndim != 2 or actions.ndim != 2 or cells.shape[0] != actions.shape[0]:
            raise ValueError(
                f"AlphaZeroPolicy: symmetries must be (cell_perms [G, H*W], action_perms "
                f"[G, A]), got shapes {list(cells.shape)} and {list(actions.shape)}"
            )
        return cells.to(self.device), actions.to(self.device)

    def mcts_config(self, seed: int) -> MCTSConfig:
        """The collection search settings of ``cfg`` as an :class:`MCTSConfig`."""
        c = self.cfg
        return MCTSConfig(
            num_simulations=int(c.num_simulations),
            pb_c_base=float(c.pb_c_base),
            pb_c_init=float(c.pb_c_init),
            discount_factor=float(c.discount_factor),
            root_dirichlet_alpha=float(c.root_dirichlet_alpha),
            root_noise_weight=float(c.root_noise_weight),
            value_delta_max=float(c.value_delta_max),
            seed=int(seed),
        )

    # -- acting ----------------------------------------------------------------------------

    def _evaluate(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The search's network call: ``obs [M, C, H, W] -> (logits [M, A], value [M])``."""
        logits, value = self.acting_model(obs.to(self.device, torch.float32))
        if self._root_value is None:  # the first call of a search evaluates the roots
            self._root_value = value.float().cpu()
        return logits, value

    def _evaluate_symmetric(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The evaluation search's network call with ``eval_average_symmetries``: the network
        sees every board symmetry of each state (``G`` of them, ``[G * M]`` rows in one call);
        the policy is the mean of the ``G`` move distributions mapped back to the original
        board, the value the mean of the ``G`` values. Mirrored positions then get mirrored
        evaluations. ``obs [M, C, H, W] -> (log-probabilities [M, A], value [M])``."""
        assert self.symmetries is not None
        cells, actions = self.symmetries  # [G, H*W], [G, A]
        m, c, h, w = obs.shape
        g, a = actions.shape
        flat = obs.to(self.device, torch.float32).reshape(m, c, h * w)
        views = flat[:, :, cells].permute(2, 0, 1, 3).reshape(g * m, c, h, w)
        roots = self._root_value is None
        logits, value = self._evaluate(views)
        value = value.float().view(g, m).mean(0)
        if roots:  # the first call of a search: keep the roots' averaged value
            self._root_value = value.cpu()
        # output a of symmetry k scores the original move actions[k, a]: scatter it back
        probs = torch.softmax(logits.float().view(g, m, a), dim=-1)
        index = actions.unsqueeze(1).expand(g, m, a)
        probs = torch.zeros_like(probs).scatter_(2, index, probs).mean(0)
        return probs.clamp_min(1e-12).log(), value

    def search(
        self, games: Sequence[SearchableGame], *, explore: bool
    ) -> tuple[SearchResult, np.ndarray]:
        """Search ``N`` games (not modified): the collection search with root noise when
        ``explore``, else the evaluation search.

        Returns:
            ``(result, predicted_value [N])``: the search result and the network's value of
            each root before searching.
        """
        self.acting_model.eval()
        self._root_value = None
        search = self.collect_search if explore else self.eval_search
        result = search.search(games, add_exploration_noise=explore)
        predicted = self._root_value.numpy() if self._root_value is not None else np.zeros(0)
        self._root_value = None
        return result, predicted

    def collect_games(self, games: Sequence[SearchableGame]) -> ActResult:
        """Self-play moves for ``N`` games: search with noise, then sample from the visits at
        ``fixed_temperature_value`` while ``game.num_moves < temperature_moves``, else take
        the most visited move."""
        result, predicted = self.search(games, explore=True)
        visits = result.visit_counts.numpy()
        mask = np.stack([g.legal_actions_mask() for g in games]).astype(bool)
        greedy = _most_visited(visits, mask)
        sampled = sample_actions(visits, float(self.cfg.fixed_temperature_value), self.rng, mask)
        early = np.array([g.num_moves < self.cfg.temperature_moves for g in games])  # type: ignore[attr-defined]
        action = np.where(early, sampled, greedy)
        return _act_result(action, result, predicted)

    def evaluate_games(self, games: Sequence[SearchableGame]) -> ActResult:
        """Best moves for ``N`` games: search without noise, most visited move."""
        result, predicted = self.search(games, explore=False)
        mask = np.stack([g.legal_actions_mask() for g in games]).astype(bool)
        return _act_result(_most_visited(result.visit_counts.numpy(), mask), result, predicted)

    # -- learning --------------------------------------------------------------------------

    def learn(self, batch: Batch[np.ndarray]) -> LearnResult:
        """One gradient update on a batch of ``ReplayBuffer.sample`` (see the module doc).

        Raises:
            ValueError: the batch asks for bootstrap values, i.e. the buffer's ``td_steps``
                is shorter than a game (build it with :func:`outcome_buffer_settings`).
        """
        if len(batch.bootstrap_obs):
            raise ValueError(
                f"AlphaZeroPolicy.learn: {len(batch.bootstrap_obs)} positions of the batch "
                f"need a bootstrap value, so the replay buffer's td_steps is shorter than a "
                f"game; build it with outcome_buffer_settings(game.max_game_length)"
            )
        self.model.train()
        tensors = batch.to(self.device)
        obs = tensors.obs.float()
        target_policy = tensors.target_policy[:, 0]
        target_value = tensors.reward_sum[:, 0]
        weights = tensors.weights.float()
        if self.cfg.use_augmentation:
            obs, target_policy = self.augment(obs, target_policy)
        logits, value = self.model(obs)
        policy_loss = soft_cross_entropy(logits, target_policy)
        value_loss = (value - target_value) ** 2
        c = self.cfg
        per_sample = float(c.policy_loss_weight) * policy_loss
        per_sample = per_sample + float(c.value_loss_weight) * value_loss
        total = (weights * per_sample).mean()
        info = {
            "policy_loss": float(policy_loss.detach().mean()),
            "value_loss": float(value_loss.detach().mean()),
            "total_loss": float(total.detach()),
            "predicted_value": float(value.detach().mean()),
            "target_value": float(target_value.mean()),
        }
        if not np.isfinite(info["total_loss"]):
            return self._skip(info, "loss")
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        grad_norm = float(nn.utils.clip_grad_norm_(self.model.parameters(), c.grad_clip_value))
        info["grad_norm"] = grad_norm
        if not np.isfinite(grad_norm):
            self.optimizer.zero_grad(set_to_none=True)
            return self._skip(info, "gradient norm")
        self.optimizer.step()
        info["lr"] = float(self.optimizer.param_groups[0]["lr"])
        self.lr_scheduler.step()
        self.train_iter += 1
        error = (value.detach() - target_value).abs().double().cpu().numpy()
        return LearnResult(info=info, priorities=error + float(c.priority_eps))

    def augment(self, obs: torch.Tensor, policy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A random board symmetry per row: ``obs [B, C, H, W]``, ``policy [B, A]``."""
        assert self.symmetries is not None
        cells, actions = self.symmetries
        pick = torch.as_tensor(self.rng.integers(len(cells), size=len(obs)), device=self.device)
        b, c, h, w = obs.shape
        index = cells[pick].unsqueeze(1).expand(b, c, h * w)
        obs = obs.reshape(b, c, h * w).gather(2, index).reshape(b, c, h, w)
        return obs, policy.gather(1, actions[pick])

    def _skip(self, info: dict[str, float], what: str) -> LearnResult:
        info["nonfinite"] = 1.0
        logger.warning("non-finite %s, update %d skipped: %s", what, self.train_iter + 1, info)
        return LearnResult(info=info, priorities=None, skipped=True)

    # -- weights and state -----------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """:meth:`PolicyStateMixin.state_dict` (model, optimizer, LR schedule, update counter,
        random generators) plus the policy config as plain values, so a checkpoint alone
        rebuilds the network (``pipezero play``)."""
        return {"config": plain_config(self.cfg)} | super().state_dict()


def _most_visited(visits: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``[N]`` most visited legal action of each row (first on ties)."""
    return np.where(mask, visits, -1).argmax(axis=1).astype(np.int64)


def _act_result(action: np.ndarray, result: SearchResult, predicted: np.ndarray) -> ActResult:
    return ActResult(
        action=action,
        visit_policy=result.policy_target.numpy(),
        root_value=result.root_value.numpy(),
        predicted_value=predicted,
    )
