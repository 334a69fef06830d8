"""Shared fixtures: `run_program` runs a Pulumi program under the project's mock engine.

The engine is the one `aifactory plan` uses (`aifactory.cli.engine.run_program` with
`aifactory.cli.mocks.FactoryMocks`): the same ids, ARNs and computed outputs a plan shows. The
fixture adds what the engine does not keep because a plan report does not need it: each resource's
id and state as the mocks answered, and the options the mocks never see (protect, retainOnDelete,
dependsOn), read with a stack transformation before the resource registers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import pulumi
import pytest
from aifactory.cli.engine import ProgramRun
from aifactory.cli.engine import run_program as run_under_engine
from aifactory.spec.clock import PLAN_TIME_ENV
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.settings import get_monitor

TEST_PLAN_TIME = "2026-11-01T00:00:00Z"
"""The plan time of every test (`spec/clock.py`): fixture stacks name capacity blocks ending on fixed
dates, which must not turn into 'block already ended' errors as the real clock moves on."""


@pytest.fixture(autouse=True)
def _fixed_plan_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PLAN_TIME_ENV, TEST_PLAN_TIME)


@dataclass(frozen=True)
class Resource:
    """One registration: type, name, URN, parent URN (None under the stack), inputs as the engine
    received them (camelCase), and the id, state and options the mocks answered with."""

    type: str
    name: str
    urn: str
    parent: str | None
    inputs: dict[str, Any]
    custom: bool
    id: str | None
    state: dict[str, Any]
    protect: bool
    retain_on_delete: bool
    depends_on: tuple[str, ...]
    """Names of the resources in the `depends_on` option."""


@dataclass
class PlannedProgram:
    """Every resource a program registered (sorted by URN) and the stack's exported outputs."""

    resources: list[Resource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)

    def of_type(self, typ: str) -> list[Resource]:
        return [r for r in self.resources if r.type == typ]

    def one(self, typ: str) -> Resource:
        found = self.of_type(typ)
        assert len(found) == 1, f"expected one {typ}, got {[r.name for r in found]}"
        return found[0]

    def named(self, name: str, typ: str | None = None) -> Resource:
        found = [r for r in self.resources if r.name == name and (typ is None or r.type == typ)]
        assert len(found) == 1, f"expected one resource named {name!r}, got {[r.urn for r in found]}"
        return found[0]


class RunProgram(Protocol):
    def __call__(
        self,
        program: Callable[[], None],
        config: Mapping[str, Any] | None = None,
        *,
        stack: str = ...,
        region: str = ...,
        partition: str = ...,
    ) -> PlannedProgram: ...


@dataclass(frozen=True)
class _Options:
    protect: bool
    retain_on_delete: bool
    depends_on: tuple[str, ...]


def _names(depends_on: Any) -> tuple[str, ...]:
    items: Sequence[Any] = depends_on if isinstance(depends_on, list | tuple) else [depends_on] if depends_on else []
    return tuple(str(getattr(r, "_name", r)) for r in items if isinstance(r, pulumi.Resource))


def plan_program(
    program: Callable[[], None],
    config: Mapping[str, Any] | None = None,
    *,
    stack: str = "test",
    region: str = "us-east-1",
    partition: str = "aws",
) -> PlannedProgram:
    """Run `program` under the project's mock engine with `config` (Pulumi config keys such as
    `aifactory:fleets`); returns every registration and the stack outputs."""
    options: dict[tuple[str, str], _Options] = {}

    def record(args: pulumi.ResourceTransformationArgs) -> None:
        opts = args.opts
        options[(args.type_, args.name)] = _Options(
            protect=bool(opts.protect),
            retain_on_delete=bool(opts.retain_on_delete),
            depends_on=_names(opts.depends_on),
        )

    def recorded_program() -> None:
        pulumi.runtime.register_stack_transformation(record)
        program()

    run: ProgramRun = run_under_engine(dict(config or {}), stack, region, partition, recorded_program)
    monitor = get_monitor()
    assert isinstance(monitor, MockMonitor), "the engine runs programs under a MockMonitor"
    resources = []
    for r in run.resources:
        registration = monitor.resources.get(r.urn)
        opts = options.get((r.type, r.name), _Options(False, False, ()))
        resources.append(
            Resource(
                type=r.type,
                name=r.name,
                urn=r.urn,
                parent=r.parent,
                inputs=r.inputs,
                custom=r.custom,
                id=registration.id if registration is not None else None,
                state=dict(registration.state) if registration is not None else {},
                protect=opts.protect,
                retain_on_delete=opts.retain_on_delete,
                depends_on=opts.depends_on,
            )
        )
    return PlannedProgram(resources=resources, outputs=run.outputs)


@pytest.fixture(scope="session")
def run_program() -> RunProgram:
    """`run_program(program, config=None, *, stack, region, partition) -> PlannedProgram`."""
    return plan_program
