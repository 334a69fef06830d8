"""Subnet layout of the factory VPC, sized for the fleets' interfaces."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# AWS reserves five addresses in every subnet (VPC user guide, "Subnet CIDR blocks").
AWS_RESERVED_PER_SUBNET = 5
# With the full EFA layout only the primary interface (card 0, device 0: EFA with ENA) takes an
# address; every other card's interface is EFA-only and takes none.
HOST_IPS_PER_NODE = 1
# VPC CNI gives each pod an address from the node's subnet; kubelet's default maxPods is 110.
POD_IPS_PER_NODE = 110
PUBLIC_SUBNET_PREFIX = 26


@dataclass(frozen=True)
class SubnetPlan:
    availability_zone: str
    private_cidr: str
    public_cidr: str | None

    @property
    def private_capacity(self) -> int:
        return ipaddress.IPv4Network(self.private_cidr).num_addresses - AWS_RESERVED_PER_SUBNET


def ips_per_node(kubernetes: bool) -> int:
    return HOST_IPS_PER_NODE + (POD_IPS_PER_NODE if kubernetes else 0)


def plan_subnets(cidr: str, zones: Sequence[str], public: bool) -> list[SubnetPlan]:
    """Split the VPC: the upper half (or all of it without public subnets) into one private subnet
    per AZ of equal, largest possible size; small public subnets from the lower half when egress
    goes through NAT."""
    network = ipaddress.IPv4Network(cidr)
    count = len(zones)
    bits_for_zones = max(0, (count - 1).bit_length())
    if public:
        public_half, private_half = network.subnets(prefixlen_diff=1)
    else:
        public_half, private_half = None, network
    private = list(private_half.subnets(prefixlen_diff=bits_for_zones))[:count]
    publics: list[str | None] = [None] * count
    if public_half is not None:
        prefix = max(public_half.prefixlen + bits_for_zones, min(PUBLIC_SUBNET_PREFIX, 28))
        publics = [str(s) for s in list(public_half.subnets(new_prefix=prefix))[:count]]
    return [SubnetPlan(z, str(p), pub) for z, p, pub in zip(zones, private, publics, strict=True)]


def addresses_needed(nodes_per_zone: Mapping[str, int], kubernetes: bool, system_nodes: int = 0) -> dict[str, int]:
    """Addresses each AZ's private subnet must hold for its nodes (plus system nodes in the first)."""
    per_node = ips_per_node(kubernetes)
    needed = {zone: nodes * per_node for zone, nodes in nodes_per_zone.items()}
    if system_nodes and needed:
        first = next(iter(needed))
        needed[first] += system_nodes * ips_per_node(kubernetes)
    return needed
