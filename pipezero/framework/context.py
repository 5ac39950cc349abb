"""Typed step context: persistent fields survive :meth:`Context.renew`, per-step fields reset.

A context is a dataclass whose every field is declared with :func:`persistent` or
:func:`per_step`. Recipes subclass it to add their own fields::

    @dataclass
    class MyContext(TrainContext):
        lr_scale: float = persistent(1.0)
        grad_norm: float | None = per_step(None)
"""

# per_step()/persistent() return dataclasses.field(...), which RUF009 cannot see through.

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
from collections.abc import Callable
from dataclasses import MISSING, dataclass
from typing import Any

from .errors import closest_hint

__all__ = [
    "ENGINE_FIELDS",
    "Context",
    "TrainContext",
    "per_step",
    "persistent",
]

_KIND = "pipezero.kind"
_PERSISTENT = "persistent"
_PER_STEP = "per_step"
_OPTIONAL = "pipezero.optional"

#: Fields written by the engine itself; middleware may read them but never declare writes.
ENGINE_FIELDS: frozenset[str] = frozenset({"task_step", "finish_reason", "timings"})


def persistent(
    default: Any = MISSING,
    *,
    default_factory: Callable[[], Any] | Any = MISSING,
) -> Any:
    """Declare a field that keeps its value across steps (counters, best scores, settings).

    A persistent field without a default must be given when the context is built.
    """
    return dataclasses.field(
        default=default, default_factory=default_factory, metadata={_KIND: _PERSISTENT}
    )


def per_step(
    default: Any = MISSING,
    *,
    default_factory: Callable[[], Any] | Any = MISSING,
    optional: bool = False,
) -> Any:
    """Declare a field that :meth:`Context.renew` resets to its default after every step.

    A default (or ``default_factory`` for mutable values such as lists) is required, since
    the field is reset to it. ``optional=True`` says that the default is itself a valid
    value ("nothing this step", e.g. no episode finished): a middleware may then read the
    field although no middleware before it writes it (the chain check asks for no writer),
    and sees the default when none does. Where a role writes it, async mode still carries it
    to the readers in other roles, like any per-step field.
    """
    _require_default(default, default_factory)
    return dataclasses.field(
        default=default,
        default_factory=default_factory,
        metadata={_KIND: _PER_STEP, _OPTIONAL: bool(optional)},
    )


def _require_default(default: Any, default_factory: Any) -> None:
    if default is MISSING and default_factory is MISSING:
        raise TypeError(
            "per_step() needs a default or a default_factory: the field is reset to it after "
            "every step; e.g. per_step(None) or per_step(default_factory=list)"
        )


@dataclass(frozen=True)
class _Schema:
    """Field names of one context class, split by kind."""

    persistent: tuple[str, ...]
    per_step: tuple[str, ...]
    optional: tuple[str, ...]

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self.persistent + self.per_step)


@functools.cache
def _schema(cls: type[Context]) -> _Schema:
    for klass in cls.__mro__:
        if klass is object or not issubclass(klass, Context):
            continue
        if inspect.get_annotations(klass) and "__dataclass_fields__" not in klass.__dict__:
            raise TypeError(
                f"{klass.__name__} declares fields but is not a dataclass; "
                f"decorate it with @dataclasses.dataclass"
            )
    persistent_names: list[str] = []
    step_names: list[str] = []
    optional_names: list[str] = []
    for f in dataclasses.fields(cls):
        kind = f.metadata.get(_KIND)
        if kind == _PERSISTENT:
            persistent_names.append(f.name)
        elif kind == _PER_STEP:
            step_names.append(f.name)
            if f.metadata.get(_OPTIONAL):
                optional_names.append(f.name)
        else:
            raise TypeError(
                f"{cls.__name__}.{f.name} is a plain dataclass field; declare it with "
                f"persistent(...) (kept across steps) or per_step(...) (reset after each step)"
            )
    return _Schema(tuple(persistent_names), tuple(step_names), tuple(optional_names))


