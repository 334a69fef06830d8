"""The EKS control plane: its Kubernetes version and the encryption of its secrets.

Control ids and titles: AWS Security Hub user guide, "Security Hub controls for Amazon EKS".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from ..spec.kubernetes_rules import EKS_END_OF_EXTENDED_SUPPORT
from .registry import policy
from .runner import EKS_CLUSTER, PolicyConfig, dicts, known, strings


def eks_version_supported(version: str, today: date) -> bool:
    """EKS still supports `version` (standard or extended support) on `today`."""
    end = EKS_END_OF_EXTENDED_SUPPORT.get(version)
    return end is not None and today <= end


@policy(
    "eks-supported-version",
    fix=(
        "set `aifactory:scheduler.version` to a Kubernetes version EKS still supports (EKS user guide, "
        "'Understand the Kubernetes version lifecycle on EKS') and plan the upgrade"
    ),
    enforcement="mandatory",
    description="[EKS.2] EKS clusters should run on a supported Kubernetes version.",
)
def check_eks_version(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """The cluster's Kubernetes version is still supported by EKS today.

    Support ends at the end of extended support (Amazon EKS Kubernetes release calendar, EKS user
    guide "Understand the Kubernetes version lifecycle on EKS"); the dates are the spec's table.
    Left out, EKS creates the latest version (EKS API reference, CreateCluster `version`).
    """
    if resource_type != EKS_CLUSTER:
        return []
    version = props.get("version")
    if not isinstance(version, str) or not known(version):
        return []
    today = date.today()
    if eks_version_supported(version, today):
        return []
    supported = [v for v in EKS_END_OF_EXTENDED_SUPPORT if eks_version_supported(v, today)]
    end = EKS_END_OF_EXTENDED_SUPPORT.get(version)
    why = f"its extended support ended on {end}" if end else "EKS does not offer it"
    return [f"Kubernetes {version} is not supported: {why}; use one of {supported}"]


@policy(
    "eks-secrets-encryption",
    fix=(
        "give the cluster `encryptionConfig` with `resources: [secrets]` and a KMS key "
        "(`aifactory:encryption` with `customerManagedKey: true` or `kmsKeyArn`; `aifactory:sovereignty.kmsKeyArn` "
        "in sovereign stacks)"
    ),
    enforcement="advisory",
    description=(
        "[EKS.3] EKS clusters should use encrypted Kubernetes secrets (envelope encryption with a "
        "KMS key). Advisory outside sovereign stacks: EKS already encrypts all Kubernetes API data "
        "with an AWS-owned key, and a commercial stack may not own a key."
    ),
)
def check_eks_secrets_encryption(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """Kubernetes secrets are envelope-encrypted with a KMS key of the account.

    [EKS.3] fails a cluster whose `encryptionConfig` does not list `secrets`. Since Kubernetes 1.28
    EKS envelope-encrypts all Kubernetes API data with an AWS-owned key by default (EKS user guide,
    "Default envelope encryption for all Kubernetes API Data"), so without a key of its own a
    commercial stack is encrypted but does not control the key: advisory there. Sovereign stacks
    run every policy as mandatory and bring a customer-managed key.
    """
    if resource_type != EKS_CLUSTER:
        return []
    config_value = props.get("encryptionConfig")
    if "encryptionConfig" in props and not known(config_value):
        return []
    blocks = dicts(config_value) if isinstance(config_value, list) else dicts([config_value])
    for block in blocks:
        resources = block.get("resources")
        if not known(resources) or "secrets" in set(strings(resources)):
            return []
    return ["encryptionConfig does not encrypt secrets with a KMS key; set encryptionConfig.resources to [secrets]"]
