"""`aifactory:scheduler`: Kubernetes (EKS + Kueue + JobSet) or Slurm."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from .aws_values import CHART_VERSION
from .base import NotNull, SpecModel
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
    name: str
    namespace: str
    # Bounded by the fleets' accelerators in planning/feasibility (quotas_or_issues).
    gpu_quota: NonNegativeInt
    borrowing_limit: NonNegativeInt | None = None
    cohort: CohortName | None = Field(default=None, description="Kueue cohort the queue shares quota in.")
    fleets: list[str] | None = Field(default=None, description="Fleets the queue may use (default: all).")


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
    kueue: ChartVersion = "0.19.2"
    jobset: ChartVersion = "0.12.0"
    nvidia_device_plugin: ChartVersion = "0.20.0"
    efa_device_plugin: ChartVersion = "v0.5.30"
    fsx_csi_driver: ChartVersion = "1.17.0"
    dcgm_exporter: ChartVersion = "4.8.2"
    # EKS user guide, "Configure a CNI for hybrid nodes": Cilium v1.16.x is the supported CNI line for
    # hybrid nodes on every EKS Kubernetes version; installed only with hybrid nodes.
    cilium: ChartVersion = "1.16.6"


class ClusterRunner(SpecModel):
    """The CodeBuild project inside the VPC that runs the cluster-configuration stack."""

    image: str = Field(
        min_length=1,
        description="Runner image with the pulumi CLI, this package and the kubernetes provider plugin baked in "
        "(sovereign: under `sovereignty.registryMirror`).",
    )
    state_bucket: str = Field(
        min_length=1, description="S3 bucket of the self-managed Pulumi backend both stacks log in to."
    )
    secrets_key_arn: str | None = Field(
        default=None,
        description="Existing KMS key of the `awskms://` secrets provider both stacks share "
        "(default: `sovereignty.kmsKeyArn`).",
    )
    project_dir: str = Field(
        default="/opt/aifactory/cluster",
        description="Where the image holds the cluster project (`cluster/Pulumi.yaml`, with `../stacks`).",
    )


class KubernetesScheduler(SpecModel):
    kind: Literal["kubernetes"]
    # EKS API reference, CreateCluster `version`: a Kubernetes minor version, `<major>.<minor>` (1.35).
    # The value names image keys and SSM parameters (`eks-<version>-nvidia`), so anything else is
    # refused here, before the image rules read it; kubernetes_rules.version_offered checks the list.
    version: str = Field(default="1.35", pattern=r"^[1-9][0-9]*\.(0|[1-9][0-9]*)$")
    endpoint: Literal["private", "public"] = "private"
    public_access_cidrs: list[str] = Field(default_factory=list)
    infrastructure_stack: str | None = Field(
        default=None,
        description="The infrastructure stack the cluster stack references "
        "(default `<organization>/aifactory/<same stack name>`); private endpoints only.",
    )
    cluster_runner: Annotated[ClusterRunner | None, NotNull] = Field(
        default=None, description="Runner inside the VPC for the cluster stack; private endpoints only."
    )
    queues: list[Queue] = Field(default_factory=list)
    priorities: list[str] = Field(default_factory=lambda: list(DEFAULT_PRIORITIES))
    charts: ChartVersions = ChartVersions()


class SlurmPartition(SpecModel):
    # Both reach slurm.conf's PartitionName line; syntax in `spec/syntax.py` (slurm.conf(5)).
    name: SlurmName
    fleets: list[str] = Field(min_length=1)
    default: bool = False
    max_time: SlurmTime = Field(
        default="INFINITE",
        description="Partition MaxTime: minutes, minutes:seconds, hours:minutes:seconds, days-hours, "
        "days-hours:minutes, days-hours:minutes:seconds or UNLIMITED/INFINITE.",
    )


class SlurmScheduler(SpecModel):
    kind: Literal["slurm"]
    partitions: list[SlurmPartition] = Field(min_length=1)
    accounting: Literal["none", "slurmdbd"] = "none"
    # Ubuntu 24.04's Slurm, which the head node and the Ubuntu 24.04 Deep Learning AMIs install; the
    # real-slurmctld tests render the same options for Debian 12's 22.05.
    version: str = "23.11"


SchedulerSpec = Annotated[KubernetesScheduler | SlurmScheduler, Field(discriminator="kind")]
