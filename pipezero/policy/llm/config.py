"""Default configuration of the LLM math recipes (``appo_math``, ``grpo_math``,
``tppo_math``), read by :func:`pipezero.policy.llm.factory.build_parts` and the recipes'
chain.

Top-level run settings (``seed``, ``exp_dir``, ``max_env_step``, ``max_train_iter``,
``save_freq``) and one section per part: ``env`` (problems), ``model`` (the LM, its LoRA
adapter and the critic), ``policy`` (``amp``: autocast of the language model on the run's
``--device``), ``sft`` (the supervised warm start), ``collect`` (rollouts), ``reward``
(``reward.kind`` choosing the reward source, process and outcome weights), ``learn`` (the
on-policy trainer, ``learn.algo`` choosing it) and ``eval`` (held-out accuracy). Learning
rates are those of the tiny character LM (the reference's 1e-6 / 5e-5 suit a 1.5B model and
barely move a 0.8M one).
"""

from __future__ import annotations

from typing import Any

from easydict import EasyDict

from pipezero.config import merge_config

__all__ = ["LLM_MATH_CONFIG", "llm_math_config"]

LLM_MATH_CONFIG: dict[str, Any] = {
    "seed": 0,
    "exp_dir": None,  # the run directory (checkpoints, TensorBoard); the runner sets it
    "max_env_step": None,  # reasoning lines generated for training (None: no limit)
    "max_train_iter": 2000,  # minibatch updates of the on-policy learner (None: no limit)
    "save_freq": 500,  # train iterations between periodic checkpoints
    "env": {
        "max_steps": 10,
        # JSONL ({"problem","final_answer"}, GSM8K or MATH; --data); None: generated
        "train_path": None,
        "eval_path": None,  # held-out JSONL (--eval-data); None: eval_fraction of train_path
        "format": "auto",  # or "final_answer", "gsm8k", "math"
        "step_tag": "ки",  # solutions holding it are cut into steps at it, else at newlines
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
        # "char": the character LM; "hf_tiny": a Llama/Qwen2-style transformers model of the
        # sizes below with a BPE tokenizer trained on the task's text (pipezero.model.lm.hf_tiny)
        "kind": "char",
        "hf_path": None,  # local pretrained Hugging Face model directory, used as is (+ LoRA)
        "hf_arch": "llama",  # hf_tiny: "llama" or "qwen2"
        "tokenizer_vocab_size": 256,  # hf_tiny: BPE vocabulary at most
        "tokenizer_texts": 1000,  # hf_tiny: training problems the tokenizer is trained on
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
    # None: float32; "bf16" (CPU or CUDA); "fp16" (CUDA only, loss-scaled)
    "policy": {"amp": None},
    # a short warm start (the tiny LM is then at ~30 % held-out accuracy) leaves room for RL
    # num_steps None: 1500 for a model trained from scratch (char, hf_tiny), 0 for a pretrained
    # model.hf_path (used as is; set num_steps to ask for a full-parameter warm start)
    "sft": {"num_steps": None, "batch_size": 32, "lr": 1e-3, "cache_path": None},
    "collect": {
        "mode": "episodes",  # or "steps" (auto-reset, bootstrapped cut episodes)
        # "episode": one pass over the model per episode (lines cut afterwards); "line": one
        # pass per line, the environments stepped in between (docs/llm_rl.md)
        "generation": "episode",
        "num_prompts": 128,
        "group_size": 1,
        "rollout_steps": 4,
        "max_new_tokens": 24,
        "temperature": 1.0,
    },
    "reward": {
        # or "outcome" (no PRM), "step_tag_prm" (a model in prm_path), "learned_prm"
        "kind": "oracle_prm",
        "process_weight": 0.5,
        "process_offset": 0.5,
        "outcome_weight": 1.0,
        # "sum": a step's process return adds the PRM rewards after it; "min": it is the
        # smallest of them (min-form credit: over-scored steps cannot add up)
        "process_credit": "sum",
        "prm_path": None,  # step_tag_prm: local Hugging Face reward model directory
        "prm_step_tag": "ки",  # step_tag_prm: Math-Shepherd's tag and good / bad tokens
        "prm_good_token": "+",
        "prm_bad_token": "-",
        # learned_prm: a value head on an LM (the policy's architecture, started from its
        # warm-started weights) trained before RL on the policy's own steps, labelled by
        # the oracle PRM (Math-Shepherd style)
        "learned": {
            "num_steps": 400,  # PRM training minibatch steps (the warm-up's budget)
            "num_episodes": 1024,  # policy episodes sampled and labelled for it
            "batch_size": 64,
            "lr": 1e-3,
            "head_layers": [256],
            "train": "base",  # the LM's base weights train with the head; "adapter": LoRA only
            "val_fraction": 0.1,  # episodes held out to measure it (AUC, accuracy)
            # during RL: label up to this many of each collection's episodes (128: all of
            # the recipes' collections; 0: the PRM stays as the warm-up left it), keep the
            # newest refresh_buffer labelled steps, train refresh_steps minibatch steps on
            # them after every collection
            "refresh_episodes": 128,
            "refresh_steps": 8,
            "refresh_buffer": 4096,
        },
    },
    "learn": {
        "algo": "appo",  # or "grpo", "tppo"
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
        # where the PPO ratios start: "rollout" (the log-probs recorded at sampling) or
        # "recompute" (a forward pass per batch); None: "rollout" in float32, "recompute"
        # under policy.amp (bf16/fp16 sampling and training round differently)
        "old_logprobs": None,
    },
    "eval": {"eval_freq": 80, "batch_size": 256, "stop_accuracy": None},
}


def llm_math_config(overrides: dict[str, Any] | None = None) -> EasyDict:
    """The LLM math defaults merged with ``overrides`` (validated)."""
    return merge_config(LLM_MATH_CONFIG, overrides)
