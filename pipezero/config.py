"""Configuration: easydict defaults, typed overrides, command-line ``--set`` pairs.

Every algorithm ships a nested dict of defaults. User overrides are merged into a deep copy;
a key that does not exist in the defaults is rejected with the closest valid key suggested,
so a typo never silently does nothing, and a value must have the type of its default (an int
where the default is an int, ``true``/``false`` where it is a bool, ...). ``--set
policy.num_simulations=25`` style pairs from the command line become such overrides, their
values read as YAML-style scalars (:func:`parse_value`). :func:`check_ranges` then checks the
merged tree against the known ranges of common keys (positive counts, probabilities, a batch
no larger than the replay buffer).
"""

from __future__ import annotations

import ast
import copy
import difflib
import math
from collections.abc import Iterable, Mapping
from typing import Any

from easydict import EasyDict


class ConfigError(ValueError):
    """A configuration key or value is invalid; the message says which and how to fix it."""


def _closest(key: str, valid: Iterable[str]) -> str:
    match = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.5)
    return f"; did you mean '{match[0]}'?" if match else ""


def expand_dotted(settings: Mapping[str, Any]) -> dict[str, Any]:
    """``{"policy.batch_size": 128}`` as ``{"policy": {"batch_size": 128}}`` (keys without a
    dot, and nested mappings, are kept as they are; both forms may be mixed).

    Raises:
        ConfigError: a key given both as a value and as a section.
    """
    out: dict[str, Any] = {}
    for key, value in settings.items():
        parts = str(key).split(".")
        node = out
        for i, part in enumerate(parts[:-1]):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(
                    f"config key '{'.'.join(parts[: i + 1])}' is given a value and also "
                    f"used as a section in '{key}'"
                )
        last = parts[-1]
        if isinstance(value, Mapping) and isinstance(node.get(last), dict):
            node[last].update(expand_dotted(value))
        else:
            node[last] = value
    return out


def merge_config(
    defaults: Mapping[str, Any], overrides: Mapping[str, Any] | None = None, *, _path: str = ""
) -> EasyDict:
    """Return ``defaults`` updated by ``overrides`` as a new :class:`EasyDict`.

    Nested mappings merge key by key; an override key may also be a dotted path
    (``{"policy.num_simulations": 50}``, the form ``--set`` takes). A default whose value is
    ``None`` or a mapping marked open (an empty dict) accepts any value / any keys. Other
    values must match the default's type (:func:`typed_value`): an int is accepted where a
    float is expected (and becomes a float), a whole float where an int is, a tuple where a
    list is.

    The merged config is then checked by :func:`check_ranges`.

    Raises:
        ConfigError: for a key absent from ``defaults`` (the closest valid key is suggested),
            a mapping given where the default is a plain value or the reverse, a value of
            the wrong type, or one out of its range.
    """
    merged = copy.deepcopy(dict(defaults))
    for key, value in expand_dotted(overrides or {}).items():
        where = f"{_path}{key}"
        if key not in merged:
            raise ConfigError(
                f"unknown config key '{where}'{_closest(key, merged)} "
                f"(valid keys here: {', '.join(sorted(merged))})"
            )
        default = merged[key]
        if isinstance(default, Mapping) and default:
            if not isinstance(value, Mapping):
                raise ConfigError(
                    f"config key '{where}' is a section; give a mapping of its keys, "
                    f"got {type(value).__name__} {value!r}"
                )
            merged[key] = merge_config(default, value, _path=f"{where}.")
        else:
            merged[key] = typed_value(where, default, copy.deepcopy(value))
    if not _path:
        check_ranges(merged)
    return EasyDict(merged)


