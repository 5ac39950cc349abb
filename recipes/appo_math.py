"""APPO (step-level PPO with a critic) on step-by-step arithmetic, after a supervised warm start.

    pipezero train appo_math --seed 0 --set max_train_iter=4000   # or: python recipes/appo_math.py
    pipezero train appo_math --smoke            # every part of the chain in a few seconds
    pipezero train appo_math --device cuda --set policy.amp=bf16
    pipezero train appo_math --set reward.kind=outcome   # or oracle_prm, step_tag_prm, learned_prm
    pipezero train appo_math --resume latest
    pipezero eval runs/appo_math/RUN --episodes 256     # held-out accuracy on 256 problems

The chain: sft_warmstart (``sft.num_steps`` supervised steps, once; unset: 1500, or 0 for a
pretrained ``model.hf_path``) -> [prm_warmup] -> accuracy_eval
(held-out exact-answer accuracy, its ``return_mean``) -> text_rollout -> reward_scoring ->
[prm_refresh] -> onpolicy_learn -> ckpt_saver -> termination (``max_env_step`` reasoning lines or
``max_train_iter`` updates). ``grpo_math`` and ``tppo_math`` reuse :func:`build` with their
trainer (``learn.algo``). The defaults and their meaning: :mod:`pipezero.policy.llm.config`
(a local Hugging Face model: ``--set model.hf_path='DIR'``; a tiny Llama-style Hugging Face
model built here: ``--set model.kind=hf_tiny``; a JSONL dataset:
``env.train_path``); docs/llm_rl.md. The bracketed steps train a learned PRM
(``reward.kind=learned_prm``) before RL and on the policy's steps during it.
Over 60 lines as the chain of the three LLM recipes, with their smoke settings.
"""

from __future__ import annotations

from pipezero.middleware.accuracy_eval import accuracy_eval
from pipezero.middleware.ckpt_saver import ckpt_saver
from pipezero.middleware.onpolicy_learn import onpolicy_learn
from pipezero.middleware.prm_refresh import prm_refresh
from pipezero.middleware.prm_warmup import prm_warmup
from pipezero.middleware.reward_scoring import reward_scoring
from pipezero.middleware.sft_warmstart import sft_warmstart
from pipezero.middleware.termination import termination
from pipezero.middleware.text_rollout import text_rollout

from pipezero.config import ConfigError
from pipezero.framework import Task
from pipezero.policy.llm.config import llm_math_config
from pipezero.policy.llm.context import LLMContext
from pipezero.policy.llm.factory import LLMParts, build_parts
from pipezero.recipe import Run, UsageError, main

MODES = ("sync",)
DEVICES = ("cpu", "cuda")  # rollout, scoring and learning all on the policy's device
TORCH_THREADS = 1  # measured fastest for the tiny LM on 2 cores
EPISODES_KEY = "env.num_eval_problems"  # pipezero eval --episodes: held-out problems
CONFIG = llm_math_config({"learn.algo": "appo"})
#: ``--smoke``: a few warm-start steps, updates and held-out problems (~10 s on a CPU).
SMOKE = {
    "max_train_iter": 8,
    "env.num_eval_problems": 16,
    "sft.num_steps": 20,
    "collect.num_prompts": 16,
    "learn.minibatch_size": 8,
    "eval.eval_freq": 4,
    "reward.learned.num_steps": 4,  # with --set reward.kind=learned_prm
    "reward.learned.num_episodes": 32,
}


def build_with_parts(run: Run) -> tuple[Task, LLMParts]:
    """The task and the parts it is built of (a benchmark evaluates ``parts.policy``)."""
    cfg, sft, ev = run.cfg, run.cfg.sft, run.cfg.eval
    try:
        parts = build_parts(cfg, run.device)
    except ConfigError as exc:  # a bad reward.kind, learn.algo, ...: a one-line usage error
        raise UsageError(str(exc)) from None
    task = run.task(LLMContext(), parts.trainer)
    warm_start = (parts.sft_steps, sft.batch_size, sft.cache_path)
    task.use(sft_warmstart(parts.sft, parts.sft_sampler, *warm_start))
    if parts.prm_warmup is not None:  # reward.kind=learned_prm: train it before RL
        task.use(prm_warmup(parts.prm_warmup))
    held_out = (parts.eval_problems, parts.prompt, ev.eval_freq, cfg.env.max_steps)
    task.use(accuracy_eval(parts.policy, *held_out, ev.batch_size, ev.stop_accuracy))
    task.use(text_rollout(parts.worker))
    task.use(reward_scoring(parts.prm, parts.reward))
    if parts.prm_refresh is not None:  # ... and keep it on the policy's steps
        task.use(prm_refresh(parts.prm_refresh))
    task.use(onpolicy_learn(parts.trainer))
    task.use(ckpt_saver(run.exp_dir, parts.trainer, config=cfg))
    task.use(termination(max_env_step=cfg.max_env_step, max_train_iter=cfg.max_train_iter))
    return task, parts


def build(run: Run) -> Task:
    return build_with_parts(run)[0]


if __name__ == "__main__":
    main(__file__)
