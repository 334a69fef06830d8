"""The parallel file system and the S3 buckets behind it."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..tags import TAG_DATA_REPOSITORY
from .registry import inventory_policy, policy
from .runner import FSX_LUSTRE, PolicyConfig, dicts, known, truthy


def _s3_linked(props: Mapping[str, Any]) -> bool:
    """The file system says it is linked to S3, which FSx cannot back up (`tags.TAG_DATA_REPOSITORY`)."""
    tags = props.get("tags")
    return isinstance(tags, Mapping) and bool(tags.get(TAG_DATA_REPOSITORY))


@policy(
    "fsx-lustre-durability",
    fix=(
        "use a persistent deployment type (`aifactory:storage.deploymentType`) with automatic backups kept at"
        " least the configured days (`aifactory:storage.backupRetentionDays`)"
    ),
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
    if _s3_linked(props):
        pass  # its bucket is the durable copy; FSx takes no backups of it
    elif "automaticBackupRetentionDays" not in props:
        if config.fsx_min_backup_days > 0:
            out.append(
                "automaticBackupRetentionDays is not set (0: no backups); "
                f"keep at least {config.fsx_min_backup_days} day(s), or tag a file system linked to S3 "
                f"`{TAG_DATA_REPOSITORY}: <bucket>`"
            )
    else:
        days = props["automaticBackupRetentionDays"]
        if known(days) and isinstance(days, int | float) and days < config.fsx_min_backup_days:
            out.append(
                f"automaticBackupRetentionDays is {int(days)}; keep at least {config.fsx_min_backup_days}, "
                f"or tag a file system linked to S3 `{TAG_DATA_REPOSITORY}: <bucket>`"
            )
    key = props.get("kmsKeyId")
    if isinstance(key, str) and known(key) and str(deployment).startswith("SCRATCH"):
        out.append("kmsKeyId is set on a scratch file system, which cannot use a customer-managed key")
    return out


RDS_INSTANCE = "aws:rds/instance:Instance"
RDS_MIN_BACKUP_DAYS = 7
"""[RDS.11]'s default minimum backup retention (Security Hub user guide, "Security Hub controls for Amazon
RDS": RDS.11 `minimumBackupRetentionPeriod`, default 7)."""


