"""Snapshots of a running environment as plain data, restored into the live objects.

A checkpoint may only hold what torch's restricted unpickler reads back (``weights_only``:
numbers, strings, containers, tensors), so an environment is not pickled. Instead
:func:`capture_state` walks the environment's objects (each gymnasium wrapper, the
environment itself and the pure-Python objects it holds) and records their attributes as
data: numbers, strings, NumPy arrays and scalars, random generators (their
``bit_generator`` / ``get_state()`` state), lists, tuples, deques and dicts of those, and the
Arcade Learning Environment's emulator through its own serialised state
(``cloneState(include_rng=True)``, read back with ``ALEState(bytes)`` and ``restoreState``)
when it has no sticky actions.
:func:`restore_state` writes that data back *into the existing objects* of an environment
built the same way (same id, same wrappers): arrays are copied into the live arrays and
generators are re-seeded in place, so objects that share one generator keep sharing it, and
no code or type is ever created from the file.

Configuration that does not change while an environment runs is skipped: spaces (their
generators only serve ``sample()``), the ``spec``, functions, methods, classes and modules,
and renderers (``screen``, ``clock``, ``window``, ``viewer``... attributes that are not data:
a ``render_mode="rgb_array"`` CartPole draws on a pygame surface).
An object of any other kind without a ``__dict__`` (a C++ emulator such as the ALE, a Box2D
world, a rendering surface) makes the environment *not snapshottable*:
:class:`EnvSnapshotError` names the attribute path and its type.

Checked per family (``tests/envs/test_snapshot.py``: a snapshot restored into a fresh
environment built with other seeds replays the same observations, rewards and episode ends):
gymnasium's classic control (CartPole, Acrobot, MountainCar, Pendulum), pipezero's board games
and 2048, and MinAtar (sticky actions included: their generator is in the game object) are
snapshottable. Atari is snapshottable only without sticky actions: ale-py's saved state lacks
the previous action that a sticky step repeats, so with ``repeat_action_probability > 0`` (the
ALE v5 default and the Atari 100k protocol) the ALE is refused.
"""

from __future__ import annotations

import random
import types
from collections import deque
from collections.abc import Mapping
from functools import partial
from typing import Any

import gymnasium as gym
import numpy as np

__all__ = ["EnvSnapshotError", "capture_state", "restore_state"]

#: Types holding configuration, not running state: left out of snapshots.
_SKIPPED_TYPES: tuple[type, ...] = (
    gym.Space,
    gym.envs.registration.EnvSpec,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.ModuleType,
    partial,
    type,
)
#: Attributes that hold a renderer (a pygame surface and clock, a viewer window): left out
#: when they are not data, since what is drawn does not steer the dynamics.
_RENDERING_NAMES = frozenset({"screen", "clock", "surf", "window", "viewer", "renderer"})
_PRIMITIVES = (bool, int, float, complex, str, bytes, type(None))
_KIND = "__snapshot__"
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


class EnvSnapshotError(TypeError):
    """An environment holds an object that cannot be captured as data (or restored into):
    the message names its attribute path and type."""


