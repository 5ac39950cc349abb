"""Supervised warm start: teach the base model the worked solutions (next-token loss on the
solution tokens only), with the adapter switched off."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from pipezero.envs.math_reasoning import Problem, PromptFormat
from pipezero.model.lm.protocol import device_of
from pipezero.policy.llm.losses import masked_mean, token_logprobs
from pipezero.policy.precision import Precision

__all__ = ["SFTTrainer"]


class SFTTrainer:
    """Trains every base parameter of ``lm`` on ``state -> solution + <eos>``.

    Args:
        lm: the language model (an ``nn.Module`` with the
            :class:`~pipezero.model.lm.protocol.CausalLMProtocol` methods).
        prompt: how states and solutions are written (the same as in the environment).
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        max_grad_norm: gradient norm clip.
        amp: autocast of the forward pass (``None``, ``"bf16"``, ``"fp16"`` with its own
            loss scaling), on the device of ``lm`` (where batches are moved).
    """

    def __init__(
        self,
        lm: nn.Module,
        prompt: PromptFormat,
        lr: float = 1e-3,
        weight_decay: float = 0.01,
        max_grad_norm: float = 1.0,
        amp: str | None = None,
    ) -> None:
        self.lm = lm
        self.precision = Precision(amp, device_of(lm))
        self.prompt = prompt
        self.max_grad_norm = max_grad_norm
        self.params = list(lm.base_parameters())
        self.optimizer = torch.optim.AdamW(self.params, lr=lr, weight_decay=weight_decay)

    def _sequence(self, problem: Problem) -> tuple[list[int], int]:
        tok = self.lm.tokenizer
        bos = getattr(tok, "bos_id", None)
        context = ([bos] if bos is not None else []) + tok.encode(self.prompt.render_state(problem))
        solution = [*tok.encode(self.prompt.render_solution(problem)), tok.eos_id]
        return context + solution, len(context)

    def batch(self, problems: Sequence[Problem]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(ids [B, L], valid [B, L], loss mask [B, L-1])`` of the problems' solutions, on
        the model's device (packed on the host, moved once)."""
        seqs = [self._sequence(p) for p in problems]
        width = max(len(s) for s, _ in seqs)
        host = torch.device("cpu")
        pad = self.lm.tokenizer.pad_id
        ids = torch.full((len(seqs), width), pad, dtype=torch.long, device=host)
        valid = torch.zeros((len(seqs), width), dtype=torch.bool, device=host)
        target = torch.zeros((len(seqs), width - 1), dtype=torch.bool, device=host)
        for i, (s, n_ctx) in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s, device=host)
            valid[i, : len(s)] = True
            target[i, n_ctx - 1 : len(s) - 1] = True
        device = self.precision.device
        return ids.to(device), valid.to(device), target.to(device)

    def step(self, problems: Sequence[Problem]) -> float:
        """One gradient step on ``problems``; returns the mean token loss."""
        ids, valid, target = self.batch(problems)
        trainable = [p.requires_grad for p in self.params]
        for p in self.params:
            p.requires_grad_(True)
        try:
            self.lm.train()
            with self.lm.disable_adapter(), self.precision.autocast():
                out = self.lm(ids, attention_mask=valid)
            loss = -masked_mean(token_logprobs(out.logits[:, :-1], ids[:, 1:]), target)
            self.optimizer.zero_grad(set_to_none=True)
            self.precision.backward(loss)
            self.precision.unscale(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.params, self.max_grad_norm)
            self.precision.step(self.optimizer)
        finally:
            for p, flag in zip(self.params, trainable, strict=True):
                p.requires_grad_(flag)
        return float(loss.detach())
