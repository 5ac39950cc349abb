"""Middleware declaration: what a step reads and writes on the context, and its role."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, overload

from .errors import closest_hint

if TYPE_CHECKING:
    from .context import Context
    from .task import Task

__all__ = [
    "ANY",
    "ROLES",
    "Middleware",
    "MiddlewareFn",
    "as_middleware",
    "middleware",
]

#: Concrete roles, i.e. the runners of async mode.
ROLES: tuple[str, ...] = ("collector", "learner", "evaluator")
#: Role of middleware that can run next to any other (loggers, termination, ...).
ANY = "any"

MiddlewareFn = Callable[["Context"], Any]
SetupFn = Callable[["Task"], None]


@dataclass(frozen=True)
class Middleware:
    """A step function with its declaration.

    Attributes:
        fn: ``fn(ctx)``; a generator function yields once to run code after the whole chain.
        name: unique name in a task (used in error messages and ``ctx.timings``).
        role: ``"collector"``, ``"learner"``, ``"evaluator"`` or ``"any"``.
        reads: context fields the forward part reads (checked before the first step).
        writes: context fields it writes.
        setup: called once with the task by ``Task.use``: register event handlers, reach
            ``task.weights``, keep the task to call ``task.finish``.
        declared: ``False`` for a plain callable given to ``Task.use``; such middleware are not
            validated and take part in no cross-role transfer in async mode.
        acts_with: the object this step acts with or trains (a policy), if any. In async mode
            no object may be declared by middleware of two roles: a collector searching with
            the learner's own policy while the optimizer steps it would race (each role needs
            its own copy; see ``policy.acting_copy``).
    """

    fn: MiddlewareFn
    name: str
    role: str = ANY
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    setup: SetupFn | None = field(default=None, compare=False)
    declared: bool = True
    acts_with: Any = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not callable(self.fn):
            raise TypeError(f"middleware {self.name!r}: fn must be callable, got {self.fn!r}")
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"middleware name must be a non-empty str, got {self.name!r}")
        valid_roles = (*ROLES, ANY)
        if self.role not in valid_roles:
            raise ValueError(
                f"middleware {self.name!r}: unknown role {self.role!r}"
                f"{closest_hint(self.role, valid_roles)} (valid roles: {', '.join(valid_roles)})"
            )
        object.__setattr__(self, "reads", _field_tuple(self.name, "reads", self.reads))
        object.__setattr__(self, "writes", _field_tuple(self.name, "writes", self.writes))
        if self.setup is not None and not callable(self.setup):
            raise TypeError(f"middleware {self.name!r}: setup must be callable or None")

    def __call__(self, ctx: Context) -> Any:
        return self.fn(ctx)


def _field_tuple(name: str, what: str, fields: Iterable[str]) -> tuple[str, ...]:
    if isinstance(fields, str):
        raise TypeError(
            f"middleware {name!r}: {what} must be a sequence of field names, got the string "
            f"{fields!r}; write {what}=({fields!r},)"
        )
    out = tuple(fields)
    for f in out:
        if not isinstance(f, str) or not f.isidentifier():
            raise ValueError(f"middleware {name!r}: {what} contains {f!r}, not a field name")
    return out


@overload
def middleware(
    fn: MiddlewareFn,
    *,
    name: str | None = None,
    role: str = ANY,
    reads: Iterable[str] = (),
    writes: Iterable[str] = (),
    setup: SetupFn | None = None,
    acts_with: Any = None,
) -> Middleware: ...


@overload
def middleware(
    fn: None = None,
    *,
    name: str | None = None,
    role: str = ANY,
    reads: Iterable[str] = (),
    writes: Iterable[str] = (),
    setup: SetupFn | None = None,
    acts_with: Any = None,
) -> Callable[[MiddlewareFn], Middleware]: ...


def middleware(
    fn: MiddlewareFn | None = None,
    *,
    name: str | None = None,
    role: str = ANY,
    reads: Iterable[str] = (),
    writes: Iterable[str] = (),
    setup: SetupFn | None = None,
    acts_with: Any = None,
) -> Middleware | Callable[[MiddlewareFn], Middleware]:
    """Declare a middleware; call it directly or use it as a decorator.

    >>> @middleware(role="learner", reads=("update_count",), writes=("train_iter",))
    ... def learn(ctx):
    ...     ctx.train_iter += ctx.update_count

    Args:
        fn: the step function ``fn(ctx)`` (plain or generator function).
        name: defaults to ``fn.__name__``.
        role: ``"collector"``, ``"learner"``, ``"evaluator"`` or ``"any"``.
        reads: context fields read by the forward part.
        writes: context fields written.
        setup: ``setup(task)``, called once by ``Task.use``.
        acts_with: the policy (or other object) the step acts with; see :class:`Middleware`.
    """

    def wrap(f: MiddlewareFn) -> Middleware:
        mw_name = name or getattr(f, "__name__", type(f).__name__)
        return Middleware(
            fn=f,
            name=mw_name,
            role=role,
            reads=_field_tuple(mw_name, "reads", reads),
            writes=_field_tuple(mw_name, "writes", writes),
            setup=setup,
            acts_with=acts_with,
        )

    return wrap if fn is None else wrap(fn)


def as_middleware(obj: Middleware | MiddlewareFn) -> Middleware:
    """Return ``obj`` if it is a :class:`Middleware`, else wrap a plain callable as undeclared."""
    if isinstance(obj, Middleware):
        return obj
    if not callable(obj):
        raise TypeError(f"a middleware must be callable or a Middleware, got {obj!r}")
    name = getattr(obj, "__name__", None) or type(obj).__name__
    return Middleware(fn=obj, name=name, declared=False)
