"""What the LLM policy needs from a causal language model (ours or a Hugging Face one)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import torch

if TYPE_CHECKING:
    from pipezero.model.lm.generate import LineRecorder

__all__ = ["CausalLMProtocol", "LMOutput", "TokenizerProtocol", "device_of"]


@dataclass
class LMOutput:
    """Output of a causal LM forward pass.

    Attributes:
        logits: ``[B, L, V]`` next-token logits at every position.
        hidden: ``[B, L, H]`` last-layer hidden states (after the final norm).
        past: key/value cache to continue from (``None`` unless ``use_cache``).
    """

    logits: torch.Tensor
    hidden: torch.Tensor
    past: Any = None


@runtime_checkable
class TokenizerProtocol(Protocol):
    """Text <-> token ids."""

    pad_id: int
    eos_id: int

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``."""
        ...

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ``ids`` (special tokens dropped)."""
        ...

    def stop_token_mask(self) -> torch.Tensor:
        """``[V]`` bool: the tokens that end a reasoning line (their text holds a newline)."""
        ...


@runtime_checkable
class CausalLMProtocol(Protocol):
    """A causal LM with a LoRA adapter that can be switched off.

    ``attention_mask [B, P + L]`` marks real tokens (left padding is allowed) over the cached
    ``P`` positions and the ``L`` new ones; ``position_ids [B, L]`` count real tokens from 0.
    """

    tokenizer: TokenizerProtocol
    hidden_size: int

    def __call__(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        past: Any = None,
        use_cache: bool = False,
    ) -> LMOutput:
        """Logits and hidden states of ``input_ids [B, L]``."""
        ...

    def disable_adapter(self) -> AbstractContextManager[None]:
        """Within the block the model computes as its base model (adapter off)."""
        ...

    def adapter_parameters(self) -> list[torch.nn.Parameter]:
        """The trainable adapter (LoRA) parameters."""
        ...

    def base_parameters(self) -> list[torch.nn.Parameter]:
        """Every other parameter (frozen during RL; trained by the supervised warm start)."""
        ...

    def generate_tokens(
        self,
        contexts: Sequence[Sequence[int]],
        recorder: LineRecorder,
        *,
        greedy: bool,
        temperature: float,
        generator: torch.Generator | None,
    ) -> None:
        """Continue every context one token at a time, handing each step's tokens ``[B]``
        and their log-probabilities ``[B]`` to ``recorder.push``, until ``recorder.done``
        (or ``recorder.max_tokens`` tokens); each token drawn from
        ``softmax(logits / temperature)`` with ``generator`` (or the argmax when ``greedy``)
        and its log-probability under that distribution recorded. The recorder cuts the
        tokens into lines and decides when a row stops. Called through
        :func:`pipezero.model.lm.generate.generate_lines` or
        :func:`~pipezero.model.lm.generate.generate_episodes`, which check the arguments; a
        model may implement it with :func:`~pipezero.model.lm.generate.sample_with_cache`
        over its own forward pass."""
        ...


def device_of(module: torch.nn.Module) -> torch.device:
    """The device of ``module``'s parameters (the CPU for a module without any)."""
    for p in module.parameters():
        return p.device
    return torch.device("cpu")
