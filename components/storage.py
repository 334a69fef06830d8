"""`ParallelFilesystem`: the factory's FSx for Lustre file system, its S3 data repository and ports.

Sizing is `planning.storage_sizing.size_filesystem`; this module only turns the sizing into resources.
The file system and the bucket are protected and retained on delete: no stack change destroys
training data. Everything that decides the file system's inputs is a storage argument, so changing
fleets, the scheduler or placement never touches (or replaces) the file system.
"""

import json
from collections.abc import Mapping, Sequence
from typing import NotRequired, Required, TypedDict

import pulumi
import pulumi_aws as aws

# `pulumi.Input[T]` is `T | Awaitable[T] | "Output[T]"`, the last a string that `typing.get_type_hints`
# of this module's Args TypedDicts resolves in this module's namespace.
from pulumi.output import Output, T  # noqa: F401

from .component_args import parallel_filesystem_issues, validate_component_args
from .plan_time import require_plan_time
from .planning.storage_plan import final_backup_on_delete
from .planning.storage_sizing import (
    CHECKPOINT_DIR,
    DATASETS_DIR,
    FilesystemSizing,
    lfs_setstripe_command,
    size_filesystem,
)
from .spec.model import FactorySpec
from .spec.storage import (
    DEFAULT_BACKUP_RETENTION_DAYS,
    DEFAULT_QUOTA_GIB,
    DeploymentType,
    parse_s3_path,
)
from .tags import TAG_DATA_REPOSITORY

# Lustre traffic: TCP 988 and 1018-1023 (FSx for Lustre User Guide, "File system access control with
# Amazon VPC"). The file system's own security group must allow them from itself as well, or creation
# fails ("Creating an FSx for Lustre file system fails", cannot-create-fs.html).
LUSTRE_PORTS = ((988, 988), (1018, 1023))
# All S3 object events, so the file system and the bucket follow each other (pulumi-aws
# DataRepositoryAssociationS3AutoImportPolicy / AutoExportPolicy `events`).
S3_EVENTS = ["NEW", "CHANGED", "DELETED"]
# Tag on the final backup FSx takes when the file system is deleted: the component that owned it.
FINAL_BACKUP_TAG = "aifactory:final-backup-of"
# Root on a client becomes nobody on the file system (root_squash_configuration "UID:GID").
ROOT_SQUASH = "65534:65534"
LOG_RETENTION_DAYS = 365
LUSTRE_VERSION = "2.15"
PLAN_TIME_ARGS = (
    "region",
    "partition",
    "capacity_tib",
    "throughput_gbps",
    "checkpoint_size_tb",
    "checkpoint_seconds",
    "efa_enabled",
    "deployment_type",
    "s3_import_path",
    "s3_export_path",
    "create_bucket",
    "access_log_bucket",
    "backup_retention_days",
    "mount_path",
    "quota_gib",
    "tags",
)