def plain_config(value: Any) -> Any:
    """A config as nested plain dicts and lists (``EasyDict`` -> ``dict``, tuples -> lists):
    what ``config.json`` and checkpoints store (torch's ``weights_only`` loading accepts it)."""
    if isinstance(value, Mapping):
        return {str(k): plain_config(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_config(v) for v in value]
    return value


def _type_name(value: Any) -> str:
    return {bool: "a bool (true/false)", int: "an int", float: "a number", str: "a string"}.get(
        type(value), f"a {type(value).__name__}"
    )


def typed_value(where: str, default: Any, value: Any) -> Any:
    """``value`` checked against the type of ``default`` (the entry's default value).

    ``None`` defaults and empty mappings accept anything; ``None`` is accepted in place of a
    number, string or list (an "off" setting; :func:`check_ranges` and the constructors say
    where it is not allowed), never in place of a bool.

    Raises:
        ConfigError: naming the key, the value, its type and the type expected.
    """
    if default is None or (isinstance(default, Mapping) and not default):
        return value
    if isinstance(value, Mapping) and not isinstance(default, Mapping):
        raise ConfigError(
            f"config key '{where}' takes {_type_name(default)} (default {default!r}), "
            f"got a mapping {dict(value)!r}"
        )
    if value is None and not isinstance(default, bool):
        return None
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, (list, tuple)):
        value = list(value) if isinstance(value, tuple) else value
        ok = isinstance(value, list)
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise ConfigError(
            f"config key '{where}' takes {_type_name(default)} (default {default!r}), "
            f"got {_type_name(value)} {value!r}"
        )
    return value


_NULLS = ("null", "none", "~")


def parse_value(raw: str) -> Any:
    """Read a ``--set`` value as a YAML-style scalar or list.

    ``true``/``false`` (any case) are bools, ``null``/``none``/``~`` is ``None``; numbers,
    quoted strings and ``[...]`` lists (whose items may be unquoted words) are read as such;
    anything else is kept as a string.

    >>> parse_value("false"), parse_value("1e-3"), parse_value("[rule_bot, random]")
    (False, 0.001, ['rule_bot', 'random'])
    """
    text = raw.strip()
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in _NULLS:
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        pass
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1].strip()
        return [parse_value(item) for item in inner.split(",")] if inner else []
    return text


def parse_set_overrides(pairs: Iterable[str]) -> dict[str, Any]:
    """Turn ``["policy.batch_size=128", "env.env_id=CartPole-v1"]`` into a nested dict.

    Values are read by :func:`parse_value`. A key given twice keeps its last value.

    Raises:
        ConfigError: for a pair without ``=``, with an empty key part, or a key that is both
            a value and a section (``a=1`` and ``a.b=2``).
    """
    nested: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(part.strip() for part in parts):
            raise ConfigError(
                f"--set expects KEY=VALUE such as policy.batch_size=128, got {pair!r}"
            )
        node = nested
        for i, part in enumerate(parts[:-1]):
            node = node.setdefault(part.strip(), {})
            if not isinstance(node, dict):
                raise ConfigError(
                    f"--set {pair!r}: '{'.'.join(parts[: i + 1])}' was given a value earlier, "
                    f"it cannot also be a section"
                )
        node[parts[-1].strip()] = parse_value(raw)
    return nested


#: Leaf keys that count things: an int >= 1 wherever they appear.
POSITIVE_INTS = frozenset(
    {
        "num_simulations", "eval_num_simulations", "batch_size", "collector_env_num",
        "evaluator_env_num", "n_evaluator_episode", "game_segment_length", "replay_buffer_size",
        "eval_freq", "save_freq", "collect_env_steps", "td_steps", "max_env_step",
        "max_train_iter", "num_of_sampled_actions", "target_update_freq", "update_per_collect",
        "num_segments", "minibatch_size", "update_epochs", "group_size", "num_prompts",
        "reanalyze_batch_size", "max_new_tokens", "lstm_horizon_len",
        "max_num_considered_actions", "max_consecutive_nan", "chance_space_size",
        "async_channel_capacity", "max_policy_lag", "frame_skip", "frame_stack",
        "max_episode_steps", "max_episode_frames", "lr_decay_iters",
    }
)  # fmt: skip
#: Leaf keys that may be 0: an int >= 0.
NON_NEGATIVE_INTS = frozenset(
    {
        "num_unroll_steps", "min_buffer_transitions", "seed", "num_steps", "lr_warmup_iters",
        "noop_max", "threshold_env_steps_for_final_temperature", "temperature_moves",
        "eval_seed",
    }
)  # fmt: skip
#: Leaf keys that are probabilities or fractions: a number in [0, 1].
UNIT_INTERVAL = frozenset(
    {
        "root_exploration_fraction", "reanalyze_ratio", "priority_prob_alpha",
        "priority_prob_beta", "sticky_action_prob", "eval_fraction", "gae_lambda",
        "stop_win_rate", "stop_loss_rate", "lr_final_ratio", "root_noise_weight", "momentum",
        "target_update_theta", "reanalyze_partition", "dropout",
    }
)  # fmt: skip
#: Discounts: a number in (0, 1] (0 would ignore everything after the first reward).
DISCOUNTS = frozenset({"discount_factor", "gamma"})
#: Leaf keys that must be a number > 0.
POSITIVE_NUMBERS = frozenset(
    {
        "learning_rate", "replay_ratio", "policy_lr", "critic_lr", "lr", "pb_c_base",
        "root_dirichlet_alpha", "value_delta_max", "fixed_temperature_value", "temperature",
        "huber_delta",
    }
)  # fmt: skip
#: Leaf keys that must be a number >= 0 (and every key ending in ``_loss_weight``).
NON_NEGATIVE_NUMBERS = frozenset(
    {
        "pb_c_init", "gumbel_scale", "maxvisit_init", "value_scale", "weight_decay",
        "grad_clip_value", "max_grad_norm", "priority_eps", "dynamics_gradient_scale",
        "buffer_reanalyze_freq", "entropy_coef", "kl_coef", "clip_ratio", "value_clip",
        "target_kl",
    }
)  # fmt: skip


