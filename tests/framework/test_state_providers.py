"""StateProviders: middleware run state registered by name, saved and restored."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from pipezero.framework import StateProviders, Task, TrainContext, middleware


class Counter:
    """A toy provider: one number."""

    def __init__(self, value: int = 0) -> None:
        self.value = value
        self.loads = 0

    def state_dict(self) -> dict[str, Any]:
        return {"value": self.value}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.value = state["value"]
        self.loads += 1


def test_state_dict_holds_every_provider_by_name_in_registration_order():
    providers = StateProviders()
    assert providers.register("collector", Counter(3), role="collector") == "collector"
    assert providers.register("evaluator", Counter(5), role="evaluator") == "evaluator"
    assert providers.names == ("collector", "evaluator") and len(providers) == 2
    assert providers.state_dict() == {"collector": {"value": 3}, "evaluator": {"value": 5}}
    assert providers.state_dict(roles=("collector",)) == {"collector": {"value": 3}}
    assert providers.role("evaluator") == "evaluator" and "collector" in providers


def test_a_taken_name_gets_a_suffix_like_middleware_names():
    providers = StateProviders()
    names = [providers.register("env_collect", Counter(i)) for i in range(3)]
    assert names == ["env_collect", "env_collect#2", "env_collect#3"]
    assert providers.state_dict()["env_collect#3"] == {"value": 2}


def test_load_restores_registered_providers_at_once_and_later_ones_on_registration():
    saved = {"early": {"value": 7}, "late": {"value": 9}}
    providers = StateProviders()
    early = Counter()
    providers.register("early", early)
    providers.load_state_dict(saved)
    assert early.value == 7 and providers.pending == ("late",)
    late = Counter()
    providers.register("late", late)  # built after the resume, as a recipe's middleware are
    assert late.value == 9 and late.loads == 1 and providers.pending == ()
    fresh = Counter(1)
    providers.register("late", fresh)  # "late#2": nothing saved under that name
    assert fresh.loads == 0 and fresh.value == 1


def test_bad_providers_and_names_are_refused_with_the_reason():
    providers = StateProviders()
    with pytest.raises(TypeError, match="must have state_dict\\(\\) and load_state_dict"):
        providers.register("x", object())
    with pytest.raises(TypeError, match="non-empty str"):
        providers.register("", Counter())
    with pytest.raises(TypeError, match="mapping of name -> state"):
        providers.load_state_dict([("x", {})])
    with pytest.raises(KeyError, match="registered: \\[\\]"):
        providers.unregister("x")


def test_unregister_and_drop_pending():
    providers = StateProviders()
    providers.register("a", Counter())
    providers.unregister("a")
    assert providers.names == ()
    providers.load_state_dict({"gone": {"value": 1}})
    assert providers.drop_pending() == ("gone",) and providers.pending == ()


def test_the_task_owns_a_registry_that_middleware_fill_in_setup(caplog):
    task = Task(TrainContext())
    counter = Counter(4)

    def setup(t: Task) -> None:
        t.state_providers.register("counting", counter, role="collector")

    def step(ctx: TrainContext) -> None:
        counter.value += 1

    task.state_providers.load_state_dict({"counting": {"value": 10}, "renamed": {"value": 1}})
    task.use(middleware(step, name="counting", role="collector", setup=setup))
    assert counter.value == 10 and task.mode is None
    with caplog.at_level(logging.WARNING, logger="pipezero.framework.task"):
        task.run(max_steps=2)
    assert task.mode == "sync" and counter.value == 12
    assert task.state_providers.state_dict() == {"counting": {"value": 12}}
    unclaimed = [r.getMessage() for r in caplog.records if "no middleware" in r.getMessage()]
    assert len(unclaimed) == 1 and "renamed" in unclaimed[0] and "counting" in unclaimed[0]
