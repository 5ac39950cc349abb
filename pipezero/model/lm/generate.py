"""Sample reasoning lines: one per context, or whole episodes of lines in one pass.

:func:`generate_lines` (one line per context) and :func:`generate_episodes` (up to ``max_lines``
lines per context, stopping a row when its episode ends) are the entry points. Both check
their arguments, build a :class:`LineRecorder` and ask the model to sample tokens into it
(``lm.generate_tokens``, part of :class:`~pipezero.model.lm.protocol.CausalLMProtocol`). The
recorder owns what a line is (the tokens up to and with the first step separator or
end-of-sequence, at most ``max_new_tokens``) and when a row stops; the model only samples the
next token of every row until the recorder says all rows are done. The built-in character LM
samples with :func:`sample_with_cache`, the loop below over its own forward pass and
key/value cache; a Hugging Face model samples through its own ``generate``
(:mod:`pipezero.model.lm.hf_generate`). Both draw from ``softmax(logits / temperature)`` with
the caller's generator and record the log-probability of each chosen token under that
distribution.

Generating a whole episode in one pass gives the same lines as asking for them one at a
time (a line ends where it would have ended; the next line continues from the same tokens),
without encoding the growing context again for every line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from pipezero.model.lm.protocol import CausalLMProtocol, device_of

__all__ = [
    "EpisodeDone",
    "Generation",
    "LineRecorder",
    "generate_episodes",
    "generate_lines",
    "left_pad",
    "sample_with_cache",
    "select_cache_rows",
]

#: ``episode_done(row, line)``: whether ``line`` (just finished, not ended by end-of-sequence)
#: ends row ``row``'s episode, so the row generates no further line
EpisodeDone = Callable[[int, "Generation"], bool]


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


class LineRecorder:
    """Cuts each row's sampled tokens into lines and says when a row is done.

    A line ends at a token of ``stop_mask``, at end-of-sequence, or after ``max_new_tokens``
    tokens. A row is done after end-of-sequence, after its ``max_lines`` lines, or when
    ``episode_done(row, line)`` says the line it just finished ends the episode.

    Args:
        num_rows: ``B``.
        max_new_tokens: tokens per line at most.
        max_lines: lines per row at most (one int for every row, or ``B`` ints, each >= 1).
        stop_mask: ``[V]`` bool, the step separators (on the sampling device).
        eos_id: the end-of-sequence token.
        episode_done: see :data:`EpisodeDone` (``None``: rows stop only as above).
    """

    def __init__(
        self,
        num_rows: int,
        max_new_tokens: int,
        max_lines: int | Sequence[int],
        stop_mask: torch.Tensor,
        eos_id: int,
        episode_done: EpisodeDone | None = None,
    ) -> None:
        limits = [max_lines] * num_rows if isinstance(max_lines, int) else list(max_lines)
        if len(limits) != num_rows or any(n < 1 for n in limits):
            raise ValueError(f"max_lines needs {num_rows} values >= 1, got {max_lines!r}")
        self.max_new_tokens = max_new_tokens
        self.max_lines = limits
        self.stop_mask = stop_mask
        self.eos_id = eos_id
        self.episode_done = episode_done
        self.lines: list[list[Generation]] = [[Generation()] for _ in range(num_rows)]
        self.active = [True] * num_rows

    @property
    def num_rows(self) -> int:
        return len(self.active)

    @property
    def max_tokens(self) -> int:
        """Tokens a row can take at most (its lines at full length)."""
        return max(self.max_lines) * self.max_new_tokens

    @property
    def done(self) -> bool:
        return not any(self.active)

    def push(
        self, tokens: torch.Tensor, logprobs: torch.Tensor, rows: Sequence[int] | None = None
    ) -> None:
        """Record the next token of every row of the batch and its log-probability (``[R]``
        each; rows already done ignore theirs); one copy to the host.

        Args:
            rows: the recorder rows of the batch's ``R`` rows (``None``: all ``B``, in order;
                a sampler that dropped finished rows from its batch passes the others).
        """
        ends = self.stop_mask[tokens] | (tokens == self.eos_id)
        host = torch.stack([tokens.float(), logprobs.float(), ends.float()]).cpu()
        order = range(self.num_rows) if rows is None else rows
        for i, (token, lp, end) in zip(order, host.T.tolist(), strict=True):
            if not self.active[i]:
                continue
            line = self.lines[i][-1]
            line.ids.append(int(token))
            line.logprobs.append(lp)
            if not end and len(line.ids) < self.max_new_tokens:
                continue
            line.eos = int(token) == self.eos_id
            if (
                line.eos
                or len(self.lines[i]) >= self.max_lines[i]
                or (self.episode_done is not None and self.episode_done(i, line))
            ):
                self.active[i] = False
            else:
                self.lines[i].append(Generation())

    def active_mask(self, device: torch.device | str, rows: Sequence[int]) -> torch.Tensor:
        """``[R]`` bool on ``device``: which of ``rows`` are still generating."""
        return torch.tensor([self.active[i] for i in rows], dtype=torch.bool, device=device)

    def compact(self, rows: Sequence[int]) -> list[int] | None:
        """The batch positions to keep when a sampler's batch (recorder ``rows``) should drop
        its finished rows, else ``None``: once at most half of its rows still generate (a
        finished row costs as much to run as a live one). Every sampler applies this one
        rule, so samplers given the same generator draw the same tokens."""
        keep = [j for j, i in enumerate(rows) if self.active[i]]
        return keep if keep and 2 * len(keep) <= len(rows) else None


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


def _check(contexts: Sequence[Sequence[int]], max_new_tokens: int, temperature: float) -> None:
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0 (use greedy=True), got {temperature}")
    if not contexts or any(len(c) == 0 for c in contexts):
        raise ValueError("every context needs at least one token")


def generate_episodes(
    lm: CausalLMProtocol,
    contexts: Sequence[Sequence[int]],
    max_new_tokens: int,
    max_lines: int | Sequence[int],
    *,
    episode_done: EpisodeDone | None = None,
    greedy: bool = False,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    stop_mask: torch.Tensor | None = None,
) -> list[list[Generation]]:
    """Continue each context line after line in one pass over the model, until its episode
    ends (end-of-sequence, ``max_lines`` lines, or ``episode_done``; see
    :class:`LineRecorder`).

    Args:
        lm: the model (its adapter state, on or off, is used as it is).
        contexts: ``B`` token-id lists.
        max_new_tokens: tokens per line at most.
        max_lines: lines per context at most (an int, or one per context).
        episode_done: whether a finished line ends its row's episode.
        greedy: take the most likely token (logprobs are then those of ``temperature``).
        temperature: softmax temperature of sampling.
        generator: random generator of the sampling (reproducibility).
        stop_mask: ``[V]`` bool tokens ending a line (default: ``lm.tokenizer.stop_token_mask()``).

    Returns:
        ``B`` lists of :class:`Generation`, one per line, each at least one line long.

    Raises:
        ValueError: ``max_new_tokens < 1``, ``max_lines < 1``, ``temperature <= 0`` or an
            empty context.

    Every tensor lives on ``lm``'s device (``generator`` must be a generator of that device).
    """
    _check(contexts, max_new_tokens, temperature)
    tok = lm.tokenizer
    stops = stop_mask if stop_mask is not None else tok.stop_token_mask()
    recorder = LineRecorder(
        len(contexts),
        max_new_tokens,
        max_lines,
        stops.to(device_of(lm)),  # type: ignore[arg-type]
        tok.eos_id,
        episode_done,
    )
    lm.generate_tokens(
        contexts, recorder, greedy=greedy, temperature=temperature, generator=generator
    )
    return recorder.lines


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
    """One line per context: :func:`generate_episodes` with ``max_lines=1`` (arguments and
    errors as there)."""
    runs = generate_episodes(
        lm,
        contexts,
        max_new_tokens,
        1,
        greedy=greedy,
        temperature=temperature,
        generator=generator,
        stop_mask=stop_mask,
    )
    return [run[0] for run in runs]


@torch.no_grad()
def sample_with_cache(
    lm: CausalLMProtocol,
    contexts: Sequence[Sequence[int]],
    recorder: LineRecorder,
    *,
    greedy: bool = False,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> None:
    """``lm.generate_tokens`` by a loop over ``lm``'s forward pass with its key/value cache:
    the context is left padded, each step feeds the chosen tokens with positions counted over
    real tokens, until ``recorder`` has every row done. Any model of the protocol can
    implement ``generate_tokens`` with it."""
    device = device_of(lm)  # type: ignore[arg-type]
    ids, mask = left_pad(contexts, lm.tokenizer.pad_id, device)
    out = lm(ids, attention_mask=mask, use_cache=True)
    past = out.past
    positions = mask.long().sum(-1, keepdim=True) - 1  # [B, 1] position of the last real token
    rows = list(range(len(contexts)))  # the recorder rows of the batch
    for _ in range(recorder.max_tokens):
        logp = torch.log_softmax(out.logits[:, -1].float() / temperature, dim=-1)
        if greedy:
            nxt = logp.argmax(-1)
        else:
            nxt = torch.multinomial(logp.exp(), 1, generator=generator).squeeze(-1)
        recorder.push(nxt, logp.gather(-1, nxt[:, None]).squeeze(-1), rows)
        if recorder.done:
            break
        keep = recorder.compact(rows)
        if keep is not None:  # drop the finished rows from the batch and the cache
            index = torch.tensor(keep, dtype=torch.long, device=device)
            rows = [rows[j] for j in keep]
            nxt, mask, positions = nxt[index], mask[index], positions[index]
            past = select_cache_rows(past, index)
        mask = torch.cat([mask, mask.new_ones(len(rows), 1)], dim=1)
        positions = positions + 1
        out = lm(
            nxt[:, None], attention_mask=mask, position_ids=positions, past=past, use_cache=True
        )
        past = out.past


def select_cache_rows(past: Any, index: torch.Tensor) -> Any:
    """The rows ``index`` of a key/value cache: a ``transformers`` ``Cache`` (selected in
    place) or nested tuples/lists of ``[B, ...]`` tensors (the character LM's)."""
    if hasattr(past, "batch_select_indices"):
        past.batch_select_indices(index)
        return past
    if isinstance(past, torch.Tensor):
        return past.index_select(0, index)
    return type(past)(select_cache_rows(p, index) for p in past)
