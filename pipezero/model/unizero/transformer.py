"""Causal transformer with a sliding attention window and a rolling KV cache.

The UniZero world model (Pu et al., 2024) reads a sequence of interleaved latent-state and
action tokens. Two ways to run the same network:

- :meth:`WindowTransformer.forward` — the whole sequence at once (training, teacher forcing):
  token ``i`` attends to tokens ``i - W + 1 .. i`` (a banded causal mask of width
  ``W = context_length``);
- :meth:`WindowTransformer.step` — one new token per row against a :class:`KVWindow`, the
  keys and values of the ``W - 1`` previous tokens of every layer (acting and tree search).

Both give the same outputs for the same tokens: the window of a token never changes after it
was computed, so its cached keys and values are exactly what the full pass computes (tested in
``tests/unizero``). Positions enter through rotary embeddings (RoPE, Su et al. 2021) at each
token's absolute index, so cached keys never need re-encoding; attention then depends only on
the offset between tokens, which lets training sequences start at position 0 while acting
streams continue at any index.

Shapes: ``B`` rows, ``T`` tokens, ``D = embed_dim``, ``H`` heads, ``d = D / H``, ``W`` window,
``Ly`` layers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from pipezero.model.common import check_positive_int


@dataclass
class KVWindow:
    """Keys and values of the last ``W`` tokens of ``B`` token streams.

    Attributes:
        kv: ``[B, Ly, 2, W, H, d]`` keys (index 0) and values (index 1) of every layer; slots
            are in time order, the newest token in slot ``W - 1``; slots before the stream's
            start hold zeros and are masked.
        count: ``[B]`` int64 tokens seen by each stream so far (the absolute position of its
            next token).
    """

    kv: torch.Tensor
    count: torch.Tensor

    @property
    def batch_size(self) -> int:
        return self.kv.shape[0]

    def index(self, rows: torch.Tensor) -> KVWindow:
        """The windows of ``rows`` (a ``[M]`` index tensor)."""
        return KVWindow(self.kv.index_select(0, rows), self.count.index_select(0, rows))


def rope_tables(
    positions: torch.Tensor, head_dim: int, base: float, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(cos, sin)`` of shape ``[*P, d / 2]`` for integer ``positions [*P]``.

    Angles are computed in float64 so long episodes (tens of thousands of tokens) keep
    accurate relative angles.
    """
    inv_freq = base ** (
        -torch.arange(0, head_dim, 2, dtype=torch.float64, device=positions.device) / head_dim
    )
    angles = positions.to(torch.float64).unsqueeze(-1) * inv_freq
    return angles.cos().to(dtype), angles.sin().to(dtype)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate the channel pairs ``(x[..., :d/2], x[..., d/2:])`` of ``x [..., d]`` by the
    angles of ``cos``/``sin`` (broadcast to ``[..., d / 2]``)."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(ln(x))``, then ``x + mlp(ln(x))``."""

    def __init__(self, embed_dim: int, num_heads: int, mlp_ratio: int, dropout: float) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.ln1 = nn.LayerNorm(embed_dim)
        self.qkv = nn.Linear(embed_dim, 3 * embed_dim)
        self.proj = nn.Linear(embed_dim, embed_dim)
        self.ln2 = nn.LayerNorm(embed_dim)
        self.mlp = nn.Sequential(
            nn.Linear(embed_dim, mlp_ratio * embed_dim),
            nn.GELU(),
            nn.Linear(mlp_ratio * embed_dim, embed_dim),
        )
        self.dropout = nn.Dropout(dropout)

    def qkv_heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``x [*, D]`` -> ``q, k, v`` each ``[*, H, d]`` (before RoPE)."""
        q, k, v = self.qkv(self.ln1(x)).chunk(3, dim=-1)
        shape = (*x.shape[:-1], self.num_heads, self.head_dim)
        return q.reshape(shape), k.reshape(shape), v.reshape(shape)

    def finish(self, x: torch.Tensor, attended: torch.Tensor) -> torch.Tensor:
        """Residual updates after attention: ``attended [*, D]`` is the heads' output."""
        x = x + self.dropout(self.proj(attended))
        return x + self.dropout(self.mlp(self.ln2(x)))


