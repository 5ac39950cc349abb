"""The Hugging Face adapter, on a tiny randomly initialised Llama built here (nothing is
downloaded). Skipped when ``transformers`` or ``peft`` is not installed."""

from __future__ import annotations

import inspect
import string
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

transformers = pytest.importorskip(
    "transformers", reason="transformers is not installed (optional: pip install 'pipezero[llm]')"
)
pytest.importorskip("peft", reason="peft is not installed (optional: pip install 'pipezero[llm]')")
tokenizers = pytest.importorskip("tokenizers", reason="tokenizers comes with transformers")

from pipezero.model.lm import generate_lines  # noqa: E402
from pipezero.model.lm.hf_adapter import HFCausalLM, cache_keyword, load_hf_causal_lm  # noqa: E402
from pipezero.policy.llm.algorithms import APPOTrainer  # noqa: E402
from pipezero.policy.llm.critic import ValueHead  # noqa: E402
from pipezero.policy.llm.policy import LLMPolicy  # noqa: E402
from pipezero.policy.llm.rewards import StepRewards  # noqa: E402
from pipezero.policy.llm.rollout import Rollout, Trajectory  # noqa: E402
from pipezero.policy.llm.trainer import OnPolicyConfig  # noqa: E402


def _char_tokenizer() -> Any:
    """A character-level fast tokenizer built in memory."""
    specials = ["<pad>", "<bos>", "<eos>", "<unk>"]
    chars = ["\n", *[c for c in string.printable if c.isprintable()]]
    vocab = {tok: i for i, tok in enumerate(specials + chars)}
    tk = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="<unk>"))
    tk.pre_tokenizer = tokenizers.pre_tokenizers.Split(
        tokenizers.Regex(r"[\s\S]"), behavior="isolated"
    )
    tk.decoder = tokenizers.decoders.Fuse()
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tk,
        pad_token="<pad>",
        bos_token="<bos>",
        eos_token="<eos>",
        unk_token="<unk>",
    )


def _tiny_llama(tokenizer: Any) -> Any:
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=128,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    return transformers.LlamaForCausalLM(config).eval()


@pytest.fixture
def hf_lm() -> tuple[HFCausalLM, torch.Tensor, torch.Tensor]:
    tok = _char_tokenizer()
    model = _tiny_llama(tok)
    ids = torch.tensor([tok("Q: From 2: +3.\n2+3=5\n")["input_ids"]])
    with torch.no_grad():
        base_logits = model(input_ids=ids).logits
    lm = HFCausalLM.from_model(model, tok, lora_r=4, lora_alpha=8.0)
    with torch.no_grad():
        for p in lm.adapter_parameters():
            p.normal_(0.0, 0.5)
    return lm, ids, base_logits


def test_adapter_disabled_output_equals_the_base_model(hf_lm) -> None:
    lm, ids, base_logits = hf_lm
    with torch.no_grad():
        on = lm(ids).logits
        with lm.disable_adapter():
            off = lm(ids)
    assert not torch.allclose(on, base_logits, atol=1e-4)
    torch.testing.assert_close(off.logits, base_logits)
    assert off.hidden.shape == (1, ids.shape[1], lm.hidden_size)
    names = [n for n, _ in lm.model.named_parameters() if "lora_A" in n]
    assert names and all(("q_proj" in n) or ("v_proj" in n) for n in names)


def test_cached_generation_matches_a_full_forward(hf_lm) -> None:
    lm, _, _ = hf_lm
    tok = lm.tokenizer
    assert tok.stop_token_mask().sum() == 1 and tok.decode(tok.encode("a+b\n")) == "a+b\n"
    contexts = [[tok.bos_id, *tok.encode("Q: 1\n")], [tok.bos_id, *tok.encode("Q: From 40: *2.\n")]]
    gens = generate_lines(lm, contexts, 6, generator=torch.Generator().manual_seed(0))
    for ctx, gen in zip(contexts, gens, strict=True):
        full = torch.tensor([ctx + gen.ids])
        with torch.no_grad():
            logp = torch.log_softmax(lm(full).logits[0, :-1].float(), -1)
        want = logp.gather(-1, full[0, 1:, None])[len(ctx) - 1 :, 0]
        np.testing.assert_allclose(gen.logprobs, want.numpy(), atol=1e-4)


