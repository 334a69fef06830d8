"""Validate a component's args before it registers anything, with the stack config's rules.

A component used on its own (`GpuFleet(name, {...})` in someone else's program, or through the
component provider from another language) gets the same checks a stack file gets, reported the same
way: one `ComponentArgsError` (a `ConfigError`) listing every problem with the arg path
(`GpuFleetArgs.instance_type`), what is wrong and the fix, the closest valid value for a typo.

Two layers, neither a second copy of the spec's rules:

* the shape, read from the Args TypedDict itself (`typing.get_type_hints`): unknown keys (with the
  closest key), missing required keys, values of the wrong type;
* the values, by building the corresponding fragment of the stack config (`FactorySpec` input) from
  the args and running the spec's own models and cross-field rules over it (`spec/model.py`,
  `spec/rules.py`, ...). Their issues come back with the config path translated to the arg path. New
  spec fields and rules flow through without this module changing.
"""

from __future__ import annotations

import copy
import functools
import inspect
import re
import types
import typing
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import pulumi
from pydantic import BaseModel, TypeAdapter, ValidationError

from .catalog.regions import partition_of, partitions
from .plan_time import holds_output
from .spec.aws_values import kms_key_arn_problem
from .spec.errors import ConfigError, ConfigIssue, did_you_mean
from .spec.loading import REGION_KEY, _clean_loc, _one_per_union
from .spec.model import FactorySpec
from .spec.rules import Rule

PLACEHOLDER_INSTANCE_TYPE = "p5.48xlarge"
"""The instance type of the stand-in fleet a fragment needs when the component has no fleet of its own
(every `FactorySpec` has at least one); no rule that reads fleets is run on such a fragment."""


class ComponentArgsError(ConfigError):
    """Invalid component args: every problem at once, each with its arg path, raised before any resource
    (the component included) is registered."""


# --- the shape, from the TypedDict -------------------------------------------------------------------


