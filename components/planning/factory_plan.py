"""`FactoryPlan`: every derived fact of one factory, computed once from a validated spec.

`plan_factory` is the only place that plans: zones and subnets, placement and topology, storage
sizing, the queues' quota split, the EKS node groups and the Slurm configuration, cost and power.
`AiFactory`, the plan report and `aifactory render` all read this object, so what is deployed and
what is rendered for review cannot disagree. Pure: no Pulumi imports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from ..catalog.hardware import fleet_hardware
from ..catalog.regions import availability_zones
from ..schedulers.slurm_config import render_slurm_configs, slurm_dns_zone, slurm_inputs_from_plan
from ..spec.errors import ConfigError, ConfigIssue, config_path
from ..spec.loading import validate_config
from ..spec.model import CapacityType, FactorySpec, Taint
from ..spec.scheduler import KubernetesScheduler, SlurmScheduler
from .address_plan import AddressBudget, AddressUsage, plan_address_usage, plan_addresses, pod_cidrs
from .feasibility import (
    KUBERNETES_SYSTEM_NODES,
    address_usage_issues,
    network_interface_issues,
    network_large_enough,
    node_group_quota_issues,
    pod_network_issues,
    quotas_or_issues,
    storage_within_service_maximum,
    subnets_or_issues,
)
from .network_plan import SubnetPlan, interface_endpoints
from .node_images import ImageBuild, plan_node_images
from .observability_plan import ObservabilityPlan, plan_observability
from .placement import Domain, PlacementError, PlacementPlan, plan_placement
from .production_plan import ProductionPlan, plan_production
from .storage_plan import StoragePlanFigures, plan_figures, size_for_spec
from .storage_sizing import FilesystemSizing, SizingError
from .summary import factory_summary
from .zones import fleet_zones, network_zones, storage_zone

SLURM_CONTROLLER_HOST = "slurmctld"
"""The Slurm head's host name: slurm.conf `SlurmctldHost` and its A record in the cluster's zone."""

SchedulerKind = Literal["kubernetes", "slurm", "none"]


@dataclass(frozen=True)
class NodeGroupPlan:
    """One EKS managed node group: the nodes of one placement domain (labels and power cap are exact)."""

    name: str
    fleet: str
    domain: str
    """The placement domain whose launch template the group launches from (several groups when the
    domain has more nodes than one node group may hold)."""
    instance_type: str
    nodes: int
    availability_zone: str
    capacity_type: CapacityType
    capacity_block_end: str | None
    labels: Mapping[str, str]
    taints: tuple[Taint, ...]
    efa: bool


@dataclass(frozen=True)
class SlurmComputeGroup:
    """The CLOUD nodes of one placement domain, launched on demand from that domain's launch template."""

    domain: str
    fleet: str
    capacity: CapacityType
    reservation_id: str | None
    """The capacity reservation or block the domain's launch template targets."""
    hostnames: tuple[str, ...]


@dataclass(frozen=True)
class SlurmPlan:
    cluster_name: str
    """slurm.conf `ClusterName`; also names the private DNS zone `<cluster>.slurm.internal`."""
    controller_host: str
    config_files: Mapping[str, str]
    """Rendered slurm.conf, gres.conf, cgroup.conf, topology.conf and the node scripts, by file name."""
    compute_groups: tuple[SlurmComputeGroup, ...]

    @property
    def dns_zone(self) -> str:
        return slurm_dns_zone(self.cluster_name)

    @property
    def controller_address(self) -> str:
        """The head's DNS name, known before the head exists, so compute nodes can be rendered first."""
        return f"{self.controller_host}.{self.dns_zone}"


