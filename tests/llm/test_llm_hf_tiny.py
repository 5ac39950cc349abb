"""The tiny Hugging Face model of ``model.kind=hf_tiny`` (pipezero.model.lm.hf_tiny): a BPE
tokenizer trained on the task's text and a Llama/Qwen2 model from a config, through the
recipes' factory. Skipped when ``transformers`` or ``peft`` is not installed."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip(
    "transformers", reason="transformers is not installed (optional: pip install 'pipezero[llm]')"
)
pytest.importorskip("peft", reason="peft is not installed (optional: pip install 'pipezero[llm]')")

from pipezero.config import ConfigError
from pipezero.envs.math_reasoning import (
    ArithmeticConfig,
    ArithmeticProblemGenerator,
    PromptFormat,
)
from pipezero.model.lm.hf_adapter import HFCausalLM
from pipezero.model.lm.hf_tiny import tiny_causal_lm, train_tokenizer
from pipezero.policy.llm.config import llm_math_config
from pipezero.policy.llm.factory import build_lm, build_parts, sft_steps
from pipezero.policy.llm.rewards import score_rollout

PROMPT = PromptFormat()


def _texts(n: int = 60, style: str = "chain") -> list[str]:
    problems = ArithmeticProblemGenerator(ArithmeticConfig(style=style)).generate(n, seed=1)
    return [PROMPT.render_state(p) + PROMPT.render_solution(p) for p in problems]


def test_the_tokenizer_is_trained_on_the_task_text_and_round_trips_it() -> None:
    texts = _texts(60, "word")
    tok = train_tokenizer(texts, vocab_size=160)
    assert 100 < len(tok) <= 160  # characters and specials, plus merged words
    for text in texts[:20]:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert tok.decode(ids) == text and tok.unk_token_id not in ids
        assert len(ids) < len(text)  # words were merged
    pieces = [tok.decode([i]) for i in tok("12+345=357\n", add_special_tokens=False)["input_ids"]]
    assert pieces == list("12+345=357\n")  # digits and the newline stay single tokens
    assert tok.get_vocab() == train_tokenizer(texts, vocab_size=160).get_vocab()  # deterministic
    with pytest.raises(ValueError, match="vocab_size must be >= 100"):
        train_tokenizer(texts, vocab_size=50)
    with pytest.raises(ValueError, match="at least one non-empty text"):
        train_tokenizer([""])


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_a_tiny_model_is_built_from_a_config_with_a_lora_adapter(arch: str) -> None:
    tok = train_tokenizer(_texts(30))
    lm = tiny_causal_lm(tok, arch, d_model=32, n_layer=1, n_head=2, d_ff=64, lora_r=4)
    assert isinstance(lm, HFCausalLM) and lm.hidden_size == 32
    assert type(lm.model.get_base_model()).__name__.lower().startswith(arch)
    assert lm.model.get_base_model().config.vocab_size == len(tok)
    assert lm.tokenizer.stop_token_mask().sum() == 1
    with pytest.raises(ValueError, match="arch must be one of"):
        tiny_causal_lm(tok, "gpt2")


def _tiny_cfg(**overrides):
    small = {
        "model.kind": "hf_tiny",
        "model.d_model": 32,
        "model.n_layer": 1,
        "model.n_head": 2,
        "model.d_ff": 64,
        "model.tokenizer_texts": 40,
        "model.critic_layers": [16],
        "env.num_eval_problems": 4,
        "collect.num_prompts": 2,
        "collect.group_size": 2,
        "collect.max_new_tokens": 6,
        "env.max_steps": 2,
        "learn.algo": "grpo",
        "learn.minibatch_size": 4,
    }
    return llm_math_config(small | overrides)


def test_the_recipes_build_warm_start_and_train_an_hf_tiny_model() -> None:
    cfg = _tiny_cfg()
    parts = build_parts(cfg)
    assert isinstance(parts.policy.lm, HFCausalLM) and parts.sft_steps == 1500
    batch = [parts.sft_sampler.next()[0] for _ in range(4)]
    assert np.isfinite(parts.sft.step(batch))
    rollout = parts.worker.collect()
    assert len(rollout.trajectories) == 4 and rollout.num_steps >= 4
    before = [p.detach().clone() for p in parts.policy.lm.adapter_parameters()]
    stats = parts.trainer.learn(rollout, score_rollout(rollout, parts.prm, parts.reward))
    assert stats["updates"] == 1.0
    after = parts.policy.lm.adapter_parameters()
    assert any(not (a == b).all() for a, b in zip(before, after, strict=True))


def test_model_kind_and_warm_start_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"model\.kind must be one of \['char', 'hf_tiny'\]"):
        build_lm(_tiny_cfg(**{"model.kind": "gpt"}).model, 0)
    with pytest.raises(ConfigError, match=r"model\.hf_arch must be one of"):
        build_lm(_tiny_cfg(**{"model.hf_arch": "gpt2"}).model, 0, _texts(5))
    with pytest.raises(ConfigError, match=r"cannot be combined with model\.kind='hf_tiny'"):
        build_lm(_tiny_cfg(**{"model.hf_path": "/models/x"}).model, 0)
    # a pretrained model is used as is unless a warm start is asked for
    pretrained = llm_math_config({"model.hf_path": "/models/x"})
    assert sft_steps(pretrained) == 0
    assert sft_steps(llm_math_config({"model.hf_path": "/m", "sft.num_steps": 30})) == 30
    assert sft_steps(llm_math_config()) == 1500
