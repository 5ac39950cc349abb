"""A small character-level transformer language model (GPT-style, pre-norm) with LoRA."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from pipezero.model.lm.generate import LineRecorder, sample_with_cache
from pipezero.model.lm.lora import disable_adapter, inject_lora, lora_parameters
from pipezero.model.lm.protocol import LMOutput
from pipezero.model.lm.tokenizer import CharTokenizer

__all__ = ["CharLMConfig", "CharTransformerLM", "KVCache"]

#: Per layer ``(keys, values)``, each ``[B, heads, P, head_dim]``.
KVCache = tuple[tuple[torch.Tensor, torch.Tensor], ...]


@dataclass(frozen=True)
class CharLMConfig:
    """Size of :class:`CharTransformerLM`.

    Attributes:
        d_model: hidden size ``H``.
        n_layer: transformer blocks.
        n_head: attention heads (``d_model`` must be a multiple).
        d_ff: inner size of the feed-forward layers.
        max_len: longest sequence (positions) the model accepts.
        dropout: dropout on attention output and feed-forward (0 for RL).
    """

    d_model: int = 128
    n_layer: int = 4
    n_head: int = 4
    d_ff: int = 512
    max_len: int = 512
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.d_model % self.n_head:
            raise ValueError(
                f"d_model ({self.d_model}) must be a multiple of n_head ({self.n_head})"
            )


class _Attention(nn.Module):
    def __init__(self, cfg: CharLMConfig) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.q_proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.k_proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.v_proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.o_proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.dropout = nn.Dropout(cfg.dropout)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, length, d = x.shape
        return x.view(b, length, self.n_head, d // self.n_head).transpose(1, 2)

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor,
        past: tuple[torch.Tensor, torch.Tensor] | None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        q, k, v = (
            self._heads(self.q_proj(x)),
            self._heads(self.k_proj(x)),
            self._heads(self.v_proj(x)),
        )
        if past is not None:
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        b, _, length, _ = y.shape
        y = y.transpose(1, 2).reshape(b, length, -1)
        return self.dropout(self.o_proj(y)), (k, v)


class _Block(nn.Module):
    def __init__(self, cfg: CharLMConfig) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.attn = _Attention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.d_model, cfg.d_ff),
            nn.GELU(),
            nn.Linear(cfg.d_ff, cfg.d_model),
            nn.Dropout(cfg.dropout),
        )

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor] | None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        a, kv = self.attn(self.ln1(x), mask, past)
        x = x + a
        return x + self.mlp(self.ln2(x)), kv


class CharTransformerLM(nn.Module):
    """Character-level GPT: token + learned position embeddings, pre-norm blocks whose
    attention has separate ``q_proj``/``k_proj``/``v_proj``/``o_proj`` layers (LoRA targets).

    Args:
        tokenizer: the character tokenizer (its vocabulary size sizes the embeddings).
        config: model size (default :class:`CharLMConfig`).
    """

    def __init__(self, tokenizer: CharTokenizer, config: CharLMConfig | None = None) -> None:
        super().__init__()
        self.tokenizer = tokenizer
        self.config = cfg = config if config is not None else CharLMConfig()
        self.hidden_size = cfg.d_model
        self.tok_emb = nn.Embedding(tokenizer.vocab_size, cfg.d_model)
        self.pos_emb = nn.Embedding(cfg.max_len, cfg.d_model)
        self.blocks = nn.ModuleList(_Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.lm_head = nn.Linear(cfg.d_model, tokenizer.vocab_size, bias=False)
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    # -- adapter ------------------------------------------------------------------------------
    def add_lora(
        self,
        r: int = 8,
        alpha: float = 16.0,
        target_modules: Sequence[str] = ("q_proj", "v_proj"),
        dropout: float = 0.0,
    ) -> list[str]:
        """Wrap the target layers in LoRA adapters; returns the names wrapped."""
        if self.adapter_parameters():
            raise RuntimeError("this model already has LoRA adapters")
        return inject_lora(self, target_modules, r, alpha, dropout)

    def disable_adapter(self) -> contextlib.AbstractContextManager[None]:
        """Within the block the model is its base model (no-op without adapters)."""
        return disable_adapter(self)

    def adapter_parameters(self) -> list[nn.Parameter]:
        return lora_parameters(self)

    def base_parameters(self) -> list[nn.Parameter]:
        adapter = {id(p) for p in self.adapter_parameters()}
        return [p for p in self.parameters() if id(p) not in adapter]

    def generate_tokens(
        self,
        contexts: Sequence[Sequence[int]],
        recorder: LineRecorder,
        *,
        greedy: bool = False,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> None:
        """Sample into ``recorder`` by :func:`~pipezero.model.lm.generate.sample_with_cache`
        over this model's key/value cache (call it through ``generate_lines(lm, ...)`` or
        ``generate_episodes(lm, ...)``)."""
        sample_with_cache(
            self, contexts, recorder, greedy=greedy, temperature=temperature, generator=generator
        )

    # -- forward ------------------------------------------------------------------------------
    def _positions(
        self,
        attention_mask: torch.Tensor | None,
        past_len: int,
        length: int,
        batch: int,
        device: torch.device,
    ) -> torch.Tensor:
        if attention_mask is None:
            pos = torch.arange(past_len, past_len + length, device=device).expand(batch, length)
        else:
            pos = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)[:, -length:]
        if int(pos.max()) >= self.config.max_len:
            raise ValueError(
                f"sequence of {int(pos.max()) + 1} tokens is longer than the model's max_len "
                f"{self.config.max_len}; shorten the prompt/steps or build the model with a "
                f"larger CharLMConfig.max_len"
            )
        return pos

    @staticmethod
    def _mask(
        attention_mask: torch.Tensor | None,
        past_len: int,
        length: int,
        batch: int,
        device: torch.device,
    ) -> torch.Tensor:
        """``[B, 1, L, P + L]`` bool: causal, padded keys hidden, every query sees itself."""
        total = past_len + length
        q_idx = torch.arange(past_len, total, device=device).unsqueeze(1)
        k_idx = torch.arange(total, device=device).unsqueeze(0)
        causal = k_idx <= q_idx  # [L, P+L]
        if attention_mask is None:
            return causal.expand(batch, 1, length, total)
        keys = attention_mask.bool()[:, None, None, :]  # [B, 1, 1, P+L]
        return (causal & keys) | (k_idx == q_idx)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        past: KVCache | None = None,
        use_cache: bool = False,
    ) -> LMOutput:
        """Logits ``[B, L, V]`` and hidden states ``[B, L, H]`` of ``input_ids [B, L]``.

        Args:
            input_ids: token ids.
            attention_mask: ``[B, P + L]``, true at real tokens (left padding allowed);
                ``None``: every token is real.
            position_ids: ``[B, L]``; default: counted over real tokens of ``attention_mask``.
            past: cache returned by an earlier call with ``use_cache=True``.
            use_cache: return the cache extended by these tokens.
        """
        batch, length = input_ids.shape
        past_len = 0 if past is None else past[0][0].shape[2]
        device = input_ids.device
        if position_ids is None:
            position_ids = self._positions(attention_mask, past_len, length, batch, device)
        mask = self._mask(attention_mask, past_len, length, batch, device)
        x = self.tok_emb(input_ids) + self.pos_emb(position_ids)
        cache = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, mask, None if past is None else past[i])
            cache.append(kv)
        hidden = self.ln_f(x)
        return LMOutput(self.lm_head(hidden), hidden, tuple(cache) if use_cache else None)
