"""The parallel file system."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .registry import policy
from .runner import FSX_LUSTRE, PolicyConfig, known


@policy(
    "fsx-lustre-durability",
    enforcement="mandatory",
    description="FSx for Lustre is persistent, encrypted and backed up.",
    config_keys=("fsxDeploymentTypes", "fsxMinBackupDays"),
)
def check_fsx_lustre(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """FSx for Lustre: an allowed (persistent) deployment type, encrypted at rest, automatic backups.

    `deploymentType` defaults to SCRATCH_1 and `automaticBackupRetentionDays` to 0 (disabled)
    (pulumi-aws fsx/lustre_file_system.py). Persistent file systems are always encrypted at rest
    (FSx for Lustre user guide, "Encrypting data at rest"); the key must not be the AWS-managed
    alias in a sovereign stack (see `check_customer_managed_keys`).
    """
    if resource_type != FSX_LUSTRE:
        return []
    out: list[str] = []
    deployment = props.get("deploymentType", "SCRATCH_1")
    if known(deployment) and deployment not in config.fsx_deployment_types:
        out.append(
            f"deploymentType is {deployment}; allowed: {list(config.fsx_deployment_types)} "
            "(scratch file systems are not replicated and have no backups)"
        )
    if "automaticBackupRetentionDays" not in props:
        if config.fsx_min_backup_days > 0:
            out.append(
                "automaticBackupRetentionDays is not set (0: no backups); "
                f"keep at least {config.fsx_min_backup_days} day(s)"
            )
    else:
        days = props["automaticBackupRetentionDays"]
        if known(days) and isinstance(days, int | float) and days < config.fsx_min_backup_days:
            out.append(f"automaticBackupRetentionDays is {int(days)}; keep at least {config.fsx_min_backup_days}")
    key = props.get("kmsKeyId")
    if isinstance(key, str) and known(key) and str(deployment).startswith("SCRATCH"):
        out.append("kmsKeyId is set on a scratch file system, which cannot use a customer-managed key")
    return out
