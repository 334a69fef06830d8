"""Rules for `aifactory:storage`: targets the service can meet, S3 paths the stack can use."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..catalog.instance_types import instance_types
from ..catalog.regions import partitions
from .errors import ConfigIssue, config_path
from .rules import Rule
from .storage import StorageSpec, parse_s3_path

if TYPE_CHECKING:
    from .model import FactorySpec


def _storage(spec: FactorySpec) -> StorageSpec | None:
    return spec.storage


def storage_has_a_target(spec: FactorySpec) -> Iterator[ConfigIssue]:
    st = _storage(spec)
    if st is not None and st.capacity_tib is None and st.throughput_gbps is None and st.checkpoint is None:
        yield ConfigIssue(
            config_path("storage"),
            "gives no size: none of `capacityTiB`, `throughputGBps` or `checkpoint` is set",
            "set `capacityTiB` and either `throughputGBps` or `checkpoint: {sizeTB, seconds}`",
        )


def storage_throughput_or_checkpoint(spec: FactorySpec) -> Iterator[ConfigIssue]:
    st = _storage(spec)
    if st is not None and st.throughput_gbps is not None and st.checkpoint is not None:
        yield ConfigIssue(
            config_path("storage", "checkpoint"),
            "is set together with `throughputGBps`; the checkpoint target replaces the throughput target",
            "keep one: `throughputGBps`, or `checkpoint` (throughput = sizeTB / seconds)",
        )


def storage_efa_needs_persistent_2(spec: FactorySpec) -> Iterator[ConfigIssue]:
    st = _storage(spec)
    if st is not None and st.efa_enabled and st.deployment_type != "PERSISTENT_2":
        yield ConfigIssue(
            config_path("storage", "efaEnabled"),
            f"EFA-enabled file systems must be PERSISTENT_2, not {st.deployment_type}",
            "set `deploymentType: PERSISTENT_2` or `efaEnabled: false`",
        )


# Each EFA interface a client's LNet uses is one connection, and an EFA-enabled file system takes at
# most 1024 across all clients (FSx for Lustre user guide, "Configuring EFA clients", step 4).
FSX_EFA_CONNECTION_LIMIT = 1024


def storage_efa_connections_within_limit(spec: FactorySpec) -> Iterator[ConfigIssue]:
    """Every node configures LNet on its type's documented EFA interface count (`fsx_efa_interfaces`)."""
    st = _storage(spec)
    if st is None or not st.efa_enabled:
        return
    catalog = instance_types()
    per_fleet = {
        f.name: f.count * catalog[f.instance_type or ""].fsx_efa_interfaces
        for f in spec.fleets
        if f.kind == "ec2" and f.instance_type in catalog
    }
    total = sum(per_fleet.values())
    if total > FSX_EFA_CONNECTION_LIMIT:
        detail = ", ".join(f"{name} {n}" for name, n in per_fleet.items() if n)
        yield ConfigIssue(
            config_path("storage", "efaEnabled"),
            f"the fleets' nodes would open {total} EFA connections to the file system ({detail}); an "
            f"EFA-enabled FSx for Lustre file system accepts at most {FSX_EFA_CONNECTION_LIMIT}",
            f"keep the EFA clients' connections at {FSX_EFA_CONNECTION_LIMIT} or fewer (fewer nodes) or set "
            "`efaEnabled: false` (Lustre over TCP)",
        )


def _s3_paths(st: StorageSpec) -> Iterator[tuple[str, str]]:
    for key, value in (("s3ImportPath", st.s3_import_path), ("s3ExportPath", st.s3_export_path)):
        if value is not None:
            yield key, value


def storage_s3_paths_are_s3(spec: FactorySpec) -> Iterator[ConfigIssue]:
    st = _storage(spec)
    if st is None:
        return
    for key, value in _s3_paths(st):
        if parse_s3_path(value) is None:
            yield ConfigIssue(
                config_path("storage", key),
                f"'{value}' is not an S3 URI",
                "write s3://<bucket>/<prefix>/ (or the bucket ARN arn:<partition>:s3:::<bucket>/<prefix>) "
                "with a valid bucket name: 3-63 lowercase letters, digits, '.' and '-'",
            )


def storage_s3_paths_in_partition(spec: FactorySpec) -> Iterator[ConfigIssue]:
    """An ARN names its partition; an s3:// URI is read in the stack's partition."""
    st = _storage(spec)
    if st is None:
        return
    for key, value in _s3_paths(st):
        location = parse_s3_path(value)
        if location is None or location.partition is None or location.partition == spec.partition:
            continue
        known = location.partition in partitions()
        yield ConfigIssue(
            config_path("storage", key),
            f"'{value}' is in partition '{location.partition}'"
            f"{'' if known else ' (not an AWS partition)'}, but the stack's region {spec.region} is in "
            f"'{spec.partition}'; FSx cannot link a bucket across partitions",
            f"use a bucket in '{spec.partition}' "
            f"(s3://<bucket>/<prefix>/ or arn:{spec.partition}:s3:::<bucket>/<prefix>)",
        )


