"""`KubernetesScheduler`: EKS + Kueue + JobSet configured for the factory's fleets.

Built from `pulumi_aws` / `pulumi_kubernetes` resources only (no remote components), so the mock
runtime sees every resource. Sources for EKS behaviour are cited where it is used; the pure
objects and chart values come from `kubernetes_manifests` and `helm_values`.
"""

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NotRequired, Required, TypedDict

import pulumi
import pulumi_aws as aws

# `pulumi.Input[T]` is `T | Awaitable[T] | "Output[T]"`, the last a string that `typing.get_type_hints`
# of this module's Args TypedDicts resolves in this module's namespace.
from pulumi.output import Output, T  # noqa: F401

from ..arns import assume_role_policy, managed_policy_arn, service_principal
from ..component_args import kubernetes_scheduler_issues, validate_component_args
from ..planning.node_repair import NodeRepairArgs
from ..planning.observability_plan import ObservabilityPlan
from ..spec import aws_values
from ..spec.images import RELEASE_VERSION
from ..spec.model import Taint, parse_taint
from ..spec.production import ProductionSpec
from ..spec.scheduler import Queue
from ..spec.storage import StorageSpec
from ..trust import pod_identity_conditions, source_conditions, trust_policy
from .cluster_config import (
    CHECKPOINT_GRACE,
    ClusterSettings,
    FilesystemArgs,
    KubernetesObject,
    declare_cluster_configuration,
    kubeconfig,
)
from .helm_values import FSX_CONTROLLER_SERVICE_ACCOUNT, SYSTEM_NODE_LABEL
from .kubernetes_manifests import FleetCapacity
from .managed_metrics import managed_metrics
from .production_registry import MlflowServer

__all__ = [
    "ADDONS",
    "CAPACITY_TYPES",
    "CHECKPOINT_GRACE",
    "CONTROL_PLANE_LOGS",
    "SERVICE_CIDR",
    "SYSTEM_INSTANCE_TYPE",
    "SYSTEM_NODES",
    "TAINT_EFFECTS",
    "FilesystemArgs",
    "KubernetesObject",
    "KubernetesScheduler",
    "KubernetesSchedulerArgs",
    "NodeGroupArgs",
    "QueueArgs",
    "cluster_settings",
    "fleet_capacities",
    "node_group",
]
"""`CHECKPOINT_GRACE`, `FilesystemArgs` and `KubernetesObject` moved to `cluster_config` and stay importable here."""

# Control-plane log types (EKS user guide "Send control plane logs to CloudWatch Logs").
CONTROL_PLANE_LOGS = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
# Managed add-ons: networking, DNS, service proxy, Pod Identity for the drivers, and the node
# monitoring agent whose GPU health conditions drive node auto-repair (EKS user guide
# workloads/workloads-add-ons-available-eks.adoc, nodes/node-repair.adoc).
# The VPC CNI's aws-node DaemonSet keeps off EKS Hybrid Nodes by its own default anti-affinity to
# `eks.amazonaws.com/compute-type: hybrid`; Cilium serves those (helm_values.cilium_release).
ADDONS = ["vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent", "eks-node-monitoring-agent"]
# EKS node-group capacity types per fleet capacity (CreateNodegroup capacityType; capacity blocks
# need CAPACITY_BLOCK with a launch template targeting the block, ml/capacity-blocks-mng.adoc).
CAPACITY_TYPES = {
    "on-demand": "ON_DEMAND",
    "capacity-reservation": "ON_DEMAND",
    "spot": "SPOT",
    "capacity-block": "CAPACITY_BLOCK",
}
TAINT_EFFECTS = {
    "NoSchedule": "NO_SCHEDULE",
    "NoExecute": "NO_EXECUTE",
    "PreferNoSchedule": "PREFER_NO_SCHEDULE",
}
SYSTEM_INSTANCE_TYPE = "m7i.xlarge"
SYSTEM_NODES = 2
"""The system node group's size (it may grow by one during an update)."""

SERVICE_CIDR = aws_values.SERVICE_CIDR


class NodeGroupArgs(TypedDict):
    """One node group; `launch_template_*` and `node_role_arn` once the fleet's launch template exists."""

    name: Required[str]
    """Node group name, unique in the cluster (a fleet, or a placement domain of one)."""
    fleet: Required[str]
    """The fleet the nodes belong to (Kueue flavor and `aifactory.io/fleet` label)."""
    instance_type: Required[str]
    """EC2 instance type (set in the launch template too)."""
    nodes: Required[int]
    """Number of nodes."""
    launch_template_id: NotRequired[pulumi.Input[str]]
    """The fleet's launch template for this group (EFA layout, disks, bootstrap)."""
    launch_template_version: NotRequired[pulumi.Input[str]]
    """Its version."""
    subnet_id: Required[pulumi.Input[str]]
    """The group's single subnet (EFA does not cross AZs; capacity blocks are single-AZ)."""
    node_role_arn: NotRequired[pulumi.Input[str]]
    """The fleet's instance role."""
    capacity_type: NotRequired[str]
    """`on-demand`, `capacity-reservation`, `capacity-block` or `spot`."""
    capacity_block_end: NotRequired[str | None]
    """ISO 8601 end of the capacity block (capacity-block groups)."""
    labels: NotRequired[dict[str, str]]
    """Extra node labels (placement topology, power cap)."""
    taints: NotRequired[list[str]]
    """Extra `key=value:Effect` taints."""
    efa: NotRequired[bool]
    """Whether the nodes have the instance type's EFA interfaces."""
    node_repair: NotRequired[NodeRepairArgs]
    """EKS node auto repair of the group (default: enabled with EKS's own thresholds and actions)."""


