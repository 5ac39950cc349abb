"""The step-level environment, the seeded problem sampler and the rollout worker."""

from __future__ import annotations

import pytest
from llm_toy import problem, tiny_policy

from pipezero.envs.math_reasoning import (
    ArithmeticConfig,
    ArithmeticProblemGenerator,
    MathStepEnv,
    ProblemSampler,
    PromptFormat,
    VecMathEnv,
)
from pipezero.policy.llm.rollout import RolloutWorker


def test_episode_ends_on_an_answer_eos_or_max_steps() -> None:
    env = MathStepEnv(max_steps=3)
    state = env.reset(problem())
    assert state == "Q: From 2: +3.\n"
    r = env.step("2+3=5\n")
    assert not r.done and r.state == state + "2+3=5\n" and r.num_steps == 1
    r = env.step("The answer is 5\n")
    assert (r.done, r.reason, r.answer, r.correct) == (True, "answer", "5", True)
    with pytest.raises(RuntimeError, match="finished episode"):
        env.step("more\n")
    env.reset(problem())
    assert env.step("2+3=", eos=True).reason == "eos"
    env.reset(problem())
    results = [env.step("hm\n") for _ in range(3)]
    assert [r.done for r in results] == [False, False, True]
    assert (results[-1].reason, results[-1].correct) == ("max_steps", False)


def test_few_shot_prompt_precedes_the_question() -> None:
    prompt = PromptFormat(few_shot=(problem("From 1: +1.", "2"),))
    shot = "Q: From 1: +1.\n2+3=5\nThe answer is 2\n\n"
    assert prompt.render_state(problem()) == shot + "Q: From 2: +3.\n"


def test_vec_env_auto_resets_a_finished_environment() -> None:
    problems = [problem(f"From {i}: +1.", str(i + 1)) for i in range(5)]
    envs = VecMathEnv(2, ProblemSampler(problems, seed=0, shuffle=False), auto_reset=True)
    states = envs.reset()
    assert states[0].startswith("Q: From 0") and states[1].startswith("Q: From 1")
    out = envs.step(["The answer is 1\n", None])
    assert out[1] is None
    assert out[0].done and out[0].correct
    assert out[0].final_state == states[0] + "The answer is 1\n"
    assert out[0].state == "Q: From 2: +1.\n" == envs.envs[0].state  # the next problem
    with pytest.raises(ValueError, match="expected 2 actions"):
        envs.step(["x"])


def test_sampler_repeats_groups_and_is_reproducible() -> None:
    gen = ArithmeticProblemGenerator(ArithmeticConfig(style="chain"))
    a = ProblemSampler(gen, seed=7, group_size=3)
    drawn = [a.next() for _ in range(6)]
    assert [g for _, g in drawn] == [0, 0, 0, 1, 1, 1]
    assert drawn[0][0] == drawn[2][0] != drawn[3][0]
    b = ProblemSampler(gen, seed=7, group_size=3)
    assert [b.next() for _ in range(6)] == drawn
    saved = a.state_dict()
    after = [a.next() for _ in range(4)]
    a.load_state_dict(saved)
    assert [a.next() for _ in range(4)] == after
    excluded = ProblemSampler([problem("a", "1"), problem("b", "2")], seed=0, exclude={"a"})
    assert {excluded.next()[0].question for _ in range(4)} == {"b"}
    with pytest.raises(ValueError, match="group_size"):
        ProblemSampler(gen, seed=0, group_size=0)


def _worker(mode: str, **kw) -> RolloutWorker:
    gen = ArithmeticProblemGenerator(ArithmeticConfig(style="chain", max_ops=2))
    policy = tiny_policy(seed=1, max_new_tokens=4)
    envs = VecMathEnv(3, ProblemSampler(gen, seed=0), max_steps=3, auto_reset=mode == "steps")
    return RolloutWorker(policy, envs, mode, **kw)


def test_episode_collection_finishes_every_environment_and_keeps_exact_tokens() -> None:
    worker = _worker("episodes")
    rollout = worker.collect()
    assert len(rollout.trajectories) == 3 and all(t.done for t in rollout.trajectories)
    assert rollout.num_steps == sum(t.num_steps for t in rollout.trajectories)
    tok = worker.policy.tokenizer
    for t in rollout.trajectories:
        assert t.num_steps <= 3 and len(t.states) == len(t.logprobs) == t.num_steps
        # the env's text is the decoded token context (special tokens decode to nothing)
        actions = [i for a in t.action_ids for i in a]
        assert tok.decode(t.context + actions) == t.states[-1] + t.steps[-1]
        assert t.context == worker.policy.initial_context(t.states[0])


def test_step_collection_cuts_and_continues_episodes() -> None:
    worker = _worker("steps", rollout_steps=2)
    first = worker.collect()
    assert first.num_steps == 6
    assert sum(t.num_steps for t in first.trajectories) == 6
    cut = [t for t in first.trajectories if not t.done]
    second = worker.collect()
    # a cut trajectory continues from the exact token context where it stopped
    continued = {id(t.problem): t for t in second.trajectories}
    for t in cut:
        nxt = continued[id(t.problem)]
        assert nxt.context == t.context + [i for a in t.action_ids for i in a]
    with pytest.raises(ValueError, match="auto_reset=False"):
        RolloutWorker(worker.policy, worker.envs, "episodes")
