"""The factory's customer-managed KMS key and its key policy.

A sovereign factory, and a commercial one with `aifactory:encryption`, encrypts everything with one
customer-managed key. A key policy is the only
thing that lets an AWS service (or a service-linked role) use a key, so the policy names every
service the stack uses the key with, each statement as that service's own documentation shows it,
and nothing for a service the stack does not use (KMS developer guide, "Permissions for AWS
services in key policies": give each service only what it needs, refined with condition keys).

`key_users(plan)` says which services use the key (from the scheduler, accounting, storage and
bucket choices); `key_policy(...)` builds the document from that, with no Pulumi, so it can be
tested and read on its own; `customer_managed_key(...)` registers the key and its alias.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

from .arns import regional_service_host, service_linked_role_arn
from .spec.scheduler import SlurmScheduler

if TYPE_CHECKING:
    import pulumi

    from .planning.factory_plan import FactoryPlan

KeyService = Literal["logs", "autoscaling", "ec2", "eks", "fsx", "secretsmanager", "rds", "s3", "aps"]
"""A service that encrypts the factory's data with the key:

* `logs`: CloudWatch Logs (VPC flow logs, EKS control-plane logs, FSx logs);
* `autoscaling`: EC2 Auto Scaling launching instances whose volumes use the key (the fleets'
  autoscaling groups and EKS managed node groups, which are autoscaling groups);
* `ec2`: EC2 launching instances the deployer creates directly (the Slurm head and compute nodes);
* `eks`: EKS envelope encryption of Kubernetes secrets;
* `fsx`: FSx for Lustre persistent file systems;
* `secretsmanager`: Secrets Manager (the Slurm munge key, the databases' managed passwords);
* `rds`: RDS storage (Slurm accounting, the MLflow registry's backend store);
* `s3`: the data repository bucket, read and written by FSx's data repository role;
* `aps`: Amazon Managed Service for Prometheus publishing alerts to the factory's SNS topic, which the key
  encrypts (the managed metrics backend, `schedulers/managed_metrics.py`).
"""

KEY_SERVICES: tuple[KeyService, ...] = get_args(KeyService)

AUTO_SCALING_SERVICE = "autoscaling.amazonaws.com"
AUTO_SCALING_ROLE = "AWSServiceRoleForAutoScaling"
"""The default service-linked role of EC2 Auto Scaling, used by every group the factory creates and
by the groups behind EKS managed node groups (EC2 Auto Scaling user guide, "Service-linked roles for
Amazon EC2 Auto Scaling"; EKS user guide, "Simplify node lifecycle with managed node groups": each
managed node is part of an EC2 Auto Scaling group)."""

FSX_S3_SERVICE = "s3.data-source.lustre.fsx.amazonaws.com"
FSX_S3_ROLE_PREFIX = "AWSServiceRoleForFSxS3Access_"
"""FSx for Lustre reads and writes a linked bucket as the service-linked role
`AWSServiceRoleForFSxS3Access_<file system id>` (FSx for Lustre user guide, "Using service-linked
roles for Amazon FSx"; "Working with server-side encrypted Amazon S3 buckets")."""

_USE = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]


@dataclass(frozen=True)
class KeyUsers:
    """What uses the key: the services, and the buckets encrypted with it that FSx links to."""

    services: frozenset[KeyService]
    data_repository_buckets: tuple[str, ...] = ()


def key_users(plan: FactoryPlan) -> KeyUsers:
    """The services a factory uses its customer-managed key with, derived from the plan."""
    spec = plan.spec
    services: set[KeyService] = {"logs"}  # the VPC flow-log group always takes the key
    scheduler = plan.scheduler
    if scheduler == "none" and spec.fleets:
        services.add("autoscaling")  # GpuFleet launches each domain with an autoscaling group
    if scheduler == "kubernetes":
        # The system node group and the GPU node groups are managed node groups; the cluster
        # encrypts secrets with the key.
        services |= {"autoscaling", "eks"}
    if plan.slurm is not None:
        # Head and compute nodes are aws.ec2.Instance resources (no autoscaling group); the munge
        # key is a Secrets Manager secret.
        services |= {"ec2", "secretsmanager"}
        if isinstance(spec.scheduler, SlurmScheduler) and spec.scheduler.accounting == "slurmdbd":
            services.add("rds")  # its managed master password is a secret under the same key
    production = spec.production
    if production is not None and production.registry.kind == "mlflow":
        # The MLflow backend store is RDS for PostgreSQL on the key, its managed master password a
        # Secrets Manager secret under the key (registry.ModelRegistry).
        services |= {"rds", "secretsmanager"}
    if plan.observability is not None and plan.observability.backend == "managed":
        services.add("aps")
    buckets: tuple[str, ...] = ()
    storage = spec.storage
    if storage is not None and plan.storage is not None:
        if plan.storage.deployment_type == "PERSISTENT_2":
            services.add("fsx")  # scratch file systems take an FSx-managed key
        if storage.create_bucket:
            locations = (storage.import_location, storage.export_location)
            buckets = tuple(sorted({loc.bucket for loc in locations if loc is not None}))
            if buckets:
                services.add("s3")
    return KeyUsers(frozenset(services), buckets)


def _via(service: str, region: str, partition: str, account: str) -> dict[str, str]:
    # kms:ViaService limits a statement to requests a service makes on a principal's behalf;
    # kms:CallerAccount to principals of this account (KMS developer guide, "AWS KMS condition keys").
    return {"kms:ViaService": regional_service_host(service, region, partition), "kms:CallerAccount": account}


def _through_service(
    sid: str, service: str, actions: list[str], region: str, partition: str, account: str
) -> dict[str, Any]:
    """Any principal of the account, only through `service` in this region: the shape of the AWS
    managed key of that service (aws/ebs, aws/fsx, aws/secretsmanager, aws/rds)."""
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"AWS": "*"},
        "Action": actions,
        "Resource": "*",
        "Condition": {"StringEquals": _via(service, region, partition, account)},
    }


