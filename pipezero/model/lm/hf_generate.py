"""Sample with a Hugging Face model's own batched ``generate``.

``generate`` runs the loop: the prompts are left padded (positions counted over real
tokens), the key/value cache is the model's own, and a row stops when the
:class:`~pipezero.model.lm.generate.LineRecorder` says so (end-of-sequence, its last line, or
the end of its episode; for one line per call: the first step boundary) while the others go
on. The *choice* of each token is ours: :class:`TokenSampler`, the one logits processor, draws
the token from ``softmax(logits / temperature)`` with the policy's ``torch.Generator`` (or
takes the argmax), hands it and its log-probability to the recorder, then hands ``generate``
a distribution with all mass on that token, so ``generate`` runs greedily on it. The recorded
log-probabilities are those of the raw float32 logits at the sampling temperature — what the
trainer recomputes with a forward pass over the same tokens — and no generation setting of
the model (``generation_config.json``: ``top_k``, ``repetition_penalty``, ...) can reshape
the distribution behind the recorder's back: ``generate`` is called with a fresh
``GenerationConfig``.

Imported only when a Hugging Face model generates (``transformers`` is optional).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from transformers import GenerationConfig, LogitsProcessor, StoppingCriteria

from pipezero.model.lm.generate import LineRecorder, left_pad

__all__ = ["StopWhenRecorderDone", "TokenSampler", "generate_tokens_hf", "shared_prefix_cache"]


class TokenSampler(LogitsProcessor):
    """Chooses each next token and hands it to the recorder.

    Args:
        recorder: receives every step's tokens and log-probabilities.
        rows: the recorder rows of the batch's rows.
        temperature: the logits are divided by it before the softmax.
        greedy: take the most likely token instead of sampling.
        generator: random generator of the sampling (on the logits' device).
    """

    def __init__(
        self,
        recorder: LineRecorder,
        rows: list[int],
        temperature: float,
        greedy: bool,
        generator: torch.Generator | None,
    ) -> None:
        self.recorder = recorder
        self.rows = rows
        self.temperature = temperature
        self.greedy = greedy
        self.generator = generator

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        logp = torch.log_softmax(scores.float() / self.temperature, dim=-1)
        if self.greedy:
            nxt = logp.argmax(-1)
        else:
            nxt = torch.multinomial(logp.exp(), 1, generator=self.generator).squeeze(-1)
        self.recorder.push(nxt, logp.gather(-1, nxt[:, None]).squeeze(-1), self.rows)
        forced = torch.full_like(scores, float("-inf"))
        return forced.scatter_(-1, nxt[:, None], 0.0)


class StopWhenRecorderDone(StoppingCriteria):
    """A row is done once the recorder has stopped it; every row is, once the recorder says
    the batch should drop its finished rows (:meth:`LineRecorder.compact`: ``generate`` then
    returns, and :func:`generate_tokens_hf` goes on with the live rows)."""

    def __init__(self, recorder: LineRecorder, rows: list[int]) -> None:
        self.recorder = recorder
        self.rows = rows

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        if self.recorder.compact(self.rows) is not None:
            return torch.ones(len(self.rows), dtype=torch.bool, device=input_ids.device)
        return ~self.recorder.active_mask(input_ids.device, self.rows)


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
def generate_tokens_hf(
    model: Any,
    tokenizer: Any,
    contexts: Sequence[Sequence[int]],
    recorder: LineRecorder,
    *,
    greedy: bool = False,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> None:
    """Sample into ``recorder`` through ``model.generate`` (see the module docstring).

    Args:
        model: a ``transformers`` causal LM or a ``peft`` model around one (its adapter
            state, on or off, is used as it is).
        tokenizer: a :class:`~pipezero.model.lm.hf_adapter.HFTokenizer` (``pad_id``,
            ``eos_id``).
        contexts, recorder, greedy, temperature, generator: as in
            :meth:`~pipezero.model.lm.protocol.CausalLMProtocol.generate_tokens`.
    """
    from pipezero.model.lm.hf_adapter import cache_keyword

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    device = next(base.parameters()).device
    keyword = cache_keyword(model)
    ids, mask = left_pad(contexts, tokenizer.pad_id, device)
    cache = shared_prefix_cache(model, contexts, ids, mask)
    rows = list(range(len(contexts)))  # the recorder rows of the batch
    config = GenerationConfig(
        max_new_tokens=recorder.max_tokens,  # an upper bound: the recorder stops rows first
        do_sample=False,  # the sampler has already chosen; generate takes its argmax
        num_beams=1,
        use_cache=True,
        return_dict_in_generate=True,
        eos_token_id=tokenizer.eos_id,
        pad_token_id=tokenizer.pad_id,
        bos_token_id=getattr(tokenizer, "bos_id", None),
    )
    while True:
        with _fresh_generation_config(base, config):
            out = model.generate(
                input_ids=ids,
                attention_mask=mask.long(),
                generation_config=config,
                logits_processor=[TokenSampler(recorder, rows, temperature, greedy, generator)],
                stopping_criteria=[StopWhenRecorderDone(recorder, rows)],
                **({} if cache is None else {keyword: cache}),
            )
        keep = recorder.compact(rows)
        if recorder.done or keep is None:
            return
        # go on with the live rows: their tokens so far and the cache of all but the last
        index = torch.tensor(keep, dtype=torch.long, device=device)
        grown = out.sequences.shape[1] - ids.shape[1]
        mask = torch.cat([mask, mask.new_ones(len(rows), grown)], dim=1)[index]
        ids = out.sequences[index]
        cache = getattr(out, keyword)
        cache.batch_select_indices(index)
        rows = [rows[j] for j in keep]


@torch.no_grad()
def shared_prefix_cache(
    model: Any, contexts: Sequence[Sequence[int]], ids: torch.Tensor, mask: torch.Tensor
) -> Any:
    """A cache for ``generate`` to start from when some contexts are equal (the ``K``
    samples of a GRPO group start from one prompt), else ``None``.

    Each distinct context, less its last token, runs through the model once; the cache is
    then copied to the rows that share it, and ``generate`` starts from it with the last
    token of every row. Without this, ``generate`` encodes every row's prompt (a group's
    prompt ``K`` times).

    Args:
        model: as in :func:`generate_tokens_hf`.
        contexts: the ``B`` contexts.
        ids, mask: ``[B, W]`` their left-padded ids and mask (``left_pad``).
    """
    first: dict[tuple[int, ...], int] = {}  # distinct context -> its index
    heads: list[int] = []  # the first row of each distinct context
    owner = []  # each row's distinct context
    for row, c in enumerate(contexts):
        key = tuple(c)
        if key not in first:
            first[key] = len(heads)
            heads.append(row)
        owner.append(first[key])
    if len(heads) == len(contexts) or ids.shape[1] < 2:
        return None
    from pipezero.model.lm.hf_adapter import cache_keyword

    rows = torch.tensor(heads, dtype=torch.long, device=ids.device)
    head, head_mask = ids[rows, :-1], mask[rows, :-1].long()
    keyword = cache_keyword(model)
    out = model(
        input_ids=head,
        attention_mask=head_mask,
        position_ids=(head_mask.cumsum(-1) - 1).clamp(min=0),
        use_cache=True,
    )
    cache = getattr(out, keyword)
    cache.batch_select_indices(torch.tensor(owner, dtype=torch.long, device=ids.device))
    return cache
