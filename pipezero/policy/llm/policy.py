"""The acting side of the LLM agent: a causal LM with LoRA, its critic, and line sampling.

The policy owns the device: :class:`LLMPolicy` moves the language model and the critic there,
samples with a generator of that device, and runs the language model under its
:class:`~pipezero.policy.precision.Precision` (``amp``: ``None``, ``"bf16"`` or ``"fp16"``).
The reference model is the same language model with its adapter disabled, so the base
weights exist once. Checkpoints hold CPU tensors only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from pipezero.model.lm.generate import EpisodeDone, Generation, generate_episodes
from pipezero.policy.llm.critic import ValueHead
from pipezero.policy.policy_state import to_cpu
from pipezero.policy.precision import Precision

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
        device: where the language model, the critic and every tensor of rollout, scoring
            and learning live (``"cpu"``, ``"cuda"``, ``"cuda:1"``); the modules are moved
            there in place.
        amp: autocast of the language model: ``None`` (float32), ``"bf16"`` (CPU and CUDA)
            or ``"fp16"`` (CUDA only, with loss scaling in the trainers). Weights, optimizer
            states and checkpoints stay float32.

    Raises:
        ValueError: a bad ``max_new_tokens``, ``amp`` (``fp16`` off CUDA), or a model
            without adapter parameters.
    """

    def __init__(
        self,
        lm: nn.Module,
        critic: ValueHead | None = None,
        max_new_tokens: int = 32,
        temperature: float = 1.0,
        seed: int = 0,
        device: torch.device | str = "cpu",
        amp: str | None = None,
    ) -> None:
        if (
            isinstance(max_new_tokens, bool)
            or not isinstance(max_new_tokens, int)
            or max_new_tokens < 1
        ):
            raise ValueError(f"max_new_tokens must be an int >= 1, got {max_new_tokens!r}")
        self.device = torch.device(device)
        self.precision = Precision(amp, self.device)
        self.lm = lm.to(self.device)
        self.critic = critic.to(self.device) if critic is not None else None
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
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
        runs = self.generate_episodes(contexts, [1] * len(contexts), greedy=greedy)
        return [run[0] for run in runs]

    def generate_episodes(
        self,
        contexts: Sequence[Sequence[int]],
        max_lines: Sequence[int],
        episode_done: EpisodeDone | None = None,
        greedy: bool = False,
    ) -> list[list[Generation]]:
        """Reasoning lines for every context in one pass, until its episode ends (at most
        ``max_lines`` lines each; see :func:`~pipezero.model.lm.generate.generate_episodes`)."""
        self.lm.eval()
        with self.precision.autocast():
            return generate_episodes(
                self.lm,
                contexts,
                self.max_new_tokens,
                max_lines,
                episode_done=episode_done,
                greedy=greedy,
                temperature=self.temperature,
                generator=self.generator,
            )

    # -- weights ----------------------------------------------------------------------------
    def get_weights(self) -> dict[str, Any]:
        """A CPU copy of what RL trains: adapter and critic parameters."""
        params = dict(self.lm.named_parameters())
        out: dict[str, Any] = {
            "adapter": {n: params[n].detach().to("cpu", copy=True) for n in self._adapter_names}
        }
        if self.critic is not None:
            out["critic"] = {
                k: v.detach().to("cpu", copy=True) for k, v in self.critic.state_dict().items()
            }
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
        """Whole model, critic and sampling generator state, as CPU tensors (loadable on any
        device)."""
        state = {
            "lm": self.lm.state_dict(),
            "generator": self.generator.get_state(),
            "generator_device": self.device.type,
        }
        if self.critic is not None:
            state["critic"] = self.critic.state_dict()
        return to_cpu(state)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`, also one saved on another device type: the weights are
        copied to this policy's device; a sampling generator of another device type (its
        state does not fit this one's) is reseeded from a hash of the saved state, so the
        resumed run still samples reproducibly."""
        self.lm.load_state_dict(state["lm"])
        saved = state["generator"]
        if state.get("generator_device", "cpu") == self.device.type:
            self.generator.set_state(saved)
        else:
            digest = hashlib.sha256(saved.cpu().numpy().tobytes()).digest()
            self.generator.manual_seed(int.from_bytes(digest[:8], "little") >> 1)
        if self.critic is not None:
            self.critic.load_state_dict(state["critic"])