class QueueArgs(TypedDict):
    """One Kueue queue (ClusterQueue and LocalQueue)."""

    name: Required[str]
    """Queue name (ClusterQueue and LocalQueue)."""
    namespace: Required[str]
    """The team's namespace."""
    gpu_quota: Required[int]
    """Accelerators the queue is guaranteed."""
    borrowing_limit: NotRequired[int | None]
    """Accelerators it may borrow from its cohort."""
    cohort: NotRequired[str | None]
    """Cohort that shares idle quota."""
    fleets: NotRequired[list[str] | None]
    """Fleets it may use (default: all)."""


class HybridFleetArgs(TypedDict):
    """A fleet of the customer's own servers that joins the cluster as EKS Hybrid Nodes (Amazon EKS User
    Guide, "Amazon EKS Hybrid Nodes overview"): the scheduler gives it a Kueue flavor and quota, and
    creates no node group, launch template or instance for it."""

    name: Required[str]
    """The fleet (Kueue flavor and `aifactory.io/fleet` label)."""
    server: Required[str]
    """Server model from the server catalog (`dgx-b200`, ...)."""
    nodes: Required[int]
    """Number of servers."""
    taints: NotRequired[list[str]]
    """`key=value:Effect` taints the servers register with."""


class CustomNetworkingArgs(TypedDict):
    """VPC CNI custom networking: pods on a secondary interface in their zone's pod subnet."""

    pod_subnet_ids: Required[dict[str, pulumi.Input[str]]]
    """The pod subnet of each AZ, by zone name (each zone's ENIConfig is named after it)."""
    security_group_ids: Required[list[pulumi.Input[str]]]
    """Security groups of the pod interfaces."""
    max_pods: Required[int]
    """The largest maxPods of the GPU nodes: the addresses each node holds in the pod subnet."""


class KubernetesSchedulerArgs(TypedDict):
    """Inputs of `KubernetesScheduler`: the EKS cluster, its add-ons, releases and Kueue objects."""

    version: Required[str]
    """EKS Kubernetes version, e.g. 1.35."""
    region: Required[str]
    """AWS region of the stack."""
    partition: NotRequired[str]
    """AWS partition of the region (for ARNs)."""
    subnet_ids: Required[pulumi.Input[list[str]]]
    """Private subnets (at least two AZs) for the control plane ENIs and the system nodes."""
    endpoint: NotRequired[str]
    """`private` or `public`."""
    public_access_cidrs: NotRequired[list[str]]
    """Networks that may reach a public endpoint."""
    sovereign: NotRequired[bool]
    """Sovereign profile: private endpoint whatever `endpoint` says, everything from the mirror."""
    kms_key_arn: NotRequired[pulumi.Input[str] | None]
    """Customer-managed key for Kubernetes secrets and the system nodes' disks."""
    admin_role_arns: NotRequired[list[pulumi.Input[str]]]
    """IAM roles that get cluster-admin access entries."""
    node_groups: NotRequired[list[NodeGroupArgs]]
    """One managed node group per fleet or placement domain."""
    hybrid_fleets: NotRequired[list[HybridFleetArgs]]
    """The customer's own servers (EKS Hybrid Nodes): Kueue flavors and quotas, no node group."""
    queues: NotRequired[list[QueueArgs]]
    """Kueue queues."""
    priorities: NotRequired[list[str]]
    """Workload priority classes, highest first."""
    charts: NotRequired[dict[str, str]]
    """Chart version overrides (ChartVersions field names)."""
    registry_mirror: NotRequired[str | None]
    """In-region registry every chart and image comes from (sovereign)."""
    topology_levels: NotRequired[list[str]]
    """Kueue Topology levels, broadest first, hostname last, one Topology for every fleet. Default:
    each fleet's Topology has the EC2 network layers of its instance type (3, or 4), and a type
    without EC2 topology gets none."""
    filesystem: NotRequired[FilesystemArgs | None]
    """FSx for Lustre to expose as a PersistentVolume in every team namespace."""
    system_release_version: NotRequired[str | None]
    """EKS AMI release version of the system node group (e.g. 1.35.0-20260115; `aifactory:images`
    key `eks-<version>-system-release`). Without it EKS picks the latest release whenever the group is
    created or updated."""
    tags: NotRequired[dict[str, str]]
    """Tags for every taggable resource."""
    system_node_repair: NotRequired[NodeRepairArgs]
    """EKS node auto repair of the system node group (default: enabled with EKS's own thresholds and actions)."""
    remote_node_cidrs: NotRequired[list[str]]
    """On-premises networks of EKS Hybrid Nodes (`aifactory:hybrid.remoteNodeCidrs`); none: no hybrid nodes."""
    remote_pod_cidrs: NotRequired[list[str]]
    """On-premises networks of the hybrid nodes' pods."""
    ipv6: NotRequired[bool]
    """An IPv6 cluster (default false): pods and services get IPv6 addresses; the VPC CNI runs in IPv6 mode."""
    custom_networking: NotRequired[CustomNetworkingArgs | None]
    """Pods in per-AZ pod subnets (VPC CNI custom networking); None: pods in the nodes' subnets."""
    production_cycles: NotRequired[list[dict[str, Any]]]
    """The production lines' cycle objects (Argo WorkflowTemplates, CronWorkflows, their RBAC and scripts), as
    the plan renders them; with any, the Argo Workflows controller is installed and Kueue admits their pods."""
    training_runtimes: NotRequired[list[dict[str, Any]]]
    """The production lines' Kubeflow Trainer ClusterTrainingRuntimes, as the plan renders them; with any,
    the Kubeflow Trainer release is installed and Kueue admits TrainJobs."""
    configure_cluster: NotRequired[bool]
    """Create the Kubernetes provider, Helm releases and Kueue objects here (default true). False for a
    private endpoint: the cluster-configuration stack creates them from inside the VPC."""


