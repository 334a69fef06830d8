"""`aifactory:scheduler`: Kubernetes (EKS + Kueue + JobSet) or Slurm."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from .aws_values import CHART_VERSION
from .base import NotNull, SpecModel, unit
from .numbers import NonNegativeInt
from .syntax import CohortName, SlurmName, SlurmTime

DEFAULT_PRIORITIES = ("production-training", "fine-tuning", "evaluation")

SUPPORTED_VERSIONS: tuple[str, ...] = ("22.05", "23.02", "23.11", "24.05", "24.11", "25.05", "25.11")
"""Slurm release series whose options this renderer emits; 22.05 is what the tests run."""

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
    # Ubuntu 24.04's Slurm, which the head node and the Ubuntu 24.04 Deep Learning AMIs install; the
    # real-slurmctld tests render the same options for Debian 12's 22.05.
    version: str = Field(default="23.11", description="Slurm release series the head and compute nodes run.")


SchedulerSpec = Annotated[KubernetesScheduler | SlurmScheduler, Field(discriminator="kind")]