def _range_problem(key: str, value: Any) -> str | None:
    if value is None:
        return None
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(value, float) and math.isnan(value):
        return "a number, not NaN"
    if number and math.isinf(value) and _is_ranged(key):
        return "a finite number"
    if key in POSITIVE_INTS and not (isinstance(value, int) and number and value >= 1):
        return "an int >= 1"
    if key in NON_NEGATIVE_INTS and not (isinstance(value, int) and number and value >= 0):
        return "an int >= 0"
    if key in UNIT_INTERVAL and not (number and 0.0 <= value <= 1.0):
        return "a number in [0, 1]"
    if key in DISCOUNTS and not (number and 0.0 < value <= 1.0):
        return "a number in (0, 1]"
    if key in POSITIVE_NUMBERS and not (number and value > 0):
        return "a number > 0"
    if (key in NON_NEGATIVE_NUMBERS or key.endswith("_loss_weight")) and not (
        number and value >= 0
    ):
        return "a number >= 0"
    return None


def _is_ranged(key: str) -> bool:
    """Whether ``key`` has a known range (and so must be finite)."""
    return key.endswith("_loss_weight") or any(
        key in keys
        for keys in (
            POSITIVE_INTS,
            NON_NEGATIVE_INTS,
            UNIT_INTERVAL,
            DISCOUNTS,
            POSITIVE_NUMBERS,
            NON_NEGATIVE_NUMBERS,
        )
    )


def check_ranges(cfg: Mapping[str, Any], *, _path: str = "") -> None:
    """Check a merged config against the known ranges of common keys, wherever they appear:
    counts (:data:`POSITIVE_INTS`, :data:`NON_NEGATIVE_INTS`), probabilities
    (:data:`UNIT_INTERVAL`), discounts (:data:`DISCOUNTS`), rates and weights
    (:data:`POSITIVE_NUMBERS`, :data:`NON_NEGATIVE_NUMBERS`, ``*_loss_weight``); NaN nowhere,
    infinity nowhere in those keys; and in every section holding both, ``batch_size <=
    replay_buffer_size`` and ``min_buffer_transitions <= replay_buffer_size``. ``None`` passes
    (an "off" setting). :func:`merge_config` calls it on every merged config, so the recipes'
    command line and the policies' constructors refuse the same values.

    Learning starts once the buffer holds ``max(min_buffer_transitions, batch_size)``
    transitions (``offpolicy_learn``), so a ``min_buffer_transitions`` below the batch size
    is allowed and means "as soon as one batch of distinct transitions exists".

    Raises:
        ConfigError: the first problem, naming the key, its value and what is expected.
    """
    for key, value in cfg.items():
        where = f"{_path}{key}"
        if isinstance(value, Mapping):
            check_ranges(value, _path=f"{where}.")
            continue
        expected = _range_problem(key, value)
        if expected is not None:
            raise ConfigError(f"config key '{where}' must be {expected}, got {value!r}")
    capacity = cfg.get("replay_buffer_size")
    if isinstance(capacity, int):
        for key in ("batch_size", "min_buffer_transitions"):
            value = cfg.get(key)
            if isinstance(value, int) and value > capacity:
                raise ConfigError(
                    f"config key '{_path}{key}' ({value}) is larger than "
                    f"'{_path}replay_buffer_size' ({capacity}): the buffer could never hold it; "
                    f"raise replay_buffer_size or lower {key}"
                )
