"""Plugins come from the `planner.plugins` entry points and from `module:Class` config entries."""

from __future__ import annotations

import importlib.metadata
from typing import Any

import pytest

from helpers import Observe, Propose, config, memory, set_targets, traffic
from planner import Planner, PluginDeclarationError, RegistrationError, VirtualClock
from planner.errors import ConfigError
from planner.loading import ENTRY_POINT_GROUP
from planner_sdk import Observations, ObservePlugin, PluginSpec, Role, Stage, TickContext

pytestmark = pytest.mark.anyio


def fake_entry_points(monkeypatch: pytest.MonkeyPatch, *values: str) -> None:
    points = [importlib.metadata.EntryPoint(f"ep{i}", v, ENTRY_POINT_GROUP) for i, v in enumerate(values)]

    def entry_points(**selection: Any) -> list[importlib.metadata.EntryPoint]:
        return points if selection.get("group") == ENTRY_POINT_GROUP else []

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)


async def test_entry_point_factories_contribute_builtin_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_entry_points(monkeypatch, "helpers:entry_point_factory")
    clock = VirtualClock()
    async with Planner(config(min_endpoint=1), clock=clock, connector=memory(clock)) as planner, clock.autojump():
        entry = planner.registry.get("ep_floor")
        assert entry is not None
        assert entry.source == "builtin"
        await planner.run(max_ticks=1)
    assert planner.last_record is not None
    assert planner.last_record.targets == {Role.PREFILL: 2, Role.DECODE: 3}


async def test_disabled_plugins_are_not_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_entry_points(monkeypatch, "helpers:entry_point_factory")
    clock = VirtualClock()
    async with Planner(
        config(disabled_plugins=["ep_floor"]),
        clock=clock,
        connector=memory(clock),
        plugins=[Propose("x", set_targets(1, 1))],
    ) as planner:
        assert planner.registry.get("ep_floor") is None


async def test_config_entries_build_module_class_with_kwargs() -> None:
    clock = VirtualClock()
    cfg = config(
        plugins=[{"factory": "helpers:Floor", "kwargs": {"plugin_id": "office_hours", "prefill": 3, "decode": 4}}]
    )
    async with Planner(cfg, clock=clock, connector=memory(clock)) as planner, clock.autojump():
        await planner.run(max_ticks=1)
    assert planner.last_record is not None
    assert planner.last_record.targets == {Role.PREFILL: 3, Role.DECODE: 4}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"factory": "no_such_module:Thing"}, "plugins[0].factory: 'no_such_module:Thing': cannot import module"),
        ({"factory": "helpers:Missing"}, "module 'helpers' has no attribute 'Missing'"),
        ({"factory": "helpers:Floor", "kwargs": {"oops": 1}}, "could not be built with kwargs"),
        ({"factory": "helpers:config"}, "not a planner_sdk Plugin"),
    ],
)
async def test_a_bad_config_entry_names_itself(entry: dict[str, Any], message: str) -> None:
    clock = VirtualClock()
    with pytest.raises(ConfigError) as err:
        async with Planner(config(plugins=[entry]), clock=clock, connector=memory(clock)):
            pass
    assert message in str(err.value)


async def test_duplicate_plugin_ids_are_refused() -> None:
    clock = VirtualClock()
    with pytest.raises(RegistrationError, match="duplicate plugin id 'twin'"):
        async with Planner(
            config(),
            clock=clock,
            connector=memory(clock),
            plugins=[Propose("twin", set_targets(1, 1)), Observe("twin", traffic())],
        ):
            pass


async def test_the_builtin_prefix_is_reserved() -> None:
    clock = VirtualClock()
    with pytest.raises(RegistrationError, match="prefix 'builtin_' is reserved"):
        async with Planner(
            config(), clock=clock, connector=memory(clock), plugins=[Propose("builtin_fake", set_targets(1, 1))]
        ):
            pass


async def test_an_explicit_base_that_does_not_divide_a_plugin_interval_fails_at_start() -> None:
    clock = VirtualClock()
    with pytest.raises(ConfigError, match="does not divide plugin 'every7'"):
        async with Planner(
            config(scheduling={"scale_interval_seconds": 5}),
            clock=clock,
            connector=memory(clock),
            plugins=[Propose("every7", set_targets(1, 1), interval=7)],
        ):
            pass


async def test_a_plugin_declaring_another_stage_than_its_class_is_refused() -> None:
    class Confused(ObservePlugin):
        spec = PluginSpec(id="confused", stage=Stage.PROPOSE, execution_interval_seconds=5)

        async def observe(self, ctx: TickContext) -> Observations:
            return Observations()

    clock = VirtualClock()
    with pytest.raises(PluginDeclarationError, match="declares stage 'propose' but is not a ProposePlugin"):
        async with Planner(config(), clock=clock, connector=memory(clock), plugins=[Confused()]):
            pass


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"id": "Bad Id"}, "id: 'Bad Id' must match"),
        ({"execution_interval_seconds": 0}, "execution_interval_seconds=0 must be a finite number > 0"),
        ({"execution_interval_seconds": float("inf")}, "must be a finite number > 0"),
        ({"timeout_seconds": -1}, "timeout_seconds=-1"),
        ({"priority": 1.5}, "priority=1.5 must be an integer"),
        ({"needs": frozenset({"telepathy"})}, "unknown context field 'telepathy'"),
        ({"stage": "guess"}, "'guess' is not a valid Stage"),
    ],
)
def test_a_bad_declaration_is_refused_naming_the_field(kwargs: dict[str, Any], message: str) -> None:
    fields: dict[str, Any] = {"id": "ok", "stage": Stage.PROPOSE, "execution_interval_seconds": 5}
    fields.update(kwargs)
    with pytest.raises(PluginDeclarationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        PluginSpec(**fields)


def test_requires_implies_needs() -> None:
    spec = PluginSpec(id="x", stage=Stage.PROPOSE, execution_interval_seconds=5, requires=frozenset({"predictions"}))  # type: ignore[arg-type]
    assert {f.value for f in spec.needs} == {"predictions"}
