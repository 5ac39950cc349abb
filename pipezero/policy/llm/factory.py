"""Build the parts of the LLM math chain from one nested config (see
:mod:`pipezero.policy.llm.config` for the defaults and their meaning)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import nn

from pipezero.config import ConfigError
from pipezero.envs.math_reasoning import (
    ArithmeticConfig,
    ArithmeticProblemGenerator,
    Problem,
    ProblemSampler,
    PromptFormat,
    VecMathEnv,
    load_jsonl,
    split_problems,
)
from pipezero.model.lm import CharLMConfig, CharTokenizer, CharTransformerLM
from pipezero.policy.llm.algorithms import APPOTrainer, GRPOTrainer, TPPOTrainer
from pipezero.policy.llm.critic import ValueHead
from pipezero.policy.llm.policy import LLMPolicy
from pipezero.policy.llm.prm import ProcessRewardModel
from pipezero.policy.llm.reward_source import build_reward
from pipezero.policy.llm.rewards import RewardConfig
from pipezero.policy.llm.rollout import RolloutWorker
from pipezero.policy.llm.sft import SFTTrainer
from pipezero.policy.llm.trainer import OnPolicyConfig, OnPolicyTrainer
from pipezero.policy.precision import amp_dtype

__all__ = ["TRAINERS", "LLMParts", "build_lm", "build_parts", "build_problems"]

logger = logging.getLogger(__name__)

TRAINERS: dict[str, type[OnPolicyTrainer]] = {
    "appo": APPOTrainer,
    "grpo": GRPOTrainer,
    "tppo": TPPOTrainer,
}


@dataclass
class LLMParts:
    """Everything the chain's middleware are built from."""

    policy: LLMPolicy
    trainer: OnPolicyTrainer
    sft: SFTTrainer
    sft_sampler: ProblemSampler
    worker: RolloutWorker
    prm: ProcessRewardModel | None
    reward: RewardConfig
    prompt: PromptFormat
    eval_problems: list[Problem]


def _dataclass_from(cls: type, values: Mapping[str, Any]) -> Any:
    names = {f.name for f in fields(cls)}
    return cls(
        **{k: (tuple(v) if isinstance(v, list) else v) for k, v in values.items() if k in names}
    )


def build_problems(env: Mapping[str, Any], seed: int) -> tuple[Any, list[Problem], str]:
    """``(training source, held-out problems, description)`` from the ``env`` section: JSONL
    files when ``env.train_path`` is set, else generated arithmetic problems (the held-out
    ones drawn with ``env.eval_seed``, never handed out for training)."""
    if env["train_path"]:
        train = load_jsonl(env["train_path"], env["format"])
        if env["eval_path"]:
            held_out = load_jsonl(env["eval_path"], env["format"])
        else:
            train, held_out = split_problems(train, env["eval_fraction"], seed=env["eval_seed"])
        return train, held_out, f"{env['train_path']} ({len(train)} train / {len(held_out)} eval)"
    generator = ArithmeticProblemGenerator(_dataclass_from(ArithmeticConfig, env["arithmetic"]))
    held_out = generator.generate(env["num_eval_problems"], seed=env["eval_seed"], prefix="eval")
    return generator, held_out, f"generated arithmetic ({len(held_out)} eval)"


def build_lm(model: Mapping[str, Any], seed: int) -> nn.Module:
    """The character-level LM (``model.hf_path`` unset) or a local Hugging Face model, with
    a LoRA adapter."""
    torch.manual_seed(seed)
    if model["hf_path"]:
        from pipezero.model.lm.hf_adapter import load_hf_causal_lm

        return load_hf_causal_lm(
            model["hf_path"], model["lora_r"], model["lora_alpha"], tuple(model["lora_targets"])
        )
    lm = CharTransformerLM(CharTokenizer(), _dataclass_from(CharLMConfig, model))
    lm.add_lora(model["lora_r"], model["lora_alpha"], tuple(model["lora_targets"]))
    return lm


def build_parts(cfg: Mapping[str, Any], device: torch.device | str = "cpu") -> LLMParts:
    """Model, policy, trainer, warm start, rollout worker, PRM and held-out split.

    The language model, the critic and a learned reward model live on ``device`` and run
    under ``policy.amp`` (``None``, ``"bf16"``, ``"fp16"`` on CUDA only).

    Raises:
        ConfigError: an unknown ``learn.algo`` or ``reward.kind``, or GRPO with
            ``collect.mode='steps'`` (each naming the key and the choices), an unknown
            ``policy.amp`` or ``fp16`` off CUDA.
    """
    seed = int(cfg["seed"])
    env, collect, learn = cfg["env"], cfg["collect"], cfg["learn"]
    algo = learn["algo"]
    if algo not in TRAINERS:
        raise ConfigError(f"learn.algo must be one of {sorted(TRAINERS)}, got {algo!r}")
    if algo == "grpo" and collect["mode"] != "episodes":
        raise ConfigError("GRPO needs whole episodes: set collect.mode='episodes'")
    amp = cfg.get("policy", {}).get("amp")
    try:
        amp_dtype(amp, device)
    except ValueError as exc:  # fp16 off CUDA, an unknown value: the user's setting
        raise ConfigError(str(exc)) from None
    prm, reward = build_reward(cfg["reward"], device, amp)
    source, held_out, described = build_problems(env, seed)
    logger.info("problems: %s", described)
    exclude = {p.question for p in held_out}
    prompt = PromptFormat()
    lm = build_lm(cfg["model"], seed)
    critic = ValueHead(lm.hidden_size, cfg["model"]["critic_layers"]) if algo != "grpo" else None
    policy = LLMPolicy(
        lm,
        critic,
        collect["max_new_tokens"],
        collect["temperature"],
        seed=seed + 1,
        device=device,
        amp=amp,
    )
    trainer = TRAINERS[algo](policy, _dataclass_from(OnPolicyConfig, {**learn, "seed": seed + 2}))
    sft_cfg = cfg["sft"]
    sft = SFTTrainer(lm, prompt, lr=sft_cfg["lr"], amp=amp)
    sft_sampler = ProblemSampler(source, seed=seed + 3, exclude=exclude)
    train_sampler = ProblemSampler(
        source, seed=seed + 4, group_size=collect["group_size"], exclude=exclude
    )
    num_envs = collect["num_prompts"] * collect["group_size"]
    envs = VecMathEnv(
        num_envs, train_sampler, prompt, env["max_steps"], auto_reset=collect["mode"] == "steps"
    )
    worker = RolloutWorker(policy, envs, collect["mode"], collect["rollout_steps"])
    return LLMParts(
        policy=policy,
        trainer=trainer,
        sft=sft,
        sft_sampler=sft_sampler,
        worker=worker,
        prm=prm,
        reward=reward,
        prompt=prompt,
        eval_problems=held_out,
    )
