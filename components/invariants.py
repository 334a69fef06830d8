"""Launch-template rules shared by the tests and the policy pack.

Each check reads the engine's camelCase inputs (as the mock runtime and `aifactory plan --json` show
them: nested keys camelCase, integers as floats) and returns human-readable violations; an empty list
means compliant. A value that is None or one of Pulumi's unknown sentinels is not known yet during a
preview and is never reported. A key that is absent means the property is not set, which is reported
where EC2's default is unsafe.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from .catalog.instance_types import get_instance_type
from .planning.efa_layout import EFA_CAPABLE

# Placeholders for values not known until apply: pulumi/runtime/rpc.py `UNKNOWN` (the same string
# doubles as pulumi_policy's UNKNOWN_STRING_VALUE) and pulumi_policy/proxy.py's typed sentinels.
_UNKNOWN_SENTINELS = frozenset(
    {
        "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
        "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",
        "3eeb2bf0-c639-47a8-9e75-3b44932eb421",
        "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",
    }
)
_INTERFACE_TYPES = frozenset({"efa", "efa-only", "interface"})


def is_unknown(value: object) -> bool:
    """True when a preview does not know the value yet."""
    return value is None or (isinstance(value, str) and value in _UNKNOWN_SENTINELS)


def _as_int(value: object) -> int | None:
    if is_unknown(value) or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _is_true(value: object) -> bool:
    # pulumi-aws types some launch-template booleans as strings ("true"/"false").
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _label(nic: Mapping[str, Any], position: int) -> str:
    card, device = _as_int(nic.get("networkCardIndex")), _as_int(nic.get("deviceIndex"))
    if card is None or device is None:
        return f"networkInterfaces[{position}]"
    return f"networkInterfaces[{position}] (card {card}, device {device})"


def interface_layout_violations(
    network_interfaces: list[dict[str, Any]] | None,
    instance_type: str | None,
    *,
    subnet_id: str | None = None,
    security_group_id: str | None = None,
) -> list[str]:
    """Violations of the EFA interface rules for one launch template.

    Rules: a primary at card 0 / device 0 that is ENA or EFA-with-ENA (never EFA-only); exactly one
    EFA-capable interface on every network card of the type (catalog); no card outside the type; no
    duplicate card/device pair; no public IP; every interface in one subnet and with a security group.
    `subnet_id` / `security_group_id`, when given, must be the subnet of every interface that names
    one and a member of every interface's security groups.
    """
    if network_interfaces is None or isinstance(network_interfaces, str):
        return []
    violations: list[str] = []
    entry = None
    if instance_type is not None and not is_unknown(instance_type):
        try:
            entry = get_instance_type(instance_type)
        except KeyError:
            violations.append(f"instance type {instance_type!r} is not in the catalog; its EFA layout is unknown")

    pairs: Counter[tuple[int, int]] = Counter()
    efa_per_card: Counter[int] = Counter()
    primary_seen = False
    subnets: set[str] = set()
    for position, nic in enumerate(network_interfaces):
        label = _label(nic, position)
        card, device = _as_int(nic.get("networkCardIndex", 0)), _as_int(nic.get("deviceIndex"))
        kind = nic.get("interfaceType", "interface")
        if not is_unknown(kind) and kind not in _INTERFACE_TYPES:
            violations.append(f"{label}: interfaceType {kind!r} is not one of efa, efa-only, interface")
        if "deviceIndex" not in nic:
            violations.append(f"{label}: deviceIndex is not set")
        if card is not None and device is not None:
            pairs[(card, device)] += 1
            if (card, device) == (0, 0):
                primary_seen = True
                if kind == "efa-only":
                    violations.append(f"{label}: the primary interface is EFA-only; it must be ENA or EFA with ENA")
        if card is not None and kind in EFA_CAPABLE:
            efa_per_card[card] += 1
        if entry is not None and card is not None and not 0 <= card < entry.network_cards:
            violations.append(
                f"{label}: network card {card} does not exist on {entry.name} (cards 0-{entry.network_cards - 1})"
            )
        if _is_true(nic.get("associatePublicIpAddress")):
            violations.append(f"{label}: associatePublicIpAddress is true; fleet nodes get no public IP")

        nic_subnet = nic.get("subnetId")
        if not is_unknown(nic_subnet):
            subnets.add(str(nic_subnet))
            if subnet_id is not None and nic_subnet != subnet_id:
                violations.append(f"{label}: subnet {nic_subnet} is not the fleet's subnet {subnet_id}")
        elif "subnetId" not in nic and subnet_id is not None:
            violations.append(f"{label}: no subnet; expected the fleet's subnet {subnet_id}")

        groups = nic.get("securityGroups")
        if "securityGroups" not in nic or (isinstance(groups, list) and not groups):
            violations.append(f"{label}: no security group; EFA traffic needs the EFA security group")
        elif isinstance(groups, list) and security_group_id is not None:
            known = [g for g in groups if not is_unknown(g)]
            if len(known) == len(groups) and security_group_id not in known:
                violations.append(f"{label}: security groups {known} lack the EFA security group {security_group_id}")

    if len(subnets) > 1:
        violations.append(f"interfaces span subnets {sorted(subnets)}; EFA needs every interface in one subnet")
    for (card, device), count in sorted(pairs.items()):
        if count > 1:
            violations.append(f"network card {card} / device {device} is declared {count} times")
    if not primary_seen and not any(
        _as_int(nic.get("networkCardIndex", 0)) is None or _as_int(nic.get("deviceIndex")) is None
        for nic in network_interfaces
    ):
        violations.append("no primary interface at network card 0 / device 0")
    for card, count in sorted(efa_per_card.items()):
        if count > 1:
            violations.append(f"network card {card} has {count} EFA interfaces; exactly one per card")
    if entry is not None:
        missing = [card for card in range(entry.network_cards) if efa_per_card[card] == 0]
        if missing:
            violations.append(
                f"network cards {_ranges(missing)} of {entry.name} have no EFA interface; "
                f"every one of its {entry.network_cards} cards needs one"
            )
    return violations


def _ranges(numbers: list[int]) -> str:
    spans: list[str] = []
    start = prev = numbers[0]
    for n in [*numbers[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        spans.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ", ".join(spans)


def metadata_violations(metadata_options: Mapping[str, Any] | None) -> list[str]:
    """IMDSv2 required, with a hop limit of at most 2.

    1 keeps the metadata service on the host; 2 is the most a container on a bridge network needs
    (EKS user guide "Customize managed nodes with launch templates": hop limit 2 for containers); more
    lets a response travel beyond the instance's containers (EC2 user guide "Configure the instance
    metadata options": the hop limit bounds how far the PUT response for a token travels).
    An unset hop limit is EC2's default, 1. None means the launch template sets no metadata options,
    which leaves IMDSv1 open.
    """
    if metadata_options is None:
        return ["metadataOptions is not set: IMDSv1 stays enabled; set httpTokens=required, hop limit 1 or 2"]
    violations: list[str] = []
    tokens = metadata_options.get("httpTokens")
    if "httpTokens" not in metadata_options:
        violations.append("metadataOptions.httpTokens is not set; IMDSv2 must be required")
    elif not is_unknown(tokens) and tokens != "required":
        violations.append(f"metadataOptions.httpTokens is {tokens!r}; IMDSv2 must be 'required'")
    endpoint = metadata_options.get("httpEndpoint")
    if not is_unknown(endpoint) and endpoint != "enabled":
        violations.append(f"metadataOptions.httpEndpoint is {endpoint!r}; nodes need the metadata service")
    hops = _as_int(metadata_options.get("httpPutResponseHopLimit"))
    if hops is not None and not 1 <= hops <= 2:
        violations.append(f"metadataOptions.httpPutResponseHopLimit is {hops}; it must be 1 or 2 (at most 2)")
    return violations


def block_device_violations(block_device_mappings: list[dict[str, Any]] | None, require_cmk: bool) -> list[str]:
    """Every EBS volume gp3 and encrypted; with a customer-managed key when `require_cmk`.

    None means no mapping is declared: the root volume would inherit the AMI's volume type and
    encryption, so it is reported. Instance-store and suppressed (`noDevice`) mappings are skipped.
    """
    if block_device_mappings is None:
        return ["blockDeviceMappings is not set: the root volume inherits the AMI's type and encryption"]
    if isinstance(block_device_mappings, str):
        return []
    violations: list[str] = []
    ebs_seen = False
    for position, mapping in enumerate(block_device_mappings):
        ebs = mapping.get("ebs")
        if "ebs" not in mapping:
            continue
        ebs_seen = True
        device = mapping.get("deviceName")
        label = f"blockDeviceMappings[{position}]" + (f" ({device})" if isinstance(device, str) else "")
        if not isinstance(ebs, dict):
            continue
        volume_type = ebs.get("volumeType")
        if "volumeType" not in ebs:
            violations.append(f"{label}: volumeType is not set; it must be gp3")
        elif not is_unknown(volume_type) and volume_type != "gp3":
            violations.append(f"{label}: volumeType is {volume_type!r}; it must be gp3")
        encrypted = ebs.get("encrypted")
        if "encrypted" not in ebs:
            violations.append(f"{label}: encrypted is not set; the volume must be encrypted")
        elif not is_unknown(encrypted) and not _is_true(encrypted):
            violations.append(f"{label}: encrypted is {encrypted!r}; the volume must be encrypted")
        key = ebs.get("kmsKeyId")
        if require_cmk and ("kmsKeyId" not in ebs or (not is_unknown(key) and not str(key).strip())):
            violations.append(f"{label}: no kmsKeyId; the profile requires a customer-managed key")
    if not ebs_seen:
        violations.append("blockDeviceMappings declares no EBS volume; root must be gp3 and encrypted")
    return violations