@dataclass(frozen=True)
class FactoryPlan:
    name: str
    """The factory's name (the stack name): prefixes resource names, names the EKS and Slurm cluster."""
    spec: FactorySpec
    network_zones: tuple[str, ...]
    fleet_zones: Mapping[str, str]
    storage_zone: str
    """The file system's AZ: `storage.availabilityZone`, else the fleets' one zone (see `zones.storage_zone`)."""
    subnets: tuple[SubnetPlan, ...]
    placement: PlacementPlan
    storage: FilesystemSizing | None
    storage_figures: StoragePlanFigures | None
    quotas: Mapping[str, Mapping[str, int]]
    """Kueue queue -> fleet -> accelerators of its nominal quota."""
    node_groups: tuple[NodeGroupPlan, ...]
    slurm: SlurmPlan | None
    summary: Mapping[str, Any]
    address_usage: AddressUsage
    """The VPC's Network Address Usage against its quota."""
    warnings: tuple[ConfigIssue, ...] = ()
    """Valid but suspicious config values (`ConfigIssue.severity == "warning"`), shown with the plan."""
    node_images: tuple[ImageBuild, ...] = ()
    """The Image Builder pipelines of `aifactory:nodeImages.build`, one per accelerator family."""
    address_budget: AddressBudget | None = None
    """Kubernetes: node and pod addresses per AZ against their subnets."""
    pod_subnets: Mapping[str, str] = field(default_factory=dict)
    """Custom networking: the pod subnet (a secondary VPC CIDR block) of each zone."""
    production: ProductionPlan | None = None
    """`aifactory:production`: each line's Kubeflow Trainer objects, GPU share per queue and costs."""
    observability: ObservabilityPlan | None = None
    """`aifactory:observability`: the metrics backend, its rule groups and the dashboard."""

    @property
    def scheduler(self) -> SchedulerKind:
        return self.spec.scheduler.kind if self.spec.scheduler is not None else "none"

    def domains_for(self, fleet: str) -> tuple[Domain, ...]:
        return self.placement.domains_for(fleet)


def plan_factory(spec: FactorySpec, name: str, warnings: tuple[ConfigIssue, ...] = ()) -> FactoryPlan:
    """Plan a validated spec; raises `ConfigError` listing every reason the factory cannot be built
    (with the config's `warnings`, so they are not lost when the plan fails)."""
    zones_of_fleets = fleet_zones(spec)
    zones = network_zones(spec, zones_of_fleets)
    issues: list[ConfigIssue] = []

    subnets, subnet_issues = subnets_or_issues(spec, zones)
    issues += subnet_issues
    zone_of_storage, storage_zone_issues = storage_zone(spec, zones_of_fleets, zones)
    issues += storage_zone_issues
    kubernetes = isinstance(spec.scheduler, KubernetesScheduler)
    pods_of_zone = pod_cidrs(spec, zones, availability_zones(spec.region))
    budget = (
        plan_addresses(spec, subnets, zones_of_fleets, pods_of_zone, KUBERNETES_SYSTEM_NODES)
        if kubernetes and subnets
        else None
    )
    issues += network_large_enough(spec, budget, subnets, zones_of_fleets)
    issues += network_interface_issues(spec, budget)
    issues += pod_network_issues(spec)

    sizing = None
    storage_issues = list(storage_within_service_maximum(spec))
    issues += storage_issues
    if spec.storage is not None and not storage_issues:
        try:
            sizing = size_for_spec(spec.storage, spec.region)
        except SizingError as exc:
            issues.append(ConfigIssue(config_path("storage"), str(exc), "lower the targets or raise `quotaGiB`"))

    placement = None
    try:
        placement = plan_placement(spec)
    except PlacementError as exc:
        issues += exc.issues

    quotas, quota_issues = quotas_or_issues(spec)
    issues += quota_issues

    node_groups = _node_groups(spec, placement, zones_of_fleets) if placement is not None else ()
    if kubernetes:
        issues += node_group_quota_issues(spec, len(node_groups) + SYSTEM_NODE_GROUPS)

    usage = None
    if placement is not None:
        usage = _address_usage(spec, budget, zones, placement.site)
        issues += address_usage_issues(usage)

    if issues or placement is None or usage is None:
        raise ConfigError([*issues, *warnings])

    # EC2 GPUs read the file system over the VPC; the data hall's servers are not its clients here.
    gpus = sum(f.count * fleet_hardware(f).gpus for f in spec.ec2_fleets)
    figures = plan_figures(sizing, gpus, s3_linked=_s3_linked(spec)) if sizing is not None else None
    production = plan_production(spec)
    summary = factory_summary(spec, placement, asdict(figures) if figures else None)
    if production is not None:
        summary = {**summary, "production": production.summary()}
    observability = plan_observability(spec)
    if observability is not None:
        summary = {**summary, "observability": observability.summary()}
    return FactoryPlan(
        name=name,
        spec=spec,
        network_zones=tuple(zones),
        fleet_zones=zones_of_fleets,
        storage_zone=zone_of_storage,
        subnets=tuple(subnets),
        placement=placement,
        storage=sizing,
        storage_figures=figures,
        quotas=quotas,
        node_groups=node_groups,
        slurm=_slurm(spec, placement, name),
        address_budget=budget,
        address_usage=usage,
        pod_subnets=pods_of_zone,
        summary=summary,
        warnings=warnings,
        node_images=plan_node_images(spec),
        production=production,
        observability=observability,
    )


