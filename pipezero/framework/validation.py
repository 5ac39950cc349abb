"""Checks of a middleware chain against its context class, run before the first step."""

from __future__ import annotations

from collections.abc import Sequence

from .context import ENGINE_FIELDS, Context
from .errors import ChainError, closest_hint
from .middleware import Middleware

__all__ = ["check_fields", "check_role_sharing", "validate_chain"]


def check_fields(mw: Middleware, ctx_cls: type[Context]) -> None:
    """Fail if ``mw`` declares a field ``ctx_cls`` lacks or writes an engine-owned field.

    Raises:
        ChainError: naming the middleware, the field and the closest valid field.
    """
    names = ctx_cls.field_names()
    for what, fields in (("reads", mw.reads), ("writes", mw.writes)):
        for f in fields:
            if f not in names:
                raise ChainError(
                    f"middleware {mw.name!r} {what} ctx.{f}, but {ctx_cls.__name__} has no field "
                    f"{f!r}{closest_hint(f, names)} (add it to a Context subclass with "
                    f"persistent() or per_step())"
                )
    for f in mw.writes:
        if f in ENGINE_FIELDS:
            raise ChainError(
                f"middleware {mw.name!r} declares writes of ctx.{f}, which only the engine "
                f"writes; remove it from writes"
            )


def validate_chain(chain: Sequence[Middleware], ctx_cls: type[Context]) -> None:
    """Check that every declared read is satisfied by the time its middleware runs.

    A read is satisfied by a persistent field (it always holds a value), an engine field
    (``timings``, ``task_step``, ``finish_reason``), a per-step field declared
    ``optional=True`` (its default is a valid value) or a per-step field that an earlier
    declared middleware writes. Undeclared middleware (plain callables) are skipped.

    Raises:
        ChainError: the first problem found, naming the middleware, the field and the fix.
    """
    if not chain:
        raise ChainError("the task has no middleware; add some with task.use(...)")
    available = set(ctx_cls.persistent_fields()) | set(ctx_cls.optional_fields()) | ENGINE_FIELDS
    for mw in chain:
        if not mw.declared:
            continue
        check_fields(mw, ctx_cls)
        for f in mw.reads:
            if f not in available:
                writers = [m.name for m in chain if m.declared and f in m.writes]
                later = f" ({', '.join(writers)} writes it but runs later)" if writers else ""
                raise ChainError(
                    f"{mw.name} reads ctx.{f} but no middleware before it writes it{later}; "
                    f"add a middleware that writes {f} before {mw.name}"
                )
        available.update(mw.writes)


def check_role_sharing(chain: Sequence[Middleware], roles: Sequence[str]) -> None:
    """Async mode: fail if middleware of two roles declare the same ``acts_with`` object.

    Args:
        chain: the middleware.
        roles: the role each one runs in (``assign_roles``).

    Raises:
        ChainError: naming both middleware and the fix.
    """
    owner: dict[int, tuple[str, str]] = {}
    for mw, role in zip(chain, roles, strict=True):
        if mw.acts_with is None:
            continue
        seen = owner.setdefault(id(mw.acts_with), (mw.name, role))
        if seen[1] != role:
            raise ChainError(
                f"{seen[0]} ({seen[1]}) and {mw.name} ({role}) act with the same "
                f"{type(mw.acts_with).__name__} object; in async mode their roles run "
                f"concurrently, so give each role its own copy (policy.acting_copy(seed); a "
                f"recipe's run.acting(policy) does it)"
            )
