"""State providers: run state that middleware hold, saved and restored by name.

Some middleware hold state a resumed run needs besides the context counters: a collector's
unfinished game segments, its environments' current observations and episodes. Such a
middleware registers a *provider* (an object with ``state_dict()`` / ``load_state_dict()``)
on its task under a name, and a checkpointer asks the registry for every provider's state
without knowing who provides it: middleware never import each other.

Restoring may happen before the providers exist (a run is resumed before its chain is
built): :meth:`StateProviders.load_state_dict` keeps the states of names not registered yet
and hands each to its provider when it registers. States nobody claims by the time the run
starts are dropped by the task with a warning naming them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

__all__ = ["StateProvider", "StateProviders"]

logger = logging.getLogger(__name__)


@runtime_checkable
class StateProvider(Protocol):
    """What a registered provider offers (the ``nn.Module`` / policy convention)."""

    def state_dict(self) -> dict[str, Any]:
        """The state to save: plain data (numbers, strings, containers, NumPy arrays)."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (possibly in another process)."""
        ...


class StateProviders:
    """The providers of one task, by name, each with the role of the middleware holding it.

    Example:
        >>> providers = StateProviders()
        >>> name = providers.register("env_collect", collector, role="collector")
        >>> saved = providers.state_dict()          # {"env_collect": {...}}
        >>> StateProviders().load_state_dict(saved)  # held until "env_collect" registers
    """

    def __init__(self) -> None:
        self._providers: dict[str, tuple[StateProvider, str]] = {}
        self._pending: dict[str, Any] = {}

    def register(self, name: str, provider: StateProvider, *, role: str = "any") -> str:
        """Add ``provider`` under ``name`` (``name#2``, ``name#3``... when taken, as for
        middleware names) and give it the state restored for that name, if any.

        Args:
            name: the key of its state in checkpoints; chains built alike get alike names.
            provider: has ``state_dict()`` and ``load_state_dict(state)``.
            role: the role of the middleware holding it (``"collector"``, ``"learner"``,
                ``"evaluator"``, ``"any"``): in async mode only a provider of the saver's own
                role can be read consistently.

        Returns:
            The name it was registered under.

        Raises:
            TypeError: ``provider`` lacks one of the two methods, or ``name`` is not a
                non-empty string.
        """
        if not isinstance(name, str) or not name:
            raise TypeError(f"a state provider's name must be a non-empty str, got {name!r}")
        if not isinstance(provider, StateProvider):
            raise TypeError(
                f"state provider {name!r} must have state_dict() and load_state_dict(state), "
                f"got a {type(provider).__name__}"
            )
        unique, k = name, 2
        while unique in self._providers:
            unique, k = f"{name}#{k}", k + 1
        self._providers[unique] = (provider, role)
        if unique in self._pending:
            provider.load_state_dict(self._pending.pop(unique))
            logger.debug("state provider %s restored on registration", unique)
        return unique

    def unregister(self, name: str) -> None:
        """Remove the provider ``name`` (a ``KeyError`` naming the registered ones if absent)."""
        if name not in self._providers:
            raise KeyError(f"no state provider {name!r}; registered: {sorted(self._providers)}")
        del self._providers[name]

    @property
    def names(self) -> tuple[str, ...]:
        """Registered names, in registration order."""
        return tuple(self._providers)

    def role(self, name: str) -> str:
        """The role ``name`` was registered with."""
        return self._providers[name][1]

    @property
    def pending(self) -> tuple[str, ...]:
        """Names of restored states that no provider has claimed yet."""
        return tuple(self._pending)

    def state_dict(self, roles: Iterable[str] | None = None) -> dict[str, Any]:
        """``{name: provider.state_dict()}`` for every provider (of ``roles`` only, when
        given), in registration order."""
        wanted = None if roles is None else set(roles)
        states = {}
        for name, (provider, role) in self._providers.items():
            if wanted is None or role in wanted:
                states[name] = provider.state_dict()
        return states

    def load_state_dict(self, states: Mapping[str, Any]) -> None:
        """Give each registered provider its state now; keep the others until their provider
        registers (see :attr:`pending`)."""
        if not isinstance(states, Mapping):
            raise TypeError(f"provider states must be a mapping of name -> state, got {states!r}")
        for name, state in states.items():
            entry = self._providers.get(name)
            if entry is None:
                self._pending[name] = state
            else:
                entry[0].load_state_dict(state)

    def drop_pending(self) -> tuple[str, ...]:
        """Forget the restored states no provider claimed; returns their names."""
        names = tuple(self._pending)
        self._pending.clear()
        return names

    def __contains__(self, name: object) -> bool:
        return name in self._providers

    def __len__(self) -> int:
        return len(self._providers)
