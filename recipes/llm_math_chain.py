"""The chain shared by the LLM math recipes (``appo_math.py``, ``grpo_math.py``,
``tppo_math.py``): they differ only in the trainer and its config.

    sft_warmstart -> accuracy_eval -> text_rollout -> reward_scoring -> onpolicy_learn
    -> ckpt_saver -> tb_logger -> termination

Run a recipe as ``python recipes/appo_math.py [--set section.key=value ...]``.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from easydict import EasyDict
from pipezero.middleware import ckpt_saver, tb_logger, termination
from pipezero.middleware.accuracy_eval import accuracy_eval
from pipezero.middleware.onpolicy_learn import onpolicy_learn
from pipezero.middleware.reward_scoring import reward_scoring
from pipezero.middleware.sft_warmstart import sft_warmstart
from pipezero.middleware.text_rollout import text_rollout

from pipezero.config import merge_config, parse_set_overrides
from pipezero.framework import Middleware, Task
from pipezero.policy.llm.context import LLMContext
from pipezero.policy.llm.factory import LLMParts, build_parts

#: Defaults of every LLM math recipe. Learning rates are those of the tiny character LM
#: (the reference's 1e-6 / 5e-5 suit a 1.5B model and barely move a 0.8M one).
DEFAULTS: dict[str, Any] = {
    "seed": 0,
    "threads": 1,  # torch threads (1 measured fastest for the tiny LM on 2 cores)
    "exp_dir": None,  # checkpoints + TensorBoard when set
    "env": {
        "max_steps": 10,
        "train_path": None,  # JSONL ({"problem","final_answer"} or GSM8K); None: generated
        "eval_path": None,  # held-out JSONL; None: split eval_fraction off train_path
        "format": "auto",
        "eval_fraction": 0.1,
        "eval_seed": 12345,
        "num_eval_problems": 512,
        "arithmetic": {  # sized so that the tiny LM learns it on a CPU in minutes
            "min_ops": 2,
            "max_ops": 3,
            "max_start": 60,
            "max_addend": 60,
            "max_factor": 5,
            "max_value": 300,
            "ops": ["+", "-", "*"],
            "style": "chain",  # compact problems; "word" for sentences
        },
    },
    "model": {
        "hf_path": None,  # local Hugging Face model directory; None: the character LM
        "d_model": 128,
        "n_layer": 4,
        "n_head": 4,
        "d_ff": 512,
        "max_len": 512,
        "lora_r": 8,
        "lora_alpha": 16.0,
        "lora_targets": ["q_proj", "v_proj"],
        "critic_layers": [1024, 512],
    },
    # a short warm start (the tiny LM is then at ~30 % held-out accuracy) leaves room for RL
    "sft": {"num_steps": 1500, "batch_size": 32, "lr": 1e-3, "cache_path": None},
    "collect": {
        "mode": "episodes",  # or "steps" (auto-reset, bootstrapped cut episodes)
        "num_prompts": 128,
        "group_size": 1,
        "rollout_steps": 4,
        "max_new_tokens": 24,
        "temperature": 1.0,
    },
    "reward": {"process_weight": 0.5, "process_offset": 0.5, "outcome_weight": 1.0},
    "learn": {
        "algo": "appo",
        "gamma": 0.95,
        "gae_lambda": 0.95,
        "clip_ratio": 0.2,
        "entropy_coef": 0.01,
        "target_kl": 0.02,
        "max_grad_norm": 0.5,
        "value_clip": 0.2,
        "huber_delta": 1.0,
        "policy_lr": 1e-3,
        "critic_lr": 1e-3,
        "update_epochs": 1,
        "minibatch_size": 32,
        "kl_coef": 0.0,
        "normalize_advantages": True,
        "grpo_normalization": "grouped",
        "grpo_credit": "trajectory",
    },
    "eval": {"eval_freq": 80, "batch_size": 256, "stop_accuracy": None},
    "run": {"max_env_step": None, "max_train_iter": 2000, "save_freq": 500},
}


def build_task(
    cfg: Mapping[str, Any], extra: Sequence[Middleware] = ()
) -> tuple[Task[LLMContext], LLMParts]:
    """The task of one run, with ``extra`` middleware appended before ``termination``."""
    parts = build_parts(cfg)
    sft, ev, run = cfg["sft"], cfg["eval"], cfg["run"]
    task: Task[LLMContext] = Task(LLMContext())
    task.use(
        sft_warmstart(
            parts.sft, parts.sft_sampler, sft["num_steps"], sft["batch_size"], sft["cache_path"]
        )
    )
    task.use(
        accuracy_eval(
            parts.policy,
            parts.eval_problems,
            parts.prompt,
            ev["eval_freq"],
            cfg["env"]["max_steps"],
            ev["batch_size"],
            ev["stop_accuracy"],
        )
    )
    task.use(text_rollout(parts.worker))
    task.use(reward_scoring(parts.prm, parts.reward))
    task.use(onpolicy_learn(parts.trainer))
    if cfg["exp_dir"]:
        task.use(ckpt_saver(cfg["exp_dir"], parts.trainer, save_freq=run["save_freq"]))
        task.use(tb_logger(cfg["exp_dir"]))
    for mw in extra:
        task.use(mw)
    if run["max_env_step"] is not None or run["max_train_iter"] is not None:
        task.use(
            termination(max_env_step=run["max_env_step"], max_train_iter=run["max_train_iter"])
        )
    return task, parts


def make_config(
    algo_defaults: Mapping[str, Any], overrides: Mapping[str, Any] | None = None
) -> EasyDict:
    """The recipe's config: :data:`DEFAULTS`, then the recipe's own, then ``overrides``."""
    return merge_config(merge_config(DEFAULTS, algo_defaults), overrides)


def main(algo_defaults: Mapping[str, Any], argv: Sequence[str] | None = None) -> LLMContext:
    """Command line of a recipe: ``--set key=value`` overrides, prints a JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config override")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    cfg = make_config(algo_defaults, parse_set_overrides(args.set))
    torch.set_num_threads(cfg.threads)
    task, _ = build_task(cfg)
    ctx = task.run()
    summary = {
        "algo": cfg.learn.algo,
        "finish_reason": ctx.finish_reason,
        "train_iter": ctx.train_iter,
        "env_step": ctx.env_step,
        "best_eval_accuracy": ctx.best_eval_return,
    }
    print(json.dumps(summary))
    return ctx