def _type_name(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def _is_ale(obj: Any) -> bool:
    """Whether ``obj`` is the Arcade Learning Environment's emulator (``ALEInterface``)."""
    return type(obj).__module__.startswith("ale_py") and hasattr(obj, "cloneState")


def _slot_names(cls: type) -> list[str]:
    """Attributes a class keeps in ``__slots__`` (outside ``__dict__``)."""
    names = []
    for klass in cls.__mro__:
        slots = klass.__dict__.get("__slots__", ())
        names += [slots] if isinstance(slots, str) else list(slots)
    return [n for n in names if n not in ("__dict__", "__weakref__")]


def _node(kind: str, **payload: Any) -> dict[str, Any]:
    return {_KIND: kind, **payload}


def capture_state(obj: Any) -> dict[str, Any]:
    """The running state of ``obj`` (an environment, usually a wrapper chain) as plain data.

    Returns:
        A nested structure of dicts, lists, numbers, strings and NumPy arrays / scalars,
        for :func:`restore_state`.

    Raises:
        EnvSnapshotError: ``obj`` holds an object that is neither data nor a pure-Python
            object (the message names the attribute, e.g. ``env.env.ale: ale_py...``).
    """
    return _capture(obj, "env", {})


def _capture(obj: Any, path: str, seen: dict[int, str]) -> Any:
    if isinstance(obj, (*_PRIMITIVES, np.generic)):
        return obj
    if id(obj) in seen:  # shared or cyclic: one object, restored where it was first met
        return _node("ref", path=seen[id(obj)])
    seen[id(obj)] = path
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise EnvSnapshotError(f"{path}: an object array cannot be snapshotted")
        return obj.copy()
    if isinstance(obj, np.dtype):
        return _node("dtype", name=obj.str)
    if isinstance(obj, np.random.Generator):
        return _node("generator", state=obj.bit_generator.state)
    if isinstance(obj, np.random.RandomState):
        return _node("random_state", state=obj.get_state(legacy=False))
    if isinstance(obj, random.Random):
        return _node("random", state=obj.getstate())
    if isinstance(obj, list | tuple | deque):
        kind = {list: "list", tuple: "tuple", deque: "deque"}.get(type(obj))
        if kind is None:  # a named tuple, a list subclass: fields a plain copy would lose
            raise EnvSnapshotError(f"{path}: {_type_name(obj)} cannot be snapshotted")
        items = [_capture(x, f"{path}[{i}]", seen) for i, x in enumerate(obj)]
        maxlen = obj.maxlen if isinstance(obj, deque) else None
        return _node(kind, items=items, maxlen=maxlen)
    if isinstance(obj, dict):
        bad = [k for k in obj if not isinstance(k, str | int)]
        if bad:
            raise EnvSnapshotError(f"{path}: dict keys {bad[:3]} are not strings or ints")
        return _node("dict", items={k: _capture(v, f"{path}[{k!r}]", seen) for k, v in obj.items()})
    if _is_ale(obj):  # the emulator serialises its whole state, RNG included
        if obj.getFloat("repeat_action_probability") > 0:
            raise EnvSnapshotError(
                f"{path}: the ALE with sticky actions (repeat_action_probability "
                f"{obj.getFloat('repeat_action_probability'):g}) is not snapshottable: its "
                f"saved state lacks the previous action that a sticky step repeats"
            )
        raw = obj.cloneState(include_rng=True).__getstate__()
        return _node("ale", state=np.frombuffer(raw, dtype=np.uint8).copy())
    attrs = getattr(obj, "__dict__", None)
    if attrs is None or _slot_names(type(obj)):
        raise EnvSnapshotError(
            f"{path}: {_type_name(obj)} is not plain data and has no attributes to record "
            f"(an emulator, a physics engine or a renderer): the environment is not "
            f"snapshottable"
        )
    recorded = {}
    for name, value in attrs.items():
        if isinstance(value, _SKIPPED_TYPES):
            continue
        try:
            recorded[name] = _capture(value, f"{path}.{name}", seen)
        except EnvSnapshotError:
            if name not in _RENDERING_NAMES:
                raise
    return _node("object", type=_type_name(obj), attrs=recorded)


def restore_state(obj: Any, state: Any) -> None:
    """Write a snapshot of :func:`capture_state` back into ``obj``, an environment built the
    same way as the one captured.

    Objects (wrappers, games, generators, lists, dicts) are restored in place; arrays are
    replaced by copies of the saved ones; objects the snapshot shows shared stay shared.

    Raises:
        EnvSnapshotError: ``obj`` does not have the structure of the snapshot (another
            environment or other wrappers); ``obj`` may then be partly restored, reset it.
    """
    if not (isinstance(state, Mapping) and state.get(_KIND) == "object"):
        raise EnvSnapshotError("not an environment snapshot (from capture_state)")
    _restore(obj, state, "env", {})


def _restore(live: Any, state: Any, path: str, done: dict[str, Any]) -> Any:
    """The value to hold at ``path``: ``live`` restored in place where it is an object."""
    if isinstance(state, np.ndarray):
        done[path] = state.copy()
        return done[path]
    if not isinstance(state, Mapping) or _KIND not in state:
        return state
    kind = state[_KIND]
    if kind == "ref":
        if state["path"] not in done:
            raise EnvSnapshotError(f"{path}: refers to {state['path']}, not restored before it")
        return done[state["path"]]
    value = _restore_node(live, kind, state, path, done)
    done[path] = value
    return value


def _restore_node(
    live: Any, kind: str, state: Mapping[str, Any], path: str, done: dict[str, Any]
) -> Any:
    if kind == "dtype":
        return np.dtype(state["name"])
    if kind == "ale":
        if not _is_ale(live):
            raise EnvSnapshotError(f"{path}: the snapshot holds an ALE state, the environment not")
        from ale_py import ALEState

        live.restoreState(ALEState(np.asarray(state["state"], dtype=np.uint8).tobytes()))
        return live
    if kind in ("generator", "random_state", "random"):
        return _restore_generator(live, kind, state["state"], path)
    if kind in ("list", "tuple", "deque"):
        items = state["items"]
        same = isinstance(live, list | tuple | deque) and len(live) == len(items)
        old = list(live) if same else [None] * len(items)
        new = [_restore(old[i], s, f"{path}[{i}]", done) for i, s in enumerate(items)]
        if kind == "tuple":
            return tuple(new)
        if kind == "list" and isinstance(live, list):
            live[:] = new
            return live
        if kind == "deque" and isinstance(live, deque) and live.maxlen == state["maxlen"]:
            live.clear()
            live.extend(new)
            return live
        return new if kind == "list" else deque(new, maxlen=state["maxlen"])
    if kind == "dict":
        old = live if isinstance(live, dict) else {}
        items = state["items"].items()
        new = {k: _restore(old.get(k), s, f"{path}[{k!r}]", done) for k, s in items}
        if isinstance(live, dict):
            live.clear()
            live.update(new)
            return live
        return new
    if kind == "object":
        if live is None or _type_name(live) != state["type"]:
            raise EnvSnapshotError(
                f"{path}: the snapshot holds a {state['type']}, the environment has "
                f"{'nothing' if live is None else _type_name(live)} there; restore into an "
                f"environment built with the same id and wrappers"
            )
        done[path] = live  # before its attributes: they may refer back to it
        attrs = vars(live)
        for name, sub in state["attrs"].items():
            value = _restore(attrs.get(name), sub, f"{path}.{name}", done)
            if attrs.get(name) is not value:
                attrs[name] = value
        return live
    raise EnvSnapshotError(f"{path}: unknown snapshot entry {kind!r}")


def _restore_generator(live: Any, kind: str, state: Any, path: str) -> Any:
    if kind == "generator":
        if not isinstance(live, np.random.Generator):
            name = state["bit_generator"]
            if name not in _BIT_GENERATORS:
                raise EnvSnapshotError(f"{path}: unknown bit generator {name!r}")
            live = np.random.Generator(getattr(np.random, name)())
        live.bit_generator.state = state
    elif kind == "random_state":
        if not isinstance(live, np.random.RandomState):
            live = np.random.RandomState()
        live.set_state(state)
    else:
        if not isinstance(live, random.Random):
            live = random.Random()
        version, internal, gauss = state
        live.setstate((version, tuple(internal), gauss))
    return live
