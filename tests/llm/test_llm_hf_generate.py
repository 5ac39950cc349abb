"""Rollouts through a Hugging Face model's own ``generate`` (pipezero.model.lm.hf_generate),
on a tiny Llama built here with a BPE tokenizer trained on arithmetic text (nothing is
downloaded). Skipped when ``transformers`` or ``peft`` is not installed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip(
    "transformers", reason="transformers is not installed (optional: pip install 'pipezero[llm]')"
)
pytest.importorskip("peft", reason="peft is not installed (optional: pip install 'pipezero[llm]')")

from pipezero.envs.math_reasoning import (
    ArithmeticConfig,
    ArithmeticProblemGenerator,
    PromptFormat,
)
from pipezero.model.lm import generate_episodes, generate_lines
from pipezero.model.lm.generate import LineRecorder, sample_with_cache
from pipezero.model.lm.hf_adapter import HFCausalLM
from pipezero.model.lm.hf_tiny import tiny_causal_lm, train_tokenizer
from pipezero.policy.llm.algorithms import GRPOTrainer
from pipezero.policy.llm.batch import build_token_batch
from pipezero.policy.llm.policy import LLMPolicy
from pipezero.policy.llm.rewards import StepRewards
from pipezero.policy.llm.rollout import Rollout, Trajectory
from pipezero.policy.llm.trainer import OnPolicyConfig

PROMPT = PromptFormat()


@pytest.fixture(scope="module")
def tokenizer():
    generator = ArithmeticProblemGenerator(ArithmeticConfig(style="chain"))
    problems = generator.generate(60, seed=0)
    return train_tokenizer([PROMPT.render_state(p) + PROMPT.render_solution(p) for p in problems])


def _lm(tokenizer, seed: int = 0) -> HFCausalLM:
    """A 2-layer Llama whose adapter is non-zero (so generation runs through it)."""
    lm = tiny_causal_lm(tokenizer, d_model=32, n_layer=2, n_head=2, d_ff=64, seed=seed, lora_r=4)
    with torch.no_grad():
        for p in lm.adapter_parameters():
            p.normal_(0.0, 0.3, generator=torch.Generator().manual_seed(1))
    return lm.eval()


def _contexts(lm: HFCausalLM, states: list[str]) -> list[list[int]]:
    tok = lm.tokenizer
    return [[tok.bos_id, *tok.encode(s)] for s in states]


STATES = ["Q: From 7: +5.\n", "Q: From 42: -33, +4, +53.\n7+5=12\n", "Q: From 3: *2, +10.\n"]


def _forward_logprobs(lm: HFCausalLM, ids: list[int], start: int, temperature: float):
    """Log-probabilities of ``ids[start:]`` by one forward pass over ``ids``."""
    full = torch.tensor([ids])
    with torch.no_grad():
        logp = torch.log_softmax(lm(full).logits[0, :-1].float() / temperature, -1)
    return logp.gather(-1, full[0, 1:, None])[start - 1 :, 0].numpy()


def test_the_model_generate_samples_the_same_tokens_as_the_cached_loop(tokenizer) -> None:
    lm = _lm(tokenizer)
    contexts = _contexts(lm, STATES)
    kwargs = {"temperature": 0.8, "greedy": False, "stop_mask": None}
    via_generate = generate_lines(
        lm, contexts, 8, generator=torch.Generator().manual_seed(3), **kwargs
    )
    recorder = LineRecorder(
        len(contexts), 8, 1, lm.tokenizer.stop_token_mask(), lm.tokenizer.eos_id
    )
    sample_with_cache(
        lm, contexts, recorder, generator=torch.Generator().manual_seed(3), temperature=0.8
    )
    via_loop = [run[0] for run in recorder.lines]
    for a, b in zip(via_generate, via_loop, strict=True):
        assert a.ids == b.ids and a.eos == b.eos
        np.testing.assert_allclose(a.logprobs, b.logprobs, atol=1e-5)


def test_whole_episodes_through_generate_equal_the_cached_loop(tokenizer) -> None:
    """Sampled, several lines per row, each row with its own line budget and an episode end
    decided between lines, finished rows dropped from the batch on the way: the model's
    ``generate`` and the loop draw the same tokens."""
    lm = _lm(tokenizer)
    contexts = _contexts(lm, STATES * 2)
    budgets = [1, 2, 3, 4, 5, 6]

    def odd_rows_end_after_two_lines():
        finished = [0] * len(contexts)

        def episode_done(row: int, _line) -> bool:
            finished[row] += 1
            return row % 2 == 1 and finished[row] == 2

        return episode_done

    batch_sizes = []
    hook = lm.model.get_base_model().model.register_forward_hook(
        lambda _m, _args, kwargs, _out: batch_sizes.append(kwargs["input_ids"].shape[0]),
        with_kwargs=True,
    )
    try:
        via_generate = generate_episodes(
            lm, contexts, 5, budgets, temperature=0.9, generator=torch.Generator().manual_seed(4),
            episode_done=odd_rows_end_after_two_lines(),
        )  # fmt: skip
    finally:
        hook.remove()
    # the 3 distinct prompts encoded once, then 6 rows; finished rows left the batch (the
    # live ones went on once half had finished)
    assert batch_sizes[:2] == [3, 6] and batch_sizes[-1] < 3
    assert batch_sizes[1:] == sorted(batch_sizes[1:], reverse=True)
    recorder = LineRecorder(
        len(contexts),
        5,
        budgets,
        lm.tokenizer.stop_token_mask(),
        lm.tokenizer.eos_id,
        odd_rows_end_after_two_lines(),
    )
    sample_with_cache(
        lm, contexts, recorder, temperature=0.9, generator=torch.Generator().manual_seed(4)
    )
    assert [len(r) for r in via_generate] == [1, 2, 3, 2, 5, 2]  # budgets, episode ends
    for row, (a, b) in enumerate(zip(via_generate, recorder.lines, strict=True)):
        assert [g.ids for g in a] == [g.ids for g in b]
        for x, y in zip(a, b, strict=True):
            np.testing.assert_allclose(x.logprobs, y.logprobs, atol=1e-5)
        full = [i for g in a for i in g.ids]
        np.testing.assert_allclose(
            [lp for g in a for lp in g.logprobs],
            _forward_logprobs(lm, contexts[row] + full, len(contexts[row]), 0.9),
            atol=1e-5,
        )


def test_equal_prompts_are_encoded_once_and_sample_as_if_encoded_apart(tokenizer) -> None:
    """A GRPO group's rows share one prompt: ``generate`` starts from one encoding per
    distinct prompt, copied to its rows, and draws what the loop draws encoding each row."""
    lm = _lm(tokenizer)
    distinct = _contexts(lm, STATES)
    contexts = [distinct[i] for i in (0, 1, 1, 2, 0, 1, 2, 2)]
    prompt_rows = []
    hook = lm.model.get_base_model().model.register_forward_hook(
        lambda _m, args, kwargs, _out: prompt_rows.append(kwargs["input_ids"].shape),
        with_kwargs=True,
    )
    try:
        via_generate = generate_episodes(
            lm, contexts, 6, 3, temperature=0.9, generator=torch.Generator().manual_seed(2)
        )
    finally:
        hook.remove()
    width = max(len(c) for c in contexts)
    assert prompt_rows[0] == (3, width - 1)  # the distinct prompts, less their last token
    assert prompt_rows[1] == (8, 1)  # then generate feeds every row's last token
    recorder = LineRecorder(
        len(contexts), 6, 3, lm.tokenizer.stop_token_mask(), lm.tokenizer.eos_id
    )
    sample_with_cache(
        lm, contexts, recorder, temperature=0.9, generator=torch.Generator().manual_seed(2)
    )
    for a, b in zip(via_generate, recorder.lines, strict=True):
        assert [g.ids for g in a] == [g.ids for g in b]
        for x, y in zip(a, b, strict=True):
            np.testing.assert_allclose(x.logprobs, y.logprobs, atol=1e-5)
    assert len({tuple(g.ids) for run in via_generate for g in run[:1]}) > 3  # rows diverged


def test_recorded_logprobs_equal_the_trainers_forward_pass_at_the_sampling_temperature(
    tokenizer,
) -> None:
    policy = LLMPolicy(_lm(tokenizer), None, max_new_tokens=6, temperature=0.7, seed=0)
    trajectories = []
    for state in STATES:  # two lines each, the second continuing from the first
        traj = Trajectory(None, 0, policy.initial_context(state))  # type: ignore[arg-type]
        context = list(traj.context)
        for _ in range(2):
            (gen,) = policy.generate([context])
            traj.states.append(state)
            traj.steps.append(policy.tokenizer.decode(gen.ids))
            traj.action_ids.append(list(gen.ids))
            traj.logprobs.append(list(gen.logprobs))
            context.extend(gen.ids)
        traj.done, traj.correct = True, False
        trajectories.append(traj)
    trainer = GRPOTrainer(policy, OnPolicyConfig(old_logprobs="recompute"))
    rewards = [np.zeros(2, dtype=np.float32) for _ in trajectories]
    batch = build_token_batch(trajectories, rewards, policy.tokenizer.pad_id)
    recomputed = trainer._prepare(batch).old_logprobs
    stats = trainer.learn(Rollout(trajectories, 6), StepRewards(rewards, rewards))
    assert stats["rollout_logprob_gap"] < 1e-5
    for row, traj in enumerate(trajectories):
        recorded = [lp for step in traj.logprobs for lp in step]
        np.testing.assert_allclose(recomputed[row][batch.action[row]].numpy(), recorded, atol=1e-5)
        assert not np.allclose(  # the temperature matters: T = 1 gives other log-probs
            _forward_logprobs(policy.lm, traj.context + traj.action_ids[0], len(traj.context), 1.0),
            traj.logprobs[0],
            atol=1e-3,
        )


def test_each_row_stops_at_its_own_step_boundary(tokenizer) -> None:
    lm = _lm(tokenizer)
    tok = lm.tokenizer
    stops = tok.stop_token_mask()
    assert [tok.decode([i]) for i in stops.nonzero()[:, 0].tolist()] == ["\n"]
    # every digit also ends a line here, so the rows stop after different numbers of tokens
    digits = stops.clone()
    for d in "0123456789":
        (digit,) = tok.encode(d)
        digits[digit] = True
    gens = generate_lines(
        lm,
        _contexts(lm, STATES * 4),
        12,
        generator=torch.Generator().manual_seed(0),
        stop_mask=digits,
    )
    lengths = {len(g.ids) for g in gens}
    assert len(lengths) > 1, "all rows ended after the same number of tokens"
    for g in gens:
        ended = [bool(digits[i]) or i == tok.eos_id for i in g.ids]
        assert not any(ended[:-1]), "a line went on past a step boundary"
        assert ended[-1] or len(g.ids) == 12
        assert g.eos == (g.ids[-1] == tok.eos_id)
        assert tok.pad_id not in g.ids[:-1]
    # generate itself stops once every row has ended: a stop mask of every token ends each
    # line after one token, so the model runs once (the prompt) instead of 12 times
    calls = []
    hook = lm.model.get_base_model().model.register_forward_hook(lambda *_: calls.append(1))
    try:
        everything = torch.ones_like(stops)
        gens = generate_lines(lm, _contexts(lm, STATES), 12, greedy=True, stop_mask=everything)
    finally:
        hook.remove()
    assert [len(g.ids) for g in gens] == [1, 1, 1] and len(calls) == 1


def test_left_padding_does_not_change_a_prompts_line(tokenizer) -> None:
    lm = _lm(tokenizer)
    short, *longer = _contexts(lm, ["Q: 1\n", *STATES[1:]])
    assert all(len(c) > len(short) + 5 for c in longer)
    alone = generate_lines(lm, [short], 10, greedy=True, temperature=0.7)[0]
    in_batch = generate_lines(lm, [longer[0], short, longer[1]], 10, greedy=True, temperature=0.7)
    assert in_batch[1].ids == alone.ids
    np.testing.assert_allclose(in_batch[1].logprobs, alone.logprobs, atol=1e-5)
    np.testing.assert_allclose(
        alone.logprobs, _forward_logprobs(lm, short + alone.ids, len(short), 0.7), atol=1e-5
    )


def test_a_models_own_generation_settings_do_not_reshape_the_sampling(tokenizer) -> None:
    lm = _lm(tokenizer)
    config = lm.model.get_base_model().generation_config
    config.top_k, config.repetition_penalty, config.do_sample = 2, 3.0, True
    contexts = _contexts(lm, STATES)
    gens = generate_lines(
        lm, contexts, 8, temperature=1.3, generator=torch.Generator().manual_seed(0)
    )
    for ctx, gen in zip(contexts, gens, strict=True):
        want = _forward_logprobs(lm, ctx + gen.ids, len(ctx), 1.3)
        np.testing.assert_allclose(gen.logprobs, want, atol=1e-5)
    assert lm.model.get_base_model().generation_config is config  # put back afterwards
    assert config.top_k == 2