def _queue(q: QueueArgs) -> Queue:
    return Queue(
        name=q["name"],
        namespace=q["namespace"],
        gpu_quota=q["gpu_quota"],
        borrowing_limit=q.get("borrowing_limit"),
        cohort=q.get("cohort"),
        fleets=q.get("fleets"),
    )


def hybrid_fleet_capacities(fleets: list[HybridFleetArgs]) -> list[FleetCapacity]:
    return [
        FleetCapacity(
            name=f["name"],
            instance_type=None,
            server=f["server"],
            nodes=f["nodes"],
            efa=False,
            taints=tuple(Taint.model_validate(parse_taint(t)) for t in f.get("taints", [])),
        )
        for f in fleets
    ]


def fleet_capacities(node_groups: list[NodeGroupArgs]) -> list[FleetCapacity]:
    """The fleets' capacity as the scheduler sees it: the node groups of each fleet added up."""
    fleets: dict[str, FleetCapacity] = {}
    for group in node_groups:
        end = group.get("capacity_block_end")
        current = fleets.get(group["fleet"])
        fleets[group["fleet"]] = FleetCapacity(
            name=group["fleet"],
            instance_type=group["instance_type"],
            nodes=group["nodes"] + (current.nodes if current else 0),
            efa=group.get("efa", True),
            taints=tuple(Taint.model_validate(parse_taint(t)) for t in group.get("taints", [])),
            capacity_block_end=datetime.fromisoformat(end.replace("Z", "+00:00")) if end else None,
        )
    return list(fleets.values())


def cluster_settings(
    args: KubernetesSchedulerArgs,
    quotas: Mapping[str, Mapping[str, int]] | None = None,
    production: tuple[ProductionSpec, StorageSpec] | None = None,
    model_registry: MlflowServer | None = None,
    observability: ObservabilityPlan | None = None,
) -> ClusterSettings:
    """What the Kubernetes side is built from, out of the scheduler's args (and the production lines with
    their file system, the metrics backend)."""
    mirror = args.get("registry_mirror")
    return ClusterSettings(
        region=args["region"],
        version=args["version"],
        queues=[_queue(q) for q in args.get("queues", [])],
        fleets=[
            *fleet_capacities(list(args.get("node_groups", []))),
            *hybrid_fleet_capacities(list(args.get("hybrid_fleets", []))),
        ],
        priorities=list(args.get("priorities", [])),
        topology_levels=list(args.get("topology_levels") or []) or None,
        charts=dict(args.get("charts", {})),
        registry_mirror=mirror or None,
        filesystem=args.get("filesystem"),
        quotas=quotas,
        remote_pod_cidrs=tuple(args.get("remote_pod_cidrs", [])) if args.get("remote_node_cidrs") else (),
        production=production[0] if production else None,
        storage=production[1] if production else None,
        production_cycles=tuple(args.get("production_cycles", [])),
        model_registry=model_registry,
        training_runtimes=tuple(args.get("training_runtimes", [])),
        observability=observability,
    )


