"""`aifactory:storage`: the shared FSx for Lustre file system."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from .aws_values import mount_path_problem
from .base import NotNull, SpecModel, unit
from .numbers import (
    FSX_MAX_STORAGE_GIB,
    FSX_MAX_STORAGE_TIB,
    FSX_MAX_THROUGHPUT_GBPS,
    Integer,
    NonNegativeInt,
    PositiveFloat,
)

# A checkpoint is written within a week at most; a longer window is a unit mistake (minutes for seconds).
MAX_CHECKPOINT_SECONDS = 7 * 24 * 3600

DeploymentType = Literal["PERSISTENT_2", "SCRATCH_2"]
# Default of Service Quotas "Lustre Persistent_2 storage capacity" (L-8F1B9C74) and "Lustre Scratch
# storage capacity" (L-AD2FC696), per account and region.
DEFAULT_QUOTA_GIB = 100_800

# Deployment types: PERSISTENT_1 (the older 50/100/200 MB/s/TiB generation) is left out; it has no
# EFA and the factory links S3 only through data repository associations on PERSISTENT_2.
DEFAULT_BACKUP_RETENTION_DAYS = 7

# S3 bucket names: 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter
# or digit (S3 User Guide, "General purpose bucket naming rules").
BUCKET_NAME = r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
_S3_URI = re.compile(rf"^s3://(?P<bucket>{BUCKET_NAME})(?:/(?P<prefix>.*))?$")
# A bucket ARN names its partition: arn:<partition>:s3:::<bucket>[/<key prefix>] (IAM User Guide,
# "Amazon S3 resource ARNs"). An s3:// URI carries no partition: bucket names are unique only
# within a partition, so a URI is read in the stack's own partition.
_S3_ARN = re.compile(rf"^arn:(?P<partition>[a-z0-9-]+):s3:::(?P<bucket>{BUCKET_NAME})(?:/(?P<prefix>.*))?$")


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str
    partition: str | None
    """The partition an ARN names; None for an s3:// URI."""

    @property
    def uri(self) -> str:
        """`s3://bucket/prefix/`, the form FSx data repository associations take."""
        prefix = self.prefix.strip("/")
        return f"s3://{self.bucket}/{prefix}/" if prefix else f"s3://{self.bucket}/"

    def overlaps(self, other: S3Location) -> bool:
        """True when one location contains the other (same bucket, one prefix under the other)."""
        if self.bucket != other.bucket:
            return False
        mine, theirs = self.uri, other.uri
        return mine.startswith(theirs) or theirs.startswith(mine)


def parse_s3_path(path: str) -> S3Location | None:
    """An `s3://bucket/prefix` URI or `arn:<partition>:s3:::bucket/prefix` ARN; None for anything else."""
    match = _S3_URI.match(path) or _S3_ARN.match(path)
    if match is None or ".." in match["bucket"]:
        return None
    groups = match.groupdict()
    return S3Location(bucket=match["bucket"], prefix=match["prefix"] or "", partition=groups.get("partition"))


class CheckpointTarget(SpecModel):
    """Write a checkpoint of `size_tb` terabytes in `seconds`: throughput = size / seconds."""

    # A checkpoint lives on the file system, so it is at most the largest file system (10^12-byte TB).
    size_tb: PositiveFloat = Field(
        alias="sizeTB",
        le=FSX_MAX_STORAGE_GIB * 2**30 / 1e12,
        json_schema_extra=unit("TB"),
        description="Checkpoint size in TB (10^12 bytes).",
        examples=[2.5],
    )
    seconds: PositiveFloat = Field(
        le=MAX_CHECKPOINT_SECONDS,
        json_schema_extra=unit("s"),
        description="Time allowed to write one checkpoint.",
        examples=[300],
    )


