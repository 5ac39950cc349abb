"""Configuration: easydict defaults, validated overrides, command-line ``--set`` pairs.

Every algorithm ships a nested dict of defaults. User overrides are merged into a deep copy;
a key that does not exist in the defaults is rejected with the closest valid key suggested,
so a typo never silently does nothing. ``--set policy.mcts.num_simulations=25`` style pairs
from the command line become such overrides.
"""

from __future__ import annotations

import ast
import copy
import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from easydict import EasyDict


class ConfigError(ValueError):
    """A configuration key or value is invalid; the message says which and how to fix it."""


def _closest(key: str, valid: Iterable[str]) -> str:
    match = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.5)
    return f"; did you mean '{match[0]}'?" if match else ""


def merge_config(
    defaults: Mapping[str, Any], overrides: Mapping[str, Any] | None = None, *, _path: str = ""
) -> EasyDict:
    """Return ``defaults`` updated by ``overrides`` as a new :class:`EasyDict`.

    Nested mappings merge key by key. A default whose value is ``None`` or a mapping marked
    open (an empty dict) accepts any value / any keys.

    Raises:
        ConfigError: for a key absent from ``defaults`` (the closest valid key is suggested)
            or a mapping given where the default is a plain value, or the reverse.
    """
    merged = copy.deepcopy(dict(defaults))
    for key, value in (overrides or {}).items():
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
        elif (
            isinstance(value, Mapping) and default is not None and not isinstance(default, Mapping)
        ):
            raise ConfigError(
                f"config key '{where}' takes a {type(default).__name__} (default {default!r}), "
                f"got a mapping {dict(value)!r}"
            )
        else:
            merged[key] = copy.deepcopy(value)
    return EasyDict(merged)


def parse_set_overrides(pairs: Iterable[str]) -> dict[str, Any]:
    """Turn ``["policy.batch_size=128", "env.env_id=CartPole-v1"]`` into a nested dict.

    Values are parsed as Python literals (numbers, booleans, None, lists, quoted strings);
    anything that is not a literal is kept as a string.

    Raises:
        ConfigError: for a pair without ``=`` or with an empty key.
    """
    nested: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"--set expects KEY=VALUE such as policy.batch_size=128, got {pair!r}"
            )
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        node = nested
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return nested
