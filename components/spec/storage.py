"""`aifactory:storage`: the shared FSx for Lustre file system."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import SpecModel

DeploymentType = Literal["PERSISTENT_2", "PERSISTENT_1", "SCRATCH_2"]


class CheckpointTarget(SpecModel):
    """Write a checkpoint of `size_tb` terabytes in `seconds`: throughput = size / seconds."""

    size_tb: float = Field(gt=0, alias="sizeTB", description="Checkpoint size in TB (10^12 bytes).")
    seconds: float = Field(gt=0, description="Time allowed to write one checkpoint.")


class StorageSpec(SpecModel):
    capacity_tib: float | None = Field(default=None, gt=0, alias="capacityTiB", description="Minimum storage capacity in TiB.")
    throughput_gbps: float | None = Field(
        default=None, gt=0, alias="throughputGBps", description="Minimum aggregate throughput in GB/s."
    )
    checkpoint: CheckpointTarget | None = Field(
        default=None, description="Checkpoint target instead of `throughputGBps`."
    )
    efa_enabled: bool = Field(default=False, description="GPUDirect Storage over EFA (PERSISTENT_2 only).")
    s3_import_path: str | None = Field(default=None, description="s3://bucket/prefix/ imported into the file system.")
    s3_export_path: str | None = Field(default=None, description="s3://bucket/prefix/ the file system exports to.")
    create_bucket: bool = Field(
        default=False, description="Create the data repository bucket (in-region, encrypted, versioned)."
    )
    deployment_type: DeploymentType = "PERSISTENT_2"
    backup_retention_days: int = Field(default=7, ge=0, le=90)
    mount_path: str = Field(default="/fsx", pattern=r"^/[A-Za-z0-9._/-]*$")
