"""The learned PRM (``reward.kind=learned_prm``): a value head on a language model trained on
step labels from the oracle; its warm-up phase in the recipe; selection by config."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from llm_toy import tiny_lm, trajectory
from pipezero.middleware.prm_warmup import prm_warmup
from pipezero.recipes import appo_math

from pipezero.config import ConfigError, merge_config
from pipezero.envs.math_reasoning import ArithmeticConfig, ArithmeticProblemGenerator, PromptFormat
from pipezero.framework import Task
from pipezero.policy.llm.context import LLMContext
from pipezero.policy.llm.learned_prm import LearnedPRM, StepLabels, ranking_auc
from pipezero.policy.llm.policy import LLMPolicy
from pipezero.policy.llm.prm import OracleArithmeticPRM
from pipezero.policy.llm.prm_training import PRMRefresh, PRMTrainer, label_rollout
from pipezero.policy.llm.reward_source import build_reward
from pipezero.policy.llm.rewards import RewardConfig, score_rollout
from pipezero.policy.llm.rollout import Rollout, Trajectory
from pipezero.recipe import Run, UsageError

#: small problems: one or two additions / subtractions on numbers below 100
SMALL = ArithmeticConfig(
    min_ops=1, max_ops=2, max_start=20, max_addend=9, max_value=99, ops=("+", "-"), style="chain"
)


def _labelled_steps(num_problems: int, seed: int, exclude: list | None = None) -> StepLabels:
    """The worked steps of generated problems, half of them replaced by a step that starts
    from a number the state does not hold (``16+2=18`` after a state ending in ``=16``
    becomes ``29+2=31``), labelled by the oracle PRM like the recipe's warm-up data."""
    gen = ArithmeticProblemGenerator(SMALL)
    problems = gen.generate(num_problems, seed=seed, exclude=exclude or ())
    rng = np.random.default_rng(seed)
    prompt = PromptFormat()
    states, steps, episodes = [], [], []
    for k, p in enumerate(problems):
        state = prompt.render_state(p)
        for line in p.steps:
            step = line
            if rng.random() < 0.5:
                lhs = line.split("=")[0]
                op = "+" if "+" in lhs else "-"
                a, b = lhs.split(op)
                wrong = int(a) + int(rng.integers(1, 30))
                step = f"{wrong}{op}{b}={wrong + int(b) if op == '+' else wrong - int(b)}"
            states.append(state)
            steps.append(step + "\n")
            episodes.append(k)
            state += line + "\n"
    labels = OracleArithmeticPRM().score(states, steps)
    return StepLabels(states, steps, labels, np.array(episodes))


def test_training_reduces_the_loss_and_ranks_held_out_good_steps_above_bad_ones() -> None:
    gen = ArithmeticProblemGenerator(SMALL)
    train = _labelled_steps(1500, seed=1)
    held_out = _labelled_steps(150, seed=2, exclude=gen.generate(1500, seed=1))
    assert 0.3 < float(np.mean(train.labels)) < 0.7  # both kinds, labelled by the oracle
    prm = LearnedPRM(tiny_lm(0), head_layers=(32,))
    trainer = PRMTrainer(prm, lr=3e-3, batch_size=32, seed=0)
    before = trainer.evaluate(held_out)
    losses = [trainer.step(train) for _ in range(200)]
    after = trainer.evaluate(held_out)
    assert np.mean(losses[-40:]) < 0.8 * np.mean(losses[:40])
    assert after["loss"] < before["loss"] - 0.1
    assert before["auc"] < 0.7 and after["auc"] >= 0.85, (before, after)
    assert after["accuracy"] >= 0.75


def _reworded_rollout(num_problems: int, seed: int) -> Rollout:
    """Episodes of worked steps, about half of them written ``16+2 is 18`` (no equation: the
    oracle scores such a line 0), steps the PRM of :func:`_labelled_steps` never saw."""
    rng = np.random.default_rng(seed)
    prompt = PromptFormat()
    trajs = []
    for p in ArithmeticProblemGenerator(SMALL).generate(num_problems, seed=seed):
        traj = Trajectory(p, 0, [])
        state = prompt.render_state(p)
        for line in p.steps:
            traj.states.append(state)
            traj.steps.append((line.replace("=", " is ") if rng.random() < 0.5 else line) + "\n")
            state += line + "\n"
        traj.done, traj.correct = True, True
        trajs.append(traj)
    return Rollout(trajs, sum(t.num_steps for t in trajs))