class KubernetesScheduler(pulumi.ComponentResource):
    """An EKS cluster whose teams submit multi-node training jobs to Kueue queues that run on the
    factory's GPU fleets with EFA and the shared file system."""

    cluster_name: pulumi.Output[str]
    cluster_arn: pulumi.Output[str]
    cluster_endpoint: pulumi.Output[str]
    cluster_security_group_id: pulumi.Output[str]
    cluster_certificate_authority: pulumi.Output[str]
    service_cidr: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    node_group_names: pulumi.Output[list[str]]
    metrics_query_endpoint: pulumi.Output[str] | None
    """The managed metrics workspace's Prometheus endpoint (`<endpoint>api/v1/query`); None without it."""
    alert_topic_arn: pulumi.Output[str] | None
    """The SNS topic the managed workspace's alert manager sends alerts to; None without it."""

    def __init__(
        self,
        name: str,
        args: KubernetesSchedulerArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        quotas: Mapping[str, Mapping[str, int]] | None = None,
        production: tuple[ProductionSpec, StorageSpec] | None = None,
        model_registry: MlflowServer | None = None,
        observability: ObservabilityPlan | None = None,
    ):
        """`quotas`: the factory plan's split of each queue's quota over the fleets; allocated here without it.
        `production`: the factory's production lines and file system, whose objects are applied with Kueue's.
        `model_registry`: the MLflow server of `aifactory:production`, declared with the cluster's objects.
        `observability`: the plan of `aifactory:observability`, whose in-cluster backend is declared with them."""
        # The stack config's rules, before anything registers (`component_args`).
        validate_component_args(KubernetesSchedulerArgs, args, kubernetes_scheduler_issues)
        super().__init__("aifactory:index:KubernetesScheduler", name, None, opts)
        self._name = name
        self._partition = args.get("partition", "aws")
        self._tags = dict(args.get("tags", {}))
        cluster = self._control_plane(args)
        self._access(cluster, args.get("admin_role_arns", []))
        pod_identity_agent, addons = self._addons(cluster, args)
        system_group = self._system_node_group(cluster, args)
        groups: list[aws.eks.NodeGroup] = [system_group]
        # Stand-alone use: groups whose launch templates exist already are created here. `AiFactory`
        # builds its launch templates after the cluster and creates them in `KubernetesNodeGroups`.
        groups += [
            node_group(f"{name}-{g['name']}", cluster.name, g, self._tags, pulumi.ResourceOptions(parent=self))
            for g in args.get("node_groups", [])
            if g.get("launch_template_id") is not None
        ]
        self._fsx_csi_identity(cluster, pod_identity_agent)
        metrics = (
            managed_metrics(name, observability, cluster, args["subnet_ids"], self._tags, self, args.get("kms_key_arn"))
            if observability is not None and observability.backend == "managed"
            else None
        )
        config = kubeconfig(cluster.name, cluster.endpoint, cluster.certificate_authority.data, args["region"])
        if args.get("configure_cluster", True):
            # Same names and parent as 0.1, so a public-endpoint stack keeps its URNs.
            declare_cluster_configuration(
                name,
                cluster_settings(args, quotas, production, model_registry, observability),
                config,
                parent=self,
                depends_on=[*addons, system_group],
            )

        self.cluster_name = cluster.name
        self.cluster_arn = cluster.arn
        self.cluster_endpoint = cluster.endpoint
        self.cluster_certificate_authority = cluster.certificate_authority.data
        self.service_cidr = (
            cluster.kubernetes_network_config.apply(lambda c: (c.service_ipv6_cidr or "") if c else "")
            if args.get("ipv6")
            else pulumi.Output.from_input(SERVICE_CIDR)
        )
        self.cluster_security_group_id = cluster.vpc_config.cluster_security_group_id
        self.kubeconfig = pulumi.Output.secret(config)
        self.node_group_names = pulumi.Output.all(*[g.node_group_name for g in groups])
        self.metrics_query_endpoint = metrics.query_endpoint if metrics is not None else None
        self.alert_topic_arn = metrics.alert_topic.arn if metrics is not None else None
        self.register_outputs(
            {
                **(
                    {"metrics_query_endpoint": metrics.query_endpoint, "alert_topic_arn": metrics.alert_topic.arn}
                    if metrics is not None
                    else {}
                ),
                "cluster_name": self.cluster_name,
                "cluster_endpoint": self.cluster_endpoint,
                "cluster_security_group_id": self.cluster_security_group_id,
                "kubeconfig": self.kubeconfig,
                "node_group_names": self.node_group_names,
            }
        )

    def _control_plane(self, args: KubernetesSchedulerArgs) -> aws.eks.Cluster:
        """The cluster's role, its pre-created log group and the EKS cluster itself."""
        name, partition, tags = self._name, self._partition, self._tags
        child = pulumi.ResourceOptions(parent=self)
        kms_key_arn = args.get("kms_key_arn")
        region = args["region"]
        cluster_role = aws.iam.Role(
            f"{name}-cluster",
            # Only this cluster may assume it: the cluster's ARN is known before it exists (EKS user
            # guide, "Cross-service confused deputy prevention in Amazon EKS"; trust.py).
            assume_role_policy=aws.get_caller_identity_output().account_id.apply(
                lambda account: trust_policy(
                    "eks",
                    partition,
                    source_conditions(account, f"arn:{partition}:eks:{region}:{account}:cluster/{name}"),
                    ["sts:AssumeRole", "sts:TagSession"],
                )
            ),
            tags=tags,
            opts=child,
        )
        cluster_policy = aws.iam.RolePolicyAttachment(
            f"{name}-cluster-policy",
            role=cluster_role.name,
            policy_arn=managed_policy_arn(partition, "AmazonEKSClusterPolicy"),
            opts=child,
        )
        public = args.get("endpoint") == "public" and not args.get("sovereign", False)
        # EKS writes control-plane logs to /aws/eks/<cluster>/cluster; creating the group first lets
        # the factory set its retention and customer-managed key (EKS user guide,
        # "Send control plane logs to CloudWatch Logs").
        cluster_name = name
        control_plane_logs = aws.cloudwatch.LogGroup(
            f"{name}-control-plane-logs",
            name=f"/aws/eks/{cluster_name}/cluster",
            retention_in_days=365,
            kms_key_id=kms_key_arn,
            tags=tags,
            opts=child,
        )
        return aws.eks.Cluster(
            f"{name}-cluster",
            name=cluster_name,
            version=args["version"],
            role_arn=cluster_role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=args["subnet_ids"],
                endpoint_private_access=True,
                endpoint_public_access=public,
                public_access_cidrs=args.get("public_access_cidrs") if public else None,
            ),
            # Access entries only (no aws-auth ConfigMap); EKS adds the managed node groups' roles
            # itself (EKS user guide, "Grant IAM users access to Kubernetes with EKS access entries").
            # Nobody is admin for having created the cluster: the configured administrators
            # (`aifactory:access.administrators`) and the cluster-stack runner get their own entries.
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API", bootstrap_cluster_creator_admin_permissions=False
            ),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=kms_key_arn),
                resources=["secrets"],
            )
            if kms_key_arn is not None
            else None,
            enabled_cluster_log_types=CONTROL_PLANE_LOGS,
            # Fixed so node bootstrap (NodeConfig spec.cluster.cidr) knows it without a lookup;
            # 172.20.0.0/16 is what EKS picks itself for VPCs in 10.0.0.0/8 (EKS API
            # KubernetesNetworkConfigRequest.serviceIpv4Cidr).
            # An IPv6 cluster's service range is EKS's choice (fd00::/8), read back for the nodes.
            kubernetes_network_config=aws.eks.ClusterKubernetesNetworkConfigArgs(ip_family="ipv6")
            if args.get("ipv6")
            else aws.eks.ClusterKubernetesNetworkConfigArgs(service_ipv4_cidr=SERVICE_CIDR, ip_family="ipv4"),
            # EKS API reference, RemoteNetworkConfigRequest: the hybrid nodes' (and their pods') networks,
            # which EKS routes to through the VPC; they can be added, changed or removed after creation.
            remote_network_config=remote_network_config(args),
            # The managed add-ons below replace the self-managed ones EKS would otherwise install.
            bootstrap_self_managed_addons=False,
            tags=tags,
            # bootstrapClusterCreatorAdminPermissions can only be set at creation: a change replaces
            # the cluster (CreateCluster accessConfig; Terraform aws_eks_cluster marks it ForceNew).
            # Clusters created by 0.1 (with True) keep their value rather than be replaced; remove
            # the creator's entry there by hand once the administrators' entries work.
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[cluster_policy, control_plane_logs],
                ignore_changes=["accessConfig.bootstrapClusterCreatorAdminPermissions"],
            ),
        )

    def _access(self, cluster: aws.eks.Cluster, admin_role_arns: list[pulumi.Input[str]]) -> None:
        """Cluster-admin access entries, cluster scope, for the given roles (EKS user guide, "Grant IAM
        users access to Kubernetes with EKS access entries"; access policy AmazonEKSClusterAdminPolicy)."""
        name, partition = self._name, self._partition
        child = pulumi.ResourceOptions(parent=self)
        for i, principal in enumerate(admin_role_arns):
            entry = aws.eks.AccessEntry(
                f"{name}-admin-{i}",
                cluster_name=cluster.name,
                principal_arn=principal,
                type="STANDARD",
                tags=self._tags,
                opts=child,
            )
            aws.eks.AccessPolicyAssociation(
                f"{name}-admin-{i}",
                cluster_name=cluster.name,
                principal_arn=entry.principal_arn,
                policy_arn=f"arn:{partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
                access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                opts=child,
            )

    def _addons(
        self, cluster: aws.eks.Cluster, args: KubernetesSchedulerArgs
    ) -> tuple[aws.eks.Addon, list[pulumi.Resource]]:
        """The managed add-ons; the Pod Identity agent first, since the others' identities need it."""
        name, tags = self._name, self._tags
        custom_networking = args.get("custom_networking")
        ipv6 = bool(args.get("ipv6", False))
        cni_configuration: pulumi.Input[str] | None = None
        if custom_networking:
            # Pod interfaces also carry the cluster security group: the control plane calls the
            # controllers' webhooks (Kueue, JobSet) on their pods, and it admits its members only (EKS
            # User Guide, "View Amazon EKS security group requirements for clusters").
            groups = [*custom_networking["security_group_ids"], cluster.vpc_config.cluster_security_group_id]
            cni_configuration = vpc_cni_configuration(
                {**custom_networking, "security_group_ids": groups}, args["region"]
            )
        elif ipv6:
            cni_configuration = json.dumps({"env": vpc_cni_ipv6_environment()}, sort_keys=True)
        child = pulumi.ResourceOptions(parent=self)
        cni_role = self._pod_role(
            f"{name}-vpc-cni",
            self._partition,
            tags,
            child,
            ("kube-system", "aws-node"),
            # AmazonEKS_CNI_Policy grants the IPv4 actions only; an IPv6 cluster's CNI needs the IPv6
            # policy the EKS User Guide gives ("Create the IAM policy for IPv6 clusters", cni-iam-role).
            managed=[] if ipv6 else ["AmazonEKS_CNI_Policy"],
            inline=cni_ipv6_policy(self._partition) if ipv6 else None,
        )
        pod_identity_agent = aws.eks.Addon(
            f"{name}-eks-pod-identity-agent",
            cluster_name=cluster.name,
            addon_name="eks-pod-identity-agent",
            resolve_conflicts_on_create="OVERWRITE",
            tags=tags,
            opts=child,
        )
        addons: list[pulumi.Resource] = [pod_identity_agent]
        for addon in ADDONS:
            if addon == "eks-pod-identity-agent":
                continue
            associations = [aws.eks.AddonPodIdentityAssociationArgs(role_arn=cni_role.arn, service_account="aws-node")]
            addons.append(
                aws.eks.Addon(
                    f"{name}-{addon}",
                    cluster_name=cluster.name,
                    addon_name=addon,
                    resolve_conflicts_on_create="OVERWRITE",
                    pod_identity_associations=associations if addon == "vpc-cni" else None,
                    configuration_values=cni_configuration if addon == "vpc-cni" else None,
                    tags=tags,
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[pod_identity_agent]),
                )
            )
        return pod_identity_agent, addons

    def _fsx_csi_identity(self, cluster: aws.eks.Cluster, pod_identity_agent: aws.eks.Addon) -> None:
        # FSx CSI: the controller only reads file systems for static volumes (it creates none), so
        # its pod identity may only describe them (aws-fsx-csi-driver docs/install.md lists the
        # wider policy for dynamic provisioning).
        name, tags = self._name, self._tags
        fsx_role = self._pod_role(
            f"{name}-fsx-csi",
            self._partition,
            tags,
            pulumi.ResourceOptions(parent=self),
            ("kube-system", FSX_CONTROLLER_SERVICE_ACCOUNT),
            inline={
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": ["fsx:DescribeFileSystems"], "Resource": "*"}],
            },
        )
        aws.eks.PodIdentityAssociation(
            f"{name}-fsx-csi",
            cluster_name=cluster.name,
            namespace="kube-system",
            service_account=FSX_CONTROLLER_SERVICE_ACCOUNT,
            role_arn=fsx_role.arn,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[pod_identity_agent]),
        )

    def _pod_role(
        self,
        name: str,
        partition: str,
        tags: dict[str, str],
        opts: pulumi.ResourceOptions,
        service_account: tuple[str, str],
        managed: list[str] | None = None,
        inline: Mapping[str, Any] | None = None,
    ) -> aws.iam.Role:
        """An IAM role for EKS Pod Identity that only `service_account` (namespace, name) of this cluster
        may assume: the trust matches the session tags Pod Identity sets (EKS user guide, "Create IAM
        role with trust policy required by EKS Pod Identity"; trust.py)."""
        namespace, account_name = service_account
        role = aws.iam.Role(
            name,
            assume_role_policy=trust_policy(
                "pods.eks",
                partition,
                pod_identity_conditions(self._name, namespace, account_name),
                ["sts:AssumeRole", "sts:TagSession"],
            ),
            tags=tags,
            opts=opts,
        )
        for policy in managed or []:
            aws.iam.RolePolicyAttachment(
                f"{name}-{policy}",
                role=role.name,
                policy_arn=managed_policy_arn(partition, policy),
                opts=opts,
            )
        if inline is not None:
            aws.iam.RolePolicy(f"{name}-inline", role=role.id, policy=json.dumps(inline), opts=opts)
        return role

    def _system_node_group(self, cluster: aws.eks.Cluster, args: KubernetesSchedulerArgs) -> aws.eks.NodeGroup:
        """Two small nodes for the controllers (Kueue, JobSet, CoreDNS, the CSI controller)."""
        name, partition, tags = self._name, self._partition, self._tags
        kms_key_arn = args.get("kms_key_arn")
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{name}-system-node",
            assume_role_policy=assume_role_policy(service_principal("ec2", partition), ["sts:AssumeRole"]),
            tags=tags,
            opts=child,
        )
        attachments = [
            aws.iam.RolePolicyAttachment(
                f"{name}-system-node-{policy}",
                role=role.name,
                policy_arn=managed_policy_arn(partition, policy),
                opts=child,
            )
            for policy in ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryReadOnly")
        ]
        template = aws.ec2.LaunchTemplate(
            f"{name}-system",
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name="/dev/xvda",
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=50,
                        volume_type="gp3",
                        encrypted="true",
                        kms_key_id=kms_key_arn,
                        delete_on_termination="true",
                    ),
                )
            ],
            # No security groups here: EKS then puts the system nodes in the cluster security group,
            # which the GPU nodes carry too (EKS user guide, "Customize managed nodes with launch
            # templates"), so CoreDNS and the controllers reach them and the control plane reaches
            # their kubelets.
            # IMDSv2 only; hop limit 1: the controllers here take credentials from Pod Identity and
            # those that need the metadata service run with hostNetwork (see fleet.metadata_hop_limit;
            # EKS best practices guide, "Restrict access to the instance profile assigned to the
            # worker node").
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_tokens="required", http_put_response_hop_limit=1, http_endpoint="enabled"
            ),
            tags=tags,
            opts=child,
        )
        release = args.get("system_release_version")
        if release is not None and not RELEASE_VERSION.match(release):
            raise ValueError(
                f"KubernetesScheduler '{name}': system_release_version {release!r} is not an EKS AMI release "
                "version like 1.35.0-20260115; pin it with `aifactory images pin <stack>`"
            )
        return aws.eks.NodeGroup(
            f"{name}-system",
            cluster_name=cluster.name,
            node_role_arn=role.arn,
            subnet_ids=args["subnet_ids"],
            instance_types=[SYSTEM_INSTANCE_TYPE],
            # EKS boots the AMI release of `amiType` (the launch template names no image). Pinned, creation
            # and replacement are reproducible and a new EKS release changes nothing until the pin does;
            # unpinned, EKS takes the latest (CreateNodegroup `releaseVersion`, EKS API reference).
            # Caveat: the provider sends `releaseVersion` only when it changed, and UpdateNodegroupVersion
            # without one defaults to the latest release, so a launch-template change should come with
            # a fresh pin (hashicorp/terraform-provider-aws internal/service/eks/node_group.go).
            ami_type="AL2023_x86_64_STANDARD",
            release_version=release,
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                desired_size=SYSTEM_NODES, min_size=SYSTEM_NODES, max_size=SYSTEM_NODES + 1
            ),
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=template.id, version=template.latest_version.apply(str)
            ),
            labels=dict(SYSTEM_NODE_LABEL),
            node_repair_config=node_repair_config(args.get("system_node_repair")),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=attachments),
        )


