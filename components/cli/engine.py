"""Run the factory program under Pulumi's mock runtime and record what it registers."""

from __future__ import annotations

import datetime
import hashlib
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.settings import get_root_resource, set_root_resource
from pulumi.runtime.stack import massage, run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from ..catalog.regions import partitions
from .mocks import FactoryMocks

PROJECT = "aifactory"
ORGANIZATION = "organization"
"""The organization a self-managed backend reports (`pulumi.get_organization()`)."""


@dataclass(frozen=True)
class PlannedResource:
    urn: str
    type: str
    name: str
    parent: str | None
    custom: bool
    inputs: dict[str, Any]
    aliases: tuple[str, ...] = ()
    """URNs this resource was known by before (from its `aliases` option): the engine moves, not replaces."""
    id: str | None = None
    """The id the mocks gave it (what other resources' inputs refer to it by)."""
    outputs: dict[str, Any] = field(default_factory=dict)
    """What the mocks computed beyond its inputs (e.g. an EKS cluster's security group, an endpoint's prefix list)."""
    dependencies: tuple[str, ...] = ()
    """URNs of the resources it waits for (`depends_on` and input dependencies); not part of the plan JSON."""

    def as_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "parent": self.parent,
            "id": self.id,
            "inputs": self.inputs,
            "outputs": self.outputs,
        }
        if self.aliases:
            # `aifactory diff` matches a moved resource by them (Pulumi moves it, it does not replace it).
            document["aliases"] = list(self.aliases)
        return document


@dataclass
class ProgramRun:
    resources: list[PlannedResource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)


class _RecordingMocks(FactoryMocks):
    """Keeps the inputs of the resource being registered so the monitor can file them.

    The SDK registers resources from a thread pool, so the inputs are kept per thread: the monitor
    reads them on the thread that called `new_resource`."""

    def __init__(
        self, region: str, partition: str, dns_suffix: str, stack_outputs: dict[str, dict[str, Any]] | None = None
    ):
        super().__init__(region, partition, dns_suffix, stack_outputs)
        self._current = threading.local()

    @property
    def last_inputs(self) -> dict[str, Any]:
        return dict(getattr(self._current, "inputs", {}))

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        self._current.inputs = dict(args.inputs)
        return super().new_resource(args)


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: _RecordingMocks, run: ProgramRun):
        super().__init__(mocks)
        self._recording_mocks = mocks
        self._run = run
        self._stack_urn = ""
        self._lock = threading.Lock()

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            self._stack_urn = response.urn
            return response
        inputs = _plain(self._recording_mocks.last_inputs)
        registration = self.resources.get(response.urn)
        state = _plain(dict(registration.state)) if registration is not None and registration.state else {}
        self._record(
            request,
            response.urn,
            custom=bool(request.custom),
            inputs=inputs,
            aliases=_alias_urns(request, response.urn),
            id=response.id or None,
            outputs={k: v for k, v in state.items() if inputs.get(k) != v} if request.custom else {},
            dependencies=tuple(request.dependencies),
        )
        return response

    def ReadResource(self, request: Any) -> Any:
        """A read resource (the cluster stack's StackReference) is part of the plan too."""
        response = super().ReadResource(request)
        self._record(request, response.urn, custom=True, inputs=_plain(rpc.deserialize_properties(request.properties)))
        return response

    def _record(self, request: Any, urn: str, **fields: Any) -> None:
        """File one registration (parented to the stack means no parent)."""
        parent = request.parent if request.parent and request.parent != self._stack_urn else None
        resource = PlannedResource(urn=urn, type=request.type, name=request.name, parent=parent, **fields)
        with self._lock:
            self._run.resources.append(resource)

    def RegisterResourceOutputs(self, request: Any) -> Any:
        if request.urn == self._stack_urn:
            self._run.outputs = _plain(rpc.deserialize_properties(request.outputs))
        return super().RegisterResourceOutputs(request)