def test_refresh_teaches_the_prm_the_steps_the_policy_writes_now() -> None:
    """A PRM warmed up on one kind of mistake is half blind to another; labelling a few of
    each collection's episodes and training on them (PRMRefresh) fixes that, where as many
    more steps on the warm-up data alone do not."""
    warm = _labelled_steps(600, seed=1)
    held_out = label_rollout(_reworded_rollout(100, seed=9), OracleArithmeticPRM())

    def warmed_up() -> PRMTrainer:
        trainer = PRMTrainer(LearnedPRM(tiny_lm(0), head_layers=(32,)), lr=3e-3, batch_size=32)
        for _ in range(100):
            trainer.step(warm)
        return trainer

    trainer = warmed_up()
    refresh = PRMRefresh(
        trainer, OracleArithmeticPRM(), episodes=8, steps=4, capacity=2000, initial=lambda: warm
    )
    outs = []
    for k in range(10):
        rollout = _reworded_rollout(16, seed=100 + k)
        scores = [trainer.prm.score(t.states, t.steps) for t in rollout.trajectories]
        outs.append(refresh.update(rollout, scores))
    control = warmed_up()
    for _ in range(40):  # the same number of steps, on the warm-up data only
        control.step(warm)
    refreshed, frozen = trainer.evaluate(held_out)["auc"], control.evaluate(held_out)["auc"]
    assert refreshed >= 0.9 and refreshed > frozen + 0.08, (refreshed, frozen)
    assert refresh.labels_total == sum(o["labelled"] for o in outs) <= 10 * 8 * 3
    assert outs[-1]["buffer"] == len(warm) + refresh.labels_total
    assert {"onpolicy_auc", "onpolicy_accuracy", "loss"} <= set(outs[-1])


def test_refresh_labels_finished_episodes_keeps_the_newest_steps_and_resumes() -> None:
    def make() -> PRMRefresh:
        trainer = PRMTrainer(LearnedPRM(tiny_lm(0), head_layers=(8,)), batch_size=8, seed=1)
        return PRMRefresh(trainer, OracleArithmeticPRM(), episodes=3, steps=2, capacity=10)

    refresh = make()
    rollout = _reworded_rollout(6, seed=0)
    for t in rollout.trajectories[:4]:
        t.done = False  # cut by the collection: not labelled
    out = refresh.update(rollout)
    labelled = sum(t.num_steps for t in rollout.trajectories[4:])
    assert out["labelled"] == labelled and "onpolicy_auc" not in out
    for k in range(3):
        refresh.update(_reworded_rollout(6, seed=1 + k))
    assert len(refresh.buffer) == 10  # the capacity; the oldest went first
    assert refresh.trainer.steps_done == 8
    # a resumed refresh (its state and the trainer's) continues exactly
    other = make()
    saved = copy.deepcopy((refresh.trainer.state_dict(), refresh.state_dict()))  # a checkpoint
    other.trainer.load_state_dict(saved[0])
    other.load_state_dict(saved[1])
    a, b = refresh.update(_reworded_rollout(6, seed=7)), other.update(_reworded_rollout(6, seed=7))
    assert a == b and refresh.buffer.steps == other.buffer.steps
    with pytest.raises(ValueError, match="steps must be an int >= 1, got 0"):
        PRMRefresh(refresh.trainer, OracleArithmeticPRM(), episodes=3, steps=0, capacity=10)


def test_scores_are_probabilities_and_the_recipe_reward_reads_them() -> None:
    prm = LearnedPRM(tiny_lm(0), head_layers=(16,))
    policy = LLMPolicy(tiny_lm(1), None, max_new_tokens=6)
    rollout = Rollout([trajectory(policy, ["2+3=5\n", "The answer is 5\n"])], 4)
    rewards = score_rollout(rollout, prm, RewardConfig(0.5, 0.5, 1.0))
    assert rewards.process[0].shape == (2,)
    assert np.all((rewards.process[0] > 0) & (rewards.process[0] < 1))
    one = prm.score(["Q: From 2: +3.\n"], ["2+3=5\n"])
    batched = prm.score(["Q: From 2: +3.\n", "Q: From 40: -1.\n"], ["2+3=5\n", "40-1=39\n"])
    np.testing.assert_allclose(one, batched[:1], atol=1e-6)  # right padding changes nothing
    with pytest.raises(ValueError, match="2 states but 1 steps"):
        prm.score(["a", "b"], ["c"])


