"""The character LM: LoRA switch, cached generation, padding; the tokenizer."""

from __future__ import annotations

import pytest
import torch
from llm_toy import tiny_lm
from torch import nn

from pipezero.model.lm import CharTokenizer, generate_lines, inject_lora
from pipezero.model.lm.lora import LoRALinear


def test_adapter_disabled_output_equals_the_base_model() -> None:
    base = tiny_lm(seed=3, lora=False)
    adapted = tiny_lm(seed=3, lora=True, randomize_lora=True)
    ids = torch.tensor([base.tokenizer.encode("Q: From 12: +5.\n12+5=17\n")])
    want = base(ids)
    on = adapted(ids)
    assert not torch.allclose(on.logits, want.logits, atol=1e-4)  # the adapter matters
    with adapted.disable_adapter():
        off = adapted(ids)
    torch.testing.assert_close(off.logits, want.logits)
    torch.testing.assert_close(off.hidden, want.hidden)
    torch.testing.assert_close(adapted(ids).logits, on.logits)  # switched back on after


def test_a_fresh_adapter_starts_equal_to_the_base_and_only_wraps_q_and_v() -> None:
    lm = tiny_lm(seed=1, lora=False)
    ids = torch.tensor([lm.tokenizer.encode("1+1=2\n")])
    before = lm(ids).logits
    names = lm.add_lora(r=2, alpha=4.0)
    assert names == [f"blocks.{i}.attn.{p}" for i in range(2) for p in ("q_proj", "v_proj")]
    torch.testing.assert_close(lm(ids).logits, before)
    assert len(lm.adapter_parameters()) == 8
    assert not {id(p) for p in lm.adapter_parameters()} & {id(p) for p in lm.base_parameters()}


def test_inject_lora_names_the_layers_present_when_nothing_matches() -> None:
    with pytest.raises(ValueError, match=r"linear layer names present: \['0'\]"):
        inject_lora(nn.Sequential(nn.Linear(2, 2)), ("q_proj",))
    with pytest.raises(ValueError, match="rank"):
        LoRALinear(nn.Linear(2, 2), r=0)


def test_cached_generation_matches_a_full_forward_with_left_padding() -> None:
    lm = tiny_lm(seed=2, randomize_lora=True).eval()
    tok = lm.tokenizer
    contexts = [tok.encode("Q: From 2: +3.\n"), tok.encode("Q: From 40: *2, -7.\n40*2=80\n")]
    gens = generate_lines(
        lm, contexts, max_new_tokens=8, generator=torch.Generator().manual_seed(0)
    )
    for ctx, gen in zip(contexts, gens, strict=True):
        assert 1 <= len(gen.ids) <= 8
        full = torch.tensor([ctx + gen.ids])
        logp = torch.log_softmax(lm(full).logits[0, :-1], -1)
        want = logp.gather(-1, full[0, 1:, None])[len(ctx) - 1 :, 0]
        torch.testing.assert_close(torch.tensor(gen.logprobs), want, atol=1e-5, rtol=1e-5)


def test_generation_stops_at_a_newline() -> None:
    lm = tiny_lm(seed=0)
    newline = lm.tokenizer.encode("\n")[0]
    with torch.no_grad():
        lm.lm_head.weight.zero_()
        lm.lm_head.weight[newline] = 0.0
        lm.lm_head.weight[newline, 0] = 50.0  # newline is (almost) certain wherever h0 > 0
        lm.ln_f.bias.fill_(1.0)
        lm.ln_f.weight.zero_()
    gens = generate_lines(lm, [lm.tokenizer.encode("Q: x\n")], max_new_tokens=5, greedy=True)
    assert gens[0].ids == [newline] and not gens[0].eos


def test_model_rejects_sequences_longer_than_max_len() -> None:
    lm = tiny_lm()
    with pytest.raises(ValueError, match="max_len"):
        lm(torch.zeros(1, 300, dtype=torch.long))


def test_char_tokenizer_round_trip_and_unknown_characters() -> None:
    tok = CharTokenizer()
    text = "Q: From 12: +5.\n12+5=17\nThe answer is 17\n"
    assert tok.decode(tok.encode(text)) == text
    assert tok.encode("é") == [tok.unk_id]
    with pytest.raises(ValueError, match=r"'é' at position 1"):
        CharTokenizer(strict=True).encode("aé")
    assert tok.stop_token_mask().sum() == 1
