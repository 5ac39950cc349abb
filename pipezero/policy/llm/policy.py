"""The acting side of the LLM agent: a causal LM with LoRA, its critic, and line sampling."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from pipezero.model.lm.generate import Generation, generate_lines
from pipezero.policy.llm.critic import ValueHead

__all__ = ["LLMPolicy"]


class LLMPolicy:
    """A causal LM (policy, trained through its LoRA adapter) and an optional critic.

    Args:
        lm: the language model, an ``nn.Module`` implementing
            :class:`~pipezero.model.lm.protocol.CausalLMProtocol`.
        critic: value head over the base model's hidden states (``None`` for GRPO).
        max_new_tokens: tokens per reasoning line at most.
        temperature: sampling temperature of training rollouts.
        seed: seeds the sampling generator (reproducible rollouts).
    """

    def __init__(
        self,
        lm: nn.Module,
        critic: ValueHead | None = None,
        max_new_tokens: int = 32,
        temperature: float = 1.0,
        seed: int = 0,
    ) -> None:
        if (
            isinstance(max_new_tokens, bool)
            or not isinstance(max_new_tokens, int)
            or max_new_tokens < 1
        ):
            raise ValueError(f"max_new_tokens must be an int >= 1, got {max_new_tokens!r}")
        self.lm = lm
        self.critic = critic
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.generator = torch.Generator().manual_seed(seed)
        self._adapter_names = self._names_of(lm.adapter_parameters())
        if not self._adapter_names:
            raise ValueError("the language model has no adapter parameters; add LoRA first")

    def _names_of(self, params: Sequence[nn.Parameter]) -> list[str]:
        ids = {id(p) for p in params}
        return [n for n, p in self.lm.named_parameters() if id(p) in ids]

    @property
    def tokenizer(self) -> Any:
        return self.lm.tokenizer

    def initial_context(self, state: str) -> list[int]:
        """Token ids of a first state: ``<bos>`` (if the tokenizer has one) then the text."""
        bos = getattr(self.tokenizer, "bos_id", None)
        return ([bos] if bos is not None else []) + self.tokenizer.encode(state)

    def generate(self, contexts: Sequence[Sequence[int]], greedy: bool = False) -> list[Generation]:
        """One reasoning line per context (sampled, or greedy for evaluation)."""
        self.lm.eval()
        return generate_lines(
            self.lm,
            contexts,
            self.max_new_tokens,
            greedy=greedy,
            temperature=self.temperature,
            generator=self.generator,
        )

    # -- weights ----------------------------------------------------------------------------
    def get_weights(self) -> dict[str, Any]:
        """A copy of what RL trains: adapter and critic parameters."""
        params = dict(self.lm.named_parameters())
        out: dict[str, Any] = {
            "adapter": {n: params[n].detach().clone() for n in self._adapter_names}
        }
        if self.critic is not None:
            out["critic"] = {k: v.detach().clone() for k, v in self.critic.state_dict().items()}
        return out

    def set_weights(self, weights: dict[str, Any]) -> None:
        """Load a copy made by :meth:`get_weights`."""
        params = dict(self.lm.named_parameters())
        with torch.no_grad():
            for name, value in weights["adapter"].items():
                params[name].copy_(value)
        if self.critic is not None and "critic" in weights:
            self.critic.load_state_dict(weights["critic"])

    def state_dict(self) -> dict[str, Any]:
        """Whole model, critic and sampling generator state."""
        state = {
            "lm": self.lm.state_dict(),
            "generator": self.generator.get_state(),
        }
        if self.critic is not None:
            state["critic"] = self.critic.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.lm.load_state_dict(state["lm"])
        self.generator.set_state(state["generator"])
        if self.critic is not None:
            self.critic.load_state_dict(state["critic"])
