"""A character-level tokenizer: one token per printable ASCII character."""

from __future__ import annotations

import string
from collections.abc import Sequence

import torch

__all__ = ["CharTokenizer"]

_SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")


class CharTokenizer:
    """Maps each character of ``alphabet`` to one id; ids 0-3 are ``<pad>``, ``<bos>``,
    ``<eos>``, ``<unk>``.

    Args:
        alphabet: the characters known (default: newline and printable ASCII).
        strict: raise on an unknown character instead of encoding it as ``<unk>``.
    """

    pad_id = 0
    bos_id = 1
    eos_id = 2
    unk_id = 3

    def __init__(self, alphabet: str | None = None, strict: bool = False) -> None:
        chars = (
            alphabet
            if alphabet is not None
            else "\n" + "".join(c for c in string.printable if c.isprintable())
        )
        if len(set(chars)) != len(chars):
            raise ValueError("alphabet has repeated characters")
        self.chars = chars
        self.strict = strict
        self._to_id = {c: i + len(_SPECIALS) for i, c in enumerate(chars)}

    @property
    def vocab_size(self) -> int:
        return len(_SPECIALS) + len(self.chars)

    def encode(self, text: str, bos: bool = False) -> list[int]:
        """Ids of ``text`` (preceded by ``<bos>`` when ``bos``).

        Raises:
            ValueError: an unknown character when ``strict`` (its position is given).
        """
        ids = [self.bos_id] if bos else []
        for pos, c in enumerate(text):
            i = self._to_id.get(c)
            if i is None:
                if self.strict:
                    raise ValueError(
                        f"character {c!r} at position {pos} is not in the tokenizer's alphabet; "
                        f"use strict=False to encode it as <unk>"
                    )
                i = self.unk_id
            ids.append(i)
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ``ids``; special tokens are dropped (``<unk>`` becomes ``?``)."""
        out = []
        for i in ids:
            i = int(i)
            if i >= len(_SPECIALS):
                out.append(self.chars[i - len(_SPECIALS)])
            elif i == self.unk_id:
                out.append("?")
        return "".join(out)

    def stop_token_mask(self) -> torch.Tensor:
        """``[V]`` bool on the CPU: tokens that end a reasoning line (newline)."""
        mask = torch.zeros(self.vocab_size, dtype=torch.bool, device="cpu")
        mask[self._to_id["\n"]] = True
        return mask
