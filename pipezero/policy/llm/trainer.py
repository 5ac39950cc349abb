"""The on-policy update shared by APPO, GRPO and TPPO (:mod:`pipezero.policy.llm.algorithms`).

The trainers differ only in how they turn step rewards into per-token advantages
(:meth:`OnPolicyTrainer.advantages`). The policy trains only its LoRA adapter (the base model
is frozen); the critic reads the base model's hidden states (adapter off), computed once per
batch, and trains only itself.
Ratios and clipping are per token; a minibatch's policy step is skipped when the approximate
KL between the policy and the one that collected the data already exceeds ``target_kl``.
Log-probabilities and entropies are those of ``softmax(logits / policy.temperature)``, the
distribution the rollouts sampled from (and whose log-probabilities they recorded).

Every tensor of an update lives on the policy's device (the batch is packed on the host and
moved once); the language model runs under the policy's autocast (``amp``), and with ``fp16``
the adapter's gradients are scaled. The critic and every loss compute in float32. The
minibatch shuffling generator stays on the CPU, so CPU and CUDA runs draw the same
minibatches.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from pipezero.policy.llm.advantages import (
    GRPO_MODES,
)
from pipezero.policy.llm.batch import TokenBatch, build_token_batch
from pipezero.policy.llm.losses import (
    approx_kl,
    clipped_value_loss,
    entropy_from_logits,
    kl_to_base,
    masked_mean,
    ppo_policy_loss,
    token_logprobs,
)
from pipezero.policy.llm.policy import LLMPolicy
from pipezero.policy.llm.rewards import StepRewards
from pipezero.policy.llm.rollout import Rollout
from pipezero.policy.policy_state import to_cpu

__all__ = [
    "GRPO_CREDITS",
    "OLD_LOGPROBS",
    "OnPolicyConfig",
    "OnPolicyTrainer",
    "Prepared",
    "ValueData",
]

GRPO_CREDITS = ("trajectory", "step")
OLD_LOGPROBS = ("rollout", "recompute")


@dataclass(frozen=True)
class OnPolicyConfig:
    """Hyper-parameters shared by the three trainers (defaults: the reference system's, with
    its learning rates for a 1.5B model; the tiny LM of the recipes needs larger ones).

    Attributes:
        gamma: discount between steps.
        gae_lambda: GAE lambda (between steps, and between tokens for TPPO).
        clip_ratio: PPO clip range of the per-token ratio.
        entropy_coef: weight of the entropy bonus.
        target_kl: skip a minibatch's policy step when the approximate KL exceeds it
            (``None``: never skip; a negative value skips every policy step, which trains
            the critic alone, e.g. to warm it up).
        max_grad_norm: gradient norm clip (policy and critic separately).
        value_clip: clip range of the value update around the old values.
        huber_delta: Huber threshold of the value loss.
        policy_lr, critic_lr: Adam learning rates of the adapter and of the critic.
        update_epochs: passes over each batch.
        minibatch_size: trajectories per minibatch.
        kl_coef: weight of a KL penalty to the frozen base model (0: none).
        normalize_advantages: whiten APPO/TPPO token advantages over the batch.
        grpo_normalization: ``"grouped"`` (per prompt) or ``"batch"`` (across the batch).
        grpo_credit: ``"trajectory"`` (a trajectory's total reward, normalised, on all its
            tokens) or ``"step"`` (normalised step rewards summed from each step to the end).
        old_logprobs: where the ratios start from: ``"rollout"``, the log-probabilities
            recorded while sampling (the behaviour policy's own; no extra forward pass), or
            ``"recompute"``, a forward pass over the batch before the epochs (for sampling
            and training that compute differently, e.g. under bf16/fp16 autocast).
        seed: seeds the minibatch shuffling.
    """

    gamma: float = 0.95
    gae_lambda: float = 0.95
    clip_ratio: float = 0.2
    entropy_coef: float = 0.01
    target_kl: float | None = 0.02
    max_grad_norm: float = 0.5
    value_clip: float = 0.2
    huber_delta: float = 1.0
    policy_lr: float = 1e-6
    critic_lr: float = 5e-5
    update_epochs: int = 1
    minibatch_size: int = 16
    kl_coef: float = 0.0
    normalize_advantages: bool = True
    grpo_normalization: str = "grouped"
    grpo_credit: str = "trajectory"
    old_logprobs: str = "rollout"
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("gamma", "gae_lambda"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)!r}")
        for name in ("clip_ratio", "max_grad_norm", "value_clip", "policy_lr", "critic_lr"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("update_epochs", "minibatch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if self.grpo_credit not in GRPO_CREDITS:
            raise ValueError(f"grpo_credit must be one of {GRPO_CREDITS}, got {self.grpo_credit!r}")
        if self.old_logprobs not in OLD_LOGPROBS:
            raise ValueError(
                f"old_logprobs must be one of {OLD_LOGPROBS}, got {self.old_logprobs!r}"
            )
        if self.grpo_normalization not in GRPO_MODES:
            raise ValueError(
                f"grpo_normalization must be one of {GRPO_MODES}, got {self.grpo_normalization!r}"
            )


@dataclass
class Prepared:
    """What is computed once per batch, before the epochs."""

    old_logprobs: torch.Tensor  # [B, L-1] (the batch's rollout_logprobs unless recomputed)
    base_logprobs: torch.Tensor | None  # [B, L-1]
    features: torch.Tensor | None  # [B, L, H] base hidden states


@dataclass
class ValueData:
    """Critic training examples: features and targets of every valued state."""

    features: torch.Tensor  # [N, H]
    old_values: torch.Tensor  # [N]
    returns: torch.Tensor  # [N]


class OnPolicyTrainer:
    """The shared PPO update; subclasses define :meth:`advantages`.

    Args:
        policy: the agent (its base model is frozen here, its adapter trained).
        config: hyper-parameters.
    """

    name: ClassVar[str] = "ppo"
    uses_critic: ClassVar[bool] = True

    def __init__(self, policy: LLMPolicy, config: OnPolicyConfig | None = None) -> None:
        self.policy = policy
        self.precision = policy.precision
        self.config = cfg = config if config is not None else OnPolicyConfig()
        lm = policy.lm
        for p in lm.base_parameters():
            p.requires_grad_(False)
        for p in lm.adapter_parameters():
            p.requires_grad_(True)
        self.policy_opt = torch.optim.Adam(lm.adapter_parameters(), lr=cfg.policy_lr)
        self.critic_opt: torch.optim.Optimizer | None = None
        if self.uses_critic:
            if policy.critic is None:
                raise ValueError(f"{self.name.upper()} needs a critic: build LLMPolicy(critic=...)")
            self.critic_opt = torch.optim.Adam(policy.critic.parameters(), lr=cfg.critic_lr)
        self.generator = torch.Generator(device="cpu").manual_seed(cfg.seed)

    @property
    def device(self) -> torch.device:
        """The policy's device, where every tensor of an update lives."""
        return self.policy.device

    # -- advantages (per algorithm) ---------------------------------------------------------
    def advantages(
        self, batch: TokenBatch, prep: Prepared
    ) -> tuple[torch.Tensor, ValueData | None]:
        """``(advantages [B, L-1] on generated tokens, critic training data or None)``."""
        raise NotImplementedError

    # -- shared update ----------------------------------------------------------------------
    @torch.no_grad()
    def _prepare(self, batch: TokenBatch) -> Prepared:
        lm = self.policy.lm
        lm.eval()
        base_lp, features = None, None
        if self.uses_critic or self.config.kl_coef > 0:
            with lm.disable_adapter(), self.precision.autocast():
                base = lm(batch.input_ids, attention_mask=batch.valid)
            features = base.hidden.float()
            base_lp = token_logprobs(self._sampling_logits(base.logits[:, :-1]), batch.targets)
        if self.config.old_logprobs == "rollout":
            return Prepared(batch.rollout_logprobs, base_lp, features)
        with self.precision.autocast():
            out = lm(batch.input_ids, attention_mask=batch.valid)
        old_lp = token_logprobs(self._sampling_logits(out.logits[:, :-1]), batch.targets)
        return Prepared(old_lp, base_lp, features)

    def _sampling_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """``logits / temperature``: the logits of the distribution the rollouts sampled."""
        temperature = self.policy.temperature
        return logits if temperature == 1.0 else logits.float() / temperature

    def _critic(self, features: torch.Tensor) -> torch.Tensor:
        assert self.policy.critic is not None
        return self.policy.critic(features)

    def learn(self, rollout: Rollout, rewards: StepRewards) -> dict[str, float]:
        """One update on a collection: advantages, then ``update_epochs`` passes of clipped
        PPO over minibatches of trajectories. Returns statistics (``updates`` = minibatch
        steps attempted; ``rollout_logprob_gap`` = the largest difference between a token's
        log-probability recorded at sampling and one computed by a forward pass with the same
        weights: over the batch when ``old_logprobs="recompute"``, else over the first
        minibatch, before its step)."""
        pairs = [
            (t, r)
            for t, r in zip(rollout.trajectories, rewards.rewards, strict=True)
            if t.num_steps
        ]
        if not pairs:
            return {"updates": 0.0}
        batch = build_token_batch(
            [t for t, _ in pairs], [r for _, r in pairs], self.policy.tokenizer.pad_id
        ).to(self.device)
        prep = self._prepare(batch)
        adv, value_data = self.advantages(batch, prep)
        cfg = self.config
        lm = self.policy.lm
        n = batch.input_ids.shape[0]
        stats: dict[str, list[float]] = {}
        for _ in range(cfg.update_epochs):
            order = torch.randperm(n, generator=self.generator, device="cpu").to(self.device)
            chunks = order.split(cfg.minibatch_size)
            value_chunks = self._value_chunks(value_data, len(chunks))
            for rows, vrows in zip(chunks, value_chunks, strict=True):
                lm.train()
                self._policy_step(batch.select(rows), prep, adv, rows, stats)
                if value_data is not None:
                    self._critic_step(value_data, vrows, stats)
        out = {k: float(np.mean(v)) for k, v in stats.items()}
        out["updates"] = float(cfg.update_epochs * len(order.split(cfg.minibatch_size)))
        out["advantage_abs"] = float(masked_mean(adv.abs(), batch.action))
        if cfg.old_logprobs == "recompute":
            # how far the log-probs recorded at sampling are from the ones the ratios start
            # from (the same tokens, the same temperature: float noise, unless autocast differs)
            gap = (prep.old_logprobs - batch.rollout_logprobs).abs()[batch.action]
            out["rollout_logprob_gap"] = float(gap.max()) if gap.numel() else 0.0
        return out

    def _value_chunks(self, data: ValueData | None, count: int) -> list[torch.Tensor | None]:
        if data is None:
            return [None] * count
        order = torch.randperm(len(data.returns), generator=self.generator, device="cpu")
        return list(order.to(self.device).tensor_split(count))

    def _policy_step(
        self,
        mb: TokenBatch,
        prep: Prepared,
        adv: torch.Tensor,
        rows: torch.Tensor,
        stats: dict[str, list[float]],
    ) -> None:
        cfg = self.config
        width = mb.input_ids.shape[1] - 1
        old_lp = prep.old_logprobs[rows, :width]
        with self.precision.autocast():
            out = self.policy.lm(mb.input_ids, attention_mask=mb.valid)
        logits = self._sampling_logits(out.logits[:, :-1])
        lp = token_logprobs(logits, mb.targets)
        mask = mb.action
        if cfg.old_logprobs == "rollout" and "rollout_logprob_gap" not in stats:
            # the first minibatch runs the weights that sampled: recorded vs recomputed
            gap = (lp.detach() - old_lp).abs()[mask]
            stats["rollout_logprob_gap"] = [float(gap.max()) if gap.numel() else 0.0]
        kl = float(approx_kl(lp.detach(), old_lp, mask))
        stats.setdefault("approx_kl", []).append(kl)
        skip = cfg.target_kl is not None and kl > cfg.target_kl
        stats.setdefault("policy_skipped", []).append(float(skip))
        if skip:
            return
        pg_loss, pg_stats = ppo_policy_loss(lp, old_lp, adv[rows, :width], mask, cfg.clip_ratio)
        entropy = masked_mean(entropy_from_logits(logits), mask)
        loss = pg_loss - cfg.entropy_coef * entropy
        if cfg.kl_coef > 0:
            assert prep.base_logprobs is not None
            kl_base = kl_to_base(lp, prep.base_logprobs[rows, :width], mask)
            loss = loss + cfg.kl_coef * kl_base
            stats.setdefault("kl_to_base", []).append(float(kl_base.detach()))
        self.policy_opt.zero_grad(set_to_none=True)
        self.precision.backward(loss)
        self.precision.unscale(self.policy_opt)
        params = self.policy.lm.adapter_parameters()
        norm = torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
        self.precision.step(self.policy_opt)  # fp16: skipped when the gradients overflowed
        stats.setdefault("policy_loss", []).append(float(pg_loss.detach()))
        stats.setdefault("entropy", []).append(float(entropy.detach()))
        stats.setdefault("clipfrac", []).append(pg_stats["clipfrac"])
        stats.setdefault("policy_grad_norm", []).append(float(norm))

    def _critic_step(
        self, data: ValueData, rows: torch.Tensor | None, stats: dict[str, list[float]]
    ) -> None:
        assert self.critic_opt is not None and rows is not None and self.policy.critic is not None
        if len(rows) == 0:
            return
        cfg = self.config
        values = self._critic(data.features[rows])
        loss = clipped_value_loss(
            values,
            data.old_values[rows],
            data.returns[rows],
            torch.ones_like(values, dtype=torch.bool),
            cfg.value_clip,
            cfg.huber_delta,
        )
        self.critic_opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.policy.critic.parameters(), cfg.max_grad_norm)
        self.critic_opt.step()
        stats.setdefault("value_loss", []).append(float(loss.detach()))

    # -- checkpointing ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Policy, optimizers and shuffling generator: everything to resume, as CPU tensors
        (a run trained on a GPU resumes on a CPU and the other way round)."""
        state = {
            "policy": self.policy.state_dict(),
            "policy_opt": self.policy_opt.state_dict(),
            "generator": self.generator.get_state(),
            "config": asdict(self.config),
        }
        if self.critic_opt is not None:
            state["critic_opt"] = self.critic_opt.state_dict()
        if self.precision.scaling:
            state["amp_scaler"] = self.precision.state_dict()
        return to_cpu(state)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (the optimizers move their state to the parameters'
        device)."""
        self.policy.load_state_dict(state["policy"])
        self.policy_opt.load_state_dict(state["policy_opt"])
        self.generator.set_state(state["generator"])
        if self.critic_opt is not None:
            self.critic_opt.load_state_dict(state["critic_opt"])
        self.precision.load_state_dict(state.get("amp_scaler", {}))
