"""`aifactory:scheduler`: Kubernetes (EKS + Kueue + JobSet) or Slurm."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, Strict, field_validator
from pydantic_core import PydanticCustomError

from ..catalog.node_repair import MAX_PERCENTAGE, MIN_PERCENTAGE, NODE_CONDITIONS, RepairAction
from .aws_values import CHART_VERSION, pod_cidr_problem
from .base import NotNull, SpecModel, unit
from .numbers import Count, NonNegativeInt
from .syntax import CohortName, SlurmName, SlurmTime

DEFAULT_PRIORITIES = ("production-training", "fine-tuning", "evaluation")

SUPPORTED_VERSIONS: tuple[str, ...] = ("22.05", "23.02", "23.11", "24.05", "24.11", "25.05", "25.11")
"""Slurm release series whose options this renderer emits; 22.05 is what the tests run."""

DISTRIBUTION_SLURM_SERIES = "23.11"
"""Ubuntu 24.04's Slurm (`slurm-wlm` 23.11), which stacks without built images install at boot."""

VALIDATED_VERSION = "22.05"
"""The release the real-slurmctld tests start (Debian 12 `slurmctld` 22.05.8)."""


def version_tuple(version: str) -> tuple[int, int]:
    """`"24.11"` or `"24.11.3"` -> (24, 11); ValueError for anything else."""
    match = re.fullmatch(r"(\d{2})\.(\d{2})(?:\.\d+)?", version)
    if not match:
        raise ValueError(f"'{version}' is not a Slurm version like 24.11")
    return int(match.group(1)), int(match.group(2))


def release_series(version: str) -> str:
    """`"22.05.8"` -> `"22.05"`."""
    major, minor = version_tuple(version)
    return f"{major:02d}.{minor:02d}"


def is_supported(version: str) -> bool:
    try:
        return release_series(version) in SUPPORTED_VERSIONS
    except ValueError:
        return False


class Queue(SpecModel):
    name: str = Field(description="Name of the Kueue ClusterQueue and LocalQueue (a DNS label).", examples=["research"])
    namespace: str = Field(
        description="Namespace of the queue's LocalQueue, where jobs are submitted (a DNS label).",
        examples=["research"],
    )
    # Bounded by the fleets' accelerators in planning/feasibility (quotas_or_issues).
    gpu_quota: NonNegativeInt = Field(
        json_schema_extra=unit("accelerators"),
        description="Accelerators the queue is guaranteed: its nominal quota, split over its fleets.",
    )
    borrowing_limit: NonNegativeInt | None = Field(
        default=None,
        json_schema_extra=unit("accelerators"),
        description="Accelerators the queue may borrow from its cohort above its quota; default: no limit.",
    )
    cohort: CohortName | None = Field(
        default=None, description="Kueue cohort the queue shares quota in.", examples=["shared"]
    )
    fleets: list[str] | None = Field(
        default=None, description="Fleets the queue may use (default: all).", examples=[["train"]]
    )


def _chart_version(value: str) -> str:
    if not CHART_VERSION.match(value):
        raise PydanticCustomError(
            "config_issue",
            "'{value}' is not a pinned chart version",
            {
                "value": value,
                "fix": "pin a SemVer 2 version such as 0.19.2 (Helm chart versions are SemVer; `latest`, ranges "
                "and empty values let the release move under the factory)",
            },
        )
    return value


ChartVersion = Annotated[str, AfterValidator(_chart_version)]
"""A Helm chart version the factory pins (`aws_values.CHART_VERSION`)."""


