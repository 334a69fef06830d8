"""The address budget of a Kubernetes factory, per AZ: node addresses against the node subnet, pod
addresses against the pod subnet (VPC CNI custom networking). Pure: no Pulumi.

With `vpc` pod addressing every pod takes an address of its node's subnet (kubelet's default maxPods
is 110), which is what stops a /16 VPC near 590 nodes. With `custom-networking` the VPC CNI puts pods
on a secondary interface in the pod subnet of the node's AZ, named by an ENIConfig per zone (Amazon EKS
User Guide, "Custom networking"; amazon-vpc-cni-k8s README, `AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG`,
`ENI_CONFIG_LABEL_DEF`), and each GPU node's maxPods is its DaemonSets plus its training pods. With `ipv6`
(an IPv6 cluster; EKS User Guide, "IPv6 addresses to clusters, pods, and services") nodes keep one IPv4
host address and the VPC CNI delegates an IPv6 /80 prefix of the node's /64 subnet to each node for its
pods, so a /64 holds 65,536 nodes' pods.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from ..catalog.hardware import ec2_instance_type, fleet_hardware
from ..schedulers.helm_values import node_daemonsets
from ..spec.model import FactorySpec
from ..spec.numbers import NETWORK_ADDRESS_USAGE_MAX, PEERED_NETWORK_ADDRESS_USAGE_MAX
from ..spec.scheduler import KubernetesScheduler, PodAddressing
from .efa_layout import efa_interfaces
from .network_plan import AWS_RESERVED_PER_SUBNET, HOST_IPS_PER_NODE, POD_IPS_PER_NODE, SubnetPlan, zone_slot

NAU_PER_ZONAL_RESOURCE = 6
"""Network Address Usage units of an interface VPC endpoint in each of its zones, and of a NAT gateway
(VPC User Guide, "Network Address Usage for your VPC", "How NAU is calculated")."""

POD_CIDR_FIRST_OCTET, POD_CIDR_SECOND_OCTET, POD_CIDR_PREFIX = 100, 64, 16
"""The default pod subnet of the zone in slot n: 100.(64 + n).0.0/16 (inside 100.64.0.0/10)."""

IPV6_SUBNET_PREFIX, IPV6_POD_PREFIX = 64, 80
"""An IPv6 subnet is a /64 of the VPC's /56 (VPC User Guide, "IPv6 VPC CIDR blocks"); the VPC CNI assigns
each node a /80 prefix for its pods (amazon-vpc-cni-k8s docs/prefix-and-ip-target.md, IPv6)."""

POD_INTERFACE_ADDRESSES = 2
"""Beyond maxPods, each GPU node holds in the pod subnet its pod interface's primary address and one warm
address: the VPC CNI is configured with WARM_IP_TARGET=1 and MINIMUM_IP_TARGET=maxPods, which replace
the default WARM_ENI_TARGET=1 (a whole spare interface of 50 addresses a node; amazon-vpc-cni-k8s
docs/eni-and-ip-target.md)."""


@dataclass(frozen=True)
class ZoneAddressBudget:
    availability_zone: str
    nodes: int
    node_subnet: str
    node_addresses: int
    """Addresses the nodes take in the node subnet (with `vpc` addressing, their pods' too)."""
    node_capacity: int
    pod_subnet: str | None
    """The zone's pod subnet (custom networking), `IPv6 /64` (pods in the node subnet's IPv6 block), or
    None: pods take the node subnet's IPv4 addresses."""
    pod_addresses: int
    """Pod addresses the nodes hold in the pod subnet; with IPv6, the /80 prefixes delegated to them."""
    pod_capacity: int
    network_interfaces: int
    """Interfaces the zone's nodes attach (primary, EFA-only, the pod interface), for the Region's quota."""

    @property
    def fits(self) -> bool:
        return self.node_addresses <= self.node_capacity and self.pod_addresses <= self.pod_capacity


@dataclass(frozen=True)
class AddressBudget:
    addressing: PodAddressing
    max_pods: Mapping[str, int]
    """maxPods of each EC2 fleet's nodes (custom networking, IPv6); empty with `vpc` (kubelet's default)."""
    zones: tuple[ZoneAddressBudget, ...]
    cidr_blocks: int
    """IPv4 CIDR blocks the VPC has: the primary and one per pod subnet."""

    def as_json(self) -> dict[str, object]:
        """The budget as `aifactory plan --json` reports it (`address_budget`)."""
        return {
            "addressing": self.addressing,
            "max_pods": dict(self.max_pods),
            "cidr_blocks": self.cidr_blocks,
            "network_interfaces": self.network_interfaces,
            "zones": [asdict(z) for z in self.zones],
        }

    @property
    def network_interfaces(self) -> int:
        return sum(z.network_interfaces for z in self.zones)


def usable(cidr: str) -> int:
    return ipaddress.IPv4Network(cidr).num_addresses - AWS_RESERVED_PER_SUBNET


def default_pod_cidr(zone: str, region_zones: Sequence[str] | None) -> str:
    slot = zone_slot(zone, region_zones)
    return f"{POD_CIDR_FIRST_OCTET}.{POD_CIDR_SECOND_OCTET + slot}.0.0/{POD_CIDR_PREFIX}"


def pod_cidrs(spec: FactorySpec, zones: Sequence[str], region_zones: Sequence[str] | None) -> dict[str, str]:
    """Each zone's pod subnet with custom networking (the configured one, else the zone's default); {} else."""
    k8s = spec.scheduler
    if not isinstance(k8s, KubernetesScheduler) or k8s.pod_network.addressing != "custom-networking":
        return {}
    configured = k8s.pod_network.cidrs or {}
    return {zone: configured.get(zone) or default_pod_cidr(zone, region_zones) for zone in zones}


def max_pods(spec: FactorySpec) -> dict[str, int]:
    """maxPods per EC2 fleet with custom networking or IPv6: the node's DaemonSets plus its training pods."""
    k8s = spec.scheduler
    if not isinstance(k8s, KubernetesScheduler) or k8s.pod_network.addressing == "vpc":
        return {}
    training = k8s.pod_network.training_pods_per_node
    return {f.name: len(node_daemonsets(fleet_hardware(f).accelerator.vendor)) + training for f in spec.ec2_fleets}


def plan_addresses(
    spec: FactorySpec,
    subnets: Sequence[SubnetPlan],
    fleet_zones: Mapping[str, str],
    pod_subnets: Mapping[str, str],
    system_nodes: int,
) -> AddressBudget:
    """The budget of every AZ with a subnet; the system nodes count in the first zone."""
    k8s = spec.scheduler
    assert isinstance(k8s, KubernetesScheduler)
    addressing = k8s.pod_network.addressing
    pods = max_pods(spec)
    first = subnets[0].availability_zone if subnets else None
    zones = []
    for subnet in subnets:
        zone = subnet.availability_zone
        fleets = [f for f in spec.ec2_fleets if fleet_zones.get(f.name) == zone]
        system = system_nodes if zone == first else 0
        nodes = sum(f.count for f in fleets)
        interfaces = sum(f.count * len(efa_interfaces(ec2_instance_type(f))) if f.efa else f.count for f in fleets)
        if addressing == "vpc":
            node_addresses = (nodes + system) * (HOST_IPS_PER_NODE + POD_IPS_PER_NODE)
            pod_addresses, pod_capacity = 0, 0
        elif addressing == "ipv6":
            # Pods take IPv6 prefixes of the node's own /64; the budget counts /80 prefixes.
            node_addresses = (nodes + system) * HOST_IPS_PER_NODE
            pod_addresses, pod_capacity = nodes + system, 2 ** (IPV6_POD_PREFIX - IPV6_SUBNET_PREFIX)
        else:
            node_addresses = (nodes + system) * HOST_IPS_PER_NODE
            # System nodes keep kubelet's default maxPods (EKS computes it for their instance type).
            pod_addresses = sum(f.count * (pods[f.name] + POD_INTERFACE_ADDRESSES) for f in fleets)
            pod_addresses += system * (POD_IPS_PER_NODE + POD_INTERFACE_ADDRESSES)
            pod_capacity = usable(pod_subnets[zone])
            # One pod interface on every node, in the pod subnet.
            interfaces += nodes + system
        zones.append(
            ZoneAddressBudget(
                availability_zone=zone,
                nodes=nodes + system,
                node_subnet=subnet.private_cidr,
                node_addresses=node_addresses,
                node_capacity=subnet.private_capacity,
                pod_subnet=pod_subnets.get(zone) or (f"IPv6 /{IPV6_SUBNET_PREFIX}" if addressing == "ipv6" else None),
                pod_addresses=pod_addresses,
                pod_capacity=pod_capacity,
                # The system nodes' primary interfaces.
                network_interfaces=interfaces + system,
            )
        )
    return AddressBudget(addressing, pods, tuple(zones), 1 + len(pod_subnets))


@dataclass(frozen=True)
class AddressUsage:
    """The Network Address Usage of the factory's VPC, by what takes the units, against its quota.

    The VPC User Guide ("Network Address Usage for your VPC", "How NAU is calculated") counts one unit for
    each IPv4 and IPv6 address on an EC2 instance's interface, each additional interface attached to an
    instance, each prefix assigned to an interface, each EFA interface and each EFA-only interface, and
    each EKS pod; six for an interface VPC endpoint in each zone and for a NAT gateway. An EFA-only
    interface has no address, so it is one unit (as an additional interface), however many EFA interfaces
    a node has. A pod with an IPv4 address of its own is one unit, that address; an IPv6 pod takes its
    address from its node's delegated /80 prefix (one unit) and is one unit itself. Gateway endpoints and
    resources the page does not list (the EKS control plane's and the file system's interfaces) take none.
    """

    addresses: int
    """IPv4 and IPv6 addresses on the nodes' (and the Slurm head's) interfaces, pods' IPv4 addresses too."""
    interfaces: int
    """Additional interfaces: every EFA-only interface and every pod interface (custom networking)."""
    prefixes: int
    """IPv6 /80 prefixes delegated to the nodes for their pods."""
    pods: int
    """EKS pods without an address of their own on the interface (IPv6 pods: maxPods a node)."""
    endpoints: int
    """Interface VPC endpoints times the zones each has a subnet in."""
    nat_gateways: int
    quota: int
    """The VPC's quota (`network.networkAddressUsageQuota`)."""

    @property
    def units(self) -> int:
        return (
            self.addresses
            + self.interfaces
            + self.prefixes
            + self.pods
            + NAU_PER_ZONAL_RESOURCE * (self.endpoints + self.nat_gateways)
        )

    def as_json(self) -> dict[str, object]:
        """The usage as `aifactory plan --json` reports it (`network_address_usage`)."""
        return {
            "units": self.units,
            "quota": self.quota,
            "maximum": NETWORK_ADDRESS_USAGE_MAX,
            "peered_maximum": PEERED_NETWORK_ADDRESS_USAGE_MAX,
            **asdict(self),
        }


def plan_address_usage(
    spec: FactorySpec, budget: AddressBudget | None, endpoint_zones: int, nat_gateways: int, head_nodes: int
) -> AddressUsage:
    """The VPC's units: from the address budget with Kubernetes, else one address per node and one unit per
    EFA-only interface; `endpoint_zones` is the sum over interface endpoints of the zones each is in."""
    quota = spec.network.network_address_usage_quota
    if budget is None:
        fleets = spec.ec2_fleets
        return AddressUsage(
            addresses=sum(f.count for f in fleets) * HOST_IPS_PER_NODE + head_nodes,
            interfaces=sum(f.count * (len(efa_interfaces(ec2_instance_type(f))) - 1) for f in fleets if f.efa),
            prefixes=0,
            pods=0,
            endpoints=endpoint_zones,
            nat_gateways=nat_gateways,
            quota=quota,
        )
    ipv6 = budget.addressing == "ipv6"
    nodes = sum(z.nodes for z in budget.zones)
    fleet_nodes = sum(f.count for f in spec.ec2_fleets)
    return AddressUsage(
        # With IPv6 each node also holds an IPv6 address (EKS assigns nodes both families); the pod columns
        # then count /80 prefixes, not addresses.
        addresses=sum(z.node_addresses for z in budget.zones)
        + (nodes if ipv6 else sum(z.pod_addresses for z in budget.zones)),
        interfaces=budget.network_interfaces - nodes,
        prefixes=sum(z.pod_addresses for z in budget.zones) if ipv6 else 0,
        # System nodes keep kubelet's default maxPods.
        pods=sum(f.count * budget.max_pods[f.name] for f in spec.ec2_fleets) + (nodes - fleet_nodes) * POD_IPS_PER_NODE
        if ipv6
        else 0,
        endpoints=endpoint_zones,
        nat_gateways=nat_gateways,
        quota=quota,
    )