def test_a_trainer_step_moves_only_the_adapter_and_critic(hf_lm) -> None:
    lm, _, _ = hf_lm
    policy = LLMPolicy(lm, ValueHead(lm.hidden_size, (16,)), max_new_tokens=4)
    state = "Q: From 2: +3.\n"
    traj = Trajectory(None, 0, policy.initial_context(state))  # type: ignore[arg-type]
    for line in ("2+3=5\n", "The answer is 5\n"):
        traj.states.append(state)
        traj.steps.append(line)
        traj.action_ids.append(lm.tokenizer.encode(line))
        traj.logprobs.append([0.0] * len(traj.action_ids[-1]))
        state += line
    traj.done, traj.correct = True, True
    base = [p.detach().clone() for p in lm.base_parameters()]
    lora = [p.detach().clone() for p in lm.adapter_parameters()]
    trainer = APPOTrainer(policy, OnPolicyConfig(policy_lr=1e-2, target_kl=None))
    rewards = np.array([1.0, 1.0], dtype=np.float32)
    trainer.learn(Rollout([traj], 2), StepRewards([rewards], [rewards]))
    assert all(torch.equal(a, b) for a, b in zip(base, lm.base_parameters(), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(lora, lm.adapter_parameters(), strict=True))


def test_load_from_a_local_directory_only(tmp_path: Path) -> None:
    tok = _char_tokenizer()
    _tiny_llama(tok).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    lm = load_hf_causal_lm(tmp_path)
    assert lm.adapter_parameters() and lm.tokenizer.eos_id == tok.eos_token_id
    with pytest.raises(FileNotFoundError, match="not a local model directory"):
        load_hf_causal_lm(tmp_path / "missing")


def test_the_cache_is_a_transformers_cache_passed_without_deprecation_warnings(hf_lm) -> None:
    lm, ids, _ = hf_lm
    # transformers 5.x renamed past_key_values to cache (the old name goes in 5.40)
    signature = inspect.signature(lm.model.get_base_model().forward)
    takes_cache = "cache" in signature.parameters
    assert cache_keyword(lm.model) == ("cache" if takes_cache else "past_key_values")
    with warnings.catch_warnings(record=True) as caught, torch.no_grad():
        warnings.simplefilter("always")
        first = lm(ids[:, :-1], use_cache=True)
        assert isinstance(first.past, transformers.Cache)
        assert first.past.get_seq_length() == ids.shape[1] - 1
        step = lm(ids[:, -1:], past=first.past, use_cache=True)
        full = lm(ids)
    torch.testing.assert_close(step.logits[:, -1], full.logits[:, -1], atol=1e-5, rtol=1e-4)
    cache_warnings = [str(w.message) for w in caught if "past_key_values" in str(w.message)]
    assert cache_warnings == []


@pytest.mark.cuda
def test_an_hf_policy_on_cuda_rolls_out_and_learns_like_on_the_cpu(exact_cuda) -> None:
    tok = _char_tokenizer()
    policies = []
    for device in ("cpu", "cuda"):
        lm = HFCausalLM.from_model(_tiny_llama(tok), tok, lora_r=4, lora_alpha=8.0)
        with torch.no_grad():
            for p in lm.adapter_parameters():
                p.copy_(torch.linspace(-0.5, 0.5, p.numel(), device="cpu").view_as(p))
        torch.manual_seed(0)
        critic = ValueHead(lm.hidden_size, (16,))
        policies.append(LLMPolicy(lm, critic, max_new_tokens=4, device=device))
    contexts = [policies[0].initial_context("Q: From 2: +3.\n")] * 2
    gens = [p.generate(contexts, greedy=True) for p in policies]
    assert [g.ids for g in gens[0]] == [g.ids for g in gens[1]]
    state = "Q: From 2: +3.\n"
    traj = Trajectory(None, 0, list(contexts[0]))  # type: ignore[arg-type]
    traj.states.append(state)
    traj.steps.append(tok.decode(gens[0][0].ids))
    traj.action_ids.append(list(gens[0][0].ids))
    traj.logprobs.append(list(gens[0][0].logprobs))
    traj.done, traj.correct = True, True
    rewards = np.array([1.0], dtype=np.float32)
    config = OnPolicyConfig(policy_lr=1e-2, target_kl=None)
    for policy in policies:
        APPOTrainer(policy, config).learn(Rollout([traj], 1), StepRewards([rewards], [rewards]))
    cpu, gpu = (p.lm.adapter_parameters() for p in policies)
    for x, y in zip(cpu, gpu, strict=True):
        torch.testing.assert_close(y.cpu(), x, atol=1e-5, rtol=1e-4)