class ChartVersions(SpecModel):
    kueue: ChartVersion = Field(default="0.19.2", description="Kueue Helm chart version.")
    jobset: ChartVersion = Field(default="0.12.0", description="JobSet Helm chart version.")
    nvidia_device_plugin: ChartVersion = Field(default="0.20.0", description="NVIDIA device plugin chart version.")
    efa_device_plugin: ChartVersion = Field(
        default="v0.5.30", description="EFA Kubernetes device plugin chart version."
    )
    fsx_csi_driver: ChartVersion = Field(default="1.17.0", description="FSx for Lustre CSI driver chart version.")
    dcgm_exporter: ChartVersion = Field(default="4.8.2", description="NVIDIA DCGM exporter chart version.")
    # LeaderWorkerSet release v0.10.0, chart `oci://registry.k8s.io/lws/charts/lws` (kubernetes-sigs/lws
    # site/content/en/docs/installation "Install by Helm"); installed only when a production line serves.
    lws: ChartVersion = Field(
        default="0.10.0",
        description="LeaderWorkerSet chart version (installed only when an `aifactory:production` line serves).",
    )
    # Kubeflow Trainer release v2.3.0 (`oci://ghcr.io/kubeflow/charts/kubeflow-trainer --version 2.3.0`);
    # installed only with `aifactory:production`.
    kubeflow_trainer: ChartVersion = Field(
        default="2.3.0",
        description="Kubeflow Trainer chart version (installed only with `aifactory:production`; built on "
        "the JobSet chart version above).",
    )
    # EKS user guide, "Configure a CNI for hybrid nodes": Cilium v1.16.x is the supported CNI line for
    # hybrid nodes on every EKS Kubernetes version; installed only with hybrid nodes.
    cilium: ChartVersion = Field(
        default="1.16.6", description="Cilium chart version (installed only with hybrid nodes)."
    )
    # aws-neuron/neuron-helm-charts release 1.9.0 (Neuron SDK 2.31.0, device plugin 2.31.0.0): the newest
    # release whose values.yaml the factory's values were checked against.
    neuron_helm_chart: ChartVersion = Field(
        default="1.9.0",
        description="AWS Neuron Helm chart version (the Neuron device plugin; installed only with Neuron fleets).",
    )
    # prometheus-community/helm-charts charts/kube-prometheus-stack Chart.yaml @81.4.5: appVersion v0.88.0
    # (prometheus-operator), grafana 10.5.12 and kube-state-metrics 7.1.0 dependencies; installed only with
    # `aifactory:observability` (backend `in-cluster`).
    kube_prometheus_stack: ChartVersion = Field(
        default="81.4.5",
        description="kube-prometheus-stack chart version (the in-cluster metrics backend; installed only with "
        "`aifactory:observability`).",
    )
    # The kube-state-metrics chart version kube-prometheus-stack 81.4.5 depends on (its Chart.yaml), so both
    # backends run the same exporter; installed on its own only with the managed backend.
    kube_state_metrics: ChartVersion = Field(
        default="7.1.0",
        description="kube-state-metrics chart version (the managed metrics backend's cluster-state exporter; "
        "installed only with `aifactory:observability` backend `managed`).",
    )
    # argo-helm charts/argo-workflows Chart.yaml: chart 2.0.1 is the v4.1 line (appVersion v4.1.0);
    # `images.tag` pins its controller and executor to v4.1.2, the release whose CRDs the cycle's
    # objects are validated against (`schedulers.production_cycle.ARGO_WORKFLOWS_VERSION`).
    argo_workflows: ChartVersion = Field(
        default="2.0.1",
        description="Argo Workflows Helm chart version (the production lines' cycles; installed only with "
        "`aifactory:production`).",
    )


class ClusterRunner(SpecModel):
    """The CodeBuild project inside the VPC that runs the cluster-configuration stack."""

    image: str = Field(
        min_length=1,
        description="Runner image with the pulumi CLI, this package and the kubernetes provider plugin baked in "
        "(sovereign: under `sovereignty.registryMirror`).",
        examples=["123456789012.dkr.ecr.eu-north-1.amazonaws.com/mirror/aifactory-runner:0.1.0"],
    )
    state_bucket: str = Field(
        min_length=1,
        description="S3 bucket of the self-managed Pulumi backend both stacks log in to.",
        examples=["acme-pulumi-state"],
    )
    secrets_key_arn: str | None = Field(
        default=None,
        description="Existing KMS key of the `awskms://` secrets provider both stacks share "
        "(default: `sovereignty.kmsKeyArn`).",
        examples=["arn:aws:kms:eu-north-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"],
    )
    project_dir: str = Field(
        default="/opt/aifactory/cluster",
        description="Where the image holds the cluster project (`cluster/Pulumi.yaml`, with `../stacks`).",
    )


PodAddressing = Literal["vpc", "custom-networking", "ipv6"]
"""Where pods take their addresses: the nodes' subnets (`vpc`), per-AZ pod subnets in secondary VPC CIDR
blocks (`custom-networking`, VPC CNI custom networking), or IPv6 prefixes of the nodes' /64 subnets
(`ipv6`, an IPv6 cluster)."""