class ParallelFilesystemArgs(TypedDict):
    """Inputs of `ParallelFilesystem`. Sizing targets and options are plain values: the file system is
    sized when the component is constructed (an Output there is an error naming the arg)."""

    subnet_id: Required[pulumi.Input[str]]
    """The private subnet the file system lives in (FSx for Lustre takes exactly one)."""
    vpc_id: Required[pulumi.Input[str]]
    """The VPC of the subnet; the file system's security group is created in it."""
    client_security_group_id: Required[pulumi.Input[str]]
    """The fleets' group, on every client interface: the only Lustre source; it gets the rules back too."""
    region: Required[str]
    """The stack's region; the bucket is created there and prices are looked up for it."""
    partition: Required[str]
    """The region's partition (`aws`, `aws-us-gov`, `aws-cn`, ...) used in every ARN built here."""
    kms_key_arn: NotRequired[pulumi.Input[str]]
    """Customer-managed KMS key for the file system, its logs and the bucket; AWS-managed keys without it."""
    capacity_tib: NotRequired[float]
    """Minimum storage capacity in TiB."""
    throughput_gbps: NotRequired[float]
    """Minimum aggregate throughput in GB/s."""
    checkpoint_size_tb: NotRequired[float]
    """Checkpoint size in TB (10^12 bytes); with `checkpoint_seconds` it sets the throughput target."""
    checkpoint_seconds: NotRequired[float]
    """Seconds allowed to write one checkpoint."""
    efa_enabled: NotRequired[bool]
    """GPUDirect Storage over EFA (PERSISTENT_2 only; set at creation)."""
    deployment_type: NotRequired[str]
    """PERSISTENT_2 (default) or SCRATCH_2."""
    s3_import_path: NotRequired[str]
    """s3://bucket/prefix/ imported automatically into <mount_path>/datasets."""
    s3_export_path: NotRequired[str]
    """s3://bucket/prefix/ that <mount_path>/checkpoints exports to automatically."""
    create_bucket: NotRequired[bool]
    """Create the bucket the S3 paths name (in-region, encrypted, versioned, TLS-only)."""
    access_log_bucket: NotRequired[str | None]
    """With `create_bucket`: where the bucket's server access logs go (same Region and account)."""
    backup_retention_days: NotRequired[int]
    """Days of daily automatic backups (PERSISTENT_2; 0 disables)."""
    mount_path: NotRequired[str]
    """Where nodes mount the file system (default /fsx)."""
    quota_gib: NotRequired[int]
    """The account's FSx for Lustre storage quota in GiB (default 100,800)."""
    tags: NotRequired[Mapping[str, str]]
    """Tags on every resource (copied to backups)."""


def spec_args(
    spec: FactorySpec,
    *,
    subnet_id: pulumi.Input[str],
    vpc_id: pulumi.Input[str],
    client_security_group_id: pulumi.Input[str],
    kms_key_arn: pulumi.Input[str] | None = None,
    tags: Mapping[str, str] | None = None,
) -> ParallelFilesystemArgs:
    """`ParallelFilesystemArgs` from a validated spec with a `storage` block and the network's ids."""
    storage = spec.storage
    if storage is None:
        raise ValueError("the spec has no `storage` block")
    args = ParallelFilesystemArgs(
        subnet_id=subnet_id,
        vpc_id=vpc_id,
        client_security_group_id=client_security_group_id,
        region=spec.region,
        partition=spec.partition,
        efa_enabled=storage.efa_enabled,
        deployment_type=storage.deployment_type,
        create_bucket=storage.create_bucket,
        access_log_bucket=storage.access_log_bucket,
        backup_retention_days=storage.backup_days,
        mount_path=storage.mount_path,
        quota_gib=storage.quota_gib,
    )
    if storage.capacity_tib is not None:
        args["capacity_tib"] = storage.capacity_tib
    if storage.throughput_gbps is not None:
        args["throughput_gbps"] = storage.throughput_gbps
    if storage.checkpoint is not None:
        args["checkpoint_size_tb"] = storage.checkpoint.size_tb
        args["checkpoint_seconds"] = storage.checkpoint.seconds
    if storage.s3_import_path is not None:
        args["s3_import_path"] = storage.s3_import_path
    if storage.s3_export_path is not None:
        args["s3_export_path"] = storage.s3_export_path
    if kms_key_arn is not None:
        args["kms_key_arn"] = kms_key_arn
    if tags:
        args["tags"] = dict(tags)
    return args


def tls_only_bucket_policy(bucket: str, partition: str) -> str:
    """Deny every S3 request to the bucket that does not use TLS (condition key aws:SecureTransport)."""
    arn = f"arn:{partition}:s3:::{bucket}"
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [arn, f"{arn}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }
    )