CUSTOM_NETWORK_ZONE_LABEL = "topology.kubernetes.io/zone"
"""The node label whose value names the node's ENIConfig: its zone (EKS User Guide, "Custom networking")."""


def vpc_cni_environment(max_pods: int) -> dict[str, str]:
    """The aws-node environment of custom networking (amazon-vpc-cni-k8s README):
    `AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG` puts pod interfaces in the ENIConfig's subnet,
    `ENI_CONFIG_LABEL_DEF` picks the ENIConfig named by the node's zone label, and
    `MINIMUM_IP_TARGET`/`WARM_IP_TARGET` hold the node's maxPods plus one address instead of a whole
    warm interface (WARM_ENI_TARGET=1, the default; docs/eni-and-ip-target.md), which is what
    `address_plan.POD_INTERFACE_ADDRESSES` budgets."""
    return {
        "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": "true",
        "ENI_CONFIG_LABEL_DEF": CUSTOM_NETWORK_ZONE_LABEL,
        "MINIMUM_IP_TARGET": str(max_pods),
        "WARM_IP_TARGET": "1",
    }


def vpc_cni_ipv6_environment() -> dict[str, str]:
    """The aws-node environment of an IPv6 cluster: IPv6 mode needs prefix delegation (EKS User Guide,
    "IPv6 addresses to clusters, pods, and services": configure the add-on "with IP prefix delegation and
    IPv6"; amazon-vpc-cni-k8s README `ENABLE_IPv6`, `ENABLE_IPv4`, `ENABLE_PREFIX_DELEGATION`). Set
    explicitly, though EKS defaults an IPv6 cluster's add-on to it, so the plan shows it."""
    return {"ENABLE_IPv4": "false", "ENABLE_IPv6": "true", "ENABLE_PREFIX_DELEGATION": "true"}