def _address_usage(spec: FactorySpec, budget: AddressBudget | None, zones: Sequence[str], site: str) -> AddressUsage:
    """The VPC's Network Address Usage, with the interface endpoints the components create: the network's
    in every zone (`FactoryNetwork`), without egress the cluster runner's KMS endpoint in every zone and
    the node images' Image Builder endpoint in the first."""
    k8s = spec.scheduler if isinstance(spec.scheduler, KubernetesScheduler) else None
    slurm = isinstance(spec.scheduler, SlurmScheduler)
    services = interface_endpoints(k8s is not None, spec.scheduler is None, slurm and site == "aws")
    endpoint_zones = len(services) * len(zones)
    if spec.egress == "none":
        endpoint_zones += len(zones) if k8s is not None and k8s.cluster_runner is not None else 0
        endpoint_zones += 1 if plan_node_images(spec) else 0
    nat_gateways = len(zones) if spec.egress == "nat" else 0
    return plan_address_usage(spec, budget, endpoint_zones, nat_gateways, head_nodes=1 if slurm else 0)


def _s3_linked(spec: FactorySpec) -> bool:
    storage = spec.storage
    return storage is not None and (storage.import_location is not None or storage.export_location is not None)


def plan_from_config(config: Mapping[str, Any], name: str) -> FactoryPlan:
    """Validate a stack's config (`aws:region`, `aifactory:*`) and plan it: the CLI's and the program's path."""
    spec, warnings = validate_config(config)
    return plan_factory(spec, name, warnings)


SYSTEM_NODE_GROUPS = 1
"""The cluster's own node group for the controllers (`KubernetesScheduler._system_node_group`)."""


def split_nodes(nodes: int, limit: int) -> list[int]:
    """`nodes` in as few groups of at most `limit` as possible, sizes differing by at most one."""
    groups = -(-nodes // limit)
    base, extra = divmod(nodes, groups)
    return [base + 1 if i < extra else base for i in range(groups)]


def node_group_name(domain: str, index: int) -> str:
    """The first group of a domain keeps the domain's name (and its 0.1 URN); the next are `-2`, `-3`, ..."""
    return domain if index == 0 else f"{domain}-{index + 1}"


def _node_groups(spec: FactorySpec, placement: PlacementPlan, zones: Mapping[str, str]) -> tuple[NodeGroupPlan, ...]:
    """One managed node group per placement domain, split where the domain has more nodes than the
    nodes-per-node-group quota allows (EKS quota L-BD136A63)."""
    if not isinstance(spec.scheduler, KubernetesScheduler):
        return ()
    limit = spec.scheduler.service_quotas.nodes_per_managed_node_group
    return tuple(
        NodeGroupPlan(
            name=node_group_name(domain.name, i),
            fleet=fleet.name,
            domain=domain.name,
            instance_type=fleet.instance_type or "",
            nodes=size,
            availability_zone=zones[fleet.name],
            capacity_type=fleet.capacity.type,
            capacity_block_end=fleet.capacity.end_time.isoformat() if fleet.capacity.end_time else None,
            labels={**fleet.labels, **domain.labels},
            taints=tuple(fleet.taints),
            efa=fleet.efa,
        )
        # Hybrid fleets have no node groups: their servers join as EKS Hybrid Nodes.
        for fleet in spec.ec2_fleets
        for domain in placement.domains_for(fleet.name)
        for i, size in enumerate(split_nodes(domain.nodes, limit))
    )


def _slurm(spec: FactorySpec, placement: PlacementPlan, name: str) -> SlurmPlan | None:
    if not isinstance(spec.scheduler, SlurmScheduler):
        return None
    inputs = slurm_inputs_from_plan(spec, placement, cluster_name=name, controller_host=SLURM_CONTROLLER_HOST)
    return SlurmPlan(
        cluster_name=name,
        controller_host=SLURM_CONTROLLER_HOST,
        config_files=render_slurm_configs(inputs),
        compute_groups=tuple(
            SlurmComputeGroup(
                domain.name, fleet.name, fleet.capacity.type, fleet.capacity.reservation_id, domain.hostnames
            )
            # Launched compute groups are EC2 only; on-prem servers are static nodes the customer runs.
            for fleet in spec.ec2_fleets
            for domain in placement.domains_for(fleet.name)
        ),
    )
