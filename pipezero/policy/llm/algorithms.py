"""APPO, TPPO and GRPO: how each turns step rewards into per-token advantages.

- :class:`APPOTrainer`: step-level GAE with a critic reading the state's last token;
- :class:`TPPOTrainer`: token-level GAE with a critic before every generated token;
- :class:`GRPOTrainer`: no critic; each trajectory's total reward normalised within its group
  of samples of one prompt (or across the batch).

The update itself (clipped PPO, KL skip, critic step) is :class:`OnPolicyTrainer`'s.
"""

from __future__ import annotations

import torch

from pipezero.policy.llm.advantages import (
    gae,
    grpo_advantages,
    grpo_step_advantages,
    right_align,
    tppo_advantages,
    whiten,
)
from pipezero.policy.llm.batch import TokenBatch
from pipezero.policy.llm.trainer import OnPolicyTrainer, Prepared, ValueData

__all__ = ["APPOTrainer", "GRPOTrainer", "TPPOTrainer"]


def _unalign(aligned: torch.Tensor, lengths: torch.Tensor, width: int) -> torch.Tensor:
    """Inverse of :func:`right_align`: ``[T, B]`` -> ``[B, width]`` (zeros past each length)."""
    out = torch.zeros((aligned.shape[1], width), dtype=aligned.dtype, device=aligned.device)
    t = aligned.shape[0]
    for b, n in enumerate(lengths.tolist()):
        out[b, :n] = aligned[t - n :, b]
    return out


class APPOTrainer(OnPolicyTrainer):
    """Step-level PPO: ``V(s_t)`` from the last token of the state, GAE over steps; each
    token of step ``t`` gets the step's advantage ``A_t``."""

    name = "appo"

    @torch.no_grad()
    def advantages(
        self, batch: TokenBatch, prep: Prepared
    ) -> tuple[torch.Tensor, ValueData | None]:
        assert prep.features is not None
        cfg = self.config
        device = batch.device
        rows = torch.arange(batch.input_ids.shape[0], device=device)
        feats = prep.features[rows[:, None], batch.step_value_pos]  # [B, S, H]
        values = self._critic(feats) * batch.step_mask
        boot = self._critic(prep.features[rows, batch.last_pos]) * ~batch.done
        lengths = batch.num_steps
        dones = [
            torch.arange(n, device=device) == n - 1
            if d
            else torch.zeros(n, dtype=torch.bool, device=device)
            for n, d in zip(lengths.tolist(), batch.done.tolist(), strict=True)
        ]
        adv_t, ret_t = gae(
            right_align([batch.rewards[b, :n] for b, n in enumerate(lengths.tolist())]),
            right_align([values[b, :n] for b, n in enumerate(lengths.tolist())]),
            right_align(dones, fill=True),
            boot,
            cfg.gamma,
            cfg.gae_lambda,
        )
        width = batch.rewards.shape[1]
        step_adv = _unalign(adv_t, lengths, width)
        step_ret = _unalign(ret_t, lengths, width)
        adv = torch.where(batch.action, step_adv.gather(1, batch.step_of.clamp(min=0)), 0.0)
        if cfg.normalize_advantages:
            adv = whiten(adv, batch.action)
        m = batch.step_mask
        return adv, ValueData(feats[m], values[m], step_ret[m])


class TPPOTrainer(OnPolicyTrainer):
    """Token-level PPO: a value before every generated token, token-level GAE with ``gamma``
    only between steps and the step reward on the step's last token."""

    name = "tppo"

    @torch.no_grad()
    def advantages(
        self, batch: TokenBatch, prep: Prepared
    ) -> tuple[torch.Tensor, ValueData | None]:
        assert prep.features is not None
        cfg = self.config
        b_idx = torch.arange(batch.input_ids.shape[0], device=batch.device)
        grid_feats = prep.features[:, :-1]  # hidden at j = state before target token j + 1
        values = self._critic(grid_feats)  # [B, L-1]
        boot = self._critic(prep.features[b_idx, batch.last_pos]) * ~batch.done
        tok_reward = torch.where(
            batch.step_end, batch.rewards.gather(1, batch.step_of.clamp(min=0)), 0.0
        )
        rows_r, rows_v, rows_e, rows_d = [], [], [], []
        for b, done in enumerate(batch.done.tolist()):
            m = batch.action[b]
            ends = batch.step_end[b][m]
            rows_r.append(tok_reward[b][m])
            rows_v.append(values[b][m])
            rows_e.append(ends)
            last = torch.zeros_like(ends)
            if done:
                last[-1] = True
            rows_d.append(last)
        adv_t, ret_t = tppo_advantages(
            right_align(rows_r),
            right_align(rows_v),
            right_align(rows_e, fill=True),
            right_align(rows_d, fill=True),
            boot,
            cfg.gamma,
            cfg.gae_lambda,
        )
        counts = batch.action.sum(1)
        tok_adv = _unalign(adv_t, counts, int(counts.max()))
        tok_ret = _unalign(ret_t, counts, int(counts.max()))
        adv = torch.zeros_like(values)
        ret = torch.zeros_like(values)
        for b, n in enumerate(counts.tolist()):
            adv[b][batch.action[b]] = tok_adv[b, :n]
            ret[b][batch.action[b]] = tok_ret[b, :n]
        if cfg.normalize_advantages:
            adv = whiten(adv, batch.action)
        m = batch.action
        return adv, ValueData(grid_feats[m], values[m], ret[m])


class GRPOTrainer(OnPolicyTrainer):
    """Group-relative PPO without a critic: a trajectory's advantage is its total reward
    normalised within its group (``grpo_normalization="grouped"``) or across the batch
    (``"batch"``), given to each of its tokens; with ``grpo_credit="step"`` each step gets
    the sum of its and later steps' normalised rewards instead. Needs finished episodes."""

    name = "grpo"
    uses_critic = False

    @torch.no_grad()
    def advantages(
        self, batch: TokenBatch, prep: Prepared
    ) -> tuple[torch.Tensor, ValueData | None]:
        if not bool(batch.done.all()):
            raise ValueError(
                "GRPO needs whole episodes; collect with mode='episodes' (a trajectory was cut)"
            )
        mode = self.config.grpo_normalization
        if self.config.grpo_credit == "step":
            steps = grpo_step_advantages(batch.rewards, batch.step_mask, batch.group_ids, mode)
            return torch.where(batch.action, steps.gather(1, batch.step_of.clamp(min=0)), 0.0), None
        scores = (batch.rewards * batch.step_mask).sum(1)
        traj_adv = grpo_advantages(scores, batch.group_ids, mode)
        return torch.where(batch.action, traj_adv[:, None], 0.0), None