def cni_ipv6_policy(partition: str) -> dict[str, Any]:
    """The IAM policy the VPC CNI of an IPv6 cluster needs (EKS User Guide, "Create IAM policy for clusters
    that use the IPv6 family")."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "ec2:AssignIpv6Addresses",
                    "ec2:DescribeInstances",
                    "ec2:DescribeTags",
                    "ec2:DescribeNetworkInterfaces",
                    "ec2:DescribeInstanceTypes",
                ],
                "Resource": "*",
            },
            {
                "Effect": "Allow",
                "Action": ["ec2:CreateTags"],
                "Resource": [f"arn:{partition}:ec2:*:*:network-interface/*"],
            },
        ],
    }


def vpc_cni_configuration(custom_networking: CustomNetworkingArgs, region: str) -> pulumi.Output[str]:
    """The vpc-cni add-on's configuration values: the custom-networking environment and one ENIConfig per
    zone, named after the zone, created by the add-on itself (its configuration schema's `eniConfig`:
    `create`, `region`, `subnets.<zone>.id/securityGroups`, as `aws eks describe-addon-configuration`
    shows it), so a private cluster needs nothing applied from inside the VPC for it."""
    zones = sorted(custom_networking["pod_subnet_ids"])

    def document(values: list[Any]) -> str:
        subnet_ids, groups = values[: len(zones)], values[len(zones) :]
        return json.dumps(
            {
                "env": vpc_cni_environment(custom_networking["max_pods"]),
                "eniConfig": {
                    "create": True,
                    "region": region,
                    "subnets": {
                        zone: {"id": subnet_id, "securityGroups": list(groups)}
                        for zone, subnet_id in zip(zones, subnet_ids, strict=True)
                    },
                },
            },
            sort_keys=True,
        )

    return pulumi.Output.all(
        *[custom_networking["pod_subnet_ids"][z] for z in zones], *custom_networking["security_group_ids"]
    ).apply(document)


def remote_network_config(args: KubernetesSchedulerArgs) -> aws.eks.ClusterRemoteNetworkConfigArgs | None:
    """The cluster's EKS Hybrid Nodes networks, or None without hybrid nodes (0.1 clusters stay unchanged)."""
    nodes = list(args.get("remote_node_cidrs", []))
    if not nodes:
        return None
    pods = list(args.get("remote_pod_cidrs", []))
    return aws.eks.ClusterRemoteNetworkConfigArgs(
        remote_node_networks=aws.eks.ClusterRemoteNetworkConfigRemoteNodeNetworksArgs(cidrs=nodes),
        remote_pod_networks=aws.eks.ClusterRemoteNetworkConfigRemotePodNetworksArgs(cidrs=pods) if pods else None,
    )


