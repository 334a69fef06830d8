"""Rules for `aifactory:scheduler`: each scheduler's own, plus what every scheduler needs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from .errors import ConfigIssue, config_path
from .kubernetes_rules import KUBERNETES_RULES
from .node_repair_rules import NODE_REPAIR_RULES
from .rules import Rule
from .slurm_rules import SLURM_RULES

if TYPE_CHECKING:
    from .model import FactorySpec


def kubernetes_fleets_use_eks_ami(spec: FactorySpec) -> Iterator[ConfigIssue]:
    """EKS node groups boot the EKS-optimized AL2023 AMI of the cluster's version; a custom AMI
    would need its own nodeadm and driver stack, which the factory does not verify."""
    if spec.scheduler is None or spec.scheduler.kind != "kubernetes":
        return
    for i, fleet in enumerate(spec.fleets):
        if fleet.ami_id:
            yield ConfigIssue(
                config_path("fleets", i, "amiId"),
                "a custom AMI is not supported with the Kubernetes scheduler",
                "remove `amiId`: nodes use the EKS-optimized AL2023 AMI of `scheduler.version`",
            )


SCHEDULER_RULES: tuple[Rule, ...] = (
    kubernetes_fleets_use_eks_ami,
    *KUBERNETES_RULES,
    *NODE_REPAIR_RULES,
    *SLURM_RULES,
)
