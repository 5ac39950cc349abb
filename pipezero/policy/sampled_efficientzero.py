"""Sampled EfficientZero policy (Hubert et al., 2021, on EfficientZero): continuous control
and large action spaces by searching over ``K`` sampled actions.

What changes from :class:`~pipezero.policy.efficientzero.EfficientZeroPolicy`:

- the search is :class:`~pipezero.mcts.SampledEfficientZeroSearch`: every expanded node draws
  ``K = num_of_sampled_actions`` actions — from the policy itself (``sample_from_prior=True``,
  ``beta = pi``) or uniformly (``False``) — and searches them with the importance-corrected
  prior ``(beta_hat / beta) * pi``;
- acting: ``collect`` picks one of the root's ``K`` actions from the visit counts sharpened by
  the temperature schedule, ``evaluate`` the most visited one (no noise). The executed action
  is that sampled action itself: a ``[D]`` vector in ``[-1, 1]`` (the environment adapter
  rescales it) or an action index;
- learning: the unroll follows the stored (continuous) actions, and the policy loss is on the
  visit distribution over the root's sampled actions
  (:mod:`pipezero.policy.sampled_efficientzero_losses`), minus
  ``policy_entropy_loss_weight`` times the policy entropy; value, value-prefix and consistency
  losses are EfficientZero's.

Policy reanalysis (``reanalyze_ratio > 0``) is not supported: it would have to re-sample the
stored roots' actions.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from pipezero.config import ConfigError, merge_config
from pipezero.data.batch import Batch
from pipezero.data.transfer import DeviceBatch
from pipezero.mcts import (
    ActionSampler,
    CategoricalSampler,
    GaussianSampler,
    MCTSConfig,
    SampledEfficientZeroSearch,
    UniformBoxSampler,
)
from pipezero.mcts.result import SearchResult
from pipezero.policy.base import ActResult, LearnResult
from pipezero.policy.efficientzero import EfficientZeroPolicy
from pipezero.policy.losses import unroll_step_weights
from pipezero.policy.muzero import Unroll
from pipezero.policy.sampled_efficientzero_config import SAMPLED_EFFICIENTZERO_CONFIG
from pipezero.policy.sampled_efficientzero_losses import (
    POLICY_LOSS_TYPES,
    distinct_slots,
    policy_entropy,
    sampled_action_log_probs,
    sampled_policy_loss,
)
from pipezero.policy.targets import UnrollTargets
from pipezero.policy.temperature import sample_actions


def make_sampler(model: torch.nn.Module, sample_from_prior: bool) -> ActionSampler:
    """The action sampler matching ``model``'s policy head.

    Continuous models: a tanh-squashed :class:`GaussianSampler` (from the prior) or a
    :class:`UniformBoxSampler` over ``[-1, 1]^D``; discrete models: a
    :class:`CategoricalSampler` at temperature 1 (from the prior) or infinity (uniform over
    the legal actions).
    """
    if getattr(model, "continuous_action_space", False):
        bounds = {"min_log_std": model.min_log_std, "max_log_std": model.max_log_std}
        if sample_from_prior:
            return GaussianSampler(squash=True, **bounds)
        return UniformBoxSampler(squash=True, **bounds)
    return CategoricalSampler(1.0 if sample_from_prior else math.inf)


class SampledEfficientZeroPolicy(EfficientZeroPolicy):
    """Sampled EfficientZero acting and learning behind
    :class:`~pipezero.policy.base.PolicyProtocol`.

    Args:
        cfg: the ``policy`` section (see
            :mod:`pipezero.policy.sampled_efficientzero_config`).
        model: a :class:`~pipezero.model.sampled_efficientzero.SampledEfficientZeroMLP` (or
            any EfficientZero-family model with ``continuous_action_space``,
            ``action_space_size`` and, when continuous, ``min_log_std`` / ``max_log_std``).
        **kwargs: ``seed``, ``share_acting_model``, ``device`` as for
            :class:`~pipezero.policy.muzero.MuZeroPolicy`.
    """

    default_config: Mapping[str, Any] = SAMPLED_EFFICIENTZERO_CONFIG["policy"]

    def __init__(self, cfg: Mapping[str, Any], model: torch.nn.Module, **kwargs: Any) -> None:
        if not hasattr(model, "continuous_action_space"):
            raise TypeError(
                f"SampledEfficientZeroPolicy needs a model with a sampled policy head "
                f"(continuous_action_space, action_space_size), such as "
                f"SampledEfficientZeroMLP; got {type(model).__name__}"
            )
        merged = merge_config(self.default_config, cfg)
        _validate(merged)
        self.continuous = bool(model.continuous_action_space)
        self.log_std_bounds = (
            float(getattr(model, "min_log_std", -5.0)),
            float(getattr(model, "max_log_std", 2.0)),
        )
        self.sampler = make_sampler(model, bool(merged.sample_from_prior))
        self.pure_sampler = make_sampler(model, True)  # collect_with_pure_policy: from pi
        super().__init__(cfg, model, **kwargs)
        self._eval_seed = int(self.eval_search.config.seed)

    def search_class(self, model: torch.nn.Module, config: MCTSConfig) -> Any:  # type: ignore[override]
        """Build the search drivers of :class:`MuZeroPolicy` with this policy's sampler."""
        return SampledEfficientZeroSearch(model, self.sampler, config)

    def mcts_config(self, seed: int) -> MCTSConfig:
        """EfficientZero's search settings plus ``num_of_sampled_actions``."""
        k = int(self.cfg.num_of_sampled_actions)
        return super().mcts_config(seed).replace(num_of_sampled_actions=k)

    # -- acting ----------------------------------------------------------------------------

    def _root_mask(self, action_mask: np.ndarray) -> np.ndarray | None:
        """Continuous actions have no mask; discrete roots sample only legal actions."""
        return None if self.continuous else np.asarray(action_mask, dtype=bool)

    def collect(
        self, obs: np.ndarray, action_mask: np.ndarray, to_play: np.ndarray, env_step: int
    ) -> ActResult:
        """Search with root noise for ``N`` environments and pick one of each root's ``K``
        sampled actions from the visit counts at the temperature of ``env_step`` (with
        ``cfg.collect_with_pure_policy``: :meth:`pure_policy_result`, no search)."""
        if self.cfg.get("collect_with_pure_policy", False):
            return self.pure_policy_collect(obs, action_mask, env_step)
        mask = self._root_mask(action_mask)
        predicted, result = self._search(self.collect_search, obs, mask, to_play, True)
        temperature = self.collect_temperature(env_step)
        slots = sample_actions(result.visit_counts.numpy(), temperature, self.rng)
        return self._sampled_result(slots, result, predicted)

    def pure_policy_result(self, root: Any, action_mask: np.ndarray, env_step: int) -> ActResult:
        """No search: ``K`` actions drawn from the network's policy at each root (Gaussian or
        categorical, from the prior whatever ``sample_from_prior`` says); the first is played
        (a draw from the policy, so ``env_step``'s temperature is not used), ``visit_policy
        [N, K]`` is the share of the draws each slot stands for (the empirical policy, the
        sampled-action target of a search without simulations) and ``root_value`` the
        network's value."""
        mask = self._root_mask(action_mask)
        legal = None if mask is None else torch.as_tensor(mask, device=root.policy_logits.device)
        k = int(self.cfg.num_of_sampled_actions)
        with torch.inference_mode():
            drawn = self.pure_sampler.sample(
                root.policy_logits.float(), k, legal, self.collect_search.generator
            )
        actions = drawn.actions.detach().cpu().numpy()
        if actions.dtype == np.float64:
            actions = actions.astype(np.float32)
        counts = drawn.counts.float().cpu().numpy()
        value = root.value.float().cpu().numpy()
        return ActResult(
            action=actions[:, 0],
            visit_policy=(counts / counts.sum(axis=1, keepdims=True)).astype(np.float32),
            root_value=value,
            predicted_value=value,
            sampled_actions=actions,
        )

    def evaluate(self, obs: np.ndarray, action_mask: np.ndarray, to_play: np.ndarray) -> ActResult:
        """Search without noise and take the most visited sampled action (first on ties).

        The evaluation search restarts its action sampler from a fixed seed at every call, so
        the same observations always give the same actions.
        """
        mask = self._root_mask(action_mask)
        self.eval_search.generator.manual_seed(self._eval_seed)
        predicted, result = self._search(self.eval_search, obs, mask, to_play, False)
        slots = result.visit_counts.numpy().argmax(axis=1)
        return self._sampled_result(slots, result, predicted)

    @staticmethod
    def _sampled_result(
        slots: np.ndarray, result: SearchResult, predicted: torch.Tensor
    ) -> ActResult:
        """The chosen slots' actions (``[N, D]`` float32 or ``[N]`` int64) and the search
        statistics over the ``K`` slots."""
        sampled = result.sampled_actions
        assert sampled is not None
        actions = sampled.detach().cpu().numpy()
        if actions.dtype == np.float64:
            actions = actions.astype(np.float32)
        return ActResult(
            action=actions[np.arange(len(slots)), slots],
            visit_policy=result.policy_target.numpy(),
            root_value=result.root_value.numpy(),
            predicted_value=predicted.float().cpu().numpy(),
            sampled_actions=actions,
        )

    # -- learning --------------------------------------------------------------------------

    def learn(self, batch: Batch[np.ndarray] | DeviceBatch) -> LearnResult:
        """One gradient update; see the module doc."""
        host = batch.host if isinstance(batch, DeviceBatch) else batch
        if host.root_sampled_actions is None:
            raise ValueError(
                "SampledEfficientZeroPolicy.learn needs batch.root_sampled_actions: collect "
                "with policy.sampled_algo=True so the game segments store the sampled actions"
            )
        return super().learn(batch)

    def unroll_actions(self, batch: DeviceBatch) -> torch.Tensor:
        """The actions to unroll: ``[B, K]`` int64 (discrete) or ``[B, K, D]`` float32."""
        if self.continuous:
            return batch.tensors.actions.float()
        return super().unroll_actions(batch)

    def losses(
        self, unroll: Unroll, targets: UnrollTargets, batch: DeviceBatch
    ) -> dict[str, torch.Tensor]:
        """EfficientZero's value, value-prefix and consistency losses, with the policy loss
        replaced by the sampled-action loss and the entropy bonus (all ``[B]``)."""
        b, k1 = unroll.policy_logits.shape[:2]
        # EfficientZero's losses without its policy term (a one-slot policy has zero loss)
        no_policy = unroll.policy_logits.new_zeros(b, k1, 1)
        out = super().losses(
            dataclasses.replace(unroll, policy_logits=no_policy),
            dataclasses.replace(targets, policy=no_policy),
            batch,
        )
        c = self.cfg
        sampled = batch.tensors.root_sampled_actions
        if tuple(sampled.shape[:3]) != (b, k1, targets.policy.shape[-1]):
            raise ValueError(
                f"batch.root_sampled_actions must be [B, K + 1, Ks, ...] = "
                f"[{b}, {k1}, {targets.policy.shape[-1]}, ...], got {list(sampled.shape)}"
            )
        low, high = self.log_std_bounds
        log_pi = sampled_action_log_probs(unroll.policy_logits, sampled, self.continuous, low, high)
        per_step = sampled_policy_loss(
            log_pi,
            targets.policy,
            distinct_slots(sampled, self.continuous),
            str(c.policy_loss_type),
            bool(c.normalize_prob_of_sampled_actions),
        )
        entropy = policy_entropy(unroll.policy_logits, self.continuous, low, high)
        w = unroll_step_weights(k1 - 1, self.device) * targets.policy_mask
        out["policy_loss"] = (per_step * w).sum(1)
        out["policy_entropy"] = (entropy * w).sum(1) / w.sum(1).clamp_min(1e-8)
        out["per_sample"] = (
            out["per_sample"]
            + float(c.policy_loss_weight) * out["policy_loss"]
            - float(c.policy_entropy_loss_weight) * (entropy * w).sum(1)
        )
        return out

    # -- state -----------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """:meth:`MuZeroPolicy.state_dict` plus the searches' action-sampling generators."""
        state = super().state_dict()
        state["sampler_rng"] = {
            name: getattr(self, name).generator.get_state()
            for name in ("collect_search", "eval_search", "reanalyze_search")
        }
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore from :meth:`state_dict`."""
        super().load_state_dict(state)
        for name, rng_state in state.get("sampler_rng", {}).items():
            getattr(self, name).generator.set_state(rng_state)


def _validate(cfg: Mapping[str, Any]) -> None:
    """Reject settings the sampled policy cannot honour, naming the key and the fix."""
    k = cfg["num_of_sampled_actions"]
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(f"policy.num_of_sampled_actions must be an int >= 1, got {k!r}")
    if cfg["policy_loss_type"] not in POLICY_LOSS_TYPES:
        raise ConfigError(
            f"policy.policy_loss_type must be one of {POLICY_LOSS_TYPES}, "
            f"got {cfg['policy_loss_type']!r}"
        )
    if not cfg["sampled_algo"]:
        raise ConfigError(
            "policy.sampled_algo must be True for Sampled EfficientZero: the collector has to "
            "store each root's sampled actions for the policy loss"
        )
    if float(cfg["reanalyze_ratio"]) != 0.0:
        raise ConfigError(
            f"policy.reanalyze_ratio={cfg['reanalyze_ratio']!r}: Sampled EfficientZero does not "
            "reanalyse policies (the stored roots' actions would have to be re-sampled); set 0"
        )
