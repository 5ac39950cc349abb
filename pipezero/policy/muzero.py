"""MuZero policy (Schrittwieser et al., 2020): act by tree search, learn by unrolling.

Acting: ``collect`` searches from the roots with Dirichlet noise and samples the action from
the visit counts sharpened by the temperature schedule; ``evaluate`` searches without noise
and takes the most visited action. With ``collect_with_pure_policy`` (every MuZero-family
policy) ``collect`` does not search: :meth:`MuZeroPolicy.pure_policy_collect`.

Learning, for a batch of ``B`` positions unrolled ``K = num_unroll_steps`` steps:

1. targets: n-step values bootstrapped by the target network (or by the stored search
   values, ``value_bootstrap="search"``), rewards, search policies
   (optionally refreshed by a new search on ``reanalyze_ratio`` of the rows), masks;
2. unroll: ``representation`` on the observation, then ``K`` dynamics steps on the stored
   actions, each entered through a gradient scaled by ``dynamics_gradient_scale`` (0.5);
   ``prediction`` runs once on all ``K + 1`` latents;
3. loss per row: ``sum_k w_k (policy CE + value_loss_weight * value CE)`` plus
   ``sum_{k>=1} w_k reward_loss_weight * reward CE`` (``w_0 = 1``, ``w_k = 1/K``), value and
   reward CEs on the categorical supports, weighted by the replay importance weights;
4. a non-finite loss or gradient norm skips the update; otherwise clip the gradient norm at
   ``grad_clip_value``, step the optimizer and the LR schedule, update the target network;
5. new priorities ``|predicted root value - value target| + priority_eps``.

With ``use_augmentation`` (and the game's ``symmetries``) each sampled row is first replaced
by a random board symmetry of itself (:mod:`pipezero.policy.augment`).

The acting model is the learner model itself unless ``share_acting_model=False`` (for an
acting thread beside the learner): then it is a copy refreshed by :meth:`set_weights`.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from pipezero.config import merge_config
from pipezero.data.batch import Batch
from pipezero.data.transfer import DeviceBatch, as_device_tensor
from pipezero.mcts import MCTSConfig, MuZeroSearch
from pipezero.model.consistency import negative_cosine_similarity
from pipezero.policy.augment import augment_batch, check_symmetries
from pipezero.policy.base import ActResult, LearnResult
from pipezero.policy.losses import (
    scale_gradient,
    soft_cross_entropy,
    support_cross_entropy,
    unroll_step_weights,
)
from pipezero.policy.muzero_config import MUZERO_CONFIG
from pipezero.policy.policy_state import PolicyStateMixin
from pipezero.policy.precision import Precision
from pipezero.policy.reanalyze import num_reanalyzed_rows, reanalyze_policy
from pipezero.policy.schedules import (
    flush_denormals,
    make_lr_scheduler,
    make_optimizer,
    update_target,
)
from pipezero.policy.targets import (
    VALUE_BOOTSTRAP_SOURCES,
    UnrollTargets,
    bootstrapped_value_targets,
    loss_masks,
    unroll_targets,
)
from pipezero.policy.temperature import sample_actions, visit_count_temperature

logger = logging.getLogger(__name__)


@dataclass
class Unroll:
    """Network outputs along the unroll of a batch.

    Attributes:
        latents: ``[B, K + 1, *L]`` latent states (position 0 from the representation).
        policy_logits: ``[B, K + 1, A]``.
        value_logits: ``[B, K + 1, 2S + 1]``.
        reward_logits: ``[B, K, 2S_r + 1]`` (value-prefix logits for EfficientZero).
    """

    latents: torch.Tensor
    policy_logits: torch.Tensor
    value_logits: torch.Tensor
    reward_logits: torch.Tensor


class MuZeroPolicy(PolicyStateMixin):
    """MuZero acting and learning behind :class:`~pipezero.policy.base.PolicyProtocol`.

    Args:
        cfg: the ``policy`` section of the config (see
            :mod:`pipezero.policy.muzero_config`); missing keys take the defaults, unknown
            keys are rejected.
        model: a MuZero-family model (``representation``, ``dynamics``, ``prediction``,
            ``initial_inference``, ``recurrent_inference``, ``value_support``,
            ``reward_support``), e.g. ``MuZeroMLP(4, 2, **cfg.model)``.
        seed: seeds the action sampling and the search noise.
        share_acting_model: act with the learner model itself (sync mode). ``False`` keeps a
            separate acting copy, updated only by :meth:`set_weights`.
        device: where the model lives and the batches go.
        symmetries: ``(cell_perms [G, H * W], action_perms [G, A])`` of a board game (e.g.
            :func:`pipezero.envs.game2048.symmetries`), needed when ``use_augmentation``.
    """

    default_config: Mapping[str, Any] = MUZERO_CONFIG["policy"]
    search_class: type[MuZeroSearch] = MuZeroSearch
    # Checkpointed beside the model (PolicyStateMixin: weights and state).
    search_names = ("collect_search", "eval_search", "reanalyze_search")
    extra_models = ("target_model",)

    def __init__(
        self,
        cfg: Mapping[str, Any],
        model: nn.Module,
        *,
        seed: int = 0,
        share_acting_model: bool = True,
        device: torch.device | str = "cpu",
        symmetries: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        # The model section is open ({}): the recipe builds the model from it, so an MLP
        # (CartPole) and a conv network (MinAtar) config are both accepted.
        self.cfg = merge_config({**self.default_config, "model": {}}, cfg)
        self.symmetries = None if symmetries is None else check_symmetries(symmetries, "MuZero")
        if self.ssl_loss_weight > 0 and getattr(model, "consistency", None) is None:
            raise ValueError(
                f"{type(self).__name__}: ssl_loss_weight={self.ssl_loss_weight} trains "
                f"consistency heads, but the {type(model).__name__} has none (MuZeroMLP has them "
                f"with consistency_heads=True, EfficientZero's models always); use such a "
                f"model or set policy.ssl_loss_weight=0"
            )
        if self.cfg.use_augmentation and self.symmetries is None:
            raise ValueError(
                f"{type(self).__name__}: use_augmentation=True needs the game's symmetries "
                f"(symmetries=game.symmetries()); pass them or set policy.use_augmentation=False"
            )
        if self.cfg.value_bootstrap not in VALUE_BOOTSTRAP_SOURCES:
            raise ValueError(
                f"policy.value_bootstrap must be one of {VALUE_BOOTSTRAP_SOURCES}, got "
                f"{self.cfg.value_bootstrap!r}"
            )
        for name in ("representation", "dynamics", "prediction", "value_support"):
            if not hasattr(model, name):
                raise TypeError(
                    f"{type(self).__name__} needs a MuZero-family model with "
                    f"representation/dynamics/prediction and value/reward supports; "
                    f"{type(model).__name__} has no {name!r}"
                )
        self.device = torch.device(device)
        self.precision = Precision(self.cfg.amp, self.device)
        self.model = model.to(self.device)
        if self.cfg.channels_last:  # before the copies below, the optimizer and any loading
            self.model = self.model.to(memory_format=torch.channels_last)
        self.target_model = copy.deepcopy(self.model).eval().requires_grad_(False)
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
        mcts = self.mcts_config(seed)
        self.collect_search = self.search_class(self.acting_model, mcts)
        self.eval_search = self.search_class(self.acting_model, self.eval_mcts_config(seed))
        self.reanalyze_search = self.search_class(self.target_model, mcts.replace(seed=seed + 2))
        self._published: dict[str, torch.Tensor] | None = None

    def eval_mcts_config(self, seed: int) -> MCTSConfig:
        """The evaluation search's settings: :meth:`mcts_config` with seed ``seed + 1`` and
        ``cfg.eval_num_simulations`` simulations (``None`` or absent: ``num_simulations``)."""
        mcts = self.mcts_config(seed).replace(seed=seed + 1)
        sims = self.cfg.get("eval_num_simulations")  # checked with the config (an int >= 1)
        return mcts if sims is None else mcts.replace(num_simulations=int(sims))

    def mcts_config(self, seed: int) -> MCTSConfig:
        """The search settings of ``cfg`` as an :class:`MCTSConfig`."""
        c = self.cfg
        return MCTSConfig(
            num_simulations=int(c.num_simulations),
            pb_c_base=float(c.pb_c_base),
            pb_c_init=float(c.pb_c_init),
            discount_factor=float(c.discount_factor),
            root_dirichlet_alpha=float(c.root_dirichlet_alpha),
            root_noise_weight=float(c.root_noise_weight),
            value_delta_max=float(c.value_delta_max),
            lstm_horizon_len=int(c.get("lstm_horizon_len", 5)),
            policy_target=str(c.get("policy_target", "visits")),
            seed=int(seed),
        )

    @property
    def needs_unroll_obs(self) -> bool:
        """Whether batches must be sampled with ``with_unroll_obs=True`` (reanalysis, the
        consistency loss)."""
        return float(self.cfg.reanalyze_ratio) > 0 or self.ssl_loss_weight > 0

    @property
    def ssl_loss_weight(self) -> float:
        """Weight of the self-supervised consistency loss (0: none)."""
        return float(self.cfg.ssl_loss_weight)

    # -- acting ----------------------------------------------------------------------------

    def collect(
        self, obs: np.ndarray, action_mask: np.ndarray, to_play: np.ndarray, env_step: int
    ) -> ActResult:
        """Search with root noise for ``N`` environments (``obs [N, *O]``, ``action_mask
        [N, A]``, ``to_play [N]``) and sample actions at the temperature of ``env_step``; with
        ``cfg.collect_with_pure_policy``, :meth:`pure_policy_collect` instead."""
        if self.cfg.get("collect_with_pure_policy", False):
            return self.pure_policy_collect(obs, action_mask, env_step)
        predicted, result = self._search(self.collect_search, obs, action_mask, to_play, True)
        visits = result.visit_counts.numpy()
        temperature = self.collect_temperature(env_step)
        action = sample_actions(visits, temperature, self.rng, np.asarray(action_mask, bool))
        return self._act_result(action, result, predicted)

    def collect_temperature(self, env_step: int) -> float:
        """The collection temperature at ``env_step`` (1.0 for configs without a schedule,
        e.g. Gumbel MuZero's)."""
        c = self.cfg
        if "fixed_temperature_value" not in c:
            return 1.0
        return visit_count_temperature(
            env_step,
            manual_temperature_decay=bool(c.manual_temperature_decay),
            fixed_temperature_value=float(c.fixed_temperature_value),
            threshold_env_steps_for_final_temperature=int(
                c.threshold_env_steps_for_final_temperature
            ),
        )

    def pure_policy_collect(
        self, obs: np.ndarray, action_mask: np.ndarray, env_step: int
    ) -> ActResult:
        """Act from the network's policy head alone (``cfg.collect_with_pure_policy``): one
        initial inference for the ``N`` environments, no search.

        The targets this implies, stored in the game segments: ``visit_policy [N, A]`` is the
        network's policy (softmax of the logits over the legal actions), ``root_value`` and
        ``predicted_value`` are the network's value (so ``value_bootstrap="search"`` bootstraps
        from it, and the initial ``value_error`` priority is 0). Learning from them alone
        distills the network into itself: pair it with reanalysis (``buffer_reanalyze``, or
        ``reanalyze_ratio`` > 0) to give the policy a search target. The action is sampled
        from the policy sharpened by :meth:`collect_temperature`.
        """
        model = self.acting_model
        model.eval()
        with torch.inference_mode(), self.precision.autocast():
            root = model.initial_inference(self.observation_tensor(obs))
        return self.pure_policy_result(root, action_mask, env_step)

    def pure_policy_result(self, root: Any, action_mask: np.ndarray, env_step: int) -> ActResult:
        """:meth:`pure_policy_collect`'s decision from an initial inference ``root``
        (``policy_logits [N, A]``, ``value [N]``)."""
        legal = np.asarray(action_mask, dtype=bool)
        logits = root.policy_logits.float().cpu()
        logits = logits.masked_fill(~torch.as_tensor(legal), float("-inf"))
        probs = torch.softmax(logits, dim=1).numpy().astype(np.float32)
        action = sample_actions(probs, self.collect_temperature(env_step), self.rng, legal)
        value = root.value.float().cpu().numpy()
        return ActResult(action=action, visit_policy=probs, root_value=value, predicted_value=value)

    def evaluate(self, obs: np.ndarray, action_mask: np.ndarray, to_play: np.ndarray) -> ActResult:
        """Search without noise (``eval_num_simulations``) and take the most visited action
        (first on ties)."""
        predicted, result = self._search(self.eval_search, obs, action_mask, to_play, False)
        visits = result.visit_counts.numpy()
        visits = np.where(np.asarray(action_mask, bool), visits, -1)
        return self._act_result(visits.argmax(axis=1).astype(np.int64), result, predicted)

    def _search(
        self,
        search: MuZeroSearch,
        obs: np.ndarray,
        action_mask: np.ndarray,
        to_play: np.ndarray,
        noise: bool,
    ) -> tuple[torch.Tensor, Any]:
        model = self.acting_model
        model.eval()
        with torch.inference_mode(), self.precision.autocast():
            root = model.initial_inference(self.observation_tensor(obs))
            result = search.search(root, action_mask, to_play, add_exploration_noise=noise)
        return root.value, result

    def observation_tensor(self, obs: np.ndarray) -> torch.Tensor:
        """``obs [N, *O]`` as float32 on the policy's device (integer frames are copied in
        their own dtype and cast on the device)."""
        return as_device_tensor(obs, self.device, torch.float32)

    @staticmethod
    def _act_result(action: np.ndarray, result: Any, predicted: torch.Tensor) -> ActResult:
        return ActResult(
            action=action,
            visit_policy=result.policy_target.numpy(),
            root_value=result.root_value.numpy(),
            predicted_value=predicted.float().cpu().numpy(),
        )

    # -- learning --------------------------------------------------------------------------

    def learn(self, batch: Batch[np.ndarray] | DeviceBatch) -> LearnResult:
        """One gradient update on a batch of ``ReplayBuffer.sample`` (or one already prepared
        by :meth:`device_batch`); see the module doc."""
        self.model.train()
        batch = self.device_batch(batch)
        # Normalisation statistics move during the forward pass; keep them to undo a skip.
        saved_buffers = [b.detach().clone() for b in self.model.buffers()]
        with self.precision.autocast():
            targets = self.compute_targets(batch)
            losses, root_value_logits = self.forward_losses(batch, targets)
        weights = batch.tensors.weights.float()
        total = (weights * losses["per_sample"].float()).mean()
        info = {k: float(v.detach().mean()) for k, v in losses.items() if k != "per_sample"}
        info["total_loss"] = float(total.detach())
        if not np.isfinite(info["total_loss"]):
            return self._skip(info, "loss", saved_buffers)
        self.optimizer.zero_grad(set_to_none=True)
        self.precision.backward(total)
        self.precision.unscale(self.optimizer)
        grad_norm = float(
            nn.utils.clip_grad_norm_(self.model.parameters(), float(self.cfg.grad_clip_value))
        )
        info["grad_norm"] = grad_norm
        if not np.isfinite(grad_norm):
            self.precision.overflowed()
            self.optimizer.zero_grad(set_to_none=True)
            return self._skip(info, "gradient norm", saved_buffers)
        self.precision.step(self.optimizer)
        info["lr"] = float(self.optimizer.param_groups[0]["lr"])
        self.lr_scheduler.step()
        self.train_iter += 1
        update_target(self.target_model, self.model, self.train_iter, self.cfg)
        with torch.no_grad():
            predicted = self.model.value_support.logits_to_scalar(root_value_logits)
            error = (predicted - targets.value[:, 0]).abs()
        info["predicted_value"] = float(predicted.mean())
        info["target_value"] = float(targets.value[:, 0].mean())
        priorities = error.double().cpu().numpy() + float(self.cfg.priority_eps)
        return LearnResult(info=info, priorities=priorities)

    def device_batch(self, batch: Batch[np.ndarray] | DeviceBatch) -> DeviceBatch:
        """The batch as the learner uses it: augmented (``use_augmentation``), with the loss
        masks (``value_mask``, ``reward_mask``) and the reward head's
        targets (``reward_targets``) computed on the host, and every array moved to the
        device in one copy (:class:`~pipezero.data.transfer.DeviceBatch`)."""
        if isinstance(batch, DeviceBatch):
            return batch
        if self.cfg.use_augmentation:
            assert self.symmetries is not None
            batch = augment_batch(batch, self.symmetries, self.rng)
        value_mask, reward_mask, _ = loss_masks(batch)
        host = batch.replace(
            value_mask=value_mask,
            reward_mask=reward_mask,
            reward_targets=np.asarray(self.reward_targets(batch), dtype=np.float32),
        )
        return DeviceBatch.move(host, self.device)

    def forward_losses(
        self, batch: DeviceBatch, targets: UnrollTargets
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """The learner model's forward pass over ``batch`` and its losses: the per-row losses
        of :meth:`losses` (``per_sample [B]`` among them) and the root positions' value logits
        ``[B, 2S + 1]``, from which :meth:`learn` computes the new priorities.

        MuZero unrolls the dynamics along the stored actions (:meth:`unroll`); a policy that
        trains its model another way (UniZero's teacher forcing) overrides this method and
        keeps the rest of :meth:`learn` (skipping, clipping, stepping, target update,
        priorities)."""
        unroll = self.unroll(batch.tensors.obs.float(), self.unroll_actions(batch))
        return self.losses(unroll, targets, batch), unroll.value_logits[:, 0]

    def unroll_actions(self, batch: DeviceBatch) -> torch.Tensor:
        """``[B, K]`` int64 actions to unroll (continuous-action policies override this)."""
        return batch.tensors.actions.long()

    def _skip(self, info: dict[str, float], what: str, buffers: list[torch.Tensor]) -> LearnResult:
        with torch.no_grad():
            for live, saved in zip(self.model.buffers(), buffers, strict=True):
                live.copy_(saved)
        info["nonfinite"] = 1.0
        logger.warning("non-finite %s, update %d skipped: %s", what, self.train_iter + 1, info)
        return LearnResult(info=info, priorities=None, skipped=True)

    def compute_targets(self, batch: DeviceBatch) -> UnrollTargets:
        """Value, reward and policy targets of a batch, with their masks (reanalysing the
        first ``reanalyze_ratio`` of the rows)."""
        value = bootstrapped_value_targets(batch, self.target_model, str(self.cfg.value_bootstrap))
        rows = num_reanalyzed_rows(batch.host.batch_size, float(self.cfg.reanalyze_ratio))
        if rows:
            policy = reanalyze_policy(
                batch.host, rows, self.target_model, self.reanalyze_search, self.device
            )
            batch = batch.replace(target_policy=policy)
        reward = None if batch.host.reward_targets is not None else self.reward_targets(batch.host)
        return unroll_targets(batch, value, reward)

    def reward_targets(self, batch: Batch[np.ndarray]) -> np.ndarray:
        """``[B, K]`` targets of the reward head: the stored rewards."""
        return batch.rewards

    def dynamics_hidden(self, step: int, hidden: Any) -> Any:
        """Recurrent reward state entering unroll step ``step`` (none for MuZero)."""
        return None

    def unroll(self, obs: torch.Tensor, actions: torch.Tensor) -> Unroll:
        """Run the model along the stored actions: ``obs [B, *O]``, ``actions [B, K]``."""
        model = self.model
        scale = float(self.cfg.dynamics_gradient_scale)
        latent = model.representation(obs)
        latents, reward_logits = [latent], []
        hidden = None
        for k in range(actions.shape[1]):
            hidden = self.dynamics_hidden(k, hidden)
            latent, logits, hidden = model.dynamics(
                scale_gradient(latent, scale), actions[:, k], hidden
            )
            latents.append(latent)
            reward_logits.append(logits)
        stacked = torch.stack(latents, dim=1)  # [B, K+1, *L]
        b, k1 = stacked.shape[:2]
        policy_logits, value_logits = model.prediction(stacked.flatten(0, 1))
        if reward_logits:
            rewards = torch.stack(reward_logits, dim=1)
        else:
            rewards = value_logits.new_zeros(b, 0, model.reward_support.size)
        return Unroll(
            latents=stacked,
            policy_logits=policy_logits.view(b, k1, -1),
            value_logits=value_logits.view(b, k1, -1),
            reward_logits=rewards,
        )

    def losses(
        self, unroll: Unroll, targets: UnrollTargets, batch: DeviceBatch
    ) -> dict[str, torch.Tensor]:
        """Per-row losses ``[B]``: ``policy_loss``, ``value_loss``, ``reward_loss`` (already
        weighted over the unroll) and their weighted sum ``per_sample``."""
        c = self.cfg
        w = unroll_step_weights(unroll.reward_logits.shape[1], self.device)
        value_ce = support_cross_entropy(
            unroll.value_logits, targets.value, self.model.value_support
        )
        reward_ce = support_cross_entropy(
            unroll.reward_logits, targets.reward, self.model.reward_support
        )
        policy_ce = soft_cross_entropy(unroll.policy_logits, targets.policy)
        out = {
            "policy_loss": (policy_ce * targets.policy_mask * w).sum(1),
            "value_loss": (value_ce * targets.value_mask * w).sum(1),
            "reward_loss": (reward_ce * targets.reward_mask * w[1:]).sum(1),
        }
        out["per_sample"] = (
            float(c.policy_loss_weight) * out["policy_loss"]
            + float(c.value_loss_weight) * out["value_loss"]
            + float(c.reward_loss_weight) * out["reward_loss"]
        )
        weight = self.ssl_loss_weight
        if weight > 0 and unroll.reward_logits.shape[1] > 0:
            out["consistency_loss"] = self.consistency_loss(unroll, batch)
            out["per_sample"] = out["per_sample"] + weight * out["consistency_loss"]
        return out

    def consistency_loss(self, unroll: Unroll, batch: DeviceBatch) -> torch.Tensor:
        """EfficientZero's temporal consistency (SimSiam) ``[B]``: the latent reached after
        ``k`` dynamics steps, through the projection and prediction heads, is pulled towards
        the detached projection of the representation of the real observation ``k`` steps
        later; weighted over the unroll like the other losses, masked after the episode's
        final observation."""
        if batch.tensors.unroll_obs is None:
            raise ValueError(
                "the consistency loss needs the observations along the unroll; sample the "
                "batch with ReplayBuffer.sample(..., with_unroll_obs=True)"
            )
        b, k = unroll.latents.shape[0], unroll.reward_logits.shape[1]
        next_obs = batch.tensors.unroll_obs.float()
        mask = batch.tensors.unroll_obs_mask.float()
        with torch.no_grad():
            target = self.model.project(
                self.model.representation(next_obs.flatten(0, 1)), with_grad=False
            )
        online = self.model.project(unroll.latents[:, 1:].flatten(0, 1), with_grad=True)
        similarity = negative_cosine_similarity(online.float(), target.float()).view(b, k)
        w = unroll_step_weights(k, self.device)[1:]
        return (similarity * mask * w).sum(1)

    # -- weights and state -----------------------------------------------------------------

    def acting_copy(self, seed: int) -> MuZeroPolicy:
        """A policy for another role of an async run (collector or evaluator): it acts like
        this one, but with its own copy of the acting model (loaded only through
        :meth:`set_weights`), its own searches and its own random generators seeded by
        ``seed``, so acting never races with the optimizer or with the other role.

        The copy is for ``collect`` / ``evaluate`` / ``set_weights`` only; learning and
        checkpoints stay with this policy (it shares this policy's learner model and
        optimizer by reference).
        """
        actor = copy.copy(self)
        actor.share_acting_model = False
        actor.acting_model = copy.deepcopy(self.acting_model).eval().requires_grad_(False)
        actor.rng = np.random.default_rng(seed)
        mcts = self.mcts_config(seed)
        actor.collect_search = self.search_class(actor.acting_model, mcts)
        actor.eval_search = self.search_class(actor.acting_model, self.eval_mcts_config(seed))
        actor._published = None
        return actor
