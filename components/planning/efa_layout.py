"""The network interfaces a fleet's launch template declares, following AWS's EFA guidance.

Sources:
- EC2 user guide, "Maximize network bandwidth on Amazon EC2 instances with multiple network cards"
  https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/efa-acc-inst-types.html
  primary (network card 0, device 0) is an ENA interface and can't be EFA-only; when card 0 supports
  EFA it gets an EFA-only interface at device index 1; every further card gets its EFA-only
  interface at device index 0 (device index 1 is left for an optional extra ENA interface).
- EKS user guide, "Manage EFA devices on Amazon EKS"
  https://docs.aws.amazon.com/eks/latest/userguide/device-management-efa.html
  the same layout for p6-b200, and EFA-only on every non-primary interface so the VPC CNI does not
  exhaust the subnet's IP addresses.
- AWS What's New 2024-10-28, "Amazon EC2 announces EFA updates for scalability with AI/ML
  applications": EFA-only is available on all EFA-supported instance types; it takes no IP address.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..catalog.instance_types import InstanceType

InterfaceType = Literal["efa", "efa-only", "interface"]
EFA_CAPABLE: frozenset[str] = frozenset({"efa", "efa-only"})


@dataclass(frozen=True)
class InterfaceSlot:
    network_card_index: int
    device_index: int
    interface_type: InterfaceType


def efa_interfaces(instance_type: InstanceType) -> list[InterfaceSlot]:
    """Every interface of one instance: an ENA primary plus one EFA-only interface per network card.

    Raises ValueError for a type that cannot carry one EFA interface on every network card; the
    config model rejects such fleets before planning, so reaching this is a programming error.
    """
    if instance_type.max_efa_interfaces < instance_type.network_cards:
        raise ValueError(
            f"{instance_type.name} supports {instance_type.max_efa_interfaces} EFA interfaces on "
            f"{instance_type.network_cards} network cards; a fleet needs one EFA interface per card"
        )
    slots = [
        InterfaceSlot(network_card_index=0, device_index=0, interface_type="interface"),
        InterfaceSlot(network_card_index=0, device_index=1, interface_type="efa-only"),
    ]
    slots.extend(
        InterfaceSlot(network_card_index=card, device_index=0, interface_type="efa-only")
        for card in range(1, instance_type.network_cards)
    )
    return slots


def efa_device_count(instance_type: InstanceType) -> int:
    """EFA devices the OS sees (`fi_info -p efa` lists one per EFA-capable interface)."""
    return sum(1 for slot in efa_interfaces(instance_type) if slot.interface_type in EFA_CAPABLE)
