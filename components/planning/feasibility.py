"""Config rules that need a planner: they read the subnet plan, the storage limits or the quota split.

`spec/` holds structure and per-field rules and never imports this package; `plan_factory` runs these
on a spec that passed them, so every infeasible factory fails with config-path issues before any
resource exists.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from ..catalog.hardware import fleet_hardware
from ..catalog.regions import availability_zones
from ..schedulers.kubernetes_manifests import FleetCapacity, QuotaError, allocate_quotas
from ..spec.errors import ConfigIssue, config_path
from ..spec.model import FactorySpec
from ..spec.numbers import NETWORK_ADDRESS_USAGE_MAX
from ..spec.scheduler import KubernetesScheduler
from .address_plan import AddressBudget, AddressUsage
from .network_plan import (
    HOST_IPS_PER_NODE,
    POD_IPS_PER_NODE,
    SubnetPlan,
    ZoneSlotError,
    host_addresses_needed,
    plan_subnets,
    zone_slot,
)
from .storage_sizing import max_capacity_tib, max_throughput_gbps

# EKS clusters get two system nodes plus one for headroom; other factories one bastion-sized host.
KUBERNETES_SYSTEM_NODES = 3
OTHER_SYSTEM_NODES = 1


def subnets_or_issues(spec: FactorySpec, zones: Sequence[str]) -> tuple[list[SubnetPlan], list[ConfigIssue]]:
    """The subnet plan of the VPC, or the issue that the CIDR cannot be split into `zones`."""
    slots = spec.network.zone_slots
    try:
        return plan_subnets(
            spec.network.cidr,
            zones,
            public=spec.egress == "nat",
            slots=slots,
            region_zones=availability_zones(spec.region),
        ), []
    except ZoneSlotError as exc:
        return [], [
            ConfigIssue(
                config_path("network", "zoneSlots"),
                f"{exc}",
                f"raise `zoneSlots` to at least {_slots_needed(zones, spec.region)} (a power of two keeps "
                "the blocks whole), or use zones earlier in the region's list",
            )
        ]
    except ValueError as exc:
        return [], [
            ConfigIssue(
                config_path("network", "cidr"),
                f"cannot hold {len(zones)} zones' subnets ({exc})",
                "use a larger CIDR such as /16",
            )
        ]


def _slots_needed(zones: Sequence[str], region: str) -> int:
    try:
        return max(zone_slot(z, availability_zones(region)) for z in zones) + 1
    except ZoneSlotError:
        return len(zones)


def network_large_enough(
    spec: FactorySpec, budget: AddressBudget | None, subnets: Sequence[SubnetPlan], fleet_zones: Mapping[str, str]
) -> Iterator[ConfigIssue]:
    """Each AZ's node subnet holds its nodes' addresses (with `vpc` pod addressing, their pods' too), and
    its pod subnet its pods' addresses."""
    if budget is None:
        per_zone: dict[str, int] = {s.availability_zone: 0 for s in subnets}
        for fleet_name, zone in fleet_zones.items():
            if zone in per_zone:
                per_zone[zone] += spec.fleet(fleet_name).count
        needed = host_addresses_needed(per_zone, system_nodes=OTHER_SYSTEM_NODES)
        for subnet in subnets:
            want = needed.get(subnet.availability_zone, 0)
            if want > subnet.private_capacity:
                yield ConfigIssue(
                    config_path("network", "cidr"),
                    f"the private subnet of {subnet.availability_zone} ({subnet.private_cidr}, "
                    f"{subnet.private_capacity} usable addresses) cannot hold the {want} addresses its nodes need",
                    "use a larger VPC CIDR (a /16 holds about 32,000 addresses per zone with two zones)",
                )
        return
    for z in budget.zones:
        if z.node_addresses > z.node_capacity:
            if budget.addressing == "vpc":
                fix = (
                    "set `scheduler.podNetwork.addressing: custom-networking` (pods in a 100.64.0.0/10 pod subnet "
                    "per zone, maxPods sized to what a GPU node runs), or use a larger VPC CIDR"
                )
                what = (
                    f"{z.nodes:,} nodes x {HOST_IPS_PER_NODE + POD_IPS_PER_NODE} addresses (host + kubelet's 110 pods)"
                )
            else:
                fix = "use a larger VPC CIDR, or spread the fleets over more zones"
                what = f"{z.nodes:,} nodes' host addresses"
            yield ConfigIssue(
                config_path("network", "cidr"),
                f"the node subnet of {z.availability_zone} ({z.node_subnet}, {z.node_capacity:,} usable addresses) "
                f"cannot hold {what}: {z.node_addresses:,} addresses",
                fix,
            )
        if z.pod_subnet is not None and z.pod_addresses > z.pod_capacity:
            yield ConfigIssue(
                config_path("scheduler", "podNetwork", "cidrs"),
                f"the pod subnet of {z.availability_zone} ({z.pod_subnet}, {z.pod_capacity:,} usable addresses) "
                f"cannot hold its {z.nodes:,} nodes' {z.pod_addresses:,} pod addresses",
                "give the zone a larger pod subnet (a /16 is the largest secondary VPC CIDR block), lower "
                "`trainingPodsPerNode`, or spread the fleets over more zones",
            )
    if budget.cidr_blocks > 1:
        k8s = spec.scheduler
        assert isinstance(k8s, KubernetesScheduler)
        quota = k8s.service_quotas.ipv4_cidr_blocks_per_vpc
        if budget.cidr_blocks > quota:
            yield ConfigIssue(
                config_path("scheduler", "podNetwork", "cidrs"),
                f"the VPC needs {budget.cidr_blocks} IPv4 CIDR blocks (the primary and one pod subnet per zone), "
                f"above the quota of {quota} (VPC quota L-83CA0A9D, IPv4 CIDR blocks per VPC)",
                "raise L-83CA0A9D in Service Quotas (up to 50) and set `scheduler.serviceQuotas.ipv4CidrBlocksPerVpc`, "
                "or use fewer zones",
            )


def pod_network_issues(spec: FactorySpec) -> Iterator[ConfigIssue]:
    """What each pod addressing allows: pod subnets only with custom networking; no FSx for Lustre in an
    IPv6 cluster, whose CSI driver EKS does not support there (EKS User Guide, "IPv6 addresses to
    clusters, pods, and services", "FSx for Lustre is not supported")."""
    k8s = spec.scheduler
    if not isinstance(k8s, KubernetesScheduler):
        return
    network = k8s.pod_network
    if network.cidrs is not None and network.addressing != "custom-networking":
        yield ConfigIssue(
            config_path("scheduler", "podNetwork", "cidrs"),
            f"pod subnets are for custom networking, not `{network.addressing}` addressing",
            "remove `cidrs`, or set `addressing: custom-networking`",
        )
    if network.addressing == "ipv6" and spec.storage is not None:
        yield ConfigIssue(
            config_path("scheduler", "podNetwork", "addressing"),
            "an IPv6 cluster cannot mount the FSx for Lustre file system: EKS does not support the FSx for Lustre "
            "CSI driver in IPv6 clusters",
            "use `addressing: custom-networking` (IPv4 pods in 100.64.0.0/10 pod subnets), or leave out `storage`",
        )


def network_interface_issues(spec: FactorySpec, budget: AddressBudget | None) -> Iterator[ConfigIssue]:
    """The nodes' interfaces (primary, EFA-only, pod) fit the Region's network interface quota."""
    k8s = spec.scheduler
    if budget is None or not isinstance(k8s, KubernetesScheduler):
        return
    quota = k8s.service_quotas.network_interfaces_per_region
    if budget.network_interfaces > quota:
        yield ConfigIssue(
            config_path("scheduler", "serviceQuotas", "networkInterfacesPerRegion"),
            f"the nodes attach {budget.network_interfaces:,} network interfaces (each EFA-only interface is one), "
            f"above the quota of {quota:,} (VPC quota L-DF5E4CA3, network interfaces per Region)",
            "raise L-DF5E4CA3 in Service Quotas and set `scheduler.serviceQuotas.networkInterfacesPerRegion`",
        )


def address_usage_issues(usage: AddressUsage) -> Iterator[ConfigIssue]:
    """A VPC above its Network Address Usage quota refuses launches with NetworkAddressUsageLimitExceeded
    (VPC User Guide, "Network Address Usage for your VPC", "Exceeding NAU quotas"): above the 256,000 no quota
    raises the layout cannot be built in one VPC; above the stack's quota, the quota must be raised first."""
    units = usage.units
    what = (
        f"the VPC's Network Address Usage is {units:,} units ({usage.addresses:,} addresses, {usage.interfaces:,} "
        f"additional and EFA-only interfaces, {usage.prefixes + usage.pods:,} pod prefixes and IPv6 pods, "
        f"{usage.endpoints + usage.nat_gateways:,} endpoint zones and NAT gateways at 6 each)"
    )
    if units > NETWORK_ADDRESS_USAGE_MAX:
        yield ConfigIssue(
            config_path("fleets"),
            f'{what}, above the {NETWORK_ADDRESS_USAGE_MAX:,} a VPC can have (VPC User Guide, "Network Address '
            'Usage for your VPC": each EFA-only interface and each EKS pod counts; the maximum is not adjustable)',
            "split the fleets over several factories, one VPC each, or use fewer network interfaces a GPU: an "
            "instance type with fewer network cards (p6-b200.48xlarge has 8 for 8 GPUs, p5.48xlarge 32) and, "
            "with EKS, `podNetwork.addressing: ipv6` (one prefix a node instead of an address a pod) and fewer "
            "`trainingPodsPerNode`",
        )
    elif units > usage.quota:
        yield ConfigIssue(
            config_path("network", "networkAddressUsageQuota"),
            f"{what}, above the VPC's quota of {usage.quota:,}",
            f'raise the Amazon VPC quota "Network Address Usage" (up to {NETWORK_ADDRESS_USAGE_MAX:,}) in Service '
            "Quotas and set `network.networkAddressUsageQuota` to what was granted",
        )


def node_group_quota_issues(spec: FactorySpec, groups: int) -> Iterator[ConfigIssue]:
    """The node groups (the system group and the fleets' groups after splitting) fit the per-cluster quota."""
    k8s = spec.scheduler
    if not isinstance(k8s, KubernetesScheduler):
        return
    quota = k8s.service_quotas.managed_node_groups_per_cluster
    if groups > quota:
        yield ConfigIssue(
            config_path("scheduler", "serviceQuotas", "managedNodeGroupsPerCluster"),
            f"the cluster needs {groups} managed node groups (the system group and every placement domain split "
            f"into groups of at most {k8s.service_quotas.nodes_per_managed_node_group} nodes), above the quota of "
            f"{quota} (EKS quota L-6D54EA21, managed node groups per cluster)",
            "raise L-6D54EA21 (or L-BD136A63, nodes per managed node group) in Service Quotas and set "
            "`scheduler.serviceQuotas`, or use fewer placement domains",
        )


def storage_within_service_maximum(spec: FactorySpec) -> Iterator[ConfigIssue]:
    """Targets above the largest file system the account's FSx storage quota allows."""
    st = spec.storage
    if st is None or (st.efa_enabled and st.deployment_type != "PERSISTENT_2"):
        return
    kinds = (st.deployment_type,)
    efa = " EFA-enabled" if st.efa_enabled else ""
    fix = (
        f"lower the target, or raise the account's FSx for Lustre {st.deployment_type} storage quota in "
        "Service Quotas and set `quotaGiB` to the new figure"
    )
    top_capacity = max_capacity_tib(kinds, st.efa_enabled, st.quota_gib)
    if st.capacity_tib is not None and st.capacity_tib > top_capacity:
        yield ConfigIssue(
            config_path("storage", "capacityTiB"),
            f"{st.capacity_tib:g} TiB is above the largest{efa} {st.deployment_type} file system within the "
            f"{st.quota_gib} GiB storage quota ({top_capacity:g} TiB)",
            fix,
        )
    top_throughput = max_throughput_gbps(kinds, st.efa_enabled, st.quota_gib)
    if st.throughput_gbps is not None and st.throughput_gbps > top_throughput:
        yield ConfigIssue(
            config_path("storage", "throughputGBps"),
            f"{st.throughput_gbps:g} GB/s is above the fastest{efa} {st.deployment_type} file system within "
            f"the {st.quota_gib} GiB storage quota ({top_throughput:g} GB/s)",
            fix,
        )
    if st.checkpoint is not None:
        needed = st.checkpoint.size_tb * 1000 / st.checkpoint.seconds
        if needed > top_throughput:
            yield ConfigIssue(
                config_path("storage", "checkpoint"),
                f"writing {st.checkpoint.size_tb:g} TB in {st.checkpoint.seconds:g} s needs {needed:g} GB/s, "
                f"above the fastest{efa} {st.deployment_type} file system within the {st.quota_gib} GiB "
                f"storage quota ({top_throughput:g} GB/s)",
                "allow more seconds per checkpoint, or raise the storage quota and set `quotaGiB`",
            )


def quotas_or_issues(spec: FactorySpec) -> tuple[dict[str, dict[str, int]], list[ConfigIssue]]:
    """Each queue's accelerators per fleet; the queues' GPU quotas must fit the fleets they may use."""
    k8s = spec.scheduler
    if not isinstance(k8s, KubernetesScheduler) or not k8s.queues:
        return {}, []
    fleets = [
        FleetCapacity(f.name, f.instance_type, f.count, f.efa and f.kind == "ec2", server=f.server) for f in spec.fleets
    ]
    try:
        return allocate_quotas(k8s.queues, fleets), []
    except QuotaError as exc:
        asked = sum(q.gpu_quota for q in k8s.queues)
        total = sum(f.count * fleet_hardware(f).gpus for f in spec.fleets)
        return {}, [
            ConfigIssue(
                config_path("scheduler", "queues"),
                f"{exc}; the queues ask for {asked} accelerators, the fleets have {total}",
                "lower `gpuQuota` (use `borrowingLimit` in a cohort to share idle GPUs) or add nodes",
            )
        ]
