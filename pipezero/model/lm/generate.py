"""Sample one reasoning line per context.

:func:`generate_lines` is the entry point: it checks its arguments and asks the model
(``lm.generate_lines``, part of :class:`~pipezero.model.lm.protocol.CausalLMProtocol`). The
built-in character LM generates with :func:`sample_lines_with_cache`, the loop below over its
own forward pass and key/value cache; a Hugging Face model generates through its own
``generate`` (:mod:`pipezero.model.lm.hf_generate`). Both sample from
``softmax(logits / temperature)`` with the caller's generator and record the log-probability
of each chosen token under that distribution.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from pipezero.model.lm.protocol import CausalLMProtocol, device_of

__all__ = ["Generation", "generate_lines", "left_pad", "sample_lines_with_cache"]


@dataclass
class Generation:
    """One generated line.

    Attributes:
        ids: the generated token ids, the stop token (newline or end-of-sequence) included.
        logprobs: log-probability of each token under the sampling distribution.
        eos: the line ended with the end-of-sequence token.
    """

    ids: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    eos: bool = False


def left_pad(
    contexts: Sequence[Sequence[int]], pad_id: int, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids [B, L], mask [B, L])`` on ``device``: contexts right-aligned, padding on the
    left (built on the host, moved in one copy each)."""
    if not contexts or any(len(c) == 0 for c in contexts):
        raise ValueError("every context needs at least one token")
    width = max(len(c) for c in contexts)
    ids = torch.full((len(contexts), width), pad_id, dtype=torch.long, device="cpu")
    mask = torch.zeros((len(contexts), width), dtype=torch.bool, device="cpu")
    for i, c in enumerate(contexts):
        ids[i, width - len(c) :] = torch.as_tensor(list(c), dtype=torch.long, device="cpu")
        mask[i, width - len(c) :] = True
    return ids.to(device), mask.to(device)


def generate_lines(
    lm: CausalLMProtocol,
    contexts: Sequence[Sequence[int]],
    max_new_tokens: int,
    *,
    greedy: bool = False,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    stop_mask: torch.Tensor | None = None,
) -> list[Generation]:
    """Continue each context until a step boundary (a token whose text holds a newline),
    end-of-sequence or ``max_new_tokens``.

    Args:
        lm: the model (its adapter state, on or off, is used as it is).
        contexts: ``B`` token-id lists.
        max_new_tokens: tokens per line at most.
        greedy: take the most likely token (logprobs are then those of ``temperature``).
        temperature: softmax temperature of sampling.
        generator: random generator of the sampling (reproducibility).
        stop_mask: ``[V]`` bool tokens ending a line (default: ``lm.tokenizer.stop_token_mask()``).

    Returns:
        ``B`` :class:`Generation`.

    Raises:
        ValueError: ``max_new_tokens < 1``, ``temperature <= 0`` or an empty context.

    Every tensor lives on ``lm``'s device (``generator`` must be a generator of that device).
    """
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0 (use greedy=True), got {temperature}")
    if not contexts or any(len(c) == 0 for c in contexts):
        raise ValueError("every context needs at least one token")
    return lm.generate_lines(
        contexts,
        max_new_tokens,
        greedy=greedy,
        temperature=temperature,
        generator=generator,
        stop_mask=stop_mask,
    )


@torch.no_grad()
def sample_lines_with_cache(
    lm: CausalLMProtocol,
    contexts: Sequence[Sequence[int]],
    max_new_tokens: int,
    *,
    greedy: bool = False,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    stop_mask: torch.Tensor | None = None,
) -> list[Generation]:
    """:func:`generate_lines` by a loop over ``lm``'s forward pass with its key/value cache
    (arguments checked there): the context is left padded, each step feeds the chosen tokens
    with positions counted over real tokens, and the chosen tokens come to the host once per
    generated position. Any model of the protocol can implement ``generate_lines`` with it.
    """
    tok = lm.tokenizer
    device = device_of(lm)  # type: ignore[arg-type]
    stops = (stop_mask if stop_mask is not None else tok.stop_token_mask()).to(device)
    ids, mask = left_pad(contexts, tok.pad_id, device)
    out = lm(ids, attention_mask=mask, use_cache=True)
    positions = mask.long().sum(-1, keepdim=True) - 1  # [B, 1] position of the last real token
    results = [Generation() for _ in contexts]
    active = [True] * len(contexts)
    column = torch.ones(len(contexts), 1, dtype=torch.bool, device=device)
    for _ in range(max_new_tokens):
        logp = torch.log_softmax(out.logits[:, -1].float() / temperature, dim=-1)
        if greedy:
            nxt = logp.argmax(-1)
        else:
            nxt = torch.multinomial(logp.exp(), 1, generator=generator).squeeze(-1)
        chosen = logp.gather(-1, nxt[:, None]).squeeze(-1)
        is_eos = nxt == tok.eos_id
        ended = is_eos | stops[nxt]
        host = torch.stack([nxt.float(), chosen, is_eos.float(), ended.float()]).cpu()
        for i, (token, lp, eos, end) in enumerate(host.T.tolist()):
            if active[i]:
                results[i].ids.append(int(token))
                results[i].logprobs.append(lp)
                results[i].eos = bool(eos)
                active[i] = not end
        if not any(active):
            break
        mask = torch.cat([mask, column], dim=1)
        positions = positions + 1
        out = lm(
            nxt[:, None], attention_mask=mask, position_ids=positions, past=out.past, use_cache=True
        )
    return results
