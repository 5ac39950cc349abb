"""Use a Hugging Face ``transformers`` causal LM (with a ``peft`` LoRA adapter) as the policy's
language model.

``transformers`` and ``peft`` are optional: install them with ``pip install "pipezero[llm]"``.
Models are loaded from a local directory only (``local_files_only=True``): nothing is
downloaded.

The key/value cache is a ``transformers`` :class:`~transformers.Cache` object (a
``DynamicCache`` the model creates on the first call with ``use_cache=True``), handed back
unchanged on the next call. Its keyword is ``cache`` in the 5.x releases that deprecate
``past_key_values`` (removed in 5.40) and ``past_key_values`` before; :class:`HFCausalLM`
asks the model's ``forward`` signature which one it takes.
"""

from __future__ import annotations

import contextlib
import inspect
import os
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from pipezero.model.lm.generate import LineRecorder
from pipezero.model.lm.protocol import LMOutput

__all__ = ["HFCausalLM", "HFTokenizer", "cache_keyword", "load_hf_causal_lm", "require_hf"]


def require_hf() -> tuple[Any, Any]:
    """Import ``transformers`` and ``peft``.

    Raises:
        ImportError: one is missing, with the command that installs them.
    """
    try:
        import peft
        import transformers
    except ImportError as exc:
        raise ImportError(
            f"the Hugging Face adapter needs transformers and peft ({exc}); install them with "
            "`pip install 'pipezero[llm]'`"
        ) from exc
    return transformers, peft


class HFTokenizer:
    """A ``transformers`` tokenizer as a
    :class:`~pipezero.model.lm.protocol.TokenizerProtocol`."""

    def __init__(self, tokenizer: Any) -> None:
        self.hf = tokenizer
        if tokenizer.eos_token_id is None:
            raise ValueError("the tokenizer has no eos_token; set tokenizer.eos_token first")
        self.eos_id = int(tokenizer.eos_token_id)
        pad = tokenizer.pad_token_id
        self.pad_id = int(pad) if pad is not None else self.eos_id
        self.bos_id = None if tokenizer.bos_token_id is None else int(tokenizer.bos_token_id)
        self._stop_mask: torch.Tensor | None = None

    @property
    def vocab_size(self) -> int:
        return len(self.hf)

    def encode(self, text: str) -> list[int]:
        return list(self.hf(text, add_special_tokens=False)["input_ids"])

    def decode(self, ids: Sequence[int]) -> str:
        return self.hf.decode(list(ids), skip_special_tokens=True)

    def stop_token_mask(self) -> torch.Tensor:
        """``[V]`` bool on the CPU: tokens whose text contains a newline (computed once)."""
        if self._stop_mask is None:
            mask = torch.zeros(self.vocab_size, dtype=torch.bool, device="cpu")
            for i in range(self.vocab_size):
                if "\n" in self.hf.decode([i]):
                    mask[i] = True
            self._stop_mask = mask
        return self._stop_mask


