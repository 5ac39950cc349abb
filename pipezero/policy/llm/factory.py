"""Build the parts of the LLM math chain from one nested config (see
:mod:`pipezero.policy.llm.config` for the defaults and their meaning)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import nn

from pipezero.config import ConfigError
from pipezero.envs.math_reasoning import (
    FORMATS,
    STEP_TAG,
    ArithmeticConfig,
    ArithmeticProblemGenerator,
    DatasetError,
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
from pipezero.policy.llm.learned_prm import LearnedPRM
from pipezero.policy.llm.policy import LLMPolicy
from pipezero.policy.llm.prm import OracleArithmeticPRM, ProcessRewardModel
from pipezero.policy.llm.prm_training import PRMRefresh, PRMTrainer, PRMWarmup
from pipezero.policy.llm.reward_source import build_reward
from pipezero.policy.llm.rewards import RewardConfig
from pipezero.policy.llm.rollout import COLLECT_MODES, GENERATION_MODES, RolloutWorker
from pipezero.policy.llm.sft import SFTTrainer
from pipezero.policy.llm.trainer import OLD_LOGPROBS, OnPolicyConfig, OnPolicyTrainer
from pipezero.policy.precision import amp_dtype

__all__ = [
    "MODEL_KINDS",
    "TRAINERS",
    "LLMParts",
    "build_lm",
    "build_parts",
    "build_problems",
    "sft_steps",
    "task_texts",
]

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
    sft_steps: int
    prm_warmup: PRMWarmup | None = None  # reward.kind=learned_prm: trains the PRM before RL
    prm_refresh: PRMRefresh | None = None  # ... and on the policy's steps during RL


def _dataclass_from(cls: type, values: Mapping[str, Any]) -> Any:
    names = {f.name for f in fields(cls)}
    return cls(
        **{k: (tuple(v) if isinstance(v, list) else v) for k, v in values.items() if k in names}
    )


def _read_jsonl(env: Mapping[str, Any], key: str, flag: str) -> list[Problem]:
    """The problems of the JSONL file ``env[key]``; a missing or malformed file is a
    :class:`ConfigError` naming the key, the flag, the file and (for a bad line) the line."""
    if env["format"] not in FORMATS:
        raise ConfigError(
            f"config key 'env.format' must be one of {list(FORMATS)}, got {env['format']!r}"
        )
    path = env[key]
    try:
        return load_jsonl(path, env["format"], env.get("step_tag", STEP_TAG))
    except FileNotFoundError:
        raise ConfigError(
            f"env.{key} ({flag}): no file {str(path)!r}; give the path of a JSONL file "
            f"(relative paths are read from {os.getcwd()})"
        ) from None
    except DatasetError as exc:
        raise ConfigError(f"env.{key} ({flag}): {exc}") from None


def build_problems(env: Mapping[str, Any], seed: int) -> tuple[Any, list[Problem], str]:
    """``(training source, held-out problems, description)`` from the ``env`` section: JSONL
    files when ``env.train_path`` is set, else generated arithmetic problems (the held-out
    ones drawn with ``env.eval_seed``, never handed out for training)."""
    if env["eval_path"] and not env["train_path"]:
        raise ConfigError(
            "env.eval_path (--eval-data) is set without env.train_path (--data); give the "
            "training file too (the generated problems have their own held-out split)"
        )
    if env["train_path"]:
        train = _read_jsonl(env, "train_path", "--data")
        if env["eval_path"]:
            held_out = _read_jsonl(env, "eval_path", "--eval-data")
        else:
            train, held_out = split_problems(train, env["eval_fraction"], seed=env["eval_seed"])
        return train, held_out, f"{env['train_path']} ({len(train)} train / {len(held_out)} eval)"
    generator = ArithmeticProblemGenerator(_dataclass_from(ArithmeticConfig, env["arithmetic"]))
    held_out = generator.generate(env["num_eval_problems"], seed=env["eval_seed"], prefix="eval")
    return generator, held_out, f"generated arithmetic ({len(held_out)} eval)"


MODEL_KINDS = ("char", "hf_tiny")
#: ``sft.num_steps`` when unset, for a model trained from scratch (a pretrained one: 0).
DEFAULT_SFT_STEPS = 1500


def sft_steps(cfg: Mapping[str, Any]) -> int:
    """The warm start's length: ``sft.num_steps``, or when unset (``None``) 0 for a
    pretrained ``model.hf_path`` (used as is) and ``DEFAULT_SFT_STEPS`` otherwise."""
    steps = cfg["sft"]["num_steps"]
    if steps is not None:
        return int(steps)
    return 0 if cfg["model"]["hf_path"] else DEFAULT_SFT_STEPS


def task_texts(source: Any, count: int, seed: int, exclude: Sequence[Problem]) -> list[str]:
    """``count`` training problems of ``source`` written out (state and worked solution):
    the text an ``hf_tiny`` tokenizer is trained on."""
    prompt = PromptFormat()
    if isinstance(source, ArithmeticProblemGenerator):
        problems = source.generate(count, seed=seed, exclude=exclude, prefix="tok")
    else:
        problems = list(source)[:count]
    return [prompt.render_state(p) + prompt.render_solution(p) for p in problems]


def build_lm(model: Mapping[str, Any], seed: int, texts: Sequence[str] = ()) -> nn.Module:
    """The language model with a LoRA adapter: a local pretrained Hugging Face model
    (``model.hf_path``), a tiny Hugging Face model built from a config with a tokenizer
    trained on ``texts`` (``model.kind='hf_tiny'``), or the character LM (``'char'``).

    Raises:
        ConfigError: an unknown ``model.kind`` or ``model.hf_arch``, or ``hf_path`` set
            together with ``kind='hf_tiny'``.
    """
    kind = model["kind"]
    if kind not in MODEL_KINDS:
        raise ConfigError(f"model.kind must be one of {list(MODEL_KINDS)}, got {kind!r}")
    torch.manual_seed(seed)
    targets = tuple(model["lora_targets"])
    if model["hf_path"]:
        if kind != "char":
            raise ConfigError(
                f"model.hf_path loads a pretrained model; it cannot be combined with "
                f"model.kind={kind!r} (a model built from scratch): drop one of the two"
            )
        from pipezero.model.lm.hf_adapter import load_hf_causal_lm

        return load_hf_causal_lm(model["hf_path"], model["lora_r"], model["lora_alpha"], targets)
    if kind == "hf_tiny":
        from pipezero.model.lm.hf_tiny import HF_TINY_ARCHS, tiny_causal_lm, train_tokenizer

        if model["hf_arch"] not in HF_TINY_ARCHS:
            raise ConfigError(
                f"model.hf_arch must be one of {list(HF_TINY_ARCHS)}, got {model['hf_arch']!r}"
            )
        tokenizer = train_tokenizer(texts, model["tokenizer_vocab_size"])
        sizes = {k: model[k] for k in ("d_model", "n_layer", "n_head", "d_ff", "max_len")}
        return tiny_causal_lm(
            tokenizer,
            model["hf_arch"],
            **sizes,
            seed=seed,
            lora_r=model["lora_r"],
            lora_alpha=model["lora_alpha"],
            lora_targets=targets,
        )
    lm = CharTransformerLM(CharTokenizer(), _dataclass_from(CharLMConfig, model))
    lm.add_lora(model["lora_r"], model["lora_alpha"], tuple(model["lora_targets"]))
    return lm


def build_parts(cfg: Mapping[str, Any], device: torch.device | str = "cpu") -> LLMParts:
    """Model, policy, trainer, warm start, rollout worker, PRM and held-out split.

    The language model, the critic and a learned reward model live on ``device`` and run
    under ``policy.amp`` (``None``, ``"bf16"``, ``"fp16"`` on CUDA only).

    Raises:
        ConfigError: an unknown ``learn.algo``, ``reward.kind``, ``collect.mode`` or
            ``collect.generation``, or GRPO with ``collect.mode='steps'`` (each naming the
            key and the choices), an unknown ``policy.amp`` or ``fp16`` off CUDA.
    """
    seed = int(cfg["seed"])
    env, collect, learn = cfg["env"], cfg["collect"], cfg["learn"]
    algo = learn["algo"]
    if algo not in TRAINERS:
        raise ConfigError(f"learn.algo must be one of {sorted(TRAINERS)}, got {algo!r}")
    if algo == "grpo" and collect["mode"] != "episodes":
        raise ConfigError("GRPO needs whole episodes: set collect.mode='episodes'")
    if collect["mode"] not in COLLECT_MODES:
        raise ConfigError(f"collect.mode must be one of {COLLECT_MODES}, got {collect['mode']!r}")
    if collect["generation"] not in GENERATION_MODES:
        raise ConfigError(
            f"collect.generation must be one of {GENERATION_MODES}, got {collect['generation']!r}"
        )
    amp = cfg.get("policy", {}).get("amp")
    try:
        amp_dtype(amp, device)
    except ValueError as exc:  # fp16 off CUDA, an unknown value: the user's setting
        raise ConfigError(str(exc)) from None
    source, held_out, described = build_problems(env, seed)
    logger.info("problems: %s", described)
    exclude = {p.question for p in held_out}
    prompt = PromptFormat()
    model = cfg["model"]
    texts = (
        task_texts(source, model["tokenizer_texts"], seed + 5, held_out)
        if model["kind"] == "hf_tiny"
        else []
    )
    with torch.random.fork_rng(devices=[]):  # the same policy and RL stream whatever the reward
        prm, reward = build_reward(
            cfg["reward"], device, amp, lm_factory=lambda: build_lm(model, seed, texts)
        )
    lm = build_lm(model, seed, texts)
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
    old_logprobs = learn["old_logprobs"]
    if old_logprobs is None:
        old_logprobs = "rollout" if amp is None else "recompute"
    elif old_logprobs not in OLD_LOGPROBS:
        raise ConfigError(
            f"learn.old_logprobs must be one of {OLD_LOGPROBS} or null, got {old_logprobs!r}"
        )
    trainer = TRAINERS[algo](
        policy,
        _dataclass_from(OnPolicyConfig, {**learn, "old_logprobs": old_logprobs, "seed": seed + 2}),
    )
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
    worker = RolloutWorker(
        policy, envs, collect["mode"], collect["rollout_steps"], generation=collect["generation"]
    )
    warmup = refresh = None
    if isinstance(prm, LearnedPRM):
        warmup = _prm_warmup(cfg, prm, lm, source, exclude, prompt, device, amp)
        refresh = _prm_refresh(cfg["reward"]["learned"], warmup, seed)
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
        sft_steps=sft_steps(cfg),
        prm_warmup=warmup,
        prm_refresh=refresh,
    )


def _prm_refresh(learned: Mapping[str, Any], warmup: PRMWarmup, seed: int) -> PRMRefresh | None:
    """The learned PRM's training during RL, or ``None`` with ``refresh_episodes`` 0."""
    episodes = learned["refresh_episodes"]
    if episodes == 0:
        return None
    try:
        return PRMRefresh(
            warmup.trainer,
            warmup.labeller,
            episodes,
            learned["refresh_steps"],
            learned["refresh_buffer"],
            initial=lambda: warmup.train_data,
            seed=seed + 9,
        )
    except ValueError as exc:
        raise ConfigError(
            f"reward.learned.refresh_*: {exc} (refresh_episodes=0 keeps the PRM frozen after "
            "its warm-up)"
        ) from None