class StorageSpec(SpecModel):
    # Bounds: the largest capacity the FSx API accepts and the throughput its top tier gives there
    # (numbers.py); the account quota (`quotaGiB`) is the tighter ceiling planning/feasibility checks.
    capacity_tib: PositiveFloat | None = Field(
        default=None,
        le=FSX_MAX_STORAGE_TIB,
        alias="capacityTiB",
        json_schema_extra=unit("TiB"),
        description="Minimum storage capacity.",
        examples=[48],
    )
    throughput_gbps: PositiveFloat | None = Field(
        default=None,
        le=FSX_MAX_THROUGHPUT_GBPS,
        alias="throughputGBps",
        json_schema_extra=unit("GB/s"),
        description="Minimum aggregate throughput.",
        examples=[24],
    )
    checkpoint: Annotated[CheckpointTarget | None, NotNull] = Field(
        default=None, description="Checkpoint target instead of `throughputGBps`."
    )
    efa_enabled: bool = Field(default=False, description="GPUDirect Storage over EFA (PERSISTENT_2 only).")
    s3_import_path: str | None = Field(
        default=None,
        description="s3://bucket/prefix/ imported into <mountPath>/datasets.",
        examples=["s3://acme-datasets/train/"],
    )
    s3_export_path: str | None = Field(
        default=None,
        description="s3://bucket/prefix/ that <mountPath>/checkpoints exports to.",
        examples=["s3://acme-checkpoints/run-1/"],
    )
    create_bucket: bool = Field(
        default=False, description="Create the data repository bucket (in-region, encrypted, versioned)."
    )
    # S3 User Guide, "Enabling Amazon S3 server access logging": the destination bucket must be in the
    # source bucket's Region and account, so a sovereign factory's logs stay in-region.
    access_log_bucket: str | None = Field(
        default=None,
        pattern=rf"^{BUCKET_NAME}$",
        description="With `createBucket`: the bucket (same Region and account) that receives the data "
        "repository bucket's server access logs, under the prefix `<bucket>/`; default: no access logging.",
        examples=["acme-s3-access-logs-eu-north-1"],
    )
    deployment_type: DeploymentType = Field(
        default="PERSISTENT_2",
        description="FSx for Lustre deployment type: `PERSISTENT_2` (replicated storage, EFA, S3 links) or "
        "`SCRATCH_2` (temporary storage, no replication or backups).",
    )
    # FSx API reference, CreateFileSystemLustreConfiguration: AutomaticBackupRetentionDays 0-90.
    backup_retention_days: NonNegativeInt | None = Field(
        default=None,
        le=90,
        json_schema_extra=unit("days"),
        description=f"Daily automatic backups kept (default {DEFAULT_BACKUP_RETENTION_DAYS} on PERSISTENT_2; "
        "none on SCRATCH_2 or on a file system linked to S3, whose bucket is the durable copy).",
    )
    mount_path: str = Field(
        default="/fsx", description="Where every node mounts the file system: absolute, not a system directory."
    )
    availability_zone: str | None = Field(
        default=None,
        alias="availabilityZone",
        examples=["eu-north-1a"],
        description="AZ of the file system, one of the network's zones; required when the fleets span zones "
        "(default: the fleets' one zone). FSx replaces a file system whose subnet changes, so it stays "
        "where this says.",
    )
    quota_gib: Integer = Field(
        default=DEFAULT_QUOTA_GIB,
        ge=1200,
        le=FSX_MAX_STORAGE_GIB,
        alias="quotaGiB",
        json_schema_extra=unit("GiB"),
        description="The account's FSx for Lustre storage quota in GiB (default 100,800; raise it in Service "
        "Quotas first).",
    )

    @field_validator("mount_path")
    @classmethod
    def _mount_path_usable(cls, value: str) -> str:
        problem = mount_path_problem(value)
        if problem is not None:
            raise PydanticCustomError(
                "config_issue",
                "{problem}",
                {"problem": problem, "fix": "mount it on its own directory, e.g. /fsx or /mnt/fsx/shared"},
            )
        return value

    @property
    def import_location(self) -> S3Location | None:
        return parse_s3_path(self.s3_import_path) if self.s3_import_path else None

    @property
    def export_location(self) -> S3Location | None:
        return parse_s3_path(self.s3_export_path) if self.s3_export_path else None

    @property
    def s3_linked(self) -> bool:
        """The file system is linked to an S3 data repository (an import or export path)."""
        return self.s3_import_path is not None or self.s3_export_path is not None

    @property
    def backup_days(self) -> int:
        """Automatic backup retention the file system gets: 0 disables it, and it is always 0 on
        SCRATCH_2 and on a file system linked to S3, which FSx cannot back up (`tags.TAG_DATA_REPOSITORY`)."""
        if self.deployment_type != "PERSISTENT_2" or self.s3_linked:
            return 0
        if self.backup_retention_days is None:
            return DEFAULT_BACKUP_RETENTION_DAYS
        return self.backup_retention_days
