"""A tiny Hugging Face causal LM built here: a tokenizer trained on the task's own text and a
Llama- or Qwen2-style model from a ``transformers`` config, randomly initialised — the real
Hugging Face code path (its attention, rotary positions, cache and ``generate``) at a size a
CPU trains in minutes. Nothing is downloaded.

The tokenizer is a byte-pair encoding trained in-process with the ``tokenizers`` library (it
ships with ``transformers``): the text is first split so that every digit is its own token
(as Llama and Qwen2 do: the model computes with digits), a newline is its own token (the step
separator generation stops at), and words keep their leading space; BPE then merges
frequent words (``" answer"``, ``" From"``). Every printable ASCII character is in the
vocabulary, so any task text encodes without ``<unk>``. Training is deterministic: the same
texts give the same vocabulary (a resumed run rebuilds the same tokenizer).
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Sequence
from typing import Any

import torch

from pipezero.model.lm.hf_adapter import HFCausalLM, require_hf

__all__ = ["HF_TINY_ARCHS", "SPECIAL_TOKENS", "tiny_causal_lm", "train_tokenizer"]

#: ``<pad>``, ``<bos>``, ``<eos>``, ``<unk>`` get ids 0-3.
SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>", "<unk>")
HF_TINY_ARCHS = ("llama", "qwen2")

# digits one by one, a newline alone, a word with its leading space, runs of spaces, any
# other character alone
_PRE_TOKENIZE = r" ?[A-Za-z]+|\d|\n| +|[^\sA-Za-z\d]|\s"


def train_tokenizer(texts: Iterable[str], vocab_size: int = 256) -> Any:
    """A BPE ``transformers.PreTrainedTokenizerFast`` trained on ``texts`` (see the module
    docstring), with ``SPECIAL_TOKENS``.

    Args:
        texts: the task's text (states and worked solutions).
        vocab_size: at most this many tokens (the printable characters and specials always
            fit: at least 100).

    Raises:
        ValueError: ``vocab_size`` below the character set, or no text.
    """
    transformers, _ = require_hf()
    import tokenizers
    from tokenizers import Regex, decoders, models, pre_tokenizers, trainers

    alphabet = ["\n", *(c for c in string.printable if c.isprintable())]
    smallest = len(alphabet) + len(SPECIAL_TOKENS)
    if vocab_size < smallest:
        raise ValueError(
            f"vocab_size must be >= {smallest} (printable ASCII, newline and the special "
            f"tokens), got {vocab_size}"
        )
    corpus = [t for t in texts if t]
    if not corpus:
        raise ValueError("train_tokenizer needs at least one non-empty text")
    tk = tokenizers.Tokenizer(models.BPE(unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Split(Regex(_PRE_TOKENIZE), behavior="isolated")
    tk.decoder = decoders.Fuse()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=alphabet,
        show_progress=False,
    )
    tk.train_from_iterator(corpus, trainer=trainer)
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tk,
        pad_token="<pad>",
        bos_token="<bos>",
        eos_token="<eos>",
        unk_token="<unk>",
        clean_up_tokenization_spaces=False,
    )


def tiny_causal_lm(
    tokenizer: Any,
    arch: str = "llama",
    d_model: int = 128,
    n_layer: int = 4,
    n_head: int = 4,
    d_ff: int = 512,
    max_len: int = 512,
    seed: int = 0,
    lora_r: int = 8,
    lora_alpha: float = 16.0,
    lora_targets: Sequence[str] = ("q_proj", "v_proj"),
) -> HFCausalLM:
    """A randomly initialised ``LlamaForCausalLM`` / ``Qwen2ForCausalLM`` of the given size
    over ``tokenizer``, with a LoRA adapter, as an :class:`HFCausalLM`.

    Args:
        tokenizer: e.g. from :func:`train_tokenizer` (its pad / bos / eos ids go into the
            model config).
        arch: ``"llama"`` or ``"qwen2"`` (biases on the query/key/value projections).
        d_model, n_layer, n_head, d_ff, max_len: hidden size, blocks, attention heads
            (no grouped keys/values), the gated MLP's inner size, positions.
        seed: seeds the initialisation.
        lora_r, lora_alpha, lora_targets: the adapter.

    Raises:
        ValueError: an unknown ``arch`` or ``d_model`` not a multiple of ``n_head``.
    """
    transformers, _ = require_hf()
    if arch not in HF_TINY_ARCHS:
        raise ValueError(f"arch must be one of {HF_TINY_ARCHS}, got {arch!r}")
    if d_model % n_head:
        raise ValueError(f"d_model ({d_model}) must be a multiple of n_head ({n_head})")
    config_class = {"llama": transformers.LlamaConfig, "qwen2": transformers.Qwen2Config}[arch]
    config = config_class(
        vocab_size=len(tokenizer),
        hidden_size=d_model,
        intermediate_size=d_ff,
        num_hidden_layers=n_layer,
        num_attention_heads=n_head,
        num_key_value_heads=n_head,
        max_position_embeddings=max_len,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    model_class = {"llama": transformers.LlamaForCausalLM, "qwen2": transformers.Qwen2ForCausalLM}
    model = model_class[arch](config)
    return HFCausalLM.from_model(model, tokenizer, lora_r, lora_alpha, tuple(lora_targets))
