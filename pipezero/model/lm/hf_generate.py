"""Sample reasoning lines with a Hugging Face model's own batched ``generate``.

``generate`` runs the loop: the prompts are left padded (positions counted over real
tokens), the key/value cache is the model's own, and a row stops at a step boundary (a token
of the stop mask: its text holds a newline) or at end-of-sequence while the others go on.
The *choice* of each token is ours: :class:`LineSampler`, the one logits processor, draws the
token from ``softmax(logits / temperature)`` with the policy's ``torch.Generator`` (or takes
the argmax) and records its log-probability, then hands ``generate`` a distribution with all
mass on that token, so ``generate`` runs greedily on it. The recorded log-probabilities are
those of the raw float32 logits at the sampling temperature — what the trainer recomputes
with a forward pass over the same tokens — and no generation setting of the model
(``generation_config.json``: ``top_k``, ``repetition_penalty``, ...) can reshape the
distribution behind the recorder's back: ``generate`` is called with a fresh
``GenerationConfig``.

Imported only when a Hugging Face model generates (``transformers`` is optional).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from transformers import GenerationConfig, LogitsProcessor, StoppingCriteria

from pipezero.model.lm.generate import Generation, left_pad

__all__ = ["LineSampler", "StopAtStepBoundary", "generate_lines_hf"]


class LineSampler(LogitsProcessor):
    """Chooses each next token and records its log-probability.

    Args:
        temperature: the logits are divided by it before the softmax.
        greedy: take the most likely token instead of sampling.
        generator: random generator of the sampling (on the logits' device).
    """

    def __init__(self, temperature: float, greedy: bool, generator: torch.Generator | None) -> None:
        self.temperature = temperature
        self.greedy = greedy
        self.generator = generator
        self.tokens: list[torch.Tensor] = []  # per generated position, [B] long
        self.logprobs: list[torch.Tensor] = []  # per generated position, [B] float32

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        logp = torch.log_softmax(scores.float() / self.temperature, dim=-1)
        if self.greedy:
            nxt = logp.argmax(-1)
        else:
            nxt = torch.multinomial(logp.exp(), 1, generator=self.generator).squeeze(-1)
        self.tokens.append(nxt)
        self.logprobs.append(logp.gather(-1, nxt[:, None]).squeeze(-1))
        forced = torch.full_like(scores, float("-inf"))
        return forced.scatter_(-1, nxt[:, None], 0.0)


class StopAtStepBoundary(StoppingCriteria):
    """A row is done once its newest token is in ``stop_mask [V]`` (a step separator)."""

    def __init__(self, stop_mask: torch.Tensor) -> None:
        self.stop_mask = stop_mask

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        return self.stop_mask[input_ids[:, -1]]


@contextmanager
def _fresh_generation_config(model: Any, config: Any) -> Iterator[None]:
    """Within the block ``model.generation_config`` is ``config`` (``generate`` fills the
    settings a call leaves unset from it; a pretrained model's own file may set sampling
    warpers or penalties)."""
    previous = model.generation_config
    model.generation_config = config
    try:
        yield
    finally:
        model.generation_config = previous


@torch.no_grad()
def generate_lines_hf(
    model: Any,
    tokenizer: Any,
    contexts: Sequence[Sequence[int]],
    max_new_tokens: int,
    *,
    greedy: bool = False,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    stop_mask: torch.Tensor | None = None,
) -> list[Generation]:
    """One line per context through ``model.generate`` (see the module docstring).

    Args:
        model: a ``transformers`` causal LM or a ``peft`` model around one (its adapter
            state, on or off, is used as it is).
        tokenizer: a :class:`~pipezero.model.lm.hf_adapter.HFTokenizer` (``pad_id``,
            ``eos_id``, ``stop_token_mask``).
        contexts, max_new_tokens, greedy, temperature, generator, stop_mask: as in
            :func:`~pipezero.model.lm.generate.generate_lines`.

    Returns:
        ``B`` :class:`~pipezero.model.lm.generate.Generation`: the tokens up to and with the
        first stop token or end-of-sequence, their log-probabilities at ``temperature``.
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    device = next(base.parameters()).device
    stops = (stop_mask if stop_mask is not None else tokenizer.stop_token_mask()).to(device)
    ids, mask = left_pad(contexts, tokenizer.pad_id, device)
    sampler = LineSampler(temperature, greedy, generator)
    config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=False,  # the sampler has already chosen; generate takes its argmax
        num_beams=1,
        use_cache=True,
        eos_token_id=tokenizer.eos_id,
        pad_token_id=tokenizer.pad_id,
        bos_token_id=getattr(tokenizer, "bos_id", None),
    )
    with _fresh_generation_config(base, config):
        sequences = model.generate(
            input_ids=ids,
            attention_mask=mask.long(),
            generation_config=config,
            logits_processor=[sampler],
            stopping_criteria=[StopAtStepBoundary(stops)],
        )
    new = sequences[:, ids.shape[1] :]
    steps = new.shape[1]
    tokens = torch.stack(sampler.tokens[:steps], dim=1)  # [B, T]
    logprobs = torch.stack(sampler.logprobs[:steps], dim=1)  # [B, T]
    ended = stops[tokens] | (tokens == tokenizer.eos_id)
    # a row's length: up to and with its first stop token (all T when it never stopped)
    first_end = torch.where(ended.any(1), ended.float().argmax(1) + 1, steps)
    host_tokens, host_logprobs = tokens.cpu().tolist(), logprobs.cpu().tolist()
    out = []
    for row_ids, row_logprobs, n in zip(
        host_tokens, host_logprobs, first_end.cpu().tolist(), strict=True
    ):
        eos = row_ids[n - 1] == tokenizer.eos_id
        out.append(Generation(ids=row_ids[:n], logprobs=row_logprobs[:n], eos=eos))
    return out