@policy(
    "rds-data-safety",
    fix=(
        "set `publiclyAccessible: false`, `storageEncrypted: true`, `deletionProtection: true`, "
        f"`backupRetentionPeriod` of at least {RDS_MIN_BACKUP_DAYS} and a `finalSnapshotIdentifier` "
        "(`skipFinalSnapshot: false`)"
    ),
    enforcement="mandatory",
    description=(
        "[RDS.2] [RDS.3] [RDS.8] [RDS.11] RDS DB instances are not publicly accessible, are encrypted at rest, "
        "have deletion protection, keep automatic backups and leave a final snapshot."
    ),
)
def check_rds_data_safety(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """The factory's databases (Slurm accounting, the MLflow registry) keep their data.

    Defaults (RDS API reference, CreateDBInstance; pulumi-aws rds/instance.py): `PubliclyAccessible` false
    in a VPC's private subnets, `StorageEncrypted` false, `DeletionProtection` false, `BackupRetentionPeriod`
    1 day; a delete without `finalSnapshotIdentifier` must skip the final snapshot. So backups and the final
    snapshot are required explicitly, and public access or no encryption or protection is refused.
    """
    if resource_type != RDS_INSTANCE:
        return []
    out: list[str] = []
    if truthy(props.get("publiclyAccessible")):
        out.append("publiclyAccessible is true [RDS.2]")
    for key, control in (("storageEncrypted", "RDS.3"), ("deletionProtection", "RDS.8")):
        value = props.get(key)
        if known(value) and not truthy(value):
            out.append(f"{key} is not true [{control}]")
    days = props.get("backupRetentionPeriod")
    if days is None or (known(days) and isinstance(days, int | float) and days < RDS_MIN_BACKUP_DAYS):
        out.append(f"backupRetentionPeriod is {days}; keep at least {RDS_MIN_BACKUP_DAYS} days [RDS.11]")
    if truthy(props.get("skipFinalSnapshot")) or "finalSnapshotIdentifier" not in props:
        out.append("no final snapshot on delete (skipFinalSnapshot, finalSnapshotIdentifier)")
    return out


@policy(
    "fsx-copy-tags-to-backups",
    fix="set `copyTagsToBackups: true` on the file system",
    enforcement="mandatory",
    description="[FSx.2] FSx for Lustre file systems should be configured to copy tags to backups.",
)
def check_fsx_copy_tags(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """Persistent FSx for Lustre file systems copy their tags to their backups.

    `copyTagsToBackups` defaults to false (pulumi-aws fsx/lustre_file_system.py). Scratch and
    S3-linked file systems take no backups (FSx API reference, CreateBackup and DeleteFileSystem), so
    the control has nothing to judge there; `fsx-lustre-durability` refuses scratch ones.
    """
    if resource_type != FSX_LUSTRE:
        return []
    deployment = props.get("deploymentType", "SCRATCH_1")
    if not known(deployment) or str(deployment).startswith("SCRATCH") or _s3_linked(props):
        return []
    copy = props.get("copyTagsToBackups", False)
    if not known(copy) or truthy(copy):
        return []
    return ["copyTagsToBackups is not true; backups would lose the factory's and data-residency tags"]


# --- S3 buckets ------------------------------------------------------------------------------------
# pulumi-aws 7 configures a bucket through separate resources, each naming the bucket by an id a
# preview does not know yet; the inventory rules count buckets against compliant companions.
# Control ids and titles: AWS Security Hub user guide, "Security Hub controls for Amazon S3".

S3_BUCKET = "aws:s3/bucket:Bucket"
S3_PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
S3_VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
S3_ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
S3_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
S3_LOGGING = "aws:s3/bucketLogging:BucketLogging"

_BLOCK_SETTINGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")


def _missing(
    resources: Sequence[Mapping[str, Any]],
    companion: str,
    compliant: Callable[[Mapping[str, Any]], bool],
    message: str,
) -> list[tuple[str, str]]:
    """One violation per bucket beyond the number of compliant `companion` resources."""
    buckets = [r for r in resources if r.get("type") == S3_BUCKET]
    good = [r for r in resources if r.get("type") == companion and compliant(r.get("inputs") or {})]
    return [(str(b.get("urn", "")), message) for b in buckets[len(good) :]]


def _public_access_problems(props: Mapping[str, Any]) -> list[str]:
    # Each setting defaults to false (pulumi-aws s3/bucket_public_access_block.py).
    return [
        f"{key} is not true"
        for key in _BLOCK_SETTINGS
        if known(props.get(key, False)) and not truthy(props.get(key, False))
    ]


@policy(
    "s3-block-public-access",
    fix="set `blockPublicAcls`, `blockPublicPolicy`, `ignorePublicAcls` and `restrictPublicBuckets` to true",
    enforcement="mandatory",
    description="[S3.8] S3 Block Public Access setting should be enabled at the bucket level (all four settings).",
)
def check_s3_public_access_block(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """A bucket's public access block turns on all four settings ([S3.8]; account level: [S3.1])."""
    if resource_type != S3_PUBLIC_ACCESS_BLOCK:
        return []
    problems = _public_access_problems(props)
    return [f"{', '.join(problems)}; the bucket could be made public"] if problems else []


@inventory_policy(
    "s3-bucket-public-access-blocked",
    fix="add an `aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock` for every bucket with all four settings true",
    enforcement="mandatory",
    description="[S3.8] Every S3 bucket has a public access block with all four settings on.",
)
def check_s3_buckets_blocked(resources: Sequence[Mapping[str, Any]], config: PolicyConfig) -> list[tuple[str, str]]:
    return _missing(
        resources,
        S3_PUBLIC_ACCESS_BLOCK,
        lambda p: not _public_access_problems(p),
        "no public access block with all four settings on covers this bucket; add aws.s3.BucketPublicAccessBlock",
    )


def _versioning_status(props: Mapping[str, Any]) -> Any:
    conf = props.get("versioningConfiguration")
    return conf.get("status") if isinstance(conf, Mapping) else None


@policy(
    "s3-versioning",
    fix="set the bucket versioning status to `Enabled`",
    enforcement="mandatory",
    description="[S3.14] S3 general purpose buckets should have versioning enabled (not suspended).",
)
def check_s3_versioning(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """Bucket versioning is Enabled: an overwritten or deleted checkpoint can be recovered.

    `versioningConfiguration.status` is Enabled, Suspended or Disabled (S3 API reference,
    PutBucketVersioning; pulumi-aws s3/bucket_versioning.py).
    """
    if resource_type != S3_VERSIONING:
        return []
    status = _versioning_status(props)
    if not known(status) or status == "Enabled":
        return []
    return [f"versioningConfiguration.status is {status!r}; enable versioning"]


@inventory_policy(
    "s3-bucket-versioned",
    fix="add an `aws:s3/bucketVersioning:BucketVersioning` with status `Enabled` for every bucket",
    enforcement="mandatory",
    description="[S3.14] Every S3 bucket has versioning enabled.",
)
def check_s3_buckets_versioned(resources: Sequence[Mapping[str, Any]], config: PolicyConfig) -> list[tuple[str, str]]:
    return _missing(
        resources,
        S3_VERSIONING,
        lambda p: not known(_versioning_status(p)) or _versioning_status(p) == "Enabled",
        "no enabled versioning covers this bucket; add aws.s3.BucketVersioning with status Enabled",
    )


def _denies_insecure_transport(props: Mapping[str, Any]) -> bool:
    """The bucket policy denies every S3 action when aws:SecureTransport is false."""
    raw = props.get("policy")
    if not known(raw):
        return True
    try:
        doc = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return False
    if not isinstance(doc, Mapping):
        return False
    statements = doc.get("Statement")
    for stmt in dicts(statements if isinstance(statements, list) else [statements]):
        actions = stmt.get("Action")
        actions = actions if isinstance(actions, list) else [actions]
        condition = stmt.get("Condition")
        secure = condition.get("Bool") if isinstance(condition, Mapping) else None
        if (
            stmt.get("Effect") == "Deny"
            and stmt.get("Principal") in ("*", {"AWS": "*"})
            and any(a in ("s3:*", "*") for a in actions)
            and isinstance(secure, Mapping)
            and str(secure.get("aws:SecureTransport")).lower() == "false"
        ):
            return True
    return False


@policy(
    "s3-tls-only",
    fix="add a bucket policy statement that denies `s3:*` when `aws:SecureTransport` is false",
    enforcement="mandatory",
    description=(
        "[S3.5] S3 general purpose buckets should require requests to use SSL (deny aws:SecureTransport false)."
    ),
)
def check_s3_tls_policy(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """Bucket policies deny every request that does not use TLS.

    [S3.5] passes a bucket policy with a Deny of `s3:*` to `*` when `aws:SecureTransport` is false
    (S3 user guide, "Security best practices for Amazon S3": enforce encryption of data in transit).
    """
    if resource_type != S3_POLICY or _denies_insecure_transport(props):
        return []
    return ["the bucket policy does not deny requests without TLS (Deny s3:* when aws:SecureTransport is false)"]


@inventory_policy(
    "s3-bucket-tls-only",
    fix="give every bucket a policy that denies `s3:*` when `aws:SecureTransport` is false",
    enforcement="mandatory",
    description="[S3.5] Every S3 bucket has a policy that denies requests without TLS.",
)
def check_s3_buckets_tls(resources: Sequence[Mapping[str, Any]], config: PolicyConfig) -> list[tuple[str, str]]:
    return _missing(
        resources,
        S3_POLICY,
        _denies_insecure_transport,
        "no bucket policy denying requests without TLS covers this bucket; add one (aws:SecureTransport false)",
    )


def _kms_encrypted(props: Mapping[str, Any]) -> bool:
    for rule in dicts(props.get("rules")):
        default = rule.get("applyServerSideEncryptionByDefault")
        algorithm = default.get("sseAlgorithm") if isinstance(default, Mapping) else None
        if not known(algorithm) or algorithm in ("aws:kms", "aws:kms:dsse"):
            return True
    return False


@inventory_policy(
    "s3-kms-encryption",
    fix="encrypt the bucket with SSE-KMS (`sseAlgorithm: aws:kms` and a key)",
    enforcement="advisory",
    description=(
        "[S3.17] S3 general purpose buckets should be encrypted at rest with AWS KMS keys. Advisory "
        "outside sovereign stacks: SSE-S3 encrypts too, and KMS adds a request to every checkpoint read."
    ),
)
def check_s3_kms(resources: Sequence[Mapping[str, Any]], config: PolicyConfig) -> list[tuple[str, str]]:
    """Buckets encrypt with SSE-KMS or DSSE-KMS, not SSE-S3 ([S3.17]).

    Every bucket is encrypted at rest with SSE-S3 at least (S3 user guide, "Setting default
    server-side encryption behavior for Amazon S3 buckets"); a KMS key gives the account control
    and an audit trail of the key, at a KMS request per object without S3 Bucket Keys.
    """
    return _missing(
        resources,
        S3_ENCRYPTION,
        _kms_encrypted,
        "the bucket is not encrypted with a KMS key (sseAlgorithm aws:kms); SSE-S3 fails [S3.17]",
    )


@inventory_policy(
    "s3-access-logging",
    fix=(
        "add an `aws:s3/bucketLogging:BucketLogging` that delivers the bucket's access logs to the "
        "organization's log bucket"
    ),
    enforcement="advisory",
    description=(
        "[S3.9] S3 general purpose bucket server access logging should be enabled. Advisory outside "
        "sovereign stacks: the target bucket is the organization's, and CloudTrail data events may "
        "already record access."
    ),
)
def check_s3_logging(resources: Sequence[Mapping[str, Any]], config: PolicyConfig) -> list[tuple[str, str]]:
    """Every bucket delivers server access logs to a target bucket ([S3.9]).

    The factory does not create the log bucket: S3 delivers logs to a bucket in the same Region
    with no default retention (S3 user guide, "Logging requests with server access logging"),
    which an organization usually runs centrally; give `aws.s3.BucketLogging` the target.
    """
    return _missing(
        resources,
        S3_LOGGING,
        lambda p: bool(p.get("targetBucket")),
        "the bucket has no server access logging (aws.s3.BucketLogging with a targetBucket)",
    )
