"""Rules for where an EC2 fleet's nodes go: its capacity, its placement group, its GPU power limit.

On AWS placement is a capacity choice made per fleet (the reservation or capacity block itself, one
cluster placement group, or a partition placement group a user asks for), never a site power figure.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..catalog.instance_types import instance_types
from .aws_values import Problem
from .errors import ConfigIssue, config_path
from .model import GPU_POWER_LIMIT_REASONS, Fleet
from .rules import Rule
from .site_rules import power_limit_issues

if TYPE_CHECKING:
    from .model import FactorySpec

# EC2 user guide, "Placement group rules and limitations" (partition placement groups): a partition
# placement group has at most seven partitions per Availability Zone.
MAX_PARTITIONS = 7

# EC2 API reference, CreatePlacementGroup: GroupName is "up to 255 ASCII characters". Control
# characters and white space are refused as well: the name lands in a launch template and in logs.
_GROUP_NAME = re.compile(r"^[\x21-\x7e]{1,255}\Z")
# Service Authorization Reference, "Actions, resources, and condition keys for Amazon EC2", resource
# type placement-group: arn:${Partition}:ec2:${Region}:${Account}:placement-group/${PlacementGroupName}.
_GROUP_ARN = re.compile(
    r"^arn:(?P<partition>[^:]+):ec2:(?P<region>[^:]+):(?P<account>[^:]*):placement-group/(?P<name>.*)\Z"
)
_ACCOUNT = re.compile(r"^\d{12}\Z")

# EC2 user guide, "Placement group rules and limitations" (cluster placement groups): supported are
# current-generation instance types except burstable performance instances (T2, T3, T3a, T4g), Mac1
# and M7i-flex, plus a list of previous-generation types. Every type in the catalog is current
# generation; this names the families a cluster group refuses.
_NO_CLUSTER_FAMILIES = ("t2", "t3", "t3a", "t4g", "mac1", "m7i-flex")

RESERVED = ("capacity-reservation", "capacity-block")


def cluster_placement_problem(instance_type: str) -> str | None:
    """Why `instance_type` cannot launch into a cluster placement group, or None."""
    family = instance_type.split(".", 1)[0]
    if family in _NO_CLUSTER_FAMILIES:
        return f"'{instance_type}' cannot launch into a cluster placement group (burstable, Mac1 and M7i-flex cannot)"
    return None


def placement_group_problem(value: str, partition: str, region: str) -> Problem | None:
    """What is wrong with `value` as the name or ARN of a placement group in the stack's partition and region."""
    example = f"a name, or arn:{partition}:ec2:{region}:<12-digit account>:placement-group/<name>"
    if value.startswith("arn:"):
        match = _GROUP_ARN.match(value)
        if match is None:
            return Problem(f"'{value}' is not a placement group ARN", f"write {example}")
        if (match["partition"], match["region"]) != (partition, region):
            return Problem(
                f"'{value}' is a placement group in {match['partition']}/{match['region']}, "
                f"the stack in {partition}/{region}",
                "a reservation and its placement group are in the fleet's zone: use the group in the stack's region",
            )
        if not _ACCOUNT.match(match["account"]):
            return Problem(f"'{value}' has account '{match['account']}', not 12 digits", f"write {example}")
        value = match["name"]
    if not _GROUP_NAME.match(value):
        return Problem(
            f"'{value}' is not a placement group name (1-255 printable ASCII characters, no spaces)",
            f"copy the group's name or ARN from `aws ec2 describe-placement-groups`: {example}",
        )
    return None


def is_placement_group_name(value: object) -> bool:
    """A placement group name EC2 accepts (CreatePlacementGroup GroupName, above)."""
    return isinstance(value, str) and bool(_GROUP_NAME.match(value))


def placement_group_name(value: str) -> str:
    """The group name of a valid name or ARN (`placement_group_problem` returned None)."""
    match = _GROUP_ARN.match(value)
    return match["name"] if match is not None else value


def _ec2_fleets(spec: FactorySpec) -> Iterator[tuple[int, Fleet]]:
    """The EC2 fleets (placed on AWS in a data-hall stack too; hybrid fleets are no EC2 instances)."""
    for i, fleet in enumerate(spec.fleets):
        if fleet.kind == "ec2":
            yield i, fleet


