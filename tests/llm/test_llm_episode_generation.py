"""Whole episodes in one pass over the model (``collect.generation='episode'``) against one
line per pass, and PPO ratios that start from the recorded log-probabilities
(``learn.old_logprobs='rollout'``)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from llm_toy import tiny_lm

from pipezero.envs.math_reasoning import (
    ArithmeticConfig,
    ArithmeticProblemGenerator,
    ProblemSampler,
    PromptFormat,
    VecMathEnv,
)
from pipezero.model.lm import generate_episodes, generate_lines
from pipezero.model.lm.generate import Generation, LineRecorder
from pipezero.policy.llm.algorithms import GRPOTrainer
from pipezero.policy.llm.config import llm_math_config
from pipezero.policy.llm.factory import ConfigError, build_parts
from pipezero.policy.llm.policy import LLMPolicy
from pipezero.policy.llm.prm import OracleArithmeticPRM
from pipezero.policy.llm.rewards import RewardConfig, score_rollout
from pipezero.policy.llm.rollout import Rollout, RolloutWorker, Trajectory
from pipezero.policy.llm.sft import SFTTrainer
from pipezero.policy.llm.trainer import OnPolicyConfig

GEN = ArithmeticProblemGenerator(ArithmeticConfig(style="chain", max_ops=2))


@pytest.fixture(scope="module")
def lm():
    """The tiny character LM after 150 supervised steps: it writes steps, answer lines and
    wrong lines, so episodes end for every reason (about 2 s)."""
    torch.manual_seed(0)
    model = tiny_lm(0)
    sft = SFTTrainer(model, PromptFormat(), lr=3e-3)
    problems = GEN.generate(64, seed=1)
    for i in range(150):
        start = (16 * i) % 64
        sft.step(problems[start : start + 16])
    return model.eval()


def _policy(lm, max_new_tokens: int, seed: int = 0) -> LLMPolicy:
    return LLMPolicy(lm, None, max_new_tokens=max_new_tokens, seed=seed)


def _collect(lm, generation: str, mode: str, greedy: bool, **kw) -> list[list[Trajectory]]:
    policy = _policy(lm, kw.pop("max_new_tokens", 12))
    envs = VecMathEnv(8, ProblemSampler(GEN, seed=3), max_steps=5, auto_reset=mode == "steps")
    worker = RolloutWorker(policy, envs, mode, greedy=greedy, generation=generation, **kw)
    return [worker.collect().trajectories for _ in range(2 if mode == "steps" else 1)]


def _key(t: Trajectory) -> tuple:
    return (tuple(t.context), tuple(t.steps), t.done, t.reason, t.correct)


@pytest.mark.parametrize(
    ("max_new_tokens", "reason"),
    # the greedy model's episodes end: lines cut at 8 tokens run to max_steps; at 12 its
    # answer line is cut ("The answer i", "s 109"), then it ends the output; at 20 it answers
    [(8, "max_steps"), (12, "eos"), (20, "answer")],
)
@pytest.mark.parametrize(("mode", "kw"), [("episodes", {}), ("steps", {"rollout_steps": 3})])
def test_greedy_episodes_in_one_pass_equal_line_by_line(
    lm, mode: str, kw: dict, max_new_tokens: int, reason: str
) -> None:
    kw = {**kw, "max_new_tokens": max_new_tokens}
    by_line = _collect(lm, "line", mode, greedy=True, **kw)
    by_episode = _collect(lm, "episode", mode, greedy=True, **kw)
    for a, b in zip(by_line, by_episode, strict=True):  # per collection
        # steps mode lists finished trajectories in the order they ended (another order)
        a, b = sorted(a, key=_key), sorted(b, key=_key)
        assert [_key(t) for t in a] == [_key(t) for t in b]
        for x, y in zip(a, b, strict=True):
            assert x.action_ids == y.action_ids and x.answer == y.answer
            for lx, ly in zip(x.logprobs, y.logprobs, strict=True):
                np.testing.assert_allclose(lx, ly, atol=1e-5)
    assert reason in {t.reason for run in by_episode for t in run}
    if max_new_tokens == 8:  # lines cut at the token limit continue on the next line
        assert any(not s.endswith("\n") for run in by_episode for t in run for s in t.steps)


def test_a_sampled_episode_is_line_by_line_text_and_its_tokens_log_probs(lm) -> None:
    (rollout,) = _collect(lm, "episode", "episodes", greedy=False)
    tok = lm.tokenizer
    for t in rollout:
        assert t.done and 1 <= t.num_steps <= 5
        # every line but the last ends at a separator or at the token limit
        for ids in t.action_ids[:-1]:
            assert ids[-1] == tok.encode("\n")[0] or len(ids) == 12
        ids = torch.tensor([t.context + [i for a in t.action_ids for i in a]])
        with torch.no_grad():
            logp = torch.log_softmax(lm(ids).logits[0, :-1].float(), -1)
        want = logp.gather(-1, ids[0, 1:, None])[len(t.context) - 1 :, 0]
        np.testing.assert_allclose([x for lp in t.logprobs for x in lp], want, atol=1e-5)


def test_the_recorder_stops_rows_on_their_own_line_budget_and_episode_end(lm) -> None:
    tok = lm.tokenizer
    contexts = [
        [tok.bos_id, *tok.encode(PromptFormat().render_state(p))] for p in GEN.generate(4, 5)
    ]
    every = torch.ones(tok.vocab_size, dtype=torch.bool)  # every token ends a line
    runs = generate_episodes(lm, contexts, 4, [1, 2, 3, 5], greedy=True, stop_mask=every)
    assert [len(r) for r in runs] == [1, 2, 3, 5]
    assert all(len(line.ids) == 1 for r in runs for line in r)
    # the episode ends at the first line the predicate accepts
    seen: list[tuple[int, list[int]]] = []

    def third_line_ends(row: int, line: Generation) -> bool:
        seen.append((row, line.ids))
        return sum(r == row for r, _ in seen) == 3

    runs = generate_episodes(
        lm, contexts, 4, 6, episode_done=third_line_ends, greedy=True, stop_mask=every
    )
    assert [len(r) for r in runs] == [3, 3, 3, 3]
    # one line per call is the first line of an episode
    first = generate_lines(lm, contexts, 12, greedy=True)
    whole = generate_episodes(lm, contexts, 12, 5, greedy=True)
    assert [g.ids for g in first] == [r[0].ids for r in whole]
    with pytest.raises(ValueError, match=r"max_lines needs 4 values >= 1"):
        LineRecorder(4, 4, [1, 0, 1, 1], every, tok.eos_id)


def test_ratios_from_the_recorded_log_probs_skip_a_forward_pass_and_match_a_recompute(
    lm,
) -> None:
    (rollout,) = _collect(lm, "episode", "episodes", greedy=False)
    batch = Rollout(rollout, sum(t.num_steps for t in rollout))
    rewards = score_rollout(batch, OracleArithmeticPRM(), RewardConfig())
    config = OnPolicyConfig(policy_lr=1e-3, target_kl=None, minibatch_size=4, grpo_credit="step")
    stats, calls = {}, {"rollout": 0, "recompute": 0}
    for name in ("rollout", "recompute"):
        model = tiny_lm(0)
        model.load_state_dict(lm.state_dict())
        policy = _policy(model, 12)
        trainer = GRPOTrainer(policy, dataclasses.replace(config, old_logprobs=name))

        def forward(*_args, name=name) -> None:
            calls[name] += 1

        handle = model.register_forward_hook(forward)
        stats[name] = trainer.learn(batch, rewards)
        handle.remove()
    assert calls["recompute"] == calls["rollout"] + 1  # the batch's old log-probs
    assert stats["rollout"]["rollout_logprob_gap"] < 1e-4
    assert stats["recompute"]["rollout_logprob_gap"] < 1e-4
    for key in ("policy_loss", "approx_kl", "clipfrac", "entropy"):
        assert stats["rollout"][key] == pytest.approx(stats["recompute"][key], abs=1e-4), key


def test_bad_generation_and_old_logprobs_settings_name_the_key() -> None:
    with pytest.raises(
        ConfigError, match=r"collect\.generation must be one of \('episode', 'line'\)"
    ):
        build_parts(llm_math_config({"collect.generation": "token"}))
    with pytest.raises(ConfigError, match=r"learn\.old_logprobs must be one of"):
        build_parts(llm_math_config({"learn.old_logprobs": "cached"}))
