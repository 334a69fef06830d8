"""Cross-field rules of the stack config: pure functions, each returning the issues it finds.

Every rule is exported and tested with bad input; `loading.check_spec` runs them all. Rules that need
a planner (placement, sizing, subnets, quotas) live in `planning.feasibility`, not here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, time, timedelta
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
from .aws_values import kms_key_arn_problem
from .clock import plan_time
from .errors import ConfigIssue, config_path, did_you_mean, warning
from .syntax import FLEET_NAME

if TYPE_CHECKING:
    from .model import FactorySpec

Rule = Callable[["FactorySpec"], Iterable[ConfigIssue]]


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


def kms_key_arn_usable(spec: FactorySpec) -> Iterator[ConfigIssue]:
    """`sovereignty.kmsKeyArn` (any profile): a key ARN of the stack's partition and region."""
    arn = spec.sovereignty.kms_key_arn if spec.sovereignty else None
    if arn is None:
        return
    found = kms_key_arn_problem(arn, spec.partition, spec.region)
    if found is not None:
        yield ConfigIssue(config_path("sovereignty", "kmsKeyArn"), found.problem, found.fix)


def encryption_consistent(spec: FactorySpec) -> Iterator[ConfigIssue]:
    """`encryption`: a usable key ARN, not contradicted by `customerManagedKey`, and not in sovereign stacks
    (which always have a key, configured as `sovereignty.kmsKeyArn`)."""
    enc = spec.encryption
    if spec.sovereign and enc.customer_managed_key is False:
        yield ConfigIssue(
            config_path("encryption", "customerManagedKey"),
            "a sovereign factory always encrypts with a customer-managed key",
            "remove `customerManagedKey`, or use the commercial profile",
        )
    if enc.kms_key_arn is None:
        return
    if spec.sovereign:
        yield ConfigIssue(
            config_path("encryption", "kmsKeyArn"),
            "a sovereign stack names its key in `sovereignty.kmsKeyArn`",
            "move the ARN to `aifactory:sovereignty.kmsKeyArn`",
        )
    elif enc.customer_managed_key is False:
        yield ConfigIssue(
            config_path("encryption", "kmsKeyArn"),
            "names a key while `customerManagedKey` is false",
            "remove `customerManagedKey: false` to encrypt with this key, or remove `kmsKeyArn`",
        )
    found = kms_key_arn_problem(enc.kms_key_arn, spec.partition, spec.region)
    if found is not None:
        yield ConfigIssue(config_path("encryption", "kmsKeyArn"), found.problem, found.fix)


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
        if not FLEET_NAME.match(fleet.name):
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
        if fleet.instance_type is None:  # hybrid fleets, and EC2 fleets without one (fleet_kind_rules)
            continue
        if fleet.instance_type not in catalog:
            yield ConfigIssue(
                config_path("fleets", i, "instanceType"),
                f"'{fleet.instance_type}' is not in the hardware catalog",
                did_you_mean(fleet.instance_type, catalog),
            )


def fleet_types_offered_in_region(spec: FactorySpec) -> Iterator[ConfigIssue]:
    for i, fleet in enumerate(spec.fleets):
        if fleet.instance_type is None or fleet.instance_type not in instance_types():
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
        entry = catalog.get(fleet.instance_type or "")
        if fleet.kind == "ec2" and entry is not None and fleet.efa and not entry.efa_capable:
            yield ConfigIssue(
                config_path("fleets", i, "instanceType"),
                f"'{fleet.instance_type}' has no EFA support but the fleet asks for EFA",
                f"choose an EFA-capable type ({', '.join(capable)}) or set `efa: false`",
            )


def fleet_capacity_consistent(spec: FactorySpec) -> Iterator[ConfigIssue]:
    for i, fleet in enumerate(spec.fleets):
        if fleet.kind == "hybrid":  # no EC2 capacity (fleet_kind_rules refuses the key)
            continue
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
        if cap.type == "capacity-block" and cap.end_time is not None and cap.end_time.tzinfo is not None:
            yield from _capacity_block_end(cap.end_time, f"{path}.endTime")
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


# EC2 User Guide, "Find and purchase Capacity Blocks": a block lasts 1-14 days in 1-day steps or up
# to 182 days in 7-day steps, starts at most 8 weeks ahead, and every block ends at 11:30 UTC.
CAPACITY_BLOCK_MAX_DAYS = 182
CAPACITY_BLOCK_MAX_LEAD_DAYS = 56
CAPACITY_BLOCK_END_UTC = time(11, 30)
# Instances of a block are terminated at its end, and the factory drains them 30 minutes before
# (Capacity: `endTime`); a block ending within a day leaves little of it to use.
CAPACITY_BLOCK_SOON = timedelta(hours=24)


def _capacity_block_end(end: datetime, path: str) -> Iterator[ConfigIssue]:
    now = plan_time()
    if end <= now:
        yield ConfigIssue(
            path,
            f"{end.isoformat()} is in the past (plan time {now.isoformat(timespec='seconds')}); EC2 has "
            "terminated the block's instances",
            "buy a new capacity block and set its reservationId and endTime, or use another capacity type",
        )
        return
    if end - now < CAPACITY_BLOCK_SOON:
        yield warning(
            path,
            f"the block ends within 24 hours ({end.isoformat()}); its nodes drain 30 minutes before",
            "extend the block or plan the next one before the jobs start",
        )
    horizon = now + timedelta(days=CAPACITY_BLOCK_MAX_LEAD_DAYS + CAPACITY_BLOCK_MAX_DAYS)
    if end > horizon:
        yield warning(
            path,
            f"{end.isoformat()} is more than {CAPACITY_BLOCK_MAX_LEAD_DAYS + CAPACITY_BLOCK_MAX_DAYS} days ahead; "
            f"EC2 sells blocks at most {CAPACITY_BLOCK_MAX_LEAD_DAYS} days ahead for at most "
            f"{CAPACITY_BLOCK_MAX_DAYS} days",
            "copy the block's end date from `aws ec2 describe-capacity-reservations`",
        )
    if end.astimezone(UTC).timetz().replace(tzinfo=None) != CAPACITY_BLOCK_END_UTC:
        yield warning(
            path,
            f"{end.isoformat()} is not 11:30 UTC, the time every capacity block ends",
            "copy the block's end time from `aws ec2 describe-capacity-reservations`",
        )


def zones_in_region(spec: FactorySpec) -> Iterator[ConfigIssue]:
    known = availability_zones(spec.region)

    def bad(zone: str) -> str | None:
        if known is not None:
            return None if zone in known else did_you_mean(zone, known)
        pattern = re.escape(spec.region) + r"[a-z]$"
        return None if re.match(pattern, zone) else f"use a zone of {spec.region}, e.g. {spec.region}a"

    # Each zone gets one subnet pair, named after the zone: a repeated zone would declare the same
    # resources twice.
    yield from repeated_names(
        spec.network.availability_zones or [],
        "network.availabilityZones",
        lambda i: config_path("network", "availabilityZones", i),
        "list every zone once",
    )
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
        offering = zones_offering(fleet.instance_type, spec.region) if fleet.instance_type else None
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
    kms_key_arn_usable,
    encryption_consistent,
    fleet_names_unique_and_dns_safe,
    fleet_instance_types_known,
    fleet_types_offered_in_region,
    fleet_efa_types_capable,
    fleet_capacity_consistent,
    zones_in_region,
)
