"""`AiFactory`: the whole factory from one `FactoryPlan`."""

from typing import Any, NotRequired, TypedDict

import pulumi

from .bootstrap import BootstrapContext, FsxMount, NodeadmCluster, render_user_data
from .capacity_block_expiry import CapacityBlockExpiry
from .catalog.hardware import ec2_instance_type
from .catalog.instance_types import get_instance_type
from .component_args import config_issues_at_args, validate_component_args
from .encryption import customer_managed_key
from .fleet import GpuFleet, drain_deadline
from .hybrid import HybridNodes
from .network import FactoryNetwork
from .node_images import NodeImages
from .planning.factory_plan import FactoryPlan, plan_factory, plan_from_config
from .planning.node_repair import node_repair_args
from .planning.placement import Domain
from .registry import ModelRegistry, RegistryLineArgs
from .schedulers.cluster_config import ClusterSettings, FilesystemArgs
from .schedulers.cluster_runner import ClusterRunner
from .schedulers.kubernetes import (
    SYSTEM_NODES,
    HybridFleetArgs,
    KubernetesScheduler,
    KubernetesSchedulerArgs,
    NodeGroupArgs,
    cluster_settings,
    fleet_capacities,
    hybrid_fleet_capacities,
)
from .schedulers.node_groups import KubernetesNodeGroups
from .schedulers.production_cycle import production_cycles
from .schedulers.production_registry import MlflowServer
from .schedulers.slurm import SlurmScheduler
from .spec import ConfigError, FactorySpec
from .spec.errors import NAMESPACE
from .spec.hybrid import hybrid_server_count
from .spec.images import eks_system_release_key, fleet_image, head_image_key, images_pinned, pinned_image
from .spec.production import ProductionSpec
from .spec.scheduler import KubernetesScheduler as KubernetesSpec
from .spec.scheduler import SlurmScheduler as SlurmSpec
from .spec.storage import StorageSpec, parse_s3_path
from .storage import ParallelFilesystem, spec_args
from .tags import factory_tags


def eks_cluster_name(factory: str) -> str:
    """The EKS cluster's name: the scheduler component is `<factory>-eks` and names its cluster after itself."""
    return f"{factory}-eks"


def configures_cluster_in_stack(plan: FactoryPlan) -> bool:
    """Whether the infrastructure stack creates the Kubernetes side itself: only when `pulumi up`
    can reach the API server, i.e. the endpoint is public (and private). A private endpoint is
    reachable only from inside the VPC (EKS user guide, "Cluster API server endpoint"), so the
    cluster-configuration stack does it from there."""
    scheduler = plan.spec.scheduler
    return isinstance(scheduler, KubernetesSpec) and scheduler.endpoint == "public" and not plan.spec.sovereign


def plan_node_groups(plan: FactoryPlan, subnet_of: dict[str, pulumi.Output[str]] | None) -> list[NodeGroupArgs]:
    """The plan's node groups (one per placement domain), in the subnets given per zone; without
    subnets (the cluster stack places no nodes) the subnet is left empty."""
    scheduler = plan.spec.scheduler
    repair = scheduler.node_repair if isinstance(scheduler, KubernetesSpec) else None
    groups: list[NodeGroupArgs] = []
    for g in plan.node_groups:
        group: NodeGroupArgs = {
            "name": g.name,
            "fleet": g.fleet,
            "instance_type": g.instance_type,
            "nodes": g.nodes,
            "subnet_id": subnet_of[g.availability_zone] if subnet_of is not None else "",
            "capacity_type": g.capacity_type,
            "capacity_block_end": g.capacity_block_end,
            "labels": dict(g.labels),
            "taints": [str(t) for t in g.taints],
            "efa": g.efa,
        }
        if repair is not None:
            vendor = get_instance_type(g.instance_type).accelerator.vendor
            group["node_repair"] = node_repair_args(repair, g.nodes, vendor)
        groups.append(group)
    return groups