KEY_ADMIN_ACTIONS = [
    # The default policy's kms:Create* on a key means CreateAlias or CreateGrant; a grant would let an
    # administrator give itself use of the key, so only the alias is kept.
    "kms:CreateAlias",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
]
"""What a key administrator may do, and no cryptographic use of the key (KMS developer guide,
"Default key policy": "Allows key administrators to administer the KMS key")."""


def key_policy(
    partition: str,
    region: str,
    account: str,
    services: Iterable[KeyService],
    data_repository_buckets: Sequence[str] = (),
    administrators: Sequence[str] = (),
) -> dict[str, Any]:
    """The key policy document letting exactly `services` use the key (see `KeyService`) and
    `administrators` (IAM role or user ARNs, `aifactory:access.administrators`) administer it."""
    used = frozenset(services)
    unknown = sorted(used - set(KEY_SERVICES))
    if unknown:
        raise ValueError(f"unknown key services {unknown}; known: {list(KEY_SERVICES)}")
    statements: list[dict[str, Any]] = [
        {
            # Lets IAM policies in the account grant use of the key, and keeps the key manageable
            # (KMS developer guide, "Default key policy": "Allows access to the AWS account and
            # enables IAM policies"). The trade-off: dropping it would leave only the principals
            # named below able to manage or use the key, and a key whose named principals are all
            # deleted cannot be managed again without AWS Support. KMS refuses such a policy at
            # CreateKey/PutKeyPolicy unless BypassPolicyLockoutSafetyCheck is set (KMS API reference,
            # PutKeyPolicy), which the factory never sets. So the account statement stays: who may
            # use the key is then decided by the account's IAM policies plus the service statements
            # below, and who administers it directly by the administrators' statement.
            "Sid": "AccountAdministersKey",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
    if administrators:
        statements.append(
            {
                # Key administrators apart from key users: administrative actions only, no Encrypt,
                # Decrypt or GenerateDataKey (KMS developer guide, "Default key policy").
                "Sid": "KeyAdministrators",
                "Effect": "Allow",
                "Principal": {"AWS": sorted(administrators)},
                "Action": list(KEY_ADMIN_ACTIONS),
                "Resource": "*",
            }
        )
    if "logs" in used:
        statements.append(
            {
                # CloudWatch Logs encrypts the factory's log groups with this key, only for log
                # groups of this account and region (CloudWatch Logs user guide, "Encrypt log data
                # in CloudWatch Logs using AWS Key Management Service", step 2).
                "Sid": "CloudWatchLogsUseKey",
                "Effect": "Allow",
                "Principal": {"Service": regional_service_host("logs", region, partition)},
                "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                "Resource": "*",
                "Condition": {
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": f"arn:{partition}:logs:{region}:{account}:log-group:*"
                    }
                },
            }
        )
    if "autoscaling" in used:
        # EC2 Auto Scaling's service-linked role has no access to customer-managed keys: the key
        # policy must let it use the key and create grants for the volumes it attaches, or
        # launches (and EKS managed node groups) fail (EC2 Auto Scaling user guide, "Required AWS
        # KMS key policy for use with encrypted volumes", example 1). The role exists only once an
        # account has had an Auto Scaling group, and KMS refuses a policy that names a principal
        # that does not exist (MalformedPolicyDocumentException), so the role is matched by
        # aws:PrincipalArn (IAM user guide, "AWS global condition context keys": aws:PrincipalArn,
        # the role ARN for an assumed-role session) rather than named as the principal.
        role = service_linked_role_arn(partition, account, AUTO_SCALING_SERVICE, AUTO_SCALING_ROLE)
        as_role = {"aws:PrincipalArn": role, "kms:CallerAccount": account}
        statements += [
            {
                "Sid": "AutoScalingUseKey",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": list(_USE),
                "Resource": "*",
                "Condition": {"StringEquals": as_role},
            },
            {
                "Sid": "AutoScalingAttachPersistentResources",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": "kms:CreateGrant",
                "Resource": "*",
                "Condition": {"StringEquals": as_role, "Bool": {"kms:GrantIsForAWSResource": "true"}},
            },
        ]
    if "ec2" in used:
        # Instances the deployer launches itself: EC2 uses the key on the caller's behalf, with
        # exactly these actions, and creates a grant for each volume; the grant only for AWS
        # resources (Amazon EBS user guide, "Requirements for Amazon EBS encryption": "Permissions
        # for users").
        ebs = ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncrypt*"]
        statements += [
            _through_service("Ec2EbsUseKey", "ec2", ebs, region, partition, account),
            {
                **_through_service("Ec2EbsAttachVolumes", "ec2", ["kms:CreateGrant"], region, partition, account),
                "Condition": {
                    "StringEquals": _via("ec2", region, partition, account),
                    "Bool": {"kms:GrantIsForAWSResource": "true"},
                },
            },
        ]
    # "eks" adds no statement: EKS needs kms:CreateGrant and kms:DescribeKey for the principal that
    # calls CreateCluster, and the account statement above lets that principal's IAM policy grant
    # them; kms:GrantIsForAWSResource must not restrict them (EKS user guide, "Encrypt Kubernetes
    # secrets with KMS on existing clusters", note on scoping the key policy).
    if "fsx" in used:
        # FSx for Lustre uses the key for the file system and its backups through a grant; these
        # four are the permissions it marks required, Encrypt and ReEncrypt only optional (FSx for
        # Lustre user guide, "How Amazon FSx for Lustre uses AWS KMS": "Amazon FSx key policies for
        # AWS KMS").
        fsx = ["kms:Decrypt", "kms:GenerateDataKeyWithoutPlaintext", "kms:CreateGrant", "kms:DescribeKey"]
        statements.append(_through_service("FsxUseKey", "fsx", fsx, region, partition, account))
    if "secretsmanager" in used:
        # Secrets Manager asks for a data key when a value is written and decrypts it when read, on
        # the caller's behalf (Secrets Manager user guide, "Secret encryption and decryption in AWS
        # Secrets Manager": "Permissions for the KMS key").
        statements.append(
            _through_service(
                "SecretsManagerUseKey",
                "secretsmanager",
                ["kms:GenerateDataKey", "kms:Decrypt", "kms:DescribeKey"],
                region,
                partition,
                account,
            )
        )
    if "rds" in used:
        # RDS acts for the principal that creates the instance, which needs kms:CreateGrant and
        # kms:DescribeKey on the key; RDS works through the grant afterwards (RDS user guide, "AWS KMS
        # key management": "Authorizing use of a customer managed key", with kms:ViaService).
        statements.append(
            _through_service("RdsUseKey", "rds", ["kms:CreateGrant", "kms:DescribeKey"], region, partition, account)
        )
    if "aps" in used:
        # The alert manager publishes to the key-encrypted alert topic, for which SNS needs the publisher to
        # hold kms:GenerateDataKey* and kms:Decrypt on the key (AMP user guide, "Giving Amazon Managed Service
        # for Prometheus permission to send alert messages to your Amazon SNS topic", the SSE note; SNS
        # developer guide, "Configure AWS KMS permissions" for AWS service publishers). The guide's statement
        # has no condition, and whether AMP's calls carry aws:SourceArn to KMS is not documented, so none is
        # added: the topic policy holds the confused-deputy conditions, and these two actions only wrap data
        # keys for SNS.
        statements.append(
            {
                "Sid": "AmpPublishesToEncryptedTopic",
                "Effect": "Allow",
                "Principal": {"Service": "aps.amazonaws.com"},
                "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
                "Resource": "*",
            }
        )
    if "s3" in used and data_repository_buckets:
        # FSx's data repository role reads and writes the SSE-KMS bucket through S3 (FSx for Lustre
        # user guide, "Working with server-side encrypted Amazon S3 buckets"). The role's name ends
        # in the file system id, unknown until the file system (which needs the key) exists, so the
        # role is matched by aws:PrincipalArn instead of named as the principal. With S3 Bucket
        # Keys the encryption context is the bucket ARN, without them the object ARN.
        fsx_role = service_linked_role_arn(partition, account, FSX_S3_SERVICE, f"{FSX_S3_ROLE_PREFIX}fs-*")
        contexts = [
            arn for b in data_repository_buckets for arn in (f"arn:{partition}:s3:::{b}", f"arn:{partition}:s3:::{b}/*")
        ]
        statements.append(
            {
                "Sid": "FsxDataRepositoryUseKeyViaS3",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": list(_USE),
                "Resource": "*",
                "Condition": {
                    "StringEquals": _via("s3", region, partition, account),
                    "ArnLike": {"aws:PrincipalArn": fsx_role},
                    "StringLike": {"kms:EncryptionContext:aws:s3:arn": contexts},
                },
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def key_policy_for_plan(plan: FactoryPlan, account: str) -> str:
    """The plan's key policy as the JSON string the key is created with."""
    users = key_users(plan)
    spec = plan.spec
    administrators = spec.access.administrators if spec.access is not None else []
    return json.dumps(
        key_policy(spec.partition, spec.region, account, users.services, users.data_repository_buckets, administrators)
    )


def statements_by_sid(document: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """A key policy's statements by `Sid` (for checks and tests)."""
    return {str(s.get("Sid")): s for s in document.get("Statement", []) if isinstance(s, Mapping)}


def customer_managed_key(
    name: str, plan: FactoryPlan, tags: Mapping[str, str], child: pulumi.ResourceOptions
) -> pulumi.Input[str] | None:
    """The factory's customer-managed key (sovereign stacks, or `encryption.customerManagedKey`): the
    configured one, or a new key (protected) and its alias `alias/aifactory-<name>`, both children of
    `child.parent`. None when the factory uses AWS-managed keys."""
    import pulumi
    import pulumi_aws as aws

    spec = plan.spec
    if not spec.customer_managed_key:
        return None
    if spec.factory_key_arn:
        return spec.factory_key_arn
    account = aws.get_caller_identity_output().account_id
    key = aws.kms.Key(
        f"{name}-cmk",
        description=f"aifactory {name}: customer-managed key for every data store",
        enable_key_rotation=True,
        deletion_window_in_days=30,
        policy=account.apply(lambda acct: key_policy_for_plan(plan, acct)),
        tags=dict(tags),
        opts=pulumi.ResourceOptions(parent=child.parent, protect=True),
    )
    aws.kms.Alias(f"{name}-cmk", name=f"alias/aifactory-{name}", target_key_id=key.key_id, opts=child)
    return key.arn
