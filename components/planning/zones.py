"""Which Availability Zone each fleet and subnet uses."""

from __future__ import annotations

from collections.abc import Mapping

from ..catalog.regions import availability_zones, zones_offering
from ..spec.model import FactorySpec, Fleet


def default_zone(fleet: Fleet, region: str, network_zones: list[str] | None) -> str:
    """The fleet's AZ: the configured one, else the first candidate zone that offers the type."""
    if fleet.availability_zone:
        return fleet.availability_zone
    candidates = network_zones or list(availability_zones(region) or [f"{region}a", f"{region}b"])
    offering = zones_offering(fleet.instance_type, region)
    if offering:
        for zone in candidates:
            if zone in offering:
                return zone
    return candidates[0]


def fleet_zones(spec: FactorySpec) -> dict[str, str]:
    """Fleet name -> AZ. EFA traffic does not cross AZs, so each fleet lives in exactly one."""
    return {f.name: default_zone(f, spec.region, spec.network.availability_zones) for f in spec.fleets}


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
