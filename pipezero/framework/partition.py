"""Partition of a chain into one sub-chain per role for async mode, with its transfers."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from .context import Context
from .errors import ChainError
from .middleware import ANY, Middleware

__all__ = ["RolePlan", "assign_roles", "plan_roles"]


@dataclass
class RolePlan:
    """What one role runs and exchanges with the others.

    Attributes:
        role: the role name.
        chain: its middleware, in chain order.
        step_inputs: writer role -> per-step fields taken from that role's channel each step.
        step_outputs: reader role -> per-step fields put on the channel to that role each step.
        mirror_inputs: writer role -> persistent fields mirrored from that role.
        mirror_outputs: persistent fields this role publishes for other roles.
        writes: every field declared written by this role's middleware.
    """

    role: str
    chain: list[Middleware] = field(default_factory=list)
    step_inputs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    step_outputs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    mirror_inputs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    mirror_outputs: tuple[str, ...] = ()
    writes: frozenset[str] = frozenset()

    @property
    def waits_for_mirror(self) -> bool:
        """True when the only cross-role inputs are persistent fields: steps wait for a change."""
        return bool(self.mirror_inputs) and not self.step_inputs


def assign_roles(chain: Sequence[Middleware]) -> list[str]:
    """Concrete role of each middleware of ``chain``.

    A middleware with role ``"any"`` (or undeclared) joins the role of the nearest preceding
    middleware that has a concrete role, or the first concrete role of the chain when none
    precedes it. A chain without any concrete role runs as a single ``"any"`` runner.
    """
    first = next((mw.role for mw in chain if mw.role != ANY), ANY)
    roles: list[str] = []
    current = first
    for mw in chain:
        if mw.role != ANY:
            current = mw.role
        roles.append(current)
    return roles


def plan_roles(chain: Sequence[Middleware], ctx_cls: type[Context]) -> dict[str, RolePlan]:
    """Split ``chain`` by role and work out the channels and mirrors between roles.

    Raises:
        ChainError: a field is written by several roles in a way that makes its value
            ambiguous, or the roles would wait on each other in a cycle.
    """
    roles = assign_roles(chain)
    plans: dict[str, RolePlan] = {}
    writers: dict[str, dict[str, list[str]]] = {}  # field -> role -> middleware names
    readers: dict[str, dict[str, list[str]]] = {}
    for mw, role in zip(chain, roles, strict=True):
        plan = plans.setdefault(role, RolePlan(role))
        plan.chain.append(mw)
        if not mw.declared:
            continue
        for f in mw.writes:
            writers.setdefault(f, {}).setdefault(role, []).append(mw.name)
        for f in mw.reads:
            readers.setdefault(f, {}).setdefault(role, []).append(mw.name)
    persistent = set(ctx_cls.persistent_fields())
    for role, plan in plans.items():
        plan.writes = frozenset(f for f, by in writers.items() if role in by)

    step_edges: dict[tuple[str, str], list[str]] = {}
    mirror_edges: dict[tuple[str, str], list[str]] = {}
    for f, by_role in writers.items():
        read_by = readers.get(f, {})
        if len(by_role) > 1:
            if f in persistent or read_by:
                who = "; ".join(f"{r}: {', '.join(names)}" for r, names in by_role.items())
                raise ChainError(
                    f"in async mode ctx.{f} is written by several roles ({who}), so its value "
                    f"is ambiguous; let one role write it (give the other middleware its own "
                    f"field)"
                )
            continue
        (writer,) = by_role
        for reader in read_by:
            if reader != writer:
                edges = mirror_edges if f in persistent else step_edges
                edges.setdefault((writer, reader), []).append(f)

    for (src, dst), fields in step_edges.items():
        plans[src].step_outputs[dst] = tuple(fields)
        plans[dst].step_inputs[src] = tuple(fields)
    for (src, dst), fields in mirror_edges.items():
        plans[dst].mirror_inputs[src] = tuple(fields)
        plans[src].mirror_outputs = tuple(dict.fromkeys((*plans[src].mirror_outputs, *fields)))
    _check_no_wait_cycle(plans)
    return plans


def _check_no_wait_cycle(plans: dict[str, RolePlan]) -> None:
    """Reject roles that would wait on each other in a cycle (a deadlock)."""
    waits: dict[str, dict[str, str]] = {role: {} for role in plans}  # role -> source -> why
    for role, plan in plans.items():
        for src, fields in plan.step_inputs.items():
            waits[role][src] = f"{role} takes ctx.{', ctx.'.join(fields)} items from {src}"
        if plan.waits_for_mirror:
            for src, fields in plan.mirror_inputs.items():
                waits[role][src] = (
                    f"{role} waits for changes of ctx.{', ctx.'.join(fields)} from {src}"
                )

    def visit(role: str, path: list[str]) -> list[str] | None:
        if role in path:
            return [*path[path.index(role) :], role]
        for src in waits[role]:
            cycle = visit(src, [*path, role])
            if cycle:
                return cycle
        return None

    for start in plans:
        cycle = visit(start, [])
        if cycle:
            why = "; ".join(waits[a][b] for a, b in itertools.pairwise(cycle))
            raise ChainError(
                f"in async mode roles {' -> '.join(cycle)} wait on each other ({why}), which "
                f"would deadlock; a role should follow another role's progress through a "
                f"persistent field or an event, not by reading its per-step fields"
            )
