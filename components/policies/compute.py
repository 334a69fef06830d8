"""GPU nodes: their disks, instance metadata, EFA interfaces and placement."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..invariants import (
    block_device_violations,
    interface_layout_violations,
    is_unknown,
    metadata_violations,
)
from .registry import policy
from .runner import INSTANCE, LAUNCH_TEMPLATE, PolicyConfig, dicts, from_launch_template


def _instance_block_devices(props: Mapping[str, Any]) -> list[dict[str, Any]]:
    """An instance's root and EBS devices in launch-template `blockDeviceMappings` form."""
    mappings: list[dict[str, Any]] = []
    root = props.get("rootBlockDevice")
    if isinstance(root, Mapping):
        mappings.append({"deviceName": "root", "ebs": dict(root)})
    for dev in dicts(props.get("ebsBlockDevices")):
        mappings.append({"deviceName": dev.get("deviceName"), "ebs": dict(dev)})
    return mappings


@policy(
    "encrypted-disks",
    fix=(
        "make every node disk `volumeType: gp3` with `encrypted: true` (and `kmsKeyId` set to the factory's "
        "customer-managed key in sovereign stacks)"
    ),
    enforcement="mandatory",
    description="Node disks are gp3 and encrypted (customer-managed key in sovereign stacks).",
)
def check_encrypted_disks(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """Node disks gp3 and encrypted; with a customer-managed key in sovereign stacks."""
    require_cmk = config.profile == "sovereign"
    if resource_type == LAUNCH_TEMPLATE:
        return block_device_violations(props.get("blockDeviceMappings"), require_cmk)
    if resource_type == INSTANCE:
        devices = _instance_block_devices(props)
        if not devices and from_launch_template(props):
            return []  # the template's disks apply, and this policy checks the template itself
        return block_device_violations(devices or None, require_cmk)
    return []


@policy(
    "imdsv2-required",
    fix="set `metadataOptions.httpTokens: required` and `httpPutResponseHopLimit` to 1 or 2",
    enforcement="mandatory",
    description="Launch templates and instances require IMDSv2 (httpTokens required) with hop limit 1 or 2 "
    "(EC2 user guide, 'Configure the instance metadata options'; EKS best practices guide, 'Restrict access "
    "to the instance profile assigned to the worker node').",
)
def check_imdsv2(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """Launch templates and instances require IMDSv2 (token) with a hop limit of at most 2: 1 keeps
    the metadata service on the host, 2 is the most a bridged container needs."""
    if resource_type not in (LAUNCH_TEMPLATE, INSTANCE):
        return []
    options = props.get("metadataOptions")
    if is_unknown(options) and "metadataOptions" in props:
        return []
    if resource_type == INSTANCE and options is None and from_launch_template(props):
        return []  # the template's options apply, and this policy checks the template itself
    return metadata_violations(options if isinstance(options, Mapping) else None)


@policy(
    "efa-interface-layout",
    fix=(
        "declare one EFA interface per network card of the instance type (card 0 at device index 0, `efa` or "
        "`efa-only` on the others), as `aifactory.planning` lays them out"
    ),
    enforcement="mandatory",
    description="EFA launch templates declare the instance type's complete interface layout.",
)
def check_efa_layout(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """A launch template that declares EFA interfaces declares the instance type's complete layout."""
    if resource_type != LAUNCH_TEMPLATE:
        return []
    nics = props.get("networkInterfaces")
    if not dicts(nics) or not any(n.get("interfaceType") in ("efa", "efa-only") for n in dicts(nics)):
        return []
    return interface_layout_violations([dict(n) for n in dicts(nics)], props.get("instanceType"))


@policy(
    "no-placement-group-on-reserved-capacity",
    fix=(
        "drop the placement group; on a capacity reservation made in a cluster group, name that existing "
        "group in `aifactory:fleets[].capacity.placementGroup`"
    ),
    enforcement="mandatory",
    description="No new placement group on capacity reservations, none at all on capacity blocks.",
)
def check_no_placement_group_on_reserved_capacity(
    resource_type: str, props: Mapping[str, Any], config: PolicyConfig
) -> list[str]:
    """No placement group on capacity blocks; on a capacity reservation only the existing cluster group
    it was created in.

    Capacity block instances are placed by EC2 (EC2 user guide, "Capacity Blocks for ML": close
    together in EC2 UltraClusters); forcing a group fails launches with InsufficientInstanceCapacity.
    A capacity reservation made in a cluster placement group is used only by instances launched into
    that group (EC2 user guide, "Capacity Reservations for cluster placement groups"): a literal
    group name is that group. A group whose name is unknown in preview is an output of a group the
    deploy creates, which cannot be the one the reservation was made in.
    """
    if resource_type == LAUNCH_TEMPLATE:
        placement = props.get("placement")
        group = (placement.get("groupName") or placement.get("groupId")) if isinstance(placement, Mapping) else None
    elif resource_type == INSTANCE:
        group = props.get("placementGroup")
    else:
        return []
    if not group:
        return []
    market = props.get("instanceMarketOptions")
    market_type = market.get("marketType") if isinstance(market, Mapping) else None
    spec = props.get("capacityReservationSpecification")
    reserved = False
    if isinstance(spec, Mapping):
        target = spec.get("capacityReservationTarget")
        reserved = (isinstance(target, Mapping) and any(target.get(k) for k in target)) or (
            spec.get("capacityReservationPreference") == "capacity-reservations-only"
        )
    where = "" if is_unknown(group) else f" {group}"
    if market_type == "capacity-block":
        return [f"placement group{where} on a capacity block; capacity blocks are already co-located"]
    if reserved and is_unknown(group):
        return [
            "placement group created with the stack on a capacity reservation; reserved instances are already "
            "placed (name the existing cluster group the reservation was made in, `capacity.placementGroup`)"
        ]
    return []