def test_adapter_training_moves_only_the_head_and_the_adapter() -> None:
    prm = LearnedPRM(tiny_lm(0), head_layers=(16,), train="adapter")
    base = [p.detach().clone() for p in prm.lm.base_parameters()]
    adapter = [p.detach().clone() for p in prm.lm.adapter_parameters()]
    PRMTrainer(prm, lr=1e-2, batch_size=8).step(_labelled_steps(8, seed=0))
    PRMTrainer(prm, lr=1e-2, batch_size=8).step(_labelled_steps(8, seed=1))
    assert all(torch.equal(a, b) for a, b in zip(base, prm.lm.base_parameters(), strict=True))
    assert any(
        not torch.equal(a, b) for a, b in zip(adapter, prm.lm.adapter_parameters(), strict=True)
    )
    with pytest.raises(ValueError, match="train must be one of"):
        LearnedPRM(tiny_lm(0), train="all")


def test_a_hugging_face_model_works_through_the_same_protocol() -> None:
    pytest.importorskip("peft")
    pytest.importorskip("transformers")
    from test_llm_hf_adapter import _char_tokenizer, _tiny_llama

    from pipezero.model.lm.hf_adapter import HFCausalLM

    tok = _char_tokenizer()
    lm = HFCausalLM.from_model(_tiny_llama(tok), tok, lora_r=4, lora_alpha=8.0)
    prm = LearnedPRM(lm, head_layers=(16,), train="adapter")
    data = _labelled_steps(16, seed=0)
    trainer = PRMTrainer(prm, lr=1e-2, batch_size=16)
    first = trainer.step(data)
    for _ in range(5):
        last = trainer.step(data)
    assert last < first
    scores = prm.score(data.states[:3], data.steps[:3])
    assert scores.shape == (3,) and np.all((scores > 0) & (scores < 1))


def test_ranking_auc_and_episode_splits() -> None:
    assert ranking_auc(np.array([0.9, 0.8, 0.1]), np.array([1, 1, 0])) == 1.0
    assert ranking_auc(np.array([0.1, 0.9]), np.array([1, 0])) == 0.0
    assert ranking_auc(np.array([0.5, 0.5, 0.7]), np.array([1, 0, 0.5])) == 0.5  # tie; 0.5 left out
    assert np.isnan(ranking_auc(np.array([0.2]), np.array([1])))
    data = _labelled_steps(40, seed=3)
    train, val = data.split(0.25, seed=0)
    assert len(train) + len(val) == len(data)
    assert not set(train.episodes) & set(val.episodes) and len(set(val.episodes)) == 10
    with pytest.raises(ValueError, match="aligned"):
        StepLabels(["a"], [], np.zeros(1), np.zeros(1))


def test_rollout_steps_are_labelled_by_the_oracle() -> None:
    policy = LLMPolicy(tiny_lm(1), None, max_new_tokens=6)
    right = trajectory(policy, ["2+3=5\n", "The answer is 5\n"])
    wrong = trajectory(policy, ["2+3=6\n"], correct=False)
    labels = label_rollout(Rollout([right, wrong], 4), OracleArithmeticPRM(), first_episode=7)
    np.testing.assert_array_equal(labels.labels, [1.0, 1.0, 0.0])
    np.testing.assert_array_equal(labels.episodes, [7, 7, 8])


TINY = {
    "sft": {"num_steps": 2},
    "env": {"num_eval_problems": 4},
    "collect": {"num_prompts": 4},
    "reward": {
        "kind": "learned_prm",
        "learned": {"num_steps": 3, "num_episodes": 8, "refresh_episodes": 2, "refresh_steps": 2},
    },
}