class WindowTransformer(nn.Module):
    """A stack of causal transformer blocks over a sliding window of ``context_length`` tokens.

    Args:
        embed_dim: ``D``, token width (divisible by ``num_heads``, ``D / H`` even for RoPE).
        num_layers: ``Ly``.
        num_heads: ``H``.
        context_length: ``W``, tokens each token attends to (itself included).
        mlp_ratio: hidden width of the block MLPs in units of ``D``.
        dropout: dropout on the residual branches (training only).
        rope_base: RoPE frequency base.
    """

    def __init__(
        self,
        embed_dim: int,
        num_layers: int,
        num_heads: int,
        context_length: int,
        mlp_ratio: int = 4,
        dropout: float = 0.0,
        rope_base: float = 10_000.0,
    ) -> None:
        super().__init__()
        for name, value in (
            ("embed_dim", embed_dim),
            ("num_layers", num_layers),
            ("num_heads", num_heads),
            ("context_length", context_length),
            ("mlp_ratio", mlp_ratio),
        ):
            check_positive_int(name, value)
        if embed_dim % num_heads or (embed_dim // num_heads) % 2:
            raise ValueError(
                f"embed_dim ({embed_dim}) must split into num_heads ({num_heads}) heads of an "
                "even width (rotary position embeddings rotate channel pairs); e.g. "
                "embed_dim=64 with num_heads=2 or 4"
            )
        self.embed_dim = embed_dim
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.context_length = context_length
        self.rope_base = float(rope_base)
        self.blocks = nn.ModuleList(
            Block(embed_dim, num_heads, mlp_ratio, dropout) for _ in range(num_layers)
        )
        self.ln_f = nn.LayerNorm(embed_dim)

    # -- whole sequences -----------------------------------------------------------------

    def window_mask(self, num_tokens: int, device: torch.device) -> torch.Tensor:
        """``[T, T]`` bool: query ``i`` may attend to key ``j`` iff ``i - W < j <= i``."""
        i = torch.arange(num_tokens, device=device)
        offset = i[:, None] - i[None, :]
        return (offset >= 0) & (offset < self.context_length)

    def forward(self, tokens: torch.Tensor, start: int = 0) -> torch.Tensor:
        """Run ``tokens [B, T, D]`` (positions ``start .. start + T - 1``) through every
        layer with the banded causal mask; returns ``[B, T, D]`` after the final norm."""
        b, t, _ = tokens.shape
        mask = self.window_mask(t, tokens.device)
        positions = torch.arange(start, start + t, device=tokens.device)
        cos, sin = rope_tables(positions, self.head_dim, self.rope_base, tokens.dtype)
        cos, sin = cos[:, None], sin[:, None]  # [T, 1, d/2], broadcast over heads
        x = tokens
        for block in self.blocks:
            q, k, v = block.qkv_heads(x)  # [B, T, H, d]
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
            out = F.scaled_dot_product_attention(
                q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask
            )  # [B, H, T, d]
            x = block.finish(x, out.transpose(1, 2).reshape(b, t, self.embed_dim))
        return self.ln_f(x)

    # -- one token at a time ---------------------------------------------------------------

    def empty_window(self, batch_size: int, like: torch.Tensor) -> KVWindow:
        """Windows of ``batch_size`` streams that have seen no token yet."""
        kv = like.new_zeros(
            batch_size, self.num_layers, 2, self.context_length, self.num_heads, self.head_dim
        )
        return KVWindow(kv, torch.zeros(batch_size, dtype=torch.long, device=like.device))

    def step(self, token: torch.Tensor, window: KVWindow) -> tuple[torch.Tensor, KVWindow]:
        """Feed one new token per stream.

        Args:
            token: ``[B, D]`` the next token of each stream.
            window: the streams' :class:`KVWindow` (not modified).

        Returns:
            ``(output [B, D], new_window)``: the output equals what :meth:`forward` gives at
            that token for the whole stream; ``new_window`` holds the token's keys and values
            in its newest slot (the oldest slot is dropped) and ``count + 1``.
        """
        b = token.shape[0]
        w = self.context_length
        if window.batch_size != b:
            raise ValueError(f"{b} tokens for {window.batch_size} KV windows; give one per row")
        seen = window.count.clamp(max=w - 1)  # earlier tokens inside the new token's window
        slots = torch.arange(w, device=token.device)
        mask = (slots[None, :] >= (w - 1 - seen)[:, None])[:, None, None, :]  # [B, 1, 1, W]
        cos, sin = rope_tables(window.count, self.head_dim, self.rope_base, token.dtype)
        cos, sin = cos[:, None], sin[:, None]  # [B, 1, d/2]
        new_kv = torch.empty_like(window.kv)
        new_kv[:, :, :, : w - 1] = window.kv[:, :, :, 1:]
        x = token
        for layer, block in enumerate(self.blocks):
            q, k, v = block.qkv_heads(x)  # [B, H, d]
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
            new_kv[:, layer, 0, w - 1] = k
            new_kv[:, layer, 1, w - 1] = v
            keys = new_kv[:, layer, 0].transpose(1, 2)  # [B, H, W, d]
            values = new_kv[:, layer, 1].transpose(1, 2)
            out = F.scaled_dot_product_attention(q[:, :, None], keys, values, attn_mask=mask)
            x = block.finish(x, out.reshape(b, self.embed_dim))
        return self.ln_f(x), KVWindow(new_kv, window.count + 1)