def _alias_urns(request: Any, urn: str) -> tuple[str, ...]:
    """The URNs named by the request's alias specs, built the way this runtime builds `urn` itself
    (stack and project from `urn`; the parent's own type before `$`)."""
    prefix, _, _ = urn.partition("::")
    project = urn.split("::")[1]
    found = []
    for alias in request.aliases:
        if alias.WhichOneof("alias") == "urn":
            found.append(alias.urn)
            continue
        spec = alias.spec
        parent = "" if spec.noParent else spec.parentUrn or request.parent
        parent_type = parent.split("::")[2].split("$")[-1] if parent else ""
        if parent_type == "pulumi:pulumi:Stack":
            parent_type = ""
        stack = f"urn:pulumi:{spec.stack}" if spec.stack else prefix
        typ = spec.type or request.type
        qualified = f"{parent_type}${typ}" if parent_type else typ
        found.append(f"{stack}::{spec.project or project}::{qualified}::{spec.name or request.name}")
    return tuple(found)


def _plain(value: Any) -> Any:
    """JSON-able copy of engine values, whole numbers as integers.

    The engine's wire protocol carries every number as a double (the SDK serializes ints as
    `struct_pb2.Value(number_value=float(value))`; pulumi/pulumi#13830: "the wire and state protocols
    only support float"), so a count of 2 comes back as 2.0. The SDK itself casts such values back to
    `int` where the schema types them so (pulumi/pulumi#5419, #21944). The plan has no schema at hand, so
    every whole double is written as an integer: JSON has one number type (RFC 8259, section 6), so no
    value changes, and a count reads as one."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    # Assets (a Lambda function's code): by content, so two runs of one program record the same plan.
    if isinstance(value, pulumi.AssetArchive):
        return {"assets": {name: _plain(asset) for name, asset in sorted(value.assets.items())}}
    if isinstance(value, pulumi.StringAsset):
        return {"sha256": hashlib.sha256(value.text.encode()).hexdigest()}
    return str(value)


def _config_text(value: object) -> str:
    """JSON for a value `yaml.safe_load` makes but JSON lacks: a YAML 1.1 timestamp (yaml.org/type/timestamp)
    is given to the program as its ISO 8601 text, as the Pulumi engine gives every config value as text."""
    if isinstance(value, datetime.date):
        return value.isoformat()
    raise TypeError(f"config value of type {type(value).__name__} has no JSON form")


def run_program(
    config: Mapping[str, Any],
    stack: str,
    region: str,
    partition: str,
    program: Callable[[], object],
    run: ProgramRun | None = None,
    *,
    project: str = PROJECT,
    stack_outputs: Mapping[str, dict[str, Any]] | None = None,
) -> ProgramRun:
    """Run `program` of `project` against mocks with the stack's config; returns every registration
    in order (recorded into `run` when given, so a caller still sees them when the program fails).
    `stack_outputs`: the outputs a `StackReference` to each named stack reads."""
    pulumi.runtime.set_all_config(
        {
            key: value if isinstance(value, str) else json.dumps(value, default=_config_text)
            for key, value in config.items()
        }
    )
    run = run if run is not None else ProgramRun()
    dns_suffix = partitions()[partition].dns_suffix if partition in partitions() else "amazonaws.com"
    mocks = _RecordingMocks(region, partition, dns_suffix, dict(stack_outputs or {}))
    monitor = _RecordingMonitor(mocks, run)
    set_root_resource(None)  # type: ignore[arg-type]  # a fresh root stack per run, registered with this monitor
    pulumi.runtime.set_mocks(
        mocks, project=project, stack=stack, preview=False, monitor=monitor, organization=ORGANIZATION
    )

    def program_with_exports() -> None:
        program()
        root = get_root_resource()
        if isinstance(root, pulumi.ComponentResource):
            # set_mocks finished the root stack before the program exported anything.
            root.register_outputs(massage(getattr(root, "outputs", {}), []))

    _sync_await(run_pulumi_func(program_with_exports))
    run.resources.sort(key=lambda r: r.urn)  # registration order depends on thread scheduling
    return run