def test_the_recipe_selects_and_warms_up_the_learned_prm(tmp_path: Path) -> None:
    cfg = merge_config(appo_math.CONFIG, {**TINY, "exp_dir": str(tmp_path)})
    task, parts = appo_math.build_with_parts(Run("appo_math", cfg))
    assert isinstance(parts.prm, LearnedPRM) and parts.prm_warmup is not None
    names = [mw.name for mw in task.chain]
    assert names.index("sft_warmstart") < names.index("prm_warmup") < names.index("text_rollout")
    assert (
        names.index("reward_scoring") < names.index("prm_refresh") < names.index("onpolicy_learn")
    )
    seen: dict = {}
    task.use(lambda ctx: seen.setdefault("prm_output", ctx.prm_output))
    task.use(lambda ctx: seen.setdefault("collect", ctx.train_output["collect"]))
    task.run(max_steps=1)
    out = seen["prm_output"]
    # the PRM learned from the steps of the first collection, and the loggers see it
    assert parts.prm_refresh.labels_total > 0 and seen["collect"]["prm_refresh_labelled"] > 0
    assert (
        len(parts.prm_refresh.buffer)
        == out["train_steps_labelled"] + parts.prm_refresh.labels_total
    )
    assert "prm_refresh" in task.state_providers.state_dict()
    assert parts.prm_warmup.done and parts.prm_warmup.trainer.steps_done == 3 + 2  # + refresh
    assert {"val_auc", "val_accuracy", "first_loss", "last_loss", "initial_val_loss"} <= set(out)
    # it started from the warm-started policy's weights (then trained its own copy)
    assert parts.prm.lm is not parts.policy.lm
    # a resumed run gets the trained PRM from the checkpoint and does not train it again
    state = parts.prm_warmup.trainer.state_dict()
    cfg2 = merge_config(appo_math.CONFIG, {**TINY, "exp_dir": str(tmp_path / "b")})
    _, parts2 = appo_math.build_with_parts(Run("appo_math", cfg2))
    parts2.prm_warmup.trainer.load_state_dict(state)
    for a, b in zip(parts.prm.parameters(), parts2.prm.parameters(), strict=True):
        assert torch.equal(a, b)
    ctx = LLMContext()
    Task(ctx).use(prm_warmup(parts2.prm_warmup)).run(max_steps=1)
    assert ctx.prm_output is None  # nothing trained


def test_other_reward_kinds_build_no_warmup_and_bad_settings_are_refused(tmp_path: Path) -> None:
    tiny = {"sft": {"num_steps": 0}, "env": {"num_eval_problems": 2}, "exp_dir": str(tmp_path)}
    _, parts = appo_math.build_with_parts(Run("appo_math", merge_config(appo_math.CONFIG, tiny)))
    assert isinstance(parts.prm, OracleArithmeticPRM) and parts.prm_warmup is None
    bad = merge_config(
        appo_math.CONFIG, {**tiny, "reward": {"kind": "learned_prm", "learned": {"train": "all"}}}
    )
    with pytest.raises(
        UsageError, match=r"reward\.learned\.train' must be one of \['base', 'adapter'\]"
    ):
        appo_math.build(Run("appo_math", bad))
    frozen = {"kind": "learned_prm", "learned": {"num_episodes": 8, "refresh_episodes": 0}}
    cfg = merge_config(appo_math.CONFIG, {**tiny, "reward": frozen})
    task, parts = appo_math.build_with_parts(Run("appo_math", cfg))
    assert parts.prm_refresh is None and "prm_refresh" not in [mw.name for mw in task.chain]
    bad = merge_config(
        appo_math.CONFIG,
        {**tiny, "reward": {"kind": "learned_prm", "learned": {"refresh_steps": 0}}},
    )
    with pytest.raises(UsageError, match=r"refresh_\*: PRMRefresh: steps must be an int >= 1"):
        appo_math.build(Run("appo_math", bad))
    with pytest.raises(ConfigError, match="lm_factory"):
        build_reward({"kind": "learned_prm"})
    with pytest.raises(ConfigError, match=r"'reward.kind' must be one of .*'learned_prm'"):
        build_reward({"kind": "learned"})


def test_scoring_and_training_name_every_device() -> None:
    from test_llm_device import ImplicitDevices

    prm = LearnedPRM(tiny_lm(0), head_layers=(16,))
    data = _labelled_steps(8, seed=0)
    trainer = PRMTrainer(prm, batch_size=8)
    with ImplicitDevices() as seen:
        trainer.step(data)
        trainer.evaluate(data)
        prm.score(data.states, data.steps)
    assert seen.sites == []


@pytest.mark.cuda
def test_on_cuda_the_prm_trains_and_scores_like_on_the_cpu(exact_cuda) -> None:
    data = _labelled_steps(16, seed=0)
    cpu = LearnedPRM(tiny_lm(0), head_layers=(16,))
    gpu = LearnedPRM(tiny_lm(0), head_layers=(16,), device="cuda")
    gpu.head.load_state_dict(cpu.head.state_dict())
    np.testing.assert_allclose(
        gpu.score(data.states, data.steps), cpu.score(data.states, data.steps), atol=1e-4
    )
    a = PRMTrainer(cpu, batch_size=16).step(data)
    b = PRMTrainer(gpu, batch_size=16).step(data)
    assert abs(a - b) < 1e-4
    assert all(p.device.type == "cuda" for p in gpu.parameters())
    bf16 = LearnedPRM(tiny_lm(0), head_layers=(16,), device="cuda", amp="bf16")
    assert np.isfinite(PRMTrainer(bf16, batch_size=16).step(data))