def cache_keyword(model: Any) -> str:
    """The keyword of ``model.forward`` that takes a key/value cache: ``"cache"`` (current
    ``transformers``) or ``"past_key_values"`` (releases before the rename). ``model`` may be
    a ``peft`` model: its base model's signature is read."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    parameters = inspect.signature(base.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


class HFCausalLM(nn.Module):
    """A ``peft``-wrapped ``transformers`` causal LM implementing
    :class:`~pipezero.model.lm.protocol.CausalLMProtocol`.

    Args:
        model: a ``peft.PeftModel`` around a ``transformers`` causal LM.
        tokenizer: its tokenizer.
    """

    def __init__(self, model: Any, tokenizer: Any) -> None:
        super().__init__()
        if not hasattr(model, "disable_adapter"):
            raise TypeError(
                f"HFCausalLM needs a peft model (with disable_adapter), got "
                f"{type(model).__name__}; build it with load_hf_causal_lm or HFCausalLM.from_model"
            )
        self.model = model
        self.tokenizer = HFTokenizer(tokenizer)
        self.hidden_size = int(model.config.hidden_size)
        self._cache_keyword = cache_keyword(model)

    @classmethod
    def from_model(
        cls,
        model: Any,
        tokenizer: Any,
        lora_r: int = 8,
        lora_alpha: float = 16.0,
        target_modules: Sequence[str] = ("q_proj", "v_proj"),
        lora_dropout: float = 0.0,
    ) -> HFCausalLM:
        """Add a LoRA adapter to an in-memory ``transformers`` model (modified in place)."""
        _, peft = require_hf()
        config = peft.LoraConfig(
            r=lora_r,
            lora_alpha=lora_alpha,
            target_modules=list(target_modules),
            lora_dropout=lora_dropout,
            task_type="CAUSAL_LM",
        )
        return cls(peft.get_peft_model(model, config), tokenizer)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        past: Any = None,
        use_cache: bool = False,
    ) -> LMOutput:
        """Logits and last hidden states of ``input_ids [B, L]``; ``past`` is the
        :class:`~transformers.Cache` an earlier call with ``use_cache=True`` returned."""
        length = input_ids.shape[1]
        if attention_mask is None:
            past_len = 0 if past is None else past.get_seq_length()
            attention_mask = torch.ones(
                input_ids.shape[0], past_len + length, dtype=torch.bool, device=input_ids.device
            )
        if position_ids is None:
            position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)[:, -length:]
        out = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask.long(),
            position_ids=position_ids,
            use_cache=use_cache,
            output_hidden_states=True,
            **{self._cache_keyword: past},
        )
        cache = getattr(out, self._cache_keyword, None) if use_cache else None
        return LMOutput(out.logits, out.hidden_states[-1], cache)

    def generate_tokens(
        self,
        contexts: Sequence[Sequence[int]],
        recorder: LineRecorder,
        *,
        greedy: bool = False,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> None:
        """Sample into ``recorder`` through the model's own batched ``generate`` (left
        padding, its key/value cache, a stopping criterion asking the recorder); see
        :mod:`pipezero.model.lm.hf_generate`. Call it through ``generate_lines(lm, ...)`` or
        ``generate_episodes(lm, ...)``."""
        from pipezero.model.lm.hf_generate import generate_tokens_hf

        generate_tokens_hf(
            self.model,
            self.tokenizer,
            contexts,
            recorder,
            greedy=greedy,
            temperature=temperature,
            generator=generator,
        )

    def disable_adapter(self) -> contextlib.AbstractContextManager[None]:
        return self.model.disable_adapter()

    def adapter_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.model.named_parameters() if "lora_" in n]

    def base_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.model.named_parameters() if "lora_" not in n]


def load_hf_causal_lm(
    path: str | os.PathLike[str],
    lora_r: int = 8,
    lora_alpha: float = 16.0,
    target_modules: Sequence[str] = ("q_proj", "v_proj"),
    lora_dropout: float = 0.0,
    torch_dtype: torch.dtype = torch.float32,
) -> HFCausalLM:
    """Load a causal LM and its tokenizer from a local directory and add a LoRA adapter
    (rank 8, alpha 16 on ``q_proj``/``v_proj`` by default).

    Raises:
        ImportError: ``transformers``/``peft`` are not installed.
        FileNotFoundError: ``path`` is not a directory (nothing is fetched from a hub).
    """
    transformers, _ = require_hf()
    if not os.path.isdir(path):
        raise FileNotFoundError(
            f"{path!r} is not a local model directory; save the model there first with "
            f"model.save_pretrained(path) and tokenizer.save_pretrained(path)"
        )
    tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = transformers.AutoModelForCausalLM.from_pretrained(
        path, local_files_only=True, dtype=torch_dtype
    )
    return HFCausalLM.from_model(model, tokenizer, lora_r, lora_alpha, target_modules, lora_dropout)