def node_repair_config(repair: NodeRepairArgs | None) -> aws.eks.NodeGroupNodeRepairConfigArgs:
    """A node group's NodeRepairConfig. Changing it updates the group in place (UpdateNodegroupConfig
    `nodeRepairConfig`, EKS API reference; replace_on_change.yaml). None: enabled with EKS's defaults."""
    if repair is None:
        return aws.eks.NodeGroupNodeRepairConfigArgs(enabled=True)
    return aws.eks.NodeGroupNodeRepairConfigArgs(
        enabled=repair["enabled"],
        max_unhealthy_node_threshold_count=repair.get("max_unhealthy_node_threshold_count"),
        max_unhealthy_node_threshold_percentage=repair.get("max_unhealthy_node_threshold_percentage"),
        max_parallel_nodes_repaired_count=repair.get("max_parallel_nodes_repaired_count"),
        max_parallel_nodes_repaired_percentage=repair.get("max_parallel_nodes_repaired_percentage"),
        node_repair_config_overrides=[
            aws.eks.NodeGroupNodeRepairConfigNodeRepairConfigOverrideArgs(**o) for o in repair["overrides"]
        ]
        if repair.get("overrides")
        else None,
    )


RESERVED_CAPACITY = ("capacity-reservation", "capacity-block")
"""Fleet capacity types whose reservation is the whole capacity: an update cannot launch spare nodes."""


