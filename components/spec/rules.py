"""Cross-field rules of the stack config: pure functions, each returning the issues it finds.

Every rule is exported and tested with bad input; `loading.check_spec` runs them all. Rules that need
a planner (placement, sizing, subnets, quotas) live in `planning.feasibility`, not here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from ..catalog.instance_types import instance_types
from ..catalog.regions import (
    all_regions,
    availability_zones,
    offered_in_region,
    partition_of,
    partitions,
    regions_offering,
    zones_offering,
)
from .errors import ConfigIssue, config_path, did_you_mean

if TYPE_CHECKING:
    from .model import FactorySpec

Rule = Callable[["FactorySpec"], Iterable[ConfigIssue]]

DNS_LABEL = re.compile(r"^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$")


def region_is_known(spec: FactorySpec) -> Iterator[ConfigIssue]:
    if spec.region not in all_regions():
        yield ConfigIssue(
            "aws:region", f"'{spec.region}' is not an AWS region", did_you_mean(spec.region, all_regions())
        )


def sovereign_needs_sovereignty(spec: FactorySpec) -> Iterator[ConfigIssue]:
    if spec.sovereign and spec.sovereignty is None:
        yield ConfigIssue(
            config_path("sovereignty"),
            "is required for the sovereign profile",
            "add `sovereignty` with `allowedRegions` and `registryMirror`",
        )


def sovereign_region_allowed(spec: FactorySpec) -> Iterator[ConfigIssue]:
    sov = spec.sovereignty
    if not spec.sovereign or sov is None:
        return
    for i, region in enumerate(sov.allowed_regions):
        if region not in all_regions():
            yield ConfigIssue(
                config_path("sovereignty", "allowedRegions", i),
                f"'{region}' is not an AWS region",
                did_you_mean(region, all_regions()),
            )
    if spec.region not in sov.allowed_regions:
        yield ConfigIssue(
            "aws:region",
            f"'{spec.region}' is outside sovereignty.allowedRegions {sov.allowed_regions}",
            "deploy to an allowed region or add this region to `aifactory:sovereignty.allowedRegions`",
        )
    if sov.allowed_partitions is not None:
        for i, name in enumerate(sov.allowed_partitions):
            if name not in partitions():
                yield ConfigIssue(
                    config_path("sovereignty", "allowedPartitions", i),
                    f"'{name}' is not an AWS partition",
                    did_you_mean(name, partitions()),
                )
        if partition_of(spec.region) not in sov.allowed_partitions:
            yield ConfigIssue(
                "aws:region",
                f"'{spec.region}' is in partition '{partition_of(spec.region)}', outside "
                f"sovereignty.allowedPartitions {sov.allowed_partitions}",
                "deploy to a region of an allowed partition or extend `allowedPartitions`",
            )
    if sov.kms_key_arn is not None and not sov.kms_key_arn.startswith(f"arn:{spec.partition}:kms:{spec.region}:"):
        yield ConfigIssue(
            config_path("sovereignty", "kmsKeyArn"),
            f"'{sov.kms_key_arn}' is not a KMS key ARN in {spec.partition}/{spec.region}",
            f"use a key in the stack's region: arn:{spec.partition}:kms:{spec.region}:<account>:key/<id>",
        )


def repeated_names(
    names: Iterable[str], collection: str, path: Callable[[int], str], fix: str
) -> Iterator[ConfigIssue]:
    """An issue for every name that an earlier entry of `collection` already uses."""
    first: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in first:
            yield ConfigIssue(path(i), f"'{name}' is already used by {collection}[{first[name]}]", fix)
        first.setdefault(name, i)


def fleet_names_unique_and_dns_safe(spec: FactorySpec) -> Iterator[ConfigIssue]:
    for i, fleet in enumerate(spec.fleets):
        path = config_path("fleets", i, "name")
        if not DNS_LABEL.match(fleet.name):
            yield ConfigIssue(
                path,
                f"'{fleet.name}' is not DNS-safe",
                "use 1-40 lowercase letters, digits and '-', starting with a letter and not ending with '-'",
            )
    yield from repeated_names(
        (f.name for f in spec.fleets),
        "fleets",
        lambda i: config_path("fleets", i, "name"),
        "give every fleet its own name",
    )


def fleet_instance_types_known(spec: FactorySpec) -> Iterator[ConfigIssue]:
    catalog = instance_types()
    for i, fleet in enumerate(spec.fleets):
        if fleet.instance_type not in catalog:
            yield ConfigIssue(
                config_path("fleets", i, "instanceType"),
                f"'{fleet.instance_type}' is not in the hardware catalog",
                did_you_mean(fleet.instance_type, catalog),
            )


def fleet_types_offered_in_region(spec: FactorySpec) -> Iterator[ConfigIssue]:
    for i, fleet in enumerate(spec.fleets):
        if fleet.instance_type not in instance_types():
            continue
        if offered_in_region(fleet.instance_type, spec.region) is False:
            elsewhere = ", ".join(regions_offering(fleet.instance_type)) or "no region in the offering data"
            yield ConfigIssue(
                config_path("fleets", i, "instanceType"),
                f"'{fleet.instance_type}' is not offered in {spec.region}",
                f"choose another instance type or a region that offers it ({elsewhere})",
            )


def fleet_efa_types_capable(spec: FactorySpec) -> Iterator[ConfigIssue]:
    catalog = instance_types()
    capable = sorted(n for n, t in catalog.items() if t.efa_capable)
    for i, fleet in enumerate(spec.fleets):
        entry = catalog.get(fleet.instance_type)
        if entry is not None and fleet.efa and not entry.efa_capable:
            yield ConfigIssue(
                config_path("fleets", i, "instanceType"),
                f"'{fleet.instance_type}' has no EFA support but the fleet asks for EFA",
                f"choose an EFA-capable type ({', '.join(capable)}) or set `efa: false`",
            )


def fleet_capacity_consistent(spec: FactorySpec) -> Iterator[ConfigIssue]:
    for i, fleet in enumerate(spec.fleets):
        cap = fleet.capacity
        path = config_path("fleets", i, "capacity")
        reserved = cap.type in ("capacity-reservation", "capacity-block")
        if reserved and not cap.reservation_id:
            yield ConfigIssue(
                f"{path}.reservationId",
                f"capacity type '{cap.type}' needs the reservation's id",
                "set `reservationId: cr-…` (from `aws ec2 describe-capacity-reservations`)",
            )
        if not reserved and cap.reservation_id:
            yield ConfigIssue(
                f"{path}.reservationId",
                f"is set but capacity type '{cap.type}' does not use a reservation",
                "set `type: capacity-reservation` (or `capacity-block`), or remove `reservationId`",
            )
        if cap.type == "capacity-block" and cap.end_time is None:
            yield ConfigIssue(
                f"{path}.endTime",
                "a capacity block needs its end time so jobs drain before EC2 reclaims the instances",
                "set `endTime` to the block's end, e.g. 2026-12-01T11:30:00Z",
            )
        if cap.end_time is not None and cap.end_time.tzinfo is None:
            yield ConfigIssue(f"{path}.endTime", "has no time zone", "write it with a zone, e.g. 2026-12-01T11:30:00Z")
        if cap.type != "capacity-block" and cap.end_time is not None:
            yield ConfigIssue(
                f"{path}.endTime", f"only applies to capacity blocks, not '{cap.type}'", "remove `endTime`"
            )
        if cap.type == "spot" and spec.sovereign:
            yield ConfigIssue(
                f"{path}.type",
                "spot capacity is not allowed in a sovereign factory (instances can be reclaimed at any time)",
                "use on-demand, capacity-reservation or capacity-block",
            )
        if cap.type == "capacity-block" and fleet.count > 64:
            yield ConfigIssue(
                config_path("fleets", i, "count"),
                f"{fleet.count} nodes exceed one capacity block (at most 64 instances)",
                "split the fleet into fleets of at most 64 nodes, one per capacity block",
            )


def zones_in_region(spec: FactorySpec) -> Iterator[ConfigIssue]:
    known = availability_zones(spec.region)

    def bad(zone: str) -> str | None:
        if known is not None:
            return None if zone in known else did_you_mean(zone, known)
        pattern = re.escape(spec.region) + r"[a-z]$"
        return None if re.match(pattern, zone) else f"use a zone of {spec.region}, e.g. {spec.region}a"

    for i, zone in enumerate(spec.network.availability_zones or []):
        fix = bad(zone)
        if fix:
            yield ConfigIssue(
                config_path("network", "availabilityZones", i), f"'{zone}' is not an AZ of {spec.region}", fix
            )
    for i, fleet in enumerate(spec.fleets):
        if fleet.availability_zone is None:
            continue
        path = config_path("fleets", i, "availabilityZone")
        fix = bad(fleet.availability_zone)
        if fix:
            yield ConfigIssue(path, f"'{fleet.availability_zone}' is not an AZ of {spec.region}", fix)
            continue
        offering = zones_offering(fleet.instance_type, spec.region)
        if offering and fleet.availability_zone not in offering:
            yield ConfigIssue(
                path,
                f"'{fleet.instance_type}' is not offered in {fleet.availability_zone}",
                f"use one of the zones that offer it: {', '.join(offering)}",
            )
        if spec.network.availability_zones and fleet.availability_zone not in spec.network.availability_zones:
            yield ConfigIssue(
                path,
                f"'{fleet.availability_zone}' has no subnet (not in network.availabilityZones)",
                "add the zone to `aifactory:network.availabilityZones` or move the fleet",
            )


def unknown_fleet_references(spec: FactorySpec, references: Iterable[tuple[str, str, str]]) -> Iterator[ConfigIssue]:
    """Issues for (config path, referring object, fleet name) references to fleets that do not exist."""
    names = [f.name for f in spec.fleets]
    for path, referrer, fleet in references:
        if fleet not in names:
            yield ConfigIssue(
                path, f"{referrer} names fleet '{fleet}', which is not in aifactory:fleets", did_you_mean(fleet, names)
            )


FOUNDATION_RULES: tuple[Rule, ...] = (
    region_is_known,
    sovereign_needs_sovereignty,
    sovereign_region_allowed,
    fleet_names_unique_and_dns_safe,
    fleet_instance_types_known,
    fleet_types_offered_in_region,
    fleet_efa_types_capable,
    fleet_capacity_consistent,
    zones_in_region,
)