def _prm_warmup(
    cfg: Mapping[str, Any],
    prm: LearnedPRM,
    lm: nn.Module,
    source: Any,
    exclude: set[str],
    prompt: PromptFormat,
    device: torch.device | str,
    amp: str | None,
) -> PRMWarmup:
    """The warm-up of a learned PRM: whole episodes sampled from the policy's language model
    (its own sampling generator, problem stream and environments, so the RL run's stream is
    that of any other reward), labelled by the oracle, the PRM started from the policy's
    warm-started weights."""
    seed, collect, learned = int(cfg["seed"]), cfg["collect"], cfg["reward"]["learned"]
    sampler = ProblemSampler(source, seed=seed + 6, exclude=exclude)
    num_envs = collect["num_prompts"] * collect["group_size"]
    envs = VecMathEnv(num_envs, sampler, prompt, cfg["env"]["max_steps"], auto_reset=False)
    sampling = LLMPolicy(
        lm, None, collect["max_new_tokens"], collect["temperature"], seed=seed + 5,
        device=device, amp=amp,
    )  # fmt: skip
    trainer = PRMTrainer(prm, learned["lr"], learned["batch_size"], seed=seed + 7)
    return PRMWarmup(
        trainer,
        RolloutWorker(sampling, envs, "episodes", generation=collect["generation"]),
        OracleArithmeticPRM(),
        num_steps=learned["num_steps"],
        num_episodes=learned["num_episodes"],
        val_fraction=learned["val_fraction"],
        init_from=lm,
        seed=seed + 8,
    )