DEFAULT_TRAINING_PODS_PER_NODE = 8
"""One training pod per accelerator of an 8-GPU node, the layout JobSet/PyTorch jobs use on p5-class nodes."""
# The address plan gives each GPU node one pod interface in the pod subnet; p4d, p5, p5en, p6 and trn
# instance types take 50 IPv4 addresses per interface (EC2 User Guide, "Maximum IP addresses per network
# interface"), so the DaemonSets (at most 8) and the training pods stay below 49 with this bound.
MAX_TRAINING_PODS_PER_NODE = 32


class PodNetwork(SpecModel):
    """How pods get addresses on the GPU nodes (Amazon EKS User Guide, "Custom networking")."""

    addressing: PodAddressing = Field(
        default="vpc",
        description="`vpc`: pods take addresses from the node's subnet (kubelet's default 110 pods a node; the "
        "0.1 behaviour). `custom-networking`: pods take addresses from one pod subnet per AZ in a secondary "
        "VPC CIDR block from 100.64.0.0/10, through an ENIConfig named after the zone, and each GPU node's "
        "maxPods is sized to its DaemonSets plus `trainingPodsPerNode`. `ipv6`: an IPv6 cluster; the VPC gets an "
        "Amazon-provided /56, each node subnet a /64 and pods IPv6 addresses from prefixes delegated to the "
        "nodes (maxPods sized the same way); no FSx for Lustre storage (its CSI driver does not support IPv6 "
        "clusters). Set before the first deploy: EKS cannot change a cluster's IP family.",
    )
    cidrs: dict[str, str] | None = Field(
        default=None,
        description="`custom-networking`: the pod subnet of each AZ, a /16 to /28 block inside 100.64.0.0/10 "
        "that becomes a secondary CIDR block of the VPC. Default: 100.(64 + the zone's slot).0.0/16 "
        "(a=0, b=1, ...), so adding a zone moves no pod subnet.",
        examples=[{"us-east-1a": "100.64.0.0/16"}],
    )
    training_pods_per_node: Count = Field(
        default=DEFAULT_TRAINING_PODS_PER_NODE,
        le=MAX_TRAINING_PODS_PER_NODE,
        json_schema_extra=unit("pods"),
        description="`custom-networking` and `ipv6`: pods a GPU node runs besides its DaemonSets; with the "
        "DaemonSets it sizes the node's maxPods and the pod subnets.",
    )

    @field_validator("cidrs")
    @classmethod
    def _pod_cidrs(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is None:
            return value
        seen: list[ipaddress.IPv4Network] = []
        for zone, cidr in value.items():
            problem = pod_cidr_problem(cidr)
            if problem is None and any(ipaddress.IPv4Network(cidr).overlaps(n) for n in seen):
                problem = f"'{cidr}' overlaps another zone's pod subnet"
            if problem is not None:
                raise PydanticCustomError(
                    "config_issue",
                    "{zone}: {problem}",
                    {"zone": zone, "problem": problem, "fix": f"give {zone} its own /16 such as 100.64.0.0/16"},
                )
            seen.append(ipaddress.IPv4Network(cidr))
        return value


# Amazon EKS endpoints and quotas (AWS General Reference, "Amazon EKS endpoints and quotas"): managed
# node groups per cluster 30 (Service Quotas code L-6D54EA21), nodes per managed node group 450
# (L-BD136A63), both adjustable. Amazon VPC quotas (VPC User Guide, "Amazon VPC quotas"): IPv4 CIDR
# blocks per VPC 5 (L-83CA0A9D), adjustable up to 50.
# Network interfaces per Region 5,000 (L-DF5E4CA3), adjustable; every EFA-only interface of a GPU node
# is a network interface (EC2 User Guide, "Elastic Fabric Adapter": an EFA-only interface is an ENI type).
DEFAULT_NETWORK_INTERFACES_PER_REGION = 5000
DEFAULT_NODE_GROUPS_PER_CLUSTER = 30
DEFAULT_NODES_PER_NODE_GROUP = 450
DEFAULT_IPV4_CIDR_BLOCKS_PER_VPC = 5
MAX_IPV4_CIDR_BLOCKS_PER_VPC = 50


class ServiceQuotas(SpecModel):
    """The account's quotas the plan sizes node groups and CIDR blocks against (defaults: AWS's defaults)."""

    managed_node_groups_per_cluster: Count = Field(
        default=DEFAULT_NODE_GROUPS_PER_CLUSTER,
        json_schema_extra=unit("node groups"),
        description="EKS quota L-6D54EA21, managed node groups per cluster (the system group counts).",
        examples=[60],
    )
    nodes_per_managed_node_group: Count = Field(
        default=DEFAULT_NODES_PER_NODE_GROUP,
        json_schema_extra=unit("nodes"),
        description="EKS quota L-BD136A63, nodes per managed node group; a larger placement domain is split "
        "into several node groups.",
        examples=[1000],
    )
    network_interfaces_per_region: Count = Field(
        default=DEFAULT_NETWORK_INTERFACES_PER_REGION,
        json_schema_extra=unit("network interfaces"),
        description="VPC quota L-DF5E4CA3, network interfaces per Region: every node's primary, EFA-only and "
        "pod interfaces count.",
        examples=[500000],
    )
    ipv4_cidr_blocks_per_vpc: Count = Field(
        default=DEFAULT_IPV4_CIDR_BLOCKS_PER_VPC,
        le=MAX_IPV4_CIDR_BLOCKS_PER_VPC,
        json_schema_extra=unit("CIDR blocks"),
        description="VPC quota L-83CA0A9D, IPv4 CIDR blocks per VPC (primary and secondary; at most 50).",
        examples=[10],
    )


Percentage = Annotated[int, Strict(), Field(ge=MIN_PERCENTAGE, le=MAX_PERCENTAGE)]
"""A NodeRepairConfig percentage: 1 to 100 (EKS API reference)."""


class NodeRepairOverride(SpecModel):
    """One NodeRepairConfigOverrides entry: what EKS does, and after how long, when the node monitoring agent
    reports `nodeUnhealthyReason` under `nodeMonitoringCondition` (EKS user guide, "Automatically repair nodes
    in EKS clusters"; every field is required)."""

    node_monitoring_condition: str = Field(
        description=f"The node monitoring agent's condition ({', '.join(f'`{c}`' for c in NODE_CONDITIONS)}).",
        examples=["AcceleratedHardwareReady"],
    )
    node_unhealthy_reason: str = Field(
        description="A reason of severity Condition the agent reports under it (`NvidiaXID79Error`, "
        "`NeuronHBMUncorrectableError`, `IPAMDNotRunning`, ...). Reasons of NVIDIA or Neuron accelerators are "
        "applied to the node groups of that vendor only.",
        examples=["NvidiaXID79Error"],
    )
    # Count: minimum 1, as the API's `minRepairWaitTimeMins`.
    min_repair_wait_time_mins: Count = Field(
        json_schema_extra=unit("minutes"),
        description="How long the condition must persist before the node is repaired.",
        examples=[5],
    )
    repair_action: RepairAction = Field(
        description="`Replace` (terminate and launch a new node), `Reboot` (AcceleratedHardwareReady only) or "
        "`NoAction`."
    )


class NodeRepair(SpecModel):
    """EKS node auto repair of every managed node group (EKS user guide, "Automatically repair nodes in EKS
    clusters"; EKS API reference `NodeRepairConfig`). Unset thresholds take the factory's defaults
    (planning/node_repair.py)."""

    enabled: bool = Field(default=True, description="Repair nodes the node monitoring agent reports unhealthy.")
    max_unhealthy_node_threshold_count: Count | None = Field(
        default=None,
        json_schema_extra=unit("nodes"),
        description="Unhealthy nodes in a node group above which repair stops (not with the percentage). "
        "Default, without either: a tenth of the group's nodes (at least 1), so a fabric- or zone-wide event "
        "does not replace the whole fleet.",
    )
    max_unhealthy_node_threshold_percentage: Percentage | None = Field(
        default=None,
        json_schema_extra=unit("%"),
        description="Percentage of a node group's nodes unhealthy above which repair stops (not with the count).",
    )
    max_parallel_nodes_repaired_count: Count | None = Field(
        default=None,
        json_schema_extra=unit("nodes"),
        description="Nodes of a node group repaired at once (not with the percentage). Default, without either: "
        "2, or the threshold count when that is smaller.",
    )
    max_parallel_nodes_repaired_percentage: Percentage | None = Field(
        default=None,
        json_schema_extra=unit("%"),
        description="Percentage of a node group's unhealthy nodes repaired at once (not with the count).",
    )
    overrides: list[NodeRepairOverride] | None = Field(
        default=None,
        description="Per condition and reason, the repair action and its wait. Default: the factory's GPU "
        "overrides (see the reference); `[]`: EKS's own defaults for every reason.",
    )


class KubernetesScheduler(SpecModel):
    kind: Literal["kubernetes"] = Field(description="`kubernetes`: an EKS cluster with Kueue and JobSet.")
    # EKS API reference, CreateCluster `version`: a Kubernetes minor version, `<major>.<minor>` (1.35).
    # The value names image keys and SSM parameters (`eks-<version>-nvidia`), so anything else is
    # refused here, before the image rules read it; kubernetes_rules.version_offered checks the list.
    version: str = Field(
        default="1.35",
        pattern=r"^[1-9][0-9]*\.(0|[1-9][0-9]*)$",
        description="Kubernetes minor version of the EKS cluster (`<major>.<minor>`).",
    )
    endpoint: Literal["private", "public"] = Field(
        default="private",
        description="EKS API endpoint: `private` (reachable inside the VPC only; the cluster stack runs there) "
        "or `public`.",
    )
    public_access_cidrs: list[str] = Field(
        default_factory=list,
        description="IPv4 networks that may reach a public endpoint (at most 40; not the whole internet).",
        examples=[["203.0.113.0/24"]],
    )
    infrastructure_stack: str | None = Field(
        default=None,
        description="The infrastructure stack the cluster stack references "
        "(default `<organization>/aifactory/<same stack name>`); private endpoints only.",
        examples=["acme/aifactory/sovereign-eu"],
    )
    cluster_runner: Annotated[ClusterRunner | None, NotNull] = Field(
        default=None, description="Runner inside the VPC for the cluster stack; private endpoints only."
    )
    queues: list[Queue] = Field(
        default_factory=list, description="Kueue queues, each with its accelerator quota over some fleets."
    )
    priorities: list[str] = Field(
        default_factory=lambda: list(DEFAULT_PRIORITIES),
        description="Kueue WorkloadPriorityClass names, highest priority first.",
    )
    charts: ChartVersions = Field(default=ChartVersions(), description="Pinned Helm chart versions of the add-ons.")
    pod_network: PodNetwork = Field(
        default=PodNetwork(), description="Pod addressing on the GPU nodes: the nodes' subnets or pod subnets."
    )
    service_quotas: ServiceQuotas = Field(
        default=ServiceQuotas(), description="The account's EKS and VPC quotas the node groups and CIDRs fit."
    )
    node_repair: NodeRepair = Field(
        default=NodeRepair(),
        description="EKS node auto repair of the managed node groups: thresholds and per-condition actions.",
    )


class SlurmPartition(SpecModel):
    # Both reach slurm.conf's PartitionName line; syntax in `spec/syntax.py` (slurm.conf(5)).
    name: SlurmName = Field(
        description="Partition name (slurm.conf PartitionName): at most 63 letters, digits and `-_.`, not DEFAULT.",
        examples=["gpu"],
    )
    fleets: list[str] = Field(min_length=1, description="Fleets whose nodes form the partition.", examples=[["train"]])
    default: bool = Field(default=False, description="The partition jobs run in when they name none (Default=YES).")
    max_time: SlurmTime = Field(
        default="INFINITE",
        description="Partition MaxTime: minutes, minutes:seconds, hours:minutes:seconds, days-hours, "
        "days-hours:minutes, days-hours:minutes:seconds or UNLIMITED/INFINITE.",
    )


class SlurmScheduler(SpecModel):
    kind: Literal["slurm"] = Field(
        description="`slurm`: a Slurm controller on a head node, the fleets as compute nodes."
    )
    partitions: list[SlurmPartition] = Field(min_length=1, description="Slurm partitions, at least one.")
    accounting: Literal["none", "slurmdbd"] = Field(
        default="none",
        description="Job accounting: `none`, or `slurmdbd` (slurm.conf AccountingStorageType "
        "accounting_storage/slurmdbd).",
    )
    # Left out, the stack's own release (FactorySpec fills it in, `node_images.default_slurm_version`):
    # the recipe's Slurm series with `nodeImages.boot`, else Ubuntu 24.04's, which the head node and the
    # Ubuntu 24.04 Deep Learning AMIs install; the real-slurmctld tests render the same options for
    # Debian 12's 22.05.
    version: str = Field(
        default=DISTRIBUTION_SLURM_SERIES,
        description="Slurm release series the head and compute nodes run. Default: the built images' Slurm "
        "series (25.11, the recipe's) with `aifactory:nodeImages.boot`, else 23.11 (Ubuntu 24.04's, installed "
        "at boot).",
    )


SchedulerSpec = Annotated[KubernetesScheduler | SlurmScheduler, Field(discriminator="kind")]