def storage_s3_needs_persistent_2(spec: FactorySpec) -> Iterator[ConfigIssue]:
    st = _storage(spec)
    if st is None or st.deployment_type == "PERSISTENT_2":
        return
    for key, _ in _s3_paths(st):
        yield ConfigIssue(
            config_path("storage", key),
            "the factory links S3 through data repository associations, which it builds on PERSISTENT_2 "
            f"file systems only, not {st.deployment_type}",
            "set `deploymentType: PERSISTENT_2` or remove the S3 path",
        )


def storage_s3_paths_separate(spec: FactorySpec) -> Iterator[ConfigIssue]:
    st = _storage(spec)
    if st is None:
        return
    imp, exp = st.import_location, st.export_location
    if imp is not None and exp is not None and imp.overlaps(exp):
        yield ConfigIssue(
            config_path("storage", "s3ExportPath"),
            f"'{exp.uri}' overlaps the import path '{imp.uri}'; each links its own directory "
            "(datasets in, checkpoints out) and FSx does not allow overlapping data repository paths",
            "use separate prefixes, e.g. s3://<bucket>/datasets/ and s3://<bucket>/checkpoints/",
        )


def storage_bucket_creation(spec: FactorySpec) -> Iterator[ConfigIssue]:
    st = _storage(spec)
    if st is None or not st.create_bucket:
        return
    locations = [loc for loc in (st.import_location, st.export_location) if loc is not None]
    if not st.s3_import_path and not st.s3_export_path:
        yield ConfigIssue(
            config_path("storage", "createBucket"),
            "is true but no S3 path names the bucket to create",
            "set `s3ImportPath` and/or `s3ExportPath` to s3://<new-bucket>/<prefix>/",
        )
    elif len(buckets := sorted({loc.bucket for loc in locations})) > 1:
        yield ConfigIssue(
            config_path("storage", "createBucket"),
            f"the S3 paths name different buckets ({', '.join(buckets)}); the factory creates one",
            "point both paths at one bucket with different prefixes, or set `createBucket: false`",
        )


def storage_access_logs_need_the_bucket(spec: FactorySpec) -> Iterator[ConfigIssue]:
    """Only the bucket the factory creates is given server access logging; an existing one is its owner's."""
    st = _storage(spec)
    if st is not None and st.access_log_bucket and not st.create_bucket:
        yield ConfigIssue(
            config_path("storage", "accessLogBucket"),
            "is set but the factory creates no bucket to log (`createBucket` is false)",
            "set `createBucket: true`, or enable access logging on your existing bucket and remove `accessLogBucket`",
        )
    elif (
        st is not None
        and st.access_log_bucket
        and st.access_log_bucket in {loc.bucket for loc in (st.import_location, st.export_location) if loc is not None}
    ):
        yield ConfigIssue(
            config_path("storage", "accessLogBucket"),
            f"'{st.access_log_bucket}' is the data repository bucket itself; logging a bucket into itself "
            "writes a log object for every log delivery (S3 User Guide, server access logging)",
            "name a separate log bucket in the same Region and account",
        )


def storage_sovereign_bucket_in_region(spec: FactorySpec) -> Iterator[ConfigIssue]:
    """An existing bucket's region cannot be read before deployment; only a bucket the factory creates
    is provably in the stack's region."""
    st = _storage(spec)
    if st is None or not spec.sovereign or st.create_bucket:
        return
    for key, value in _s3_paths(st):
        yield ConfigIssue(
            config_path("storage", key),
            f"'{value}' is an existing bucket whose region cannot be proven to be {spec.region} before "
            "deployment; a sovereign factory keeps its data in-region",
            "set `createBucket: true` so the factory creates the bucket in the stack's region",
        )


def storage_scratch_has_no_backups(spec: FactorySpec) -> Iterator[ConfigIssue]:
    st = _storage(spec)
    if st is not None and st.deployment_type == "SCRATCH_2" and st.backup_retention_days:
        yield ConfigIssue(
            config_path("storage", "backupRetentionDays"),
            "SCRATCH_2 file systems have no automatic backups",
            "remove `backupRetentionDays` or use `deploymentType: PERSISTENT_2`",
        )


def storage_linked_has_no_backups(spec: FactorySpec) -> Iterator[ConfigIssue]:
    # FSx API reference, DeleteFileSystem: "Backups cannot be enabled on S3-linked file systems".
    st = _storage(spec)
    if st is not None and st.s3_linked and st.backup_retention_days:
        yield ConfigIssue(
            config_path("storage", "backupRetentionDays"),
            "FSx cannot back up a file system linked to an S3 data repository",
            "remove `backupRetentionDays` (the bucket holds the exported data) or remove the S3 paths",
        )


STORAGE_RULES: tuple[Rule, ...] = (
    storage_has_a_target,
    storage_throughput_or_checkpoint,
    storage_efa_needs_persistent_2,
    storage_efa_connections_within_limit,
    storage_s3_paths_are_s3,
    storage_s3_paths_in_partition,
    storage_s3_needs_persistent_2,
    storage_s3_paths_separate,
    storage_bucket_creation,
    storage_access_logs_need_the_bucket,
    storage_sovereign_bucket_in_region,
    storage_scratch_has_no_backups,
    storage_linked_has_no_backups,
)
