"""The factory's file system, sized from its `storage` block, and the figures the plan report shows."""

from __future__ import annotations

from dataclasses import dataclass

from ..spec.storage import StorageSpec
from .storage_sizing import FilesystemSizing, size_filesystem


@dataclass(frozen=True)
class StoragePlanFigures:
    """What `aifactory plan` shows for the shared file system."""

    deployment_type: str
    per_unit_throughput_mbps_per_tib: int
    capacity_tib: float
    throughput_gbps: float
    gbps_per_gpu: float
    monthly_cost_usd: float | None
    """None when the region's price table has no price for the configuration (`price_note` says so)."""
    cost_is_estimate: bool
    price_source: str | None
    price_date: str | None
    price_note: str | None
    checkpoint_seconds: float | None
    efa_enabled: bool
    final_backup: str
    """What deleting the file system keeps (`final_backup_on_delete`'s reason)."""


def final_backup_on_delete(deployment_type: str, s3_linked: bool) -> tuple[bool, str]:
    """Whether FSx takes a final backup when the file system is deleted, and why (for the plan).

    FSx for Lustre takes no final backup unless `SkipFinalBackup` is false (FSx API reference,
    DeleteFileSystemLustreConfiguration), and backs up only persistent file systems that are not
    linked to a data repository (FSx API reference, CreateBackup; DeleteFileSystem: "Backups cannot be
    enabled on S3-linked file systems"; FSx for Lustre user guide, "Working with backups"); scratch file
    systems support no backups at all.
    """
    if deployment_type != "PERSISTENT_2":
        return False, f"none: {deployment_type} file systems support no backups (delete loses unexported data)"
    if s3_linked:
        return False, "none: S3-linked file systems support no backups (export to S3 before deleting)"
    return True, "taken on delete (skipFinalBackup false)"


def size_for_spec(storage: StorageSpec, region: str) -> FilesystemSizing:
    """The sizing a validated `StorageSpec` gets in `region`."""
    return size_filesystem(
        capacity_tib=storage.capacity_tib,
        throughput_gbps=storage.throughput_gbps,
        checkpoint_size_tb=storage.checkpoint.size_tb if storage.checkpoint else None,
        checkpoint_seconds=storage.checkpoint.seconds if storage.checkpoint else None,
        efa_enabled=storage.efa_enabled,
        deployment_types=(storage.deployment_type,),
        region=region,
        quota_gib=storage.quota_gib,
    )


def plan_figures(sizing: FilesystemSizing, gpus: int, s3_linked: bool = False) -> StoragePlanFigures:
    """Capacity, tier, throughput, GB/s per GPU, monthly cost and checkpoint time for the plan report."""
    return StoragePlanFigures(
        deployment_type=sizing.deployment_type,
        per_unit_throughput_mbps_per_tib=sizing.per_unit_throughput,
        capacity_tib=sizing.capacity_tib,
        throughput_gbps=sizing.throughput_gbps,
        gbps_per_gpu=sizing.gbps_per_gpu(gpus),
        monthly_cost_usd=sizing.price.monthly_cost_usd,
        cost_is_estimate=sizing.price.estimate,
        price_source=sizing.price.source,
        price_date=sizing.price.date,
        price_note=sizing.price.note,
        checkpoint_seconds=sizing.checkpoint_seconds,
        efa_enabled=sizing.efa_enabled,
        final_backup=final_backup_on_delete(sizing.deployment_type, s3_linked)[1],
    )
