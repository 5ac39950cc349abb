"""Where the step rewards of the LLM recipes come from, chosen by ``reward.kind``.

- ``"outcome"``: no process reward model; only ``outcome_weight`` on the last step of an
  episode whose final answer is right (``process_weight`` and ``process_offset`` are not read);
- ``"oracle_prm"`` (the default): :class:`~pipezero.policy.llm.prm.OracleArithmeticPRM`,
  the exact checker of arithmetic lines, weighted by ``process_weight`` / ``process_offset``;
- ``"step_tag_prm"``: a reward model read at its step tag
  (:class:`~pipezero.policy.llm.prm.StepTagPRM`, the Math-Shepherd convention), loaded
  from the local Hugging Face model directory ``reward.prm_path`` (nothing is downloaded)
  and run on the policy's device and autocast.

- ``"learned_prm"``: a :class:`~pipezero.policy.llm.learned_prm.LearnedPRM` (a value head on
  a language model built by ``lm_factory``: the policy's architecture) that the recipe trains
  before RL on the policy's own steps labelled by the oracle (``reward.learned``; see
  :mod:`pipezero.policy.llm.prm_training`).

``reward.prm_step_tag``, ``reward.prm_good_token`` and ``reward.prm_bad_token`` name the tag
and the two tokens whose logits are compared at it (Math-Shepherd's ``"ки"``, ``"+"``,
``"-"`` by default); each is read as the last token of its encoding, Math-Shepherd's way.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from pipezero.config import ConfigError
from pipezero.policy.llm.learned_prm import TRAINABLE, LearnedPRM
from pipezero.policy.llm.prm import OracleArithmeticPRM, ProcessRewardModel, StepTagPRM
from pipezero.policy.llm.rewards import PROCESS_CREDITS, RewardConfig
from pipezero.policy.precision import Precision

__all__ = ["REWARD_KINDS", "build_reward", "load_step_tag_prm"]

logger = logging.getLogger(__name__)

#: ``reward.kind`` values.
REWARD_KINDS = ("outcome", "oracle_prm", "step_tag_prm", "learned_prm")


def build_reward(
    reward: Mapping[str, Any],
    device: torch.device | str = "cpu",
    amp: str | None = None,
    lm_factory: Callable[[], nn.Module] | None = None,
) -> tuple[ProcessRewardModel | None, RewardConfig]:
    """``(process reward model or None, reward weights)`` of the ``reward`` config section.

    Args:
        reward: the section: ``kind``, the weights of
            :class:`~pipezero.policy.llm.rewards.RewardConfig`, and for ``step_tag_prm``
            ``prm_path``, ``prm_step_tag``, ``prm_good_token``, ``prm_bad_token``.
        device: where a learned reward model runs (the policy's device).
        amp: its autocast (the policy's ``policy.amp``).
        lm_factory: ``learned_prm``: builds the PRM's language model (untrained: the
            recipe trains it before RL).

    Raises:
        ConfigError: an unknown ``reward.kind`` (the choices are listed),
            ``step_tag_prm`` without ``reward.prm_path``, ``learned_prm`` without a
            language model to build or with an unknown ``reward.learned.train``.
    """
    kind = reward.get("kind", "oracle_prm")
    if kind not in REWARD_KINDS:
        raise ConfigError(
            f"config key 'reward.kind' must be one of {list(REWARD_KINDS)}, got {kind!r} "
            f"(e.g. --set reward.kind=outcome)"
        )
    names = {f.name for f in dataclasses.fields(RewardConfig)}
    credit = reward.get("process_credit", "sum")
    if credit not in PROCESS_CREDITS:
        raise ConfigError(
            f"config key 'reward.process_credit' must be one of {list(PROCESS_CREDITS)}, got "
            f"{credit!r} (e.g. --set reward.process_credit=min)"
        )
    weights = RewardConfig(**{k: v for k, v in reward.items() if k in names})
    if kind == "outcome":
        return None, dataclasses.replace(weights, process_weight=0.0, process_offset=0.0)
    if kind == "oracle_prm":
        return OracleArithmeticPRM(), weights
    if kind == "learned_prm":
        if lm_factory is None:
            raise ConfigError(
                "reward.kind='learned_prm' trains a PRM on a language model; build the parts "
                "with pipezero.policy.llm.factory.build_parts (it passes lm_factory)"
            )
        learned = reward.get("learned", {})
        train = learned.get("train", "base")
        if train not in TRAINABLE:
            raise ConfigError(
                f"config key 'reward.learned.train' must be one of {list(TRAINABLE)}, got {train!r}"
            )
        head = tuple(learned.get("head_layers", (256,)))
        return LearnedPRM(lm_factory(), head, train, device=device, amp=amp), weights
    path = reward.get("prm_path")
    if not path:
        raise ConfigError(
            "reward.kind='step_tag_prm' needs the reward model's local directory: "
            "--set reward.prm_path=\"'DIR'\" (a Hugging Face causal LM saved with "
            "save_pretrained, with its tokenizer)"
        )
    prm = load_step_tag_prm(
        path,
        reward.get("prm_step_tag", "ки"),
        reward.get("prm_good_token", "+"),
        reward.get("prm_bad_token", "-"),
        device=device,
        amp=amp,
    )
    return prm, weights


def _last_token(tokenizer: Any, text: str, key: str) -> int:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if not ids:
        raise ConfigError(f"config key 'reward.{key}' ({text!r}) encodes to no token")
    if len(ids) > 1:
        logger.info("reward.%s %r is %d tokens; its last one is read", key, text, len(ids))
    return int(ids[-1])


def load_step_tag_prm(
    path: str | os.PathLike[str],
    step_tag: str = "ки",
    good_token: str = "+",
    bad_token: str = "-",
    device: torch.device | str = "cpu",
    amp: str | None = None,
) -> StepTagPRM:
    """A :class:`~pipezero.policy.llm.prm.StepTagPRM` over a causal LM and its tokenizer
    saved in the local directory ``path`` (``local_files_only``), frozen, on ``device``.

    Raises:
        ImportError: ``transformers`` is not installed (``pip install 'pipezero[llm]'``).
        FileNotFoundError: ``path`` is not a directory.
    """
    try:
        import transformers
    except ImportError as exc:
        raise ImportError(
            f"reward.kind='step_tag_prm' needs transformers ({exc}); install it with "
            "`pip install 'pipezero[llm]'`"
        ) from exc
    if not os.path.isdir(path):
        raise FileNotFoundError(
            f"reward.prm_path {str(path)!r} is not a local model directory; save the reward "
            f"model there with model.save_pretrained(DIR) and tokenizer.save_pretrained(DIR)"
        )
    tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = transformers.AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
    model = model.to(device).eval().requires_grad_(False)
    precision = Precision(amp, device)

    def logits_fn(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        with precision.autocast():
            return model(input_ids=ids, attention_mask=mask.long()).logits

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return StepTagPRM(
        logits_fn,
        lambda text: list(tokenizer(text, add_special_tokens=False)["input_ids"]),
        step_tag_id=_last_token(tokenizer, step_tag, "prm_step_tag"),
        good_id=_last_token(tokenizer, good_token, "prm_good_token"),
        bad_id=_last_token(tokenizer, bad_token, "prm_bad_token"),
        pad_id=int(pad or 0),
        device=device,
    )