def _describe(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if annotation is type(None):
        return "None"
    if annotation is Any:
        return "any value"
    if origin is Literal:
        return " or ".join(repr(v) for v in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if not _is_output_member(a)]
        outputs = len(members) < len(typing.get_args(annotation))
        text = " or ".join(_describe(a) for a in members)
        return f"{text} (or a resource output)" if outputs else text
    if typing.is_typeddict(annotation):
        return f"a {annotation.__name__} mapping"
    if origin in (list, Sequence) or annotation in (list, Sequence):
        return "a list"
    if origin in (dict, Mapping) or annotation in (dict, Mapping):
        return "a mapping"
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
    if annotation in names:
        return names[annotation]
    return f"a {getattr(annotation, '__name__', annotation)}"


def _is_output_member(annotation: Any) -> bool:
    """`pulumi.Input[T]` is `T | Awaitable[T] | Output[T]`: the members a resource output satisfies."""
    origin = typing.get_origin(annotation) or annotation
    return origin is pulumi.Output or origin is Awaitable


def _type_ok(value: Any, annotation: Any) -> bool:
    """Whether `value` has the annotation's outer type (containers are checked element by element later)."""
    origin = typing.get_origin(annotation) or annotation
    if annotation is Any:
        return True
    if annotation is type(None):
        return value is None
    if origin is Literal:
        return value in typing.get_args(annotation)
    if origin is pulumi.Output:
        return isinstance(value, pulumi.Output)
    if origin is Awaitable:
        return inspect.isawaitable(value)
    if typing.is_typeddict(annotation) or origin in (dict, Mapping):
        return isinstance(value, Mapping)
    if origin in (list, Sequence):
        return isinstance(value, list | tuple)
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(origin, type):
        return isinstance(value, origin)
    return True


def shape_issues(args_type: type, args: Any, path: str | None = None) -> list[ConfigIssue]:
    """Unknown keys, missing required keys and wrongly typed values of `args` against the TypedDict."""
    return list(_check(args, args_type, path or args_type.__name__))


def _check(value: Any, annotation: Any, path: str) -> Iterator[ConfigIssue]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = typing.get_args(annotation)
        matching = [m for m in members if _type_ok(value, m)]
        if not matching:
            yield _wrong_type(value, annotation, path)
            return
        # A value of a container member is checked inside that member (the first that fits).
        yield from _check(value, matching[0], path)
        return
    if not _type_ok(value, annotation):
        yield _wrong_type(value, annotation, path)
        return
    if typing.is_typeddict(annotation):
        yield from _check_mapping(value, annotation, path)
    elif origin in (list, Sequence):
        (item,) = typing.get_args(annotation) or (Any,)
        for i, element in enumerate(value):
            yield from _check(element, item, f"{path}[{i}]")
    elif origin in (dict, Mapping):
        key_type, item = typing.get_args(annotation) or (Any, Any)
        for key, element in value.items():
            if not _type_ok(key, key_type):
                yield ConfigIssue(
                    f"{path}[{key!r}]", f"the key is {_describe(type(key))}", f"use {_describe(key_type)}"
                )
            else:
                yield from _check(element, item, f"{path}[{key!r}]")


def _check_mapping(value: Mapping[str, Any], typed_dict: Any, path: str) -> Iterator[ConfigIssue]:
    hints = typing.get_type_hints(typed_dict)
    for key in value:
        if key not in hints:
            yield ConfigIssue(f"{path}.{key}", "is not a known key", did_you_mean(str(key), hints))
    for key in sorted(typed_dict.__required_keys__ - set(value)):
        yield ConfigIssue(f"{path}.{key}", "is required but missing", f"pass `{key}` ({_describe(hints[key])})")
    for key, element in value.items():
        if key in hints:
            yield from _check(element, hints[key], f"{path}.{key}")


def _wrong_type(value: Any, annotation: Any, path: str) -> ConfigIssue:
    got = "a resource output" if isinstance(value, pulumi.Output) else f"{value!r} ({type(value).__name__})"
    return ConfigIssue(path, f"is {got}, not {_describe(annotation)}", f"pass {_describe(annotation)}")


# --- the values, through a fragment of the stack config ----------------------------------------------


@dataclass
class Fragment:
    """The stack config a component's args correspond to, and where each config path came from.

    `raw` is `FactorySpec` input (config keys, camelCase); `paths` maps a config path (and everything
    under it) to the arg path that supplied it; `rules` are the spec's cross-field rules that judge
    what the fragment holds.
    """

    component: str
    raw: dict[str, Any]
    rules: Sequence[Rule] = ()
    paths: dict[str, str] = field(default_factory=dict)

    def arg(self, config: str, arg: str) -> None:
        """Issues at `config` (or under it) are reported at `arg` ("" for the args as a whole)."""
        self.paths[config] = f"{self.component}.{arg}" if arg else self.component

    def fields(
        self, model: type[BaseModel], config: str, arg_prefix: str, args: Mapping[str, Any], names: Mapping[str, str]
    ) -> dict[str, Any]:
        """The model's config keys for the args in `names` (arg key -> model field) that are given as
        plain values, each mapped back to its arg."""
        raw: dict[str, Any] = {}
        for key, name in names.items():
            if key in args and args[key] is not None and not holds_output(args[key]):
                raw[alias(model, name)] = args[key]
            self.arg(f"{config}.{alias(model, name)}", f"{arg_prefix}{key}")
        return raw


def alias(model: type[BaseModel], name: str) -> str:
    """The config key of a model field (`root_volume_gib` -> `rootVolumeGiB`)."""
    return model.model_fields[name].alias or name


def placeholder_fleet() -> dict[str, Any]:
    return {"name": "placeholder", "instanceType": PLACEHOLDER_INSTANCE_TYPE, "count": 1}


def fragment_issues(fragment: Fragment) -> list[ConfigIssue]:
    """The spec's model and rule issues of the fragment, each at the arg path that supplied the value."""
    issues: list[ConfigIssue] = []
    raw = fragment.raw
    try:
        spec = FactorySpec.model_validate(raw)
    except ValidationError as exc:
        issues += _one_per_union(exc.errors())
        failed = [_clean_loc(tuple(err["loc"])) for err in exc.errors()]
        repaired = _repaired(raw, failed)
        if repaired is None:
            return _at_args(issues, fragment)
        failed_paths = [i.path for i in issues]
        rule_issues = [i for rule in fragment.rules for i in rule(repaired)]
        # A rule cannot judge a value the model refused (it saw the stand-in).
        issues += [i for i in rule_issues if not any(_under(i.path, p) for p in failed_paths)]
        return _at_args(issues, fragment)
    issues += [i for rule in fragment.rules for i in rule(spec)]
    return _at_args(issues, fragment)


_STAND_INS: dict[str, Any] = {
    "count": 1,
    "instanceType": PLACEHOLDER_INSTANCE_TYPE,
    "name": "placeholder",
    "namespace": "placeholder",
    "gpuQuota": 0,
}
"""Values of required config keys put in place of a refused one so the rules can judge the rest."""


def _repaired(raw: dict[str, Any], failed: Iterable[tuple[int | str, ...]]) -> FactorySpec | None:
    """The fragment with every refused value left out (or replaced by a stand-in where it is required).

    A refused list element takes its list with it (the indices of the rest stay as the args gave them).
    """
    repaired = copy.deepcopy(raw)
    pending = list(failed)
    for _ in range(3):
        for loc in pending:
            _drop(repaired, loc)
        try:
            return FactorySpec.model_validate(repaired)
        except ValidationError as exc:
            pending = [_clean_loc(tuple(err["loc"])) for err in exc.errors()]
    return None


def _drop(raw: dict[str, Any], loc: tuple[int | str, ...]) -> None:
    while loc:
        parent: Any = raw
        for part in loc[:-1]:
            try:
                parent = parent[part]
            except (KeyError, IndexError, TypeError):
                return
        key = loc[-1]
        if isinstance(parent, dict) and isinstance(key, str):
            if key in _STAND_INS and parent.get(key) != _STAND_INS[key]:
                parent[key] = _STAND_INS[key]
            else:
                parent.pop(key, None)
            return
        loc = loc[:-1]


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith((prefix + ".", prefix + "["))


def _at_args(issues: Iterable[ConfigIssue], fragment: Fragment) -> list[ConfigIssue]:
    """Issues with their config path replaced by the arg path (longest known prefix), each once."""
    prefixes = sorted(fragment.paths, key=len, reverse=True)
    seen: set[tuple[str, str]] = set()
    result: list[ConfigIssue] = []
    for issue in issues:
        path = issue.path
        for prefix in prefixes:
            if _under(path, prefix):
                path = fragment.paths[prefix] + path[len(prefix) :]
                break
        if (path, issue.problem) in seen:
            continue
        seen.add((path, issue.problem))
        result.append(replace(issue, path=path, fix=_arg_names_in(issue.fix, fragment)))
    return result


def _arg_names_in(fix: str, fragment: Fragment) -> str:
    """A fix that names a config key (`` `reservationId: cr-…` ``) names the arg instead."""
    for config, arg in fragment.paths.items():
        key = re.split(r"[.\[]", config.rsplit(".", 1)[-1])[0]
        name = arg.rsplit(".", 1)[-1]
        if key and not key.startswith("aifactory:") and key != name:
            fix = re.sub(rf"`{re.escape(key)}\b", f"`{name}", fix)
    return fix


# --- checks the spec derives instead of taking as a key -----------------------------------------------


def partition_issues(component: str, region: Any, partition: Any) -> list[ConfigIssue]:
    """A partition the region is not in. A stack never sets it (the spec derives it from `aws:region`,
    AWS General Reference, "AWS partitions"); a component that takes both must get a matching pair."""
    if not isinstance(partition, str):
        return []
    if partition not in partitions():
        return [
            ConfigIssue(
                f"{component}.partition",
                f"'{partition}' is not an AWS partition",
                did_you_mean(partition, partitions()),
            )
        ]
    expected = partition_of(region) if isinstance(region, str) else None
    if expected is not None and expected != partition:
        return [
            ConfigIssue(
                f"{component}.partition",
                f"'{partition}' is not the partition of region {region} ('{expected}')",
                f"pass `partition: {expected}` or leave it out where it defaults",
            )
        ]
    return []


def kms_arn_issues(component: str, key: str, arn: Any, partition: str, region: str | None) -> list[ConfigIssue]:
    """A plain key ARN is judged as `sovereignty.kmsKeyArn` is (`spec/aws_values.py`); an output is not
    known yet and is left to AWS."""
    if not isinstance(arn, str) or region is None:
        return []
    found = kms_key_arn_problem(arn, partition, region)
    return [] if found is None else [ConfigIssue(f"{component}.{key}", found.problem, found.fix)]


def choice_issues(component: str, key: str, value: Any, choices: Sequence[str]) -> list[ConfigIssue]:
    """A string arg that must be one of `choices` (the component's own modes, not a stack key)."""
    if not isinstance(value, str) or value in choices:
        return []
    return [ConfigIssue(f"{component}.{key}", f"'{value}' is not allowed", did_you_mean(value, choices))]


def validate_component_args(
    args_type: type,
    args: Any,
    values: Callable[[Mapping[str, Any], set[str]], list[ConfigIssue]] | None = None,
) -> None:
    """Raise `ComponentArgsError` with every shape and value problem of `args`, or return.

    `values(args, bad)` returns the value issues; `bad` holds the top-level keys whose shape is wrong
    (or that are missing), which it must not read.
    """
    component = args_type.__name__
    issues = shape_issues(args_type, args)
    if not isinstance(args, Mapping):
        raise ComponentArgsError(issues)
    bad = {issue.path.removeprefix(component + ".").split(".")[0].split("[")[0] for issue in issues}
    if values is not None:
        issues += values(args, bad)
    errors = [i for i in issues if not i.is_warning]
    if errors:
        raise ComponentArgsError(issues)
    for issue in issues:
        pulumi.log.warn(str(issue))


def usable(args: Mapping[str, Any], bad: set[str], key: str) -> bool:
    """The arg is given, well-shaped and a plain value (an output cannot be judged at plan time)."""
    return key in args and key not in bad and not holds_output(args[key])


# --- the fragments of each component -------------------------------------------------------------------

FLEET_SCHEDULERS = ("none", "kubernetes", "slurm")
"""`GpuFleetArgs.scheduler`: autoscaling groups, EKS managed node groups or Slurm (fleet.py)."""

_PLACEHOLDER_REGION = "us-east-1"
"""`FactorySpec.region` of a fragment whose component takes no region; no rule that reads it is run."""


def gpu_fleet_issues(args: Mapping[str, Any], bad: set[str]) -> list[ConfigIssue]:
    """`GpuFleetArgs` as one fleet of a stack config: its `count` is the domains' nodes added up (each
    domain's `nodes` judged as a fleet count), with the args' instance type, capacity, AMI and root volume."""
    from .spec.model import Capacity, Fleet
    from .spec.rules import fleet_capacity_consistent, fleet_efa_types_capable, fleet_instance_types_known

    component = "GpuFleetArgs"
    # The fleet attaches the full EFA layout on every node (`planning.efa_layout.efa_interfaces`), so it
    # is judged as a stack fleet with `efa: true`.
    f = Fragment(
        component,
        {"region": _PLACEHOLDER_REGION, "profile": "commercial"},
        rules=(fleet_instance_types_known, fleet_efa_types_capable, fleet_capacity_consistent),
    )
    plain = {k: v for k, v in args.items() if usable(args, bad, k)}
    base = "aifactory:fleets[0]"
    fleet: dict[str, Any] = {"name": "fleet", "instanceType": PLACEHOLDER_INSTANCE_TYPE, "count": 1, "efa": True}
    fleet.update(
        f.fields(
            Fleet,
            base,
            "",
            plain,
            {"instance_type": "instance_type", "ami_id": "ami_id", "root_volume_gib": "root_volume_gib"},
        )
    )
    capacity = f.fields(
        Capacity,
        f"{base}.capacity",
        "",
        plain,
        {"capacity_type": "type", "reservation_id": "reservation_id", "capacity_block_end": "end_time"},
    )
    f.arg(f"{base}.capacity", "capacity_type")
    if capacity:
        fleet["capacity"] = capacity
    issues: list[ConfigIssue] = []
    domains = plain.get("domains")
    if isinstance(domains, list):
        if not domains:
            issues.append(ConfigIssue(f"{component}.domains", "is empty", "pass at least one placement domain"))
        counts = [_domain_nodes_issue(component, i, d.get("nodes")) for i, d in enumerate(domains)]
        issues += [i for i in counts if i is not None]
        if domains and not any(counts):
            fleet["count"] = sum(d["nodes"] for d in domains)
        f.arg(f"{base}.count", "domains")
    f.raw["fleets"] = [fleet]
    issues += fragment_issues(f)
    # The version names the cluster the nodes join: only EKS nodes have one.
    if plain.get("scheduler") == "kubernetes" and usable(args, bad, "kubernetes_version"):
        issues += _kubernetes_version_issues(component, "kubernetes_version", args["kubernetes_version"])
    issues += choice_issues(component, "scheduler", plain.get("scheduler"), FLEET_SCHEDULERS)
    issues += partition_issues(component, None, plain.get("partition"))
    return issues


@functools.cache
def _count_adapter() -> TypeAdapter[int]:
    from .spec.model import Fleet

    return TypeAdapter(typing.Annotated[int, *Fleet.model_fields["count"].metadata])


def _domain_nodes_issue(component: str, index: int, nodes: Any) -> ConfigIssue | None:
    """A domain's node count with the constraints of the stack's `fleets[].count` (spec `Fleet.count`)."""
    from .spec.loading import _issue_from_pydantic

    try:
        _count_adapter().validate_python(nodes)
    except ValidationError as exc:
        issue = _issue_from_pydantic(exc.errors()[0])
        return replace(issue, path=f"{component}.domains[{index}].nodes")
    return None


def _kubernetes_version_issues(component: str, key: str, version: Any) -> list[ConfigIssue]:
    from .spec.kubernetes_rules import version_offered

    f = Fragment(
        component,
        {
            "region": _PLACEHOLDER_REGION,
            "profile": "commercial",
            "fleets": [placeholder_fleet()],
            "scheduler": {"kind": "kubernetes", "version": version},
        },
        rules=(version_offered,),
    )
    f.arg("aifactory:scheduler.version", key)
    return fragment_issues(f)


def _region_rules(region: Any) -> tuple[Rule, ...]:
    """`region_is_known`, and the rules that read the region only when it is one (as `check_spec`)."""
    from .catalog.regions import all_regions
    from .spec.rules import region_is_known

    return (region_is_known,) if region not in all_regions() else ()


def factory_network_issues(args: Mapping[str, Any], bad: set[str]) -> list[ConfigIssue]:
    """`FactoryNetworkArgs` as `aws:region` and `aifactory:network` (CIDR, zones of the region, egress)."""
    from .catalog.regions import all_regions
    from .spec.model import Network
    from .spec.rules import region_is_known, zones_in_region

    component = "FactoryNetworkArgs"
    plain = {k: v for k, v in args.items() if usable(args, bad, k)}
    region = plain.get("region")
    known = region in all_regions()
    f = Fragment(
        component,
        {"region": region if isinstance(region, str) else _PLACEHOLDER_REGION, "profile": "commercial"},
        # Zones are judged against a known region only, as `check_spec` does.
        rules=(region_is_known, zones_in_region) if known else (region_is_known,) if "region" in plain else (),
    )
    f.arg(REGION_KEY, "region")
    f.raw["fleets"] = [placeholder_fleet()]
    f.raw["network"] = f.fields(
        Network,
        "aifactory:network",
        "",
        plain,
        {"cidr": "cidr", "availability_zones": "availability_zones", "egress": "egress"},
    )
    issues = fragment_issues(f)
    issues += partition_issues(component, region, plain.get("partition"))
    if known:
        partition = plain.get("partition") or partition_of(str(region)) or "aws"
        issues += kms_arn_issues(component, "kms_key_arn", plain.get("kms_key_arn"), partition, region)
    return issues


def parallel_filesystem_issues(args: Mapping[str, Any], bad: set[str]) -> list[ConfigIssue]:
    """`ParallelFilesystemArgs` as `aws:region` and `aifactory:storage`, judged by the storage rules."""
    from .catalog.regions import all_regions
    from .spec.storage import CheckpointTarget, StorageSpec
    from .spec.storage_rules import STORAGE_RULES

    component = "ParallelFilesystemArgs"
    plain = {k: v for k, v in args.items() if usable(args, bad, k)}
    region = plain.get("region")
    known = region in all_regions()
    f = Fragment(
        component,
        {
            "region": region if isinstance(region, str) else _PLACEHOLDER_REGION,
            "profile": "commercial",
            "fleets": [placeholder_fleet()],
        },
        rules=(*_region_rules(region), *(STORAGE_RULES if known else ())) if "region" in plain else (),
    )
    f.arg(REGION_KEY, "region")
    f.arg("aifactory:storage", "")
    storage = f.fields(
        StorageSpec,
        "aifactory:storage",
        "",
        plain,
        {
            "capacity_tib": "capacity_tib",
            "throughput_gbps": "throughput_gbps",
            "efa_enabled": "efa_enabled",
            "deployment_type": "deployment_type",
            "s3_import_path": "s3_import_path",
            "s3_export_path": "s3_export_path",
            "create_bucket": "create_bucket",
            "backup_retention_days": "backup_retention_days",
            "mount_path": "mount_path",
            "quota_gib": "quota_gib",
        },
    )
    checkpoint = f.fields(
        CheckpointTarget,
        f"aifactory:storage.{alias(StorageSpec, 'checkpoint')}",
        "",
        plain,
        {"checkpoint_size_tb": "size_tb", "checkpoint_seconds": "seconds"},
    )
    f.arg(f"aifactory:storage.{alias(StorageSpec, 'checkpoint')}", "checkpoint_size_tb")
    if checkpoint:
        storage[alias(StorageSpec, "checkpoint")] = checkpoint
    f.raw["storage"] = storage
    # The stand-in fleet is no fleet of this file system's: only issues about the storage and region count.
    issues = [
        i for i in fragment_issues(f) if i.path.startswith(component) and not i.path.startswith(f"{component}.fleets")
    ]
    issues += partition_issues(component, region, plain.get("partition"))
    if known:
        partition = plain.get("partition") or partition_of(str(region)) or "aws"
        issues += kms_arn_issues(component, "kms_key_arn", plain.get("kms_key_arn"), partition, region)
    return issues


NODE_GROUP_FLEET_KEYS = {
    "instance_type": "instance_type",
    "nodes": "count",
    "labels": "labels",
    "taints": "taints",
    "efa": "efa",
}
"""`NodeGroupArgs` keys that are fleet keys of the stack config (arg key -> `Fleet` field)."""


def _node_group_fleets(f: Fragment, groups: Any, prefix: str) -> tuple[list[dict[str, Any]], bool]:
    """One spec fleet per node group (name, type, nodes, labels, taints, EFA, capacity type)."""
    from .spec.model import Capacity, Fleet

    if not isinstance(groups, list) or not groups:
        return [placeholder_fleet()], False
    fleets: list[dict[str, Any]] = []
    for i, group in enumerate(groups):
        if not isinstance(group, Mapping):
            return [placeholder_fleet()], False
        base = f"aifactory:fleets[{i}]"
        fleet: dict[str, Any] = {"name": "placeholder", "instanceType": PLACEHOLDER_INSTANCE_TYPE, "count": 1}
        if isinstance(group.get("fleet"), str):
            fleet["name"] = group["fleet"]
        f.arg(f"{base}.name", f"{prefix}[{i}].fleet")
        fleet.update(f.fields(Fleet, base, f"{prefix}[{i}].", group, NODE_GROUP_FLEET_KEYS))
        capacity = f.fields(Capacity, f"{base}.capacity", f"{prefix}[{i}].", group, {"capacity_type": "type"})
        if capacity:
            fleet["capacity"] = capacity
        fleets.append(fleet)
    return fleets, True


def kubernetes_scheduler_issues(args: Mapping[str, Any], bad: set[str]) -> list[ConfigIssue]:
    """`KubernetesSchedulerArgs` as `aifactory:scheduler` (`kind: kubernetes`) over fleets made of its node
    groups, judged by the Kubernetes rules."""
    from .catalog.regions import all_regions
    from .spec.kubernetes_rules import KUBERNETES_RULES, queue_fleets_known
    from .spec.rules import fleet_efa_types_capable, fleet_instance_types_known
    from .spec.scheduler import KubernetesScheduler, Queue

    component = "KubernetesSchedulerArgs"
    plain = {k: v for k, v in args.items() if usable(args, bad, k)}
    region = plain.get("region")
    f = Fragment(
        component,
        {"region": region if isinstance(region, str) else _PLACEHOLDER_REGION, "profile": "commercial"},
    )
    f.arg(REGION_KEY, "region")
    fleets, real = _node_group_fleets(f, plain.get("node_groups"), "node_groups")
    f.raw["fleets"] = fleets
    scheduler: dict[str, Any] = {"kind": "kubernetes"}
    scheduler.update(
        f.fields(
            KubernetesScheduler,
            "aifactory:scheduler",
            "",
            plain,
            {
                "version": "version",
                "endpoint": "endpoint",
                "public_access_cidrs": "public_access_cidrs",
                "priorities": "priorities",
                "charts": "charts",
            },
        )
    )
    if plain.get("sovereign") is True:
        # `sovereign`: the endpoint is private whatever `endpoint` says (KubernetesSchedulerArgs).
        scheduler["endpoint"] = "private"
    queues = plain.get("queues")
    if isinstance(queues, list):
        scheduler["queues"] = [
            f.fields(
                Queue,
                f"aifactory:scheduler.queues[{i}]",
                f"queues[{i}].",
                queue,
                {k: k for k in ("name", "namespace", "gpu_quota", "borrowing_limit", "cohort", "fleets")},
            )
            for i, queue in enumerate(queues)
        ]
        f.arg("aifactory:scheduler.queues", "queues")
    f.raw["scheduler"] = scheduler
    rules: list[Rule] = list(_region_rules(region)) if "region" in plain else []
    if region in all_regions() or "region" not in plain:
        rules += [r for r in KUBERNETES_RULES if real or r is not queue_fleets_known]
        if real:
            rules += [fleet_instance_types_known, fleet_efa_types_capable]
    f.rules = rules
    issues = [i for i in fragment_issues(f) if not i.path.startswith("aifactory:fleets")]
    issues += partition_issues(component, region, plain.get("partition"))
    if region in all_regions():
        partition = plain.get("partition") or partition_of(str(region)) or "aws"
        issues += kms_arn_issues(component, "kms_key_arn", plain.get("kms_key_arn"), partition, region)
    return issues


def kubernetes_node_groups_issues(args: Mapping[str, Any], bad: set[str]) -> list[ConfigIssue]:
    """`KubernetesNodeGroupsArgs.groups` as fleets of the stack config (type, nodes, labels, taints, EFA)."""
    from .spec.kubernetes_rules import fleet_labels_fit_eks
    from .spec.rules import fleet_efa_types_capable, fleet_instance_types_known

    component = "KubernetesNodeGroupsArgs"
    plain = {k: v for k, v in args.items() if usable(args, bad, k)}
    f = Fragment(component, {"region": _PLACEHOLDER_REGION, "profile": "commercial"})
    fleets, real = _node_group_fleets(f, plain.get("groups"), "groups")
    f.raw["fleets"] = fleets
    f.raw["scheduler"] = {"kind": "kubernetes"}
    f.rules = (fleet_instance_types_known, fleet_efa_types_capable, fleet_labels_fit_eks) if real else ()
    return [i for i in fragment_issues(f) if not i.path.startswith("aifactory:")]


def slurm_scheduler_issues(args: Mapping[str, Any], bad: set[str]) -> list[ConfigIssue]:
    """`SlurmSchedulerArgs` as `aws:region`, `network.egress`, `aifactory:scheduler` (`kind: slurm`:
    version, accounting) and the head's pinned image, plus the cluster name's rule."""
    from .catalog.regions import all_regions
    from .spec.images import SLURM_HEAD_KEY, images_well_formed
    from .spec.model import Network
    from .spec.slurm_rules import slurm_version_supported
    from .spec.syntax import slurm_cluster_name_issue

    component = "SlurmSchedulerArgs"
    plain = {k: v for k, v in args.items() if usable(args, bad, k)}
    region = plain.get("region")
    f = Fragment(
        component,
        {
            "region": region if isinstance(region, str) else _PLACEHOLDER_REGION,
            "profile": "commercial",
            "fleets": [placeholder_fleet()],
        },
        rules=(*(_region_rules(region) if "region" in plain else ()), slurm_version_supported, images_well_formed),
    )
    f.arg(REGION_KEY, "region")
    f.raw["network"] = f.fields(Network, "aifactory:network", "", plain, {"egress": "egress"})
    scheduler: dict[str, Any] = {"kind": "slurm", "partitions": [{"name": "placeholder", "fleets": ["placeholder"]}]}
    if "version" in plain:
        scheduler["version"] = plain["version"]
    f.arg("aifactory:scheduler.version", "version")
    if isinstance(plain.get("accounting"), bool):
        scheduler["accounting"] = "slurmdbd" if plain["accounting"] else "none"
    f.arg("aifactory:scheduler.accounting", "accounting")
    f.raw["scheduler"] = scheduler
    if isinstance(plain.get("head_ami_id"), str):
        f.raw["images"] = {SLURM_HEAD_KEY: plain["head_ami_id"]}
    f.arg(f"aifactory:images.{SLURM_HEAD_KEY}", "head_ami_id")
    issues = fragment_issues(f)
    if isinstance(plain.get("cluster_name"), str):
        found = slurm_cluster_name_issue(plain["cluster_name"])
        if found is not None:
            issues.append(
                replace(found, path=f"{component}.cluster_name", fix="pass a lowercase DNS label such as slurm-eu")
            )
    issues += partition_issues(component, region, plain.get("partition"))
    if region in all_regions():
        partition = plain.get("partition") or partition_of(str(region)) or "aws"
        issues += kms_arn_issues(component, "kms_key_arn", plain.get("kms_key_arn"), partition, region)
    return issues


def config_issues_at_args(error: ConfigError, component: str = "AiFactoryArgs") -> ComponentArgsError:
    """A stack-config error of `AiFactory`'s `region` and `config` args, at the arg paths."""
    moved = []
    for issue in error.issues:
        if issue.path == REGION_KEY:
            path = f"{component}.region"
        elif issue.path.startswith("aifactory:"):
            path = f"{component}.config." + issue.path.removeprefix("aifactory:")
        else:
            path = issue.path
        moved.append(replace(issue, path=path))
    return ComponentArgsError(moved)
