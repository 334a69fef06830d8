"""Subnet layout of the factory VPC, sized for the fleets' interfaces."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# AWS reserves five addresses in every subnet (VPC user guide, "Subnet CIDR blocks").
INTERNET_IPV4, INTERNET_IPV6 = "0.0.0.0/0", "::/0"
"""Every IPv4 and every IPv6 address: a default route's destination, a rule's "anywhere"."""

AWS_RESERVED_PER_SUBNET = 5
# With the full EFA layout only the primary interface (card 0, device 0: EFA with ENA) takes an
# address; every other card's interface is EFA-only and takes none.
HOST_IPS_PER_NODE = 1
# With `vpc` pod addressing the VPC CNI gives each pod an address from the node's subnet; kubelet's
# default maxPods is 110 (EKS User Guide, "Assign more IP addresses to Amazon EKS nodes with prefixes").
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


class ZoneSlotError(ValueError):
    """A zone has no slot in the `network.zoneSlots` layout."""


def zone_slot(zone: str, region_zones: Sequence[str] | None) -> int:
    """The fixed slot of an AZ: its position in the region's zone list (a=0, b=1, ...), so adding,
    removing or reordering other zones never moves it."""
    if region_zones and zone in region_zones:
        return list(region_zones).index(zone)
    letter = zone[-1:]
    if letter.isalpha() and letter.islower():
        return ord(letter) - ord("a")
    raise ZoneSlotError(f"'{zone}' does not end in a zone letter")


def plan_subnets(
    cidr: str,
    zones: Sequence[str],
    public: bool,
    slots: int | None = None,
    region_zones: Sequence[str] | None = None,
) -> list[SubnetPlan]:
    """One private subnet per AZ of equal, largest possible size (and a small public one per AZ when
    egress goes through NAT), returned in `zones` order.

    A subnet's `cidrBlock` and `availabilityZone` are replace-on-change (Terraform AWS provider
    `aws_subnet`, both "Forces new resource"), and a replaced subnet replaces what lives in it (the
    file system), so a zone's subnets are placed by zone name, never by list position:

    - without `slots` (the layout 0.1 stacks have): the upper half of the VPC (all of it without
      public subnets) split into one block per zone, taken in name order; public subnets from the
      lower half in the same order. Reordering `availabilityZones` moves nothing; adding a zone, or
      switching egress, resizes every block (`aifactory diff` shows the replacements).
    - with `slots` (`network.zoneSlots`): the upper half split into `slots` blocks and the lower half
      reserved for public subnets whatever the egress; each zone takes its region position's block
      (`zone_slot`), so adding or reordering zones and switching egress move no existing subnet.
    """
    network = ipaddress.IPv4Network(cidr)
    if slots is None:
        count = len(zones)
        order = sorted(zones)
        positions = {zone: order.index(zone) for zone in zones}
        split = public
    else:
        count = slots
        positions = {zone: zone_slot(zone, region_zones) for zone in zones}
        outside = sorted(z for z, p in positions.items() if p >= slots)
        if outside:
            raise ZoneSlotError(
                f"{', '.join(outside)} would take slot(s) beyond the {slots} reserved (slots follow the "
                "region's zone order: a=0, b=1, ...)"
            )
        split = True
    bits_for_zones = max(0, (count - 1).bit_length())
    if split:
        public_half, private_half = network.subnets(prefixlen_diff=1)
    else:
        public_half, private_half = None, network
    private = list(private_half.subnets(prefixlen_diff=bits_for_zones))
    publics: list[ipaddress.IPv4Network] = []
    if public_half is not None:
        prefix = max(public_half.prefixlen + bits_for_zones, min(PUBLIC_SUBNET_PREFIX, 28))
        publics = list(public_half.subnets(new_prefix=prefix))
    return [
        SubnetPlan(zone, str(private[positions[zone]]), str(publics[positions[zone]]) if public else None)
        for zone in zones
    ]


def host_addresses_needed(nodes_per_zone: Mapping[str, int], system_nodes: int = 0) -> dict[str, int]:
    """Addresses each AZ's private subnet must hold for nodes without pods (Slurm, no scheduler), plus
    the system nodes in the first zone; EKS factories are budgeted by `address_plan.plan_addresses`."""
    needed = {zone: nodes * HOST_IPS_PER_NODE for zone, nodes in nodes_per_zone.items()}
    if system_nodes and needed:
        first = next(iter(needed))
        needed[first] += system_nodes * HOST_IPS_PER_NODE
    return needed


# Interface endpoints every node needs when nothing reaches the internet: image pulls (ECR api + dkr,
# with S3 through the gateway endpoint), credentials (STS), Session Manager (ssm, ssmmessages,
# ec2messages), CloudWatch Logs and CloudWatch metrics (`monitoring`: the node role carries
# CloudWatchAgentServerPolicy, whose agent publishes metrics there), and Secrets Manager for the
# Slurm munge key (EKS user guide, "Deploy private clusters with limited internet access", table of
# endpoints; PrivateLink guide, "AWS services that integrate with AWS PrivateLink").
BASE_INTERFACE_ENDPOINTS = (
    "ecr.api",
    "ecr.dkr",
    "sts",
    "ssm",
    "ssmmessages",
    "ec2messages",
    "logs",
    "monitoring",
    "secretsmanager",
)
# EKS nodes without egress also need the EC2 API (the VPC CNI manages ENIs and addresses with it, and
# the EKS-optimized AMI names the node from it), the EKS API and EKS Auth (Pod Identity, which the
# VPC CNI and the FSx CSI driver use) (same EKS page). Nothing in the factory creates load balancers
# or runs the Cluster Autoscaler, so `elasticloadbalancing` and `autoscaling` are left out (the
# page lists them only for those).
EKS_INTERFACE_ENDPOINTS = ("ec2", "eks", "eks-auth")
# Fleets that are Auto Scaling groups (no scheduler) report a failed health check to the Auto Scaling
# API (`aws autoscaling set-instance-health` in the node health check; EC2 Auto Scaling user guide,
# "Access Amazon EC2 Auto Scaling using an interface VPC endpoint").
AUTO_SCALING_INTERFACE_ENDPOINTS = ("autoscaling",)
# Lustre clients and Slurm compute nodes reach nothing else: munge keys come from Secrets Manager,
# node names from instance metadata tags, the join document from SSM.


# The Slurm head on EC2 calls DescribeInstances and DescribeInstanceTopology for its nodes' switch
# tree: the EC2 API endpoint `com.amazonaws.<region>.ec2` (PrivateLink guide, "AWS services that
# integrate with AWS PrivateLink"; EC2 user guide, "Access Amazon EC2 using an interface VPC endpoint").
EC2_API_INTERFACE_ENDPOINTS = ("ec2",)


def interface_endpoints(eks: bool, auto_scaling: bool = False, ec2_api: bool = False) -> tuple[str, ...]:
    """The interface endpoint services a factory's nodes call, in registration order."""
    return (
        BASE_INTERFACE_ENDPOINTS
        + (EKS_INTERFACE_ENDPOINTS if eks else ())
        + (AUTO_SCALING_INTERFACE_ENDPOINTS if auto_scaling else ())
        + (EC2_API_INTERFACE_ENDPOINTS if ec2_api and not eks else ())
    )
