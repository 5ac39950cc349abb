"""``reward.kind`` selects where step rewards come from: outcome only, the oracle PRM, or a
step-tag reward model loaded from a local directory."""

from __future__ import annotations

import string
from pathlib import Path

import numpy as np
import pytest
import torch
from llm_toy import tiny_policy, trajectory
from pipezero.recipes import appo_math

from pipezero.config import ConfigError, merge_config
from pipezero.policy.llm.prm import OracleArithmeticPRM, StepTagPRM
from pipezero.policy.llm.reward_source import REWARD_KINDS, build_reward
from pipezero.policy.llm.rewards import RewardConfig, min_form, score_rollout
from pipezero.policy.llm.rollout import Rollout
from pipezero.recipe import Run, UsageError

WEIGHTS = {"process_weight": 0.5, "process_offset": 0.5, "outcome_weight": 1.0}


def _rollout() -> Rollout:
    policy = tiny_policy()
    right = trajectory(policy, ["2+3=5\n", "The answer is 5\n"])
    wrong = trajectory(policy, ["2+3=6\n", "The answer is 6\n"], correct=False)
    return Rollout([right, wrong], 4)


def test_outcome_rewards_only_the_final_answer() -> None:
    prm, weights = build_reward({"kind": "outcome", **WEIGHTS})
    assert prm is None and weights == RewardConfig(0.0, 0.0, 1.0)
    rewards = score_rollout(_rollout(), prm, weights).rewards
    np.testing.assert_array_equal(rewards[0], [0.0, 1.0])
    np.testing.assert_array_equal(rewards[1], [0.0, 0.0])


def test_the_oracle_prm_is_the_default_and_scores_every_step() -> None:
    prm, weights = build_reward(WEIGHTS)
    assert isinstance(prm, OracleArithmeticPRM) and weights == RewardConfig(**WEIGHTS)
    rewards = score_rollout(_rollout(), prm, weights).rewards
    np.testing.assert_allclose(rewards[0], [0.25, 1.25])
    np.testing.assert_allclose(rewards[1], [-0.25, 0.25])  # a wrong step, then its result


def test_min_form_credit_makes_each_process_return_the_smallest_reward_ahead() -> None:
    rewards = np.array([0.2, -0.1, 0.3, 0.25, 0.4], dtype=np.float32)
    returns = np.cumsum(min_form(rewards)[::-1])[::-1]
    np.testing.assert_allclose(returns, [-0.1, -0.1, 0.25, 0.25, 0.4], atol=1e-7)
    assert min_form(np.zeros(0, dtype=np.float32)).shape == (0,)
    prm, weights = build_reward({**WEIGHTS, "process_credit": "min"})
    policy = tiny_policy()
    lines = ["2+3=6\n", "6+3=9\n", "The answer is 9\n"]  # a wrong step, then right ones
    rollout = Rollout([trajectory(policy, lines, correct=False)], 3)
    rewards = score_rollout(rollout, prm, weights).rewards[0]
    np.testing.assert_allclose(np.cumsum(rewards[::-1])[::-1], [-0.25, 0.25, 0.25])
    summed = score_rollout(rollout, prm, RewardConfig(**WEIGHTS)).rewards[0]
    np.testing.assert_allclose(np.cumsum(summed[::-1])[::-1], [0.25, 0.5, 0.25])  # it adds up
    with pytest.raises(
        ConfigError, match=r"'reward.process_credit' must be one of \['sum', 'min'\]"
    ):
        build_reward({**WEIGHTS, "process_credit": "max"})
    with pytest.raises(ValueError, match="process_credit must be one of"):
        RewardConfig(process_credit="mean")


def test_an_unknown_kind_lists_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"'reward.kind' must be one of \[") as info:
        build_reward({"kind": "learned", **WEIGHTS})
    assert all(kind in str(info.value) for kind in REWARD_KINDS)
    assert "'learned'" in str(info.value)


def test_step_tag_prm_needs_a_local_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"reward\.prm_path"):
        build_reward({"kind": "step_tag_prm", **WEIGHTS})
    pytest.importorskip("transformers")
    with pytest.raises(FileNotFoundError, match="not a local model directory"):
        build_reward({"kind": "step_tag_prm", "prm_path": str(tmp_path / "none"), **WEIGHTS})


def test_the_recipe_selects_the_reward_by_config(tmp_path: Path) -> None:
    tiny = {"sft": {"num_steps": 0}, "env": {"num_eval_problems": 2}, "exp_dir": str(tmp_path)}
    cfg = merge_config(appo_math.CONFIG, {**tiny, "reward": {"kind": "outcome"}})
    _, parts = appo_math.build_with_parts(Run("appo_math", cfg))
    assert parts.prm is None and parts.reward.process_weight == 0.0
    cfg = merge_config(appo_math.CONFIG, {**tiny, "reward": {"kind": "bogus"}})
    with pytest.raises(UsageError, match=r"reward\.kind"):
        appo_math.build(Run("appo_math", cfg))


def _save_step_tag_model(path: Path) -> None:
    """A tiny random Llama with a character tokenizer, saved like a downloaded PRM."""
    transformers = pytest.importorskip("transformers")
    tokenizers = pytest.importorskip("tokenizers")
    specials = ["<pad>", "<bos>", "<eos>", "<unk>"]
    chars = ["\n", *[c for c in string.printable if c.isprintable()]]
    vocab = {tok: i for i, tok in enumerate(specials + chars)}
    tk = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="<unk>"))
    tk.pre_tokenizer = tokenizers.pre_tokenizers.Split(
        tokenizers.Regex(r"[\s\S]"), behavior="isolated"
    )
    tk.decoder = tokenizers.decoders.Fuse()
    tok = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tk, pad_token="<pad>", bos_token="<bos>", eos_token="<eos>"
    )
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=len(tok),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=128,
        pad_token_id=tok.pad_token_id,
    )
    transformers.LlamaForCausalLM(config).save_pretrained(path)
    tok.save_pretrained(path)


def test_a_step_tag_prm_from_a_local_model_scores_steps(tmp_path: Path) -> None:
    _save_step_tag_model(tmp_path)
    reward = {
        "kind": "step_tag_prm",
        "prm_path": str(tmp_path),
        "prm_step_tag": "@",
        "prm_good_token": "+",
        "prm_bad_token": "-",
        **WEIGHTS,
    }
    prm, weights = build_reward(reward)
    assert isinstance(prm, StepTagPRM) and weights == RewardConfig(**WEIGHTS)
    scores = score_rollout(_rollout(), prm, weights).process
    flat = np.concatenate(scores)
    assert flat.shape == (4,) and np.all((flat > 0) & (flat < 1))
    assert len(set(flat.round(6))) > 1  # the model reads the steps