class ParallelFilesystem(pulumi.ComponentResource):
    """FSx for Lustre sized from capacity, throughput or checkpoint targets, with its S3 data repository."""

    file_system_id: pulumi.Output[str]
    dns_name: pulumi.Output[str]
    mount_name: pulumi.Output[str]
    mount_path: pulumi.Output[str]
    checkpoint_path: pulumi.Output[str]
    checkpoint_layout_command: pulumi.Output[str]
    throughput_gbps: pulumi.Output[float]
    capacity_tib: pulumi.Output[float]
    monthly_cost_usd: pulumi.Output[float | None]
    checkpoint_seconds: pulumi.Output[float | None]
    security_group_id: pulumi.Output[str]
    bucket_name: pulumi.Output[str | None]

    def __init__(
        self,
        name: str,
        args: ParallelFilesystemArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        sizing: FilesystemSizing | None = None,
    ):
        """`sizing` is the factory plan's (so a factory sizes once); without it the args are sized here."""
        require_plan_time("ParallelFilesystem", args, PLAN_TIME_ARGS)
        # The stack config's rules, before anything registers (`component_args`).
        validate_component_args(ParallelFilesystemArgs, args, parallel_filesystem_issues)
        super().__init__("aifactory:index:ParallelFilesystem", name, None, opts)
        kind = args.get("deployment_type", "PERSISTENT_2")
        deployment_type: DeploymentType = "SCRATCH_2" if kind == "SCRATCH_2" else "PERSISTENT_2"
        efa = bool(args.get("efa_enabled", False))
        self.sizing = (
            sizing
            if sizing is not None
            else size_filesystem(
                capacity_tib=args.get("capacity_tib"),
                throughput_gbps=args.get("throughput_gbps"),
                checkpoint_size_tb=args.get("checkpoint_size_tb"),
                checkpoint_seconds=args.get("checkpoint_seconds"),
                efa_enabled=efa,
                deployment_types=(deployment_type,),
                region=args["region"],
                quota_gib=args.get("quota_gib", DEFAULT_QUOTA_GIB),
            )
        )
        tags = dict(args.get("tags", {}))
        kms_key_arn = args.get("kms_key_arn")
        partition = args["partition"]
        mount_path = args.get("mount_path", "/fsx").rstrip("/") or "/fsx"
        child = pulumi.ResourceOptions(parent=self)

        sg = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=args["vpc_id"],
            description="FSx for Lustre: Lustre ports from the fleets and the file servers only",
            tags={**tags, "Name": f"{name}-fsx"},
            opts=child,
        )
        rules = self._security_group_rules(name, sg.id, args["client_security_group_id"], efa, tags)

        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            # FSx writes only to log groups whose name starts with /aws/fsx (LogConfiguration.Destination).
            name=f"/aws/fsx/{name}",
            retention_in_days=LOG_RETENTION_DAYS,
            kms_key_id=kms_key_arn,
            tags=tags,
            opts=child,
        )

        persistent = self.sizing.deployment_type == "PERSISTENT_2"
        links = (("import", "s3_import_path", DATASETS_DIR), ("export", "s3_export_path", CHECKPOINT_DIR))
        locations = {role: parse_s3_path(p) if isinstance(p := args.get(key), str) else None for role, key, _ in links}
        linked = [loc for loc in locations.values() if loc is not None]
        final_backup, _ = final_backup_on_delete(self.sizing.deployment_type, bool(linked))
        # FSx backs up no file system linked to S3 (`TAG_DATA_REPOSITORY`): the bucket is the durable copy.
        backup_days = (
            None
            if not persistent
            else 0
            if linked
            else args.get("backup_retention_days", DEFAULT_BACKUP_RETENTION_DAYS)
        )
        fs_tags = {**tags, TAG_DATA_REPOSITORY: linked[0].bucket} if linked else dict(tags)
        fs = aws.fsx.LustreFileSystem(
            f"{name}-fs",
            subnet_ids=args["subnet_id"],
            security_group_ids=[sg.id],
            deployment_type=self.sizing.deployment_type,
            storage_type="SSD",
            storage_capacity=self.sizing.capacity_gib,
            per_unit_storage_throughput=self.sizing.per_unit_storage_throughput,
            efa_enabled=True if efa else None,
            metadata_configuration={"mode": self.sizing.metadata_mode} if self.sizing.metadata_mode else None,
            file_system_type_version=LUSTRE_VERSION,
            data_compression_type="LZ4",
            root_squash_configuration={"root_squash": ROOT_SQUASH},
            log_configuration={"destination": log_group.arn, "level": "WARN_ERROR"},
            # Scratch file systems are encrypted with an FSx-managed key; kms_key_id is persistent-only.
            kms_key_id=kms_key_arn if persistent else None,
            automatic_backup_retention_days=backup_days,
            # Kept on S3-linked file systems too: CopyTagsToBackups is replace-on-change
            # (catalog/data/replace_on_change.yaml), and 0.1 set it on every persistent file system.
            copy_tags_to_backups=True if persistent else None,
            # A deleted file system keeps a final backup where FSx can take one (persistent, not
            # S3-linked); FSx skips it unless told (FSx API reference, DeleteFileSystemLustreConfiguration
            # `SkipFinalBackup`, default true). Scratch and S3-linked file systems support no backups
            # (FSx API reference, CreateBackup and DeleteFileSystem): the plan says so.
            skip_final_backup=not final_backup,
            final_backup_tags={**tags, FINAL_BACKUP_TAG: name} if final_backup else None,
            tags=fs_tags,
            opts=pulumi.ResourceOptions(parent=self, protect=True, retain_on_delete=True, depends_on=rules),
        )

        bucket_name: str | None = None
        bucket_ready: list[pulumi.Resource] = []
        if args.get("create_bucket"):
            bucket_name, policy = self._bucket(name, args, partition, kms_key_arn, tags)
            bucket_ready.append(policy)
        # The associations hold the link between the file system and its S3 data: they get the file
        # system's protection, so no stack change deletes one (deleting an association can delete
        # its files from the file system: pulumi-aws DataRepositoryAssociation
        # `delete_data_in_filesystem`; Pulumi docs, resource options `protect`, `retainOnDelete`).
        dra_opts = pulumi.ResourceOptions(parent=self, depends_on=bucket_ready, protect=True, retain_on_delete=True)
        for role, _, directory in links:
            location = locations[role]
            if location is None:
                continue
            events = aws.fsx.DataRepositoryAssociationS3AutoImportPolicyArgs(events=S3_EVENTS)
            s3 = (
                aws.fsx.DataRepositoryAssociationS3Args(auto_import_policy=events)
                if role == "import"
                else aws.fsx.DataRepositoryAssociationS3Args(
                    auto_export_policy=aws.fsx.DataRepositoryAssociationS3AutoExportPolicyArgs(events=S3_EVENTS)
                )
            )
            aws.fsx.DataRepositoryAssociation(
                f"{name}-{role}",
                file_system_id=fs.id,
                file_system_path=f"/{directory}",
                data_repository_path=location.uri,
                batch_import_meta_data_on_create=role == "import",
                delete_data_in_filesystem=False,
                s3=s3,
                tags=tags,
                opts=dra_opts,
            )

        checkpoint_path = f"{mount_path}/{CHECKPOINT_DIR}"
        self.file_system_id = fs.id
        self.dns_name = fs.dns_name
        self.mount_name = fs.mount_name
        self.mount_path = pulumi.Output.from_input(mount_path)
        self.checkpoint_path = pulumi.Output.from_input(checkpoint_path)
        self.checkpoint_layout_command = pulumi.Output.from_input(lfs_setstripe_command(checkpoint_path))
        self.throughput_gbps = pulumi.Output.from_input(self.sizing.throughput_gbps)
        self.capacity_tib = pulumi.Output.from_input(self.sizing.capacity_tib)
        self.monthly_cost_usd = pulumi.Output.from_input(self.sizing.monthly_cost_usd)
        self.checkpoint_seconds = pulumi.Output.from_input(self.sizing.checkpoint_seconds)
        self.security_group_id = sg.id
        self.bucket_name = pulumi.Output.from_input(bucket_name)
        self.register_outputs(
            {
                "file_system_id": self.file_system_id,
                "dns_name": self.dns_name,
                "mount_name": self.mount_name,
                "mount_path": self.mount_path,
                "checkpoint_path": self.checkpoint_path,
                "checkpoint_layout_command": self.checkpoint_layout_command,
                "throughput_gbps": self.throughput_gbps,
                "capacity_tib": self.capacity_tib,
                "monthly_cost_usd": self.monthly_cost_usd,
                "checkpoint_seconds": self.checkpoint_seconds,
                "security_group_id": self.security_group_id,
                "bucket_name": self.bucket_name,
            }
        )

    def _security_group_rules(
        self,
        name: str,
        sg_id: pulumi.Output[str],
        client_sg_id: pulumi.Input[str],
        efa: bool,
        tags: Mapping[str, str],
    ) -> Sequence[pulumi.Resource]:
        child = pulumi.ResourceOptions(parent=self)
        rules: list[pulumi.Resource] = []
        sources: tuple[tuple[str, pulumi.Input[str]], ...] = (("clients", client_sg_id), ("self", sg_id))
        # EFA-enabled file systems need all traffic to and from their own and the clients' security
        # group, named by group id: CIDR rules do not count for EFA (FSx for Lustre User Guide, "File
        # system access control with Amazon VPC", EFA-enabled security groups; "Creating an FSx for
        # Lustre file system fails"). Without EFA, Lustre's TCP ports 988 and 1018-1023.
        port_ranges: Sequence[tuple[int, int] | None] = [None] if efa else list(LUSTRE_PORTS)
        for ports in port_ranges:
            suffix = "all" if ports is None else f"{ports[0]}-{ports[1]}"
            protocol = "-1" if ports is None else "tcp"
            low, high = (None, None) if ports is None else ports
            for direction, rule in (
                ("in", aws.vpc.SecurityGroupIngressRule),
                ("out", aws.vpc.SecurityGroupEgressRule),
            ):
                # The file system's group: from and to the clients and its own file servers.
                for peer, peer_id in sources:
                    rules.append(
                        rule(
                            f"{name}-{direction}-{peer}-{suffix}",
                            security_group_id=sg_id,
                            referenced_security_group_id=peer_id,
                            ip_protocol=protocol,
                            from_port=low,
                            to_port=high,
                            tags=dict(tags),
                            opts=child,
                        )
                    )
                # The clients' group references the file system's back: the servers call clients on
                # the same ports, and a client's egress limited to a CIDR does not carry EFA traffic
                # (same FSx page; "Configuring EFA clients", step 1: both groups must allow it).
                rules.append(
                    rule(
                        f"{name}-client-{direction}-fsx-{suffix}",
                        security_group_id=client_sg_id,
                        referenced_security_group_id=sg_id,
                        ip_protocol=protocol,
                        from_port=low,
                        to_port=high,
                        description=f"Lustre {'from' if direction == 'in' else 'to'} the FSx file system",
                        tags=dict(tags),
                        opts=child,
                    )
                )
        return rules

    def _bucket(
        self,
        name: str,
        args: ParallelFilesystemArgs,
        partition: str,
        kms_key_arn: pulumi.Input[str] | None,
        tags: Mapping[str, str],
    ) -> tuple[str, aws.s3.BucketPolicy]:
        """The data repository bucket, named by the S3 paths, and its policy (ready once that exists)."""
        locations = [parse_s3_path(p) for p in (args.get("s3_import_path"), args.get("s3_export_path")) if p]
        bucket_name = next(loc.bucket for loc in locations if loc is not None)
        child = pulumi.ResourceOptions(parent=self)
        bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket=bucket_name,
            region=args["region"],
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, protect=True, retain_on_delete=True),
        )
        aws.s3.BucketVersioning(
            f"{name}-bucket-versioning",
            bucket=bucket.id,
            versioning_configuration={"status": "Enabled"},
            opts=child,
        )
        by_default = aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
            sse_algorithm="aws:kms" if kms_key_arn is not None else "AES256",
            kms_master_key_id=kms_key_arn,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-bucket-encryption",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=by_default,
                    bucket_key_enabled=kms_key_arn is not None,
                )
            ],
            opts=child,
        )
        block = aws.s3.BucketPublicAccessBlock(
            f"{name}-bucket-public-access",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        if args.get("access_log_bucket"):
            # S3 User Guide, "Enabling Amazon S3 server access logging" ([S3.9]).
            aws.s3.BucketLogging(
                f"{name}-bucket-logging",
                bucket=bucket.id,
                target_bucket=args["access_log_bucket"],
                target_prefix=f"{bucket_name}/",
                opts=child,
            )
        aws.s3.BucketOwnershipControls(
            f"{name}-bucket-ownership",
            bucket=bucket.id,
            rule={"object_ownership": "BucketOwnerEnforced"},
            opts=child,
        )
        policy = aws.s3.BucketPolicy(
            f"{name}-bucket-policy",
            bucket=bucket.id,
            policy=tls_only_bucket_policy(bucket_name, partition),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[block]),
        )
        return bucket_name, policy