def update_config(capacity_type: str) -> aws.eks.NodeGroupUpdateConfigArgs:
    """How a node group replaces its nodes when its launch template or AMI changes.

    By default EKS surges: it raises the Auto Scaling group's size and launches new nodes before it
    drains the old ones (EKS user guide, "Understand each phase of node updates", scale-up phase). A
    capacity reservation or block holds exactly the group's nodes, so those launches fail. The
    MINIMAL strategy terminates old instances before launching new ones, "for scenarios constrained
    to resources ... such as GPUs" (EKS API reference, NodegroupUpdateConfig `updateStrategy`), one
    node at a time. Capacity blocks must in addition be scaled to zero before an update (EKS user
    guide, "Create a managed node group with Capacity Blocks for ML"; the README's procedure).
    """
    if capacity_type in RESERVED_CAPACITY:
        return aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1, update_strategy="MINIMAL")
    return aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1)


def node_group(
    resource_name: str,
    cluster_name: pulumi.Input[str],
    group: NodeGroupArgs,
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> aws.eks.NodeGroup:
    """A managed node group of one fleet's placement domain, from its own launch template."""
    fleet = fleet_capacities([group])[0]
    labels = {**group.get("labels", {}), **fleet.node_labels}
    if fleet.vendor == "nvidia":
        # The device plugin's and DCGM exporter's node selection; nodeadm sets it itself only
        # from kubelet 1.35 (awslabs/amazon-eks-ami nodeadm/internal/kubelet/config.go).
        labels["nvidia.com/gpu.present"] = "true"
    return aws.eks.NodeGroup(
        resource_name,
        cluster_name=cluster_name,
        node_group_name=group["name"],
        node_role_arn=group["node_role_arn"],
        subnet_ids=[group["subnet_id"]],
        # The launch template carries the AMI, instance type, EFA interfaces and disks, so no
        # ami_type / instance_types / disk_size here (EKS user guide nodes/launch-templates.adoc).
        launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
            id=group["launch_template_id"], version=group["launch_template_version"]
        ),
        capacity_type=CAPACITY_TYPES[group.get("capacity_type", "on-demand")],
        scaling_config=aws.eks.NodeGroupScalingConfigArgs(
            desired_size=group["nodes"], min_size=group["nodes"], max_size=group["nodes"]
        ),
        labels=labels,
        taints=[
            aws.eks.NodeGroupTaintArgs(key=t.key, value=t.value, effect=TAINT_EFFECTS[t.effect])
            for t in fleet.node_taints
        ],
        # A node whose GPUs or EFA report unhealthy (node monitoring agent) is rebooted or replaced
        # rather than left in the pool (EKS user guide nodes/node-repair.adoc).
        node_repair_config=node_repair_config(group.get("node_repair")),
        update_config=update_config(group.get("capacity_type", "on-demand")),
        tags={**tags, "aifactory:fleet": group["fleet"]},
        opts=opts,
    )