@dataclass(kw_only=True)
class Context:
    """Base context. Subclasses must be dataclasses whose fields use :func:`persistent`
    or :func:`per_step`.

    Assigning an undeclared attribute raises ``AttributeError`` naming the closest field, so a
    typo never creates a silent new field.

    Attributes:
        task_step: steps completed on this context (written by the engine).
        finish_reason: why the run ended, set before ``Event.FINISH`` is delivered
            (``"max_steps"``, ``"interrupted"`` or the reason given to ``Task.finish``).
        timings: seconds spent in each middleware during the current step, keyed by
            middleware name (forward part plus the part after ``yield``).
    """

    task_step: int = persistent(0)
    finish_reason: str | None = persistent(None)
    timings: dict[str, float] = per_step(default_factory=dict)

    def __post_init__(self) -> None:
        _schema(type(self))

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in _schema(type(self)).names:
            raise AttributeError(
                f"{type(self).__name__} has no field {name!r}"
                f"{closest_hint(name, _schema(type(self)).names)} "
                f"(declare new fields in a dataclass subclass with persistent() or per_step())"
            )
        object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup failed: give the same helpful message for reads.
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(
            f"{type(self).__name__} has no field {name!r}"
            f"{closest_hint(name, _schema(type(self)).names)}"
        )

    @classmethod
    def persistent_fields(cls) -> tuple[str, ...]:
        """Names of the fields that survive :meth:`renew`, in declaration order."""
        return _schema(cls).persistent

    @classmethod
    def per_step_fields(cls) -> tuple[str, ...]:
        """Names of the fields that :meth:`renew` resets, in declaration order."""
        return _schema(cls).per_step

    @classmethod
    def optional_fields(cls) -> tuple[str, ...]:
        """Names of the per-step fields declared ``optional=True`` (readable without a
        writer), in declaration order."""
        return _schema(cls).optional

    @classmethod
    def field_names(cls) -> frozenset[str]:
        """All declared field names."""
        return _schema(cls).names

    def renew(self) -> None:
        """Reset every per-step field to its default; persistent fields are left untouched."""
        for f in dataclasses.fields(self):
            if f.metadata.get(_KIND) != _PER_STEP:
                continue
            value = f.default_factory() if f.default_factory is not MISSING else f.default
            object.__setattr__(self, f.name, value)


@dataclass(kw_only=True)
class TrainContext(Context):
    """Context with the fields used by the standard training middleware.

    Persistent:
        env_step: environment transitions collected so far (all environments together).
        env_episode: finished collection episodes.
        train_iter: gradient updates done by the learner.
        best_eval_return: best mean evaluation return seen so far (``-inf`` before any).
        last_eval_iter: ``train_iter`` at the last evaluation (``-1`` = never evaluated).

    Per step:
        new_segments: game segments collected during this step.
        collect_episode_returns: returns of the collection episodes that finished during
            this step (empty when none did, or when no middleware of the chain collects
            episodes: the field is optional, so loggers may always read it).
        update_count: gradient updates the learner should do this step.
        train_data: a sampled training batch (when sampling is its own middleware).
        train_output: learner statistics of this step (losses, grad norm, ...).
        eval_result: evaluation summary of this step, ``None`` when no evaluation ran.
        eval_segments: the game segments of this step's evaluation episodes, when the
            evaluator records them (``interval_eval`` with ``eval_return_trajectory``;
            optional: empty otherwise).
    """

    env_step: int = persistent(0)
    env_episode: int = persistent(0)
    train_iter: int = persistent(0)
    best_eval_return: float = persistent(-math.inf)
    last_eval_iter: int = persistent(-1)

    new_segments: list[Any] = per_step(default_factory=list)
    collect_episode_returns: list[float] = per_step(default_factory=list, optional=True)
    update_count: int = per_step(0)
    train_data: Any = per_step(None)
    train_output: Any = per_step(None)
    eval_result: Any = per_step(None)
    eval_segments: list[Any] = per_step(default_factory=list, optional=True)