def fleet_placement_valid(spec: FactorySpec) -> Iterator[ConfigIssue]:
    for i, fleet in enumerate(spec.fleets):
        place = fleet.placement
        path = config_path("fleets", i, "placement")
        if fleet.kind == "hybrid":
            if place is not None:
                yield ConfigIssue(
                    path,
                    "only applies to EC2 fleets; a data hall's racks are the placement of its servers",
                    "remove `placement` (use `strategy: pack` or `spread` to place across racks)",
                )
            continue
        if fleet.strategy == "spread":
            # 0.1 turned `strategy: spread` into a partition placement group; the ask is now explicit.
            yield ConfigIssue(
                config_path("fleets", i, "strategy"),
                "`spread` no longer places an EC2 fleet: on AWS a partition placement group is asked for "
                "explicitly, for fault isolation",
                "replace `strategy: spread` with `placement: {strategy: partition}` (up to 7 partitions), "
                "or remove it for one cluster placement group",
            )
        if place is None:
            continue
        if fleet.capacity.type in RESERVED:
            # EC2 user guide, "Capacity Blocks for ML": instances in a capacity block are placed close
            # together in EC2 UltraClusters; "Capacity Reservations for cluster placement groups": a
            # reservation is placed where it was created. A new group cannot hold reserved capacity.
            yield ConfigIssue(
                path,
                f"a {fleet.capacity.type} is its own placement: a new placement group cannot hold the reserved "
                "instances and launches fail with InsufficientInstanceCapacity",
                "remove `placement`; for a reservation created in a cluster placement group, set "
                "`capacity.placementGroup` to that group",
            )
            continue
        if place.strategy == "cluster" and place.partitions is not None:
            yield ConfigIssue(f"{path}.partitions", "only applies to `strategy: partition`", "remove `partitions`")
        if place.strategy == "partition" and place.partitions is not None:
            if not 1 <= place.partitions <= MAX_PARTITIONS:
                yield ConfigIssue(
                    f"{path}.partitions",
                    f"{place.partitions} partitions: a partition placement group has 1-{MAX_PARTITIONS} "
                    "per Availability Zone (EC2 user guide, placement group rules)",
                    f"use 1-{MAX_PARTITIONS} partitions",
                )
            elif place.partitions > fleet.count:
                yield ConfigIssue(
                    f"{path}.partitions",
                    f"{place.partitions} partitions for {fleet.count} nodes would leave partitions empty",
                    f"use at most {fleet.count} partitions, or more nodes",
                )


def fleet_cluster_placement_supported(spec: FactorySpec) -> Iterator[ConfigIssue]:
    """A fleet that gets a cluster placement group (asked for, or EFA on-demand/spot) must support one."""
    for i, fleet in _ec2_fleets(spec):
        if fleet.capacity.type in RESERVED or fleet.instance_type not in instance_types():
            continue
        place = fleet.placement
        cluster = place.strategy == "cluster" if place is not None else fleet.efa
        problem = cluster_placement_problem(fleet.instance_type) if cluster else None
        if problem is not None:
            yield ConfigIssue(
                config_path("fleets", i, "instanceType"),
                problem,
                "choose a current-generation, non-burstable instance type, or set `efa: false` and no `placement`",
            )


def capacity_placement_group_valid(spec: FactorySpec) -> Iterator[ConfigIssue]:
    for i, fleet in enumerate(spec.fleets):
        value = fleet.capacity.placement_group
        if value is None:
            continue
        path = config_path("fleets", i, "capacity", "placementGroup")
        if fleet.capacity.type != "capacity-reservation":
            # EC2 API reference: CreateCapacityReservation takes PlacementGroupArn (a cluster group);
            # PurchaseCapacityBlock takes none, its instances are placed in UltraClusters by EC2.
            yield ConfigIssue(
                path,
                f"only a capacity reservation is created in a cluster placement group, not '{fleet.capacity.type}'",
                "remove `placementGroup`"
                + ("" if fleet.capacity.type == "capacity-block" else ", or use `type: capacity-reservation`"),
            )
            continue
        problem = placement_group_problem(value, spec.partition, spec.region)
        if problem is not None:
            yield ConfigIssue(path, problem.problem, problem.fix)


def fleet_gpu_power_limit_valid(spec: FactorySpec) -> Iterator[ConfigIssue]:
    """On EC2 a GPU is capped only at a fixed limit a user names a reason for; bounds are a data-hall search."""
    catalog = instance_types()
    for i, fleet in enumerate(spec.fleets):
        limit = fleet.gpu_power_limit
        if fleet.kind == "hybrid":
            if limit is not None:
                yield ConfigIssue(
                    config_path("fleets", i, "gpuPowerLimit"),
                    "only applies to EC2 fleets; the servers of a data hall are capped by the planner under the "
                    "rack budget",
                    "use `gpuPowerCapW: {min, max}` to let the planner cap GPUs to fit the racks",
                )
            continue
        if fleet.gpu_power_cap_w is not None:
            bounds = fleet.gpu_power_cap_w
            yield ConfigIssue(
                config_path("fleets", i, "gpuPowerCapW"),
                "EC2 exposes no rack power budget that could force a cap, so bounds for the planner's "
                "power-cap search have nothing to fit",
                f"remove `gpuPowerCapW`; to run GPUs capped on purpose set `gpuPowerLimit: {{watts: {bounds.max}, "
                f"reason: ...}}` with one of: {', '.join(GPU_POWER_LIMIT_REASONS)}",
            )
        if limit is None or fleet.instance_type is None or (entry := catalog.get(fleet.instance_type)) is None:
            continue
        path = config_path("fleets", i, "gpuPowerLimit")
        yield from power_limit_issues(
            entry.accelerator, fleet.instance_type, path, "gpuPowerLimit", (("watts", limit.watts),)
        )


PLACEMENT_RULES: tuple[Rule, ...] = (
    fleet_placement_valid,
    fleet_cluster_placement_supported,
    capacity_placement_group_valid,
    fleet_gpu_power_limit_valid,
)