def kubernetes_args(
    plan: FactoryPlan, node_groups: list[NodeGroupArgs], filesystem: FilesystemArgs | None
) -> KubernetesSchedulerArgs:
    """`KubernetesScheduler`'s args from the plan (without the network's subnets, key and tags)."""
    spec = plan.spec
    scheduler = spec.scheduler
    assert isinstance(scheduler, KubernetesSpec)
    hybrid_fleets: list[HybridFleetArgs] = [
        {"name": f.name, "server": f.server or "", "nodes": f.count, "taints": [str(t) for t in f.taints]}
        for f in spec.hybrid_fleets
    ]
    cycles: list[dict[str, Any]] = []
    if spec.production is not None and spec.storage is not None:
        cycles = production_cycles(
            spec.production.lines,
            spec.production.registry,
            scheduler.queues,
            [*fleet_capacities(node_groups), *hybrid_fleet_capacities(hybrid_fleets)],
            spec.storage.mount_path,
            spec.storage.s3_import_path,
        )
    return {
        "version": scheduler.version,
        "region": spec.region,
        "partition": spec.partition,
        "subnet_ids": [],
        "endpoint": scheduler.endpoint,
        "public_access_cidrs": list(scheduler.public_access_cidrs),
        "sovereign": spec.sovereign,
        "node_groups": node_groups,
        "hybrid_fleets": hybrid_fleets,
        "queues": [q.model_dump() for q in scheduler.queues],  # type: ignore[misc]
        "priorities": list(scheduler.priorities),
        "charts": scheduler.charts.model_dump(),
        "registry_mirror": spec.sovereignty.registry_mirror if spec.sovereignty else None,
        # A data hall's one Topology; on AWS each fleet's follows its instance type's EC2 layers.
        "topology_levels": plan.placement.kueue_topology_levels() or [],
        "filesystem": filesystem,
        "configure_cluster": configures_cluster_in_stack(plan),
        "admin_role_arns": list(spec.access.administrators) if spec.access is not None else [],
        "remote_node_cidrs": list(spec.hybrid.remote_node_cidrs) if spec.hybrid is not None else [],
        "remote_pod_cidrs": list(spec.hybrid.remote_pod_cidrs) if spec.hybrid is not None else [],
        "production_cycles": cycles,
        "training_runtimes": [line.runtime for line in plan.production.lines] if plan.production else [],
        "system_node_repair": node_repair_args(scheduler.node_repair, SYSTEM_NODES, None),
    }


def registry_lines(plan: FactoryPlan) -> list[RegistryLineArgs]:
    """Each line of `aifactory:production` and the namespace its steps run in (its training queue's)."""
    spec = plan.spec
    scheduler = spec.scheduler
    if spec.production is None or not isinstance(scheduler, KubernetesSpec):
        return []
    namespaces = {q.name: q.namespace for q in scheduler.queues}
    return [{"name": line.name, "namespace": namespaces[line.training.queue]} for line in spec.production.lines]


def mlflow_server(
    plan: FactoryPlan, database_host: pulumi.Input[str], secret_arn: pulumi.Input[str]
) -> MlflowServer | None:
    """The plan's MLflow tracking server with the infrastructure stack's database; None without one."""
    production = plan.spec.production
    if production is None or production.registry.kind != "mlflow" or production.registry.image is None:
        return None
    artifacts = parse_s3_path(production.registry.artifacts)
    assert artifacts is not None, "spec rules require s3:// artifacts for MLflow"
    sovereignty = plan.spec.sovereignty
    return MlflowServer(
        image=production.registry.image,
        namespace=production.registry.namespace,
        artifacts=artifacts,
        database_host=database_host,
        secret_arn=secret_arn,
        region=plan.spec.region,
        line_namespaces=[line["namespace"] for line in registry_lines(plan)],
        registry_mirror=sovereignty.registry_mirror if sovereignty else None,
    )


def plan_cluster_settings(
    plan: FactoryPlan, filesystem: FilesystemArgs | None, model_registry: MlflowServer | None = None
) -> ClusterSettings:
    """The Kubernetes side of the plan, built exactly as `AiFactory` builds it for its scheduler."""
    return cluster_settings(
        kubernetes_args(plan, plan_node_groups(plan, None), filesystem),
        plan.quotas,
        plan_production(plan),
        model_registry,
        plan.observability,
    )


def plan_production(plan: FactoryPlan) -> tuple[ProductionSpec, StorageSpec] | None:
    """The production lines and the file system they use, for the Kubernetes side."""
    spec = plan.spec
    return (spec.production, spec.storage) if spec.production is not None and spec.storage is not None else None


