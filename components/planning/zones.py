"""Which Availability Zone each fleet and subnet uses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..catalog.hardware import fleet_hardware
from ..catalog.regions import availability_zones, zones_offering
from ..spec.errors import ConfigIssue, config_path
from ..spec.model import FactorySpec, Fleet


def default_zone(fleet: Fleet, region: str, network_zones: list[str] | None) -> str:
    """The fleet's AZ: the configured one, else the alphabetically first candidate zone that offers
    the type (by name, not list position: reordering `network.availabilityZones` moves no fleet)."""
    if fleet.availability_zone:
        return fleet.availability_zone
    candidates = sorted(network_zones or list(availability_zones(region) or [f"{region}a", f"{region}b"]))
    offering = zones_offering(fleet.instance_type, region) if fleet.instance_type else None
    if offering:
        for zone in candidates:
            if zone in offering:
                return zone
    return candidates[0]


def fleet_zones(spec: FactorySpec) -> dict[str, str]:
    """Fleet name -> AZ. EFA traffic does not cross AZs, so each fleet lives in exactly one."""
    # Hybrid fleets are the customer's servers in a data hall: no AZ.
    return {f.name: default_zone(f, spec.region, spec.network.availability_zones) for f in spec.ec2_fleets}


def network_zones(spec: FactorySpec, fleets: Mapping[str, str]) -> list[str]:
    """AZs that get subnets: the configured list, else the fleets' zones (`fleets`, from `fleet_zones`)
    padded to two (EKS needs two)."""
    if spec.network.availability_zones:
        return list(spec.network.availability_zones)
    zones = sorted(set(fleets.values()))
    for zone in availability_zones(spec.region) or (f"{spec.region}a", f"{spec.region}b"):
        if len(zones) >= 2:
            break
        if zone not in zones:
            zones.append(zone)
    return sorted(zones)


def storage_zone(spec: FactorySpec, fleets: Mapping[str, str], zones: Sequence[str]) -> tuple[str, list[ConfigIssue]]:
    """The file system's AZ and any issue with the configured one.

    FSx for Lustre lives in one subnet, so in one AZ (pulumi-aws LustreFileSystem `subnet_ids`: one
    subnet, replace-on-change: Terraform AWS provider `aws_fsx_lustre_file_system`, `subnet_ids`
    "Forces new resource"), and Lustre traffic from other AZs is billed as cross-AZ data transfer and
    adds latency (Amazon EC2 pricing, "Data transfer within the same AWS Region"); an EFA-enabled file
    system must even share the AZ with its EFA clients (FSx for Lustre user guide, "Working with
    EFA-enabled file systems", prerequisites).

    Because a new AZ replaces the file system, the choice must not follow anything but storage
    config: `storage.availabilityZone` when set; else the fleets' zone when they all share one; else
    (no fleets) the alphabetically first network zone. Fleets in several zones without a pin are a
    config error: "the zone with the most GPUs" would move the file system when a fleet is added or
    resized, so the fix names that zone (where 0.1 put it) for the user to pin.
    """
    configured = spec.storage.availability_zone if spec.storage is not None else None
    if configured is not None:
        if configured in zones:
            return configured, []
        issue = ConfigIssue(
            config_path("storage", "availabilityZone"),
            f"'{configured}' is not one of the network's zones ({', '.join(zones)})",
            f"use one of {', '.join(zones)}, or add '{configured}' to `aifactory:network.availabilityZones`",
        )
        return zones[0], [issue]
    used = sorted(set(fleets.values()))
    if spec.storage is None:
        return zones[0], []
    if not used:
        return sorted(zones)[0], []
    if len(used) == 1:
        return used[0], []
    largest = max(spec.ec2_fleets, key=lambda f: f.count * fleet_hardware(f).gpus)
    zone = fleets[largest.name]
    issue = ConfigIssue(
        config_path("storage", "availabilityZone"),
        f"the fleets use several zones ({', '.join(used)}) and the file system's zone is not pinned: "
        "adding or resizing a fleet would move (replace) the file system",
        f"set `aifactory:storage.availabilityZone: {zone}` (the zone with the most GPUs, where earlier "
        "versions put it; keep it once deployed)",
    )
    return zone, [issue]