class AiFactoryArgs(TypedDict):
    """Inputs of `AiFactory` from other languages; both are needed unless a Python caller passes `plan=`."""

    region: NotRequired[str]
    """The stack's AWS region (Pulumi's `aws:region`)."""
    config: NotRequired[dict[str, Any]]
    """The `aifactory:` config keys without the namespace (profile, fleets, network, ...)."""


class AiFactory(pulumi.ComponentResource):
    """Network, encryption key, GPU fleets, shared filesystem and training scheduler of one factory.

    Python programs pass `plan=` (from `plan_factory`) or a validated `spec=`; otherwise the args are
    validated and planned here. Either way nothing is registered before the plan succeeds.
    """

    vpc_id: pulumi.Output[str]
    kms_key_arn: pulumi.Output[str | None]

    def __init__(
        self,
        name: str,
        args: AiFactoryArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        plan: FactoryPlan | None = None,
        spec: FactorySpec | None = None,
    ):
        if plan is not None and spec is not None:
            raise ValueError("pass AiFactory either plan= or spec=, not both")
        validate_component_args(AiFactoryArgs, args)
        if spec is not None:
            # 0.1 programs pass a validated spec; it is planned here, once.
            plan = plan_factory(spec, name)
        if plan is None:
            # Validate and plan before registering anything: an invalid config creates no resource.
            config = {f"{NAMESPACE}:{k}": v for k, v in args.get("config", {}).items()}
            try:
                plan = plan_from_config({"aws:region": args.get("region"), **config}, name)
            except ConfigError as exc:
                # The stack config's paths, at the args that carried them (`config.fleets[0].count`).
                raise config_issues_at_args(exc) from None
        elif plan.name != name:
            raise ValueError(f"AiFactory '{name}' was given the plan of factory '{plan.name}'; use the same name")
        unpinned = list(images_pinned(plan.spec))
        if unpinned:
            # A spec validated without its pins (`require_pinned_images=False`) boots nothing.
            raise ConfigError(unpinned)
        # The placement summary is an input so CrossGuard's stack policy can check rack power.
        super().__init__("aifactory:index:AiFactory", name, {"placement": plan.placement.summary()}, opts)
        self.plan = plan
        self.spec = spec = plan.spec
        self.placement = plan.placement
        child = pulumi.ResourceOptions(parent=self)
        tags = factory_tags(name, spec.profile, spec.region, spec.sovereign)

        key_arn = self._kms_key(name, plan, tags, child)
        self.network = FactoryNetwork(
            f"{name}-network",
            {
                "cidr": spec.network.cidr,
                "availability_zones": list(plan.network_zones),
                "egress": spec.egress,
                "region": spec.region,
                "partition": spec.partition,
                "eks": plan.scheduler == "kubernetes",
                "auto_scaling": plan.scheduler == "none",
                # The Slurm head reads the nodes' EC2 topology (DescribeInstanceTopology).
                "ec2_api": plan.scheduler == "slurm" and plan.placement.site == "aws",
                "kms_key_arn": key_arn,
                # Nodes on the Ubuntu DLAMI (every scheduler but EKS) install the Lustre client and
                # slurmd at boot with apt, from the archive mirror cloud-init sets for EC2 over plain
                # HTTP (cloud-init DataSourceEC2: http://<region>.ec2.archive.ubuntu.com/ubuntu/); EKS's
                # Amazon Linux 2023 nodes fetch only over HTTPS.
                "http_egress": plan.scheduler != "kubernetes" and (plan.slurm is not None or spec.storage is not None),
                "pod_subnets": dict(plan.pod_subnets),
                "ipv6": plan.address_budget is not None and plan.address_budget.addressing == "ipv6",
                "tags": tags,
            },
            child,
            subnets=plan.subnets,
        )
        subnet_of = self.network.subnet_ids_by_zone

        self.storage: ParallelFilesystem | None = None
        if spec.storage is not None:
            self.storage = ParallelFilesystem(
                f"{name}-fsx",
                spec_args(
                    spec,
                    subnet_id=subnet_of[plan.storage_zone],
                    vpc_id=self.network.vpc_id,
                    client_security_group_id=self.network.node_security_group_id,
                    kms_key_arn=key_arn,
                    tags=tags,
                ),
                child,
                sizing=plan.storage,
            )

        self.node_images: NodeImages | None = None
        if plan.node_images:
            self.node_images = NodeImages(
                f"{name}-node-images",
                {
                    "region": spec.region,
                    "partition": spec.partition,
                    "vpc_id": self.network.vpc_id,
                    "vpc_cidr": spec.network.cidr,
                    "subnet_id": subnet_of[plan.network_zones[0]],
                    "image_builder_endpoint": spec.egress == "none",
                    "kms_key_arn": key_arn,
                    "tags": tags,
                },
                child,
                builds=plan.node_images,
            )

        # The registry's database first: the cluster's objects (declared with the scheduler when the
        # endpoint is public) name its address; its ingress and pod identities follow the cluster.
        self.model_registry: ModelRegistry | None = None
        if spec.production is not None and plan.scheduler == "kubernetes":
            self.model_registry = self._model_registry(name, key_arn, tags, child)

        self.kubernetes: KubernetesScheduler | None = None
        cluster: pulumi.Output[NodeadmCluster] | None = None
        if plan.scheduler == "kubernetes":
            self.kubernetes = self._kubernetes(name, key_arn, tags, child)
            k8s = self.kubernetes
            if self.model_registry is not None:
                self.model_registry.connect(k8s.cluster_name, k8s.cluster_security_group_id, [k8s])
            cluster = pulumi.Output.all(
                k8s.cluster_name,
                k8s.cluster_endpoint,
                k8s.cluster_certificate_authority,
                k8s.service_cidr,
            ).apply(lambda v: NodeadmCluster(name=v[0], endpoint=v[1], certificate_authority=v[2], service_cidr=v[3]))

        # The Slurm head's DNS name lives in the private zone the Slurm component creates, so
        # compute nodes know it before the head exists.
        slurm_controller = plan.slurm.controller_address if plan.slurm else None

        # Every fleet interface carries the EFA group and the node group. A launch template that sets
        # security groups replaces the EKS cluster security group EKS would add, so EKS nodes also
        # carry the cluster group: it admits all traffic from its members, the control plane's ENIs
        # (kubelet 10250, webhooks) and the system nodes (CoreDNS TCP/UDP 53) among them (EKS user guide,
        # "Customize managed nodes with launch templates" and "View Amazon EKS security group
        # requirements for clusters").
        fleet_groups = [self.network.efa_security_group_id, self.network.node_security_group_id]
        if self.kubernetes is not None:
            fleet_groups.append(self.kubernetes.cluster_security_group_id)

        self.fleets: dict[str, GpuFleet] = {}
        # Only EC2 fleets become GpuFleets: a hybrid fleet's servers are the customer's, racked in the data
        # hall and joined as EKS Hybrid Nodes or static Slurm nodes, so nothing is launched for them.
        for fleet in spec.ec2_fleets:
            domains = plan.domains_for(fleet.name)
            self.fleets[fleet.name] = GpuFleet(
                f"{name}-{fleet.name}",
                {
                    "instance_type": ec2_instance_type(fleet).name,
                    "domains": [
                        {
                            "name": d.name,
                            "nodes": d.nodes,
                            "placement": d.placement,
                            "placement_group": d.placement_group,
                            "partition_number": d.partition_number,
                            "gpu_power_cap_w": d.gpu_power_cap_w,
                            "labels": dict(d.labels),
                        }
                        for d in domains
                    ],
                    "subnet_id": subnet_of[plan.fleet_zones[fleet.name]],
                    "security_group_ids": list(fleet_groups),
                    "capacity_type": fleet.capacity.type,
                    "reservation_id": fleet.capacity.reservation_id,
                    "capacity_block_end": fleet.capacity.end_time.isoformat() if fleet.capacity.end_time else None,
                    "scheduler": plan.scheduler,
                    "kubernetes_version": spec.scheduler.version if isinstance(spec.scheduler, KubernetesSpec) else "",
                    "ami_id": fleet_image(spec, fleet),
                    "kms_key_arn": key_arn,
                    "root_volume_gib": fleet.root_volume_gib,
                    "partition": spec.partition,
                    "user_data": {
                        d.name: self._user_data(d, cluster=cluster, slurm_controller=slurm_controller) for d in domains
                    },
                    "tags": {**tags, "aifactory:fleet": fleet.name},
                },
                child,
            )

        self.node_groups: KubernetesNodeGroups | None = None
        if self.kubernetes is not None:
            self.node_groups = KubernetesNodeGroups(
                f"{name}-node-groups",
                {
                    "cluster_name": self.kubernetes.cluster_name,
                    "resource_prefix": f"{name}-eks",
                    "groups": self._node_groups(with_launch_templates=True),
                    "tags": tags,
                    "region": spec.region,
                },
                child,
                moved_from=self.kubernetes,
            )

        self.capacity_block_expiry: CapacityBlockExpiry | None = None
        blocks = {
            f.capacity.reservation_id: f.name
            for f in spec.ec2_fleets
            if f.capacity.type == "capacity-block" and f.capacity.reservation_id
        }
        if self.kubernetes is not None and blocks:
            k8s = self.kubernetes
            self.capacity_block_expiry = CapacityBlockExpiry(
                f"{name}-block-expiry",
                {
                    "cluster_name": k8s.cluster_name,
                    "cluster_endpoint": k8s.cluster_endpoint,
                    "cluster_certificate_authority": k8s.cluster_certificate_authority,
                    "cluster_security_group_id": k8s.cluster_security_group_id,
                    "subnet_ids": self.network.private_subnet_ids,
                    "fleets": blocks,
                    "partition": spec.partition,
                    "kms_key_arn": key_arn,
                    "tags": tags,
                },
                child,
            )

        self.cluster_runner: ClusterRunner | None = None
        if self.kubernetes is not None and not configures_cluster_in_stack(plan):
            self.cluster_runner = self._cluster_runner(name, key_arn, tags, child)

        self.slurm: SlurmScheduler | None = self._slurm(name, key_arn, tags, child) if plan.slurm else None
        self.hybrid: HybridNodes | None = self._hybrid(name, tags, child) if spec.hybrid is not None else None

        self.vpc_id = self.network.vpc_id
        self.kms_key_arn = pulumi.Output.from_input(key_arn)
        self.register_outputs({"vpc_id": self.vpc_id, "kms_key_arn": self.kms_key_arn})

    def _node_groups(self, with_launch_templates: bool = False) -> list[NodeGroupArgs]:
        """The plan's node groups with their subnets (one per placement domain); with their fleets'
        launch templates and roles once the fleets exist."""
        groups = plan_node_groups(self.plan, self.network.subnet_ids_by_zone)
        for group, g in zip(groups, self.plan.node_groups, strict=True):
            if with_launch_templates:
                fleet = self.fleets[g.fleet]
                group["launch_template_id"] = fleet.launch_template_ids[g.domain]
                group["launch_template_version"] = fleet.launch_template_versions[g.domain]
                group["node_role_arn"] = fleet.instance_role_arn
        return groups

    def _hybrid(self, name: str, tags: dict[str, str], child: pulumi.ResourceOptions) -> HybridNodes:
        """The data hall's link, routes and (EKS) node identity."""
        spec = self.spec
        hybrid = spec.hybrid
        assert hybrid is not None
        k8s = self.kubernetes
        return HybridNodes(
            f"{name}-hybrid",
            {
                "region": spec.region,
                "partition": spec.partition,
                "vpc_id": self.network.vpc_id,
                "vpc_cidr": spec.network.cidr,
                "route_tables": dict(self.network.private_route_table_ids_by_zone),
                "remote_node_cidrs": list(hybrid.remote_node_cidrs),
                "remote_pod_cidrs": list(hybrid.remote_pod_cidrs),
                "link": hybrid.link.model_dump(),
                "credentials": hybrid.credentials.model_dump() if hybrid.credentials is not None else None,
                "servers": hybrid_server_count(spec),
                "cluster_name": k8s.cluster_name if k8s is not None else None,
                "cluster_security_group_id": k8s.cluster_security_group_id if k8s is not None else None,
                "tags": tags,
            },
            child,
        )

    def _model_registry(
        self, name: str, key_arn: pulumi.Input[str] | None, tags: dict[str, str], child: pulumi.ResourceOptions
    ) -> ModelRegistry:
        """The registry's AWS side: MLflow's database, or SageMaker's model package groups."""
        spec = self.spec
        production = spec.production
        assert production is not None
        registry = production.registry
        return ModelRegistry(
            f"{name}-registry",
            {
                "kind": registry.kind,
                "factory": name,
                "region": spec.region,
                "partition": spec.partition,
                "namespace": registry.namespace,
                "artifacts": registry.artifacts,
                "lines": registry_lines(self.plan),
                "vpc_id": self.network.vpc_id,
                "subnet_ids": self.network.private_subnet_ids,
                "kms_key_arn": key_arn,
                "tags": tags,
            },
            child,
        )

    def _cluster_runner(
        self, name: str, key_arn: pulumi.Input[str] | None, tags: dict[str, str], child: pulumi.ResourceOptions
    ) -> ClusterRunner | None:
        """The CodeBuild runner in the private subnets that applies the cluster stack (when configured)."""
        spec = self.spec
        scheduler = spec.scheduler
        k8s = self.kubernetes
        assert isinstance(scheduler, KubernetesSpec) and k8s is not None
        runner = scheduler.cluster_runner
        if runner is None:
            return None
        secrets_key = runner.secrets_key_arn or spec.factory_key_arn
        assert secrets_key is not None, "spec rules require secretsKeyArn without a configured factory key"
        return ClusterRunner(
            f"{name}-cluster-config",
            {
                "stack": name,
                "region": spec.region,
                "partition": spec.partition,
                "image": runner.image,
                "state_bucket": runner.state_bucket,
                "secrets_key_arn": secrets_key,
                "project_dir": runner.project_dir,
                "vpc_id": self.network.vpc_id,
                "vpc_cidr": spec.network.cidr,
                "subnet_ids": self.network.private_subnet_ids,
                "cluster_name": k8s.cluster_name,
                "cluster_arn": k8s.cluster_arn,
                "cluster_security_group_id": k8s.cluster_security_group_id,
                # Without egress KMS is reachable only through an interface endpoint.
                "kms_endpoint": spec.egress == "none",
                "kms_key_arn": key_arn,
                "tags": tags,
            },
            child,
        )

    def _slurm(
        self, name: str, key_arn: pulumi.Input[str] | None, tags: dict[str, str], child: pulumi.ResourceOptions
    ) -> SlurmScheduler:
        spec = self.spec
        scheduler = spec.scheduler
        slurm = self.plan.slurm
        assert isinstance(scheduler, SlurmSpec) and slurm is not None
        subnet_of = self.network.subnet_ids_by_zone
        return SlurmScheduler(
            f"{name}-slurm",
            {
                "cluster_name": slurm.cluster_name,
                "controller_host": slurm.controller_host,
                "version": scheduler.version,
                "config_files": dict(slurm.config_files),
                # EC2's topology is measured (by the head, or from 25.11 by each node as it registers);
                # a data hall's switch tree is planned.
                "measured_topology": self.plan.placement.site == "aws",
                "accounting": scheduler.accounting == "slurmdbd",
                "egress": spec.egress,
                "built_images": spec.node_images.boot,
                "region": spec.region,
                "partition": spec.partition,
                "vpc_id": self.network.vpc_id,
                "vpc_cidr": spec.network.cidr,
                "s3_prefix_list_id": self.network.s3_prefix_list_id,
                "subnet_id": subnet_of[self.plan.network_zones[0]],
                "database_subnet_ids": list(self.network.subnet_ids_by_zone.values()),
                "fleet_security_group_ids": [self.network.node_security_group_id],
                "node_role_names": [f.instance_role_name for f in self.fleets.values()],
                "node_role_arns": [f.instance_role_arn for f in self.fleets.values()],
                "node_cidr": spec.network.cidr,
                "compute_groups": [
                    {
                        "domain": group.domain,
                        "launch_template_id": self.fleets[group.fleet].launch_template_ids[group.domain],
                        "launch_template_version": self.fleets[group.fleet].launch_template_versions[group.domain],
                        "capacity": group.capacity,
                        "reservation_id": group.reservation_id,
                        "hostnames": list(group.hostnames),
                    }
                    for group in slurm.compute_groups
                ],
                "kms_key_arn": key_arn,
                "head_ami_id": pinned_image(spec, head_image_key(spec)),
                "remote_node_cidrs": list(spec.hybrid.remote_node_cidrs) if spec.hybrid is not None else [],
                "tags": tags,
            },
            child,
        )

    def _kubernetes(
        self, name: str, key_arn: pulumi.Input[str] | None, tags: dict[str, str], child: pulumi.ResourceOptions
    ) -> KubernetesScheduler:
        spec = self.spec
        scheduler = spec.scheduler
        assert isinstance(scheduler, KubernetesSpec)
        storage = self.storage
        args = kubernetes_args(
            self.plan,
            self._node_groups(),
            {
                "file_system_id": storage.file_system_id,
                "dns_name": storage.dns_name,
                "mount_name": storage.mount_name,
                "capacity_gib": storage.sizing.capacity_gib,
            }
            if storage is not None
            else None,
        )
        args["subnet_ids"] = self.network.private_subnet_ids
        args["kms_key_arn"] = key_arn
        budget = self.plan.address_budget
        if budget is not None and budget.addressing == "ipv6":
            args["ipv6"] = True
        if budget is not None and budget.addressing == "custom-networking":
            args["custom_networking"] = {
                "pod_subnet_ids": dict(self.network.pod_subnet_ids_by_zone),
                # Pods on the pod interfaces reach and are reached as the nodes' own interfaces are
                # (the scheduler adds the cluster group), but take no part in EFA.
                "security_group_ids": [self.network.node_security_group_id],
                "max_pods": max(budget.max_pods.values()),
            }
        args["tags"] = tags
        args["system_release_version"] = pinned_image(spec, eks_system_release_key(scheduler.version))
        registry = self.model_registry
        server = None
        if registry is not None and registry.database_address is not None and registry.database_secret_arn is not None:
            server = mlflow_server(self.plan, registry.database_address, registry.database_secret_arn)
        return KubernetesScheduler(
            eks_cluster_name(name),
            args,
            child,
            quotas=self.plan.quotas,
            production=plan_production(self.plan),
            model_registry=server,
            observability=self.plan.observability,
        )

    def _user_data(
        self, domain: Domain, cluster: pulumi.Output[NodeadmCluster] | None, slurm_controller: pulumi.Input[str] | None
    ) -> pulumi.Output[str]:
        """The domain's bootstrap, rendered once the file system and cluster addresses are known."""
        spec = self.spec
        fleet = spec.fleet(domain.fleet)
        storage = self.storage
        sizing = self.plan.storage
        scheduler = self.plan.scheduler
        budget = self.plan.address_budget

        def render(values: list[object]) -> str:
            dns_name, mount_name, checkpoint_path, node_cluster, controller = values
            fsx = None
            if sizing is not None and spec.storage is not None:
                fsx = FsxMount(
                    dns_name=str(dns_name),
                    mount_name=str(mount_name),
                    mount_path=spec.storage.mount_path,
                    efa_enabled=spec.storage.efa_enabled,
                    checkpoint_path=str(checkpoint_path),
                    layout=tuple((c.end, c.count) for c in sizing.checkpoint_layout),
                )
            return render_user_data(
                BootstrapContext(
                    instance_type=ec2_instance_type(fleet),
                    scheduler=scheduler,
                    profile=spec.profile,
                    cluster=node_cluster if isinstance(node_cluster, NodeadmCluster) else None,
                    fsx=fsx,
                    gpu_power_cap_w=domain.gpu_power_cap_w,
                    node_labels={**fleet.labels, **domain.labels},
                    taints=tuple(fleet.taints),
                    slurm_controller=str(controller) if controller else None,
                    registry_mirror=spec.sovereignty.registry_mirror if spec.sovereignty else None,
                    egress=spec.egress,
                    max_pods=budget.max_pods.get(fleet.name) if budget is not None else None,
                )
            )

        return pulumi.Output.all(
            storage.dns_name if storage else None,
            storage.mount_name if storage else None,
            storage.checkpoint_path if storage else None,
            cluster,
            slurm_controller,
        ).apply(render)

    @staticmethod
    def _kms_key(
        name: str, plan: FactoryPlan, tags: dict[str, str], child: pulumi.ResourceOptions
    ) -> pulumi.Input[str] | None:
        """The factory's customer-managed key (sovereign stacks, or `aifactory:encryption`): the configured one
        or a new one whose policy lets every service the plan uses it with do so
        (`encryption.customer_managed_key`)."""
        return customer_managed_key(name, plan, tags, child)

    def exports(self) -> dict[str, Any]:
        """What an operator needs after `pulumi up`."""
        outputs: dict[str, Any] = {
            "region": self.spec.region,
            "profile": self.spec.profile,
            "vpcId": self.vpc_id,
            "privateSubnetIds": self.network.private_subnet_ids,
            "efaSecurityGroupId": self.network.efa_security_group_id,
            "fleets": {
                name: {"launchTemplateIds": fleet.launch_template_ids, "instanceRoleArn": fleet.instance_role_arn}
                for name, fleet in self.fleets.items()
            },
            "placement": self.placement.summary(),
        }
        if self.spec.customer_managed_key:
            outputs["kmsKeyArn"] = self.kms_key_arn
        if self.kubernetes is not None and self.kubernetes.metrics_query_endpoint is not None:
            # The managed metrics workspace, for a Grafana data source (observability/README.md).
            outputs["metricsQueryEndpoint"] = self.kubernetes.metrics_query_endpoint
        if self.kubernetes is not None and self.kubernetes.alert_topic_arn is not None:
            # Where alerts go: subscribe chat, paging or more mailboxes here (observability/README.md).
            outputs["alertTopicArn"] = self.kubernetes.alert_topic_arn
        if self.kubernetes is not None:
            # What the cluster-configuration stack reads through its StackReference.
            outputs["kubernetes"] = {
                "clusterName": self.kubernetes.cluster_name,
                "clusterEndpoint": self.kubernetes.cluster_endpoint,
                "clusterCertificateAuthority": self.kubernetes.cluster_certificate_authority,
                "configuredInStack": configures_cluster_in_stack(self.plan),
            }
            if self.storage is not None:
                outputs["fileSystem"] = {
                    "id": self.storage.file_system_id,
                    "dnsName": self.storage.dns_name,
                    "mountName": self.storage.mount_name,
                }
        if self.hybrid is not None:
            # What each server's NodeConfig placeholders name (`schedulers/hybrid_nodeconfig.py`); the
            # activation code stays a Pulumi secret.
            outputs["hybridNodes"] = {
                "vpnGatewayId": self.hybrid.vpn_gateway_id,
                "roleArn": self.hybrid.role_arn,
                "activationId": self.hybrid.activation_id,
                "activationCode": self.hybrid.activation_code,
                "trustAnchorArn": self.hybrid.trust_anchor_arn,
                "profileArn": self.hybrid.profile_arn,
            }
        registry = self.model_registry
        if registry is not None and registry.database_address is not None:
            # What the cluster stack's MLflow server reads (`program.deploy_cluster`).
            outputs["modelRegistry"] = {
                "databaseAddress": registry.database_address,
                "databaseSecretArn": registry.database_secret_arn,
            }
        if registry is not None and registry.model_package_groups:
            outputs["modelPackageGroups"] = registry.model_package_groups
        if self.cluster_runner is not None:
            outputs["clusterRunner"] = {"project": self.cluster_runner.project_name}
        if self.node_images is not None:
            # What to start and where the AMI id lands (`aifactory images pin` reads the parameter).
            outputs["nodeImages"] = {
                key: {"pipelineArn": arn, "parameter": self.node_images.parameters[key]}
                for key, arn in self.node_images.pipeline_arns.items()
            }
        deadlines = {
            f.name: drain_deadline(f.capacity.end_time.isoformat()) for f in self.spec.fleets if f.capacity.end_time
        }
        if deadlines:
            outputs["capacityBlockDrainDeadlines"] = deadlines
        blocks = [g.name for g in self.plan.node_groups if g.capacity_type == "capacity-block"]
        if self.node_groups is not None and blocks:
            # Scale to zero, update, scale back: the README's procedure with this stack's names.
            outputs["capacityBlockUpdates"] = self.node_groups.capacity_block_updates
        return outputs
