"""`ModelRegistry`: the AWS side of `aifactory:production.registry` (issue 17 part 4).

`kind: mlflow`: the tracking server's backend store, an RDS for PostgreSQL instance in the private
subnets (its own security group, 5432 only from the cluster security group the system nodes run in,
storage and the RDS-managed master password encrypted with the factory's key, deletion protection, a
final snapshot, backups, no public access), and the server's EKS Pod Identity role, limited to its
artifact prefix, its database secret and the factory key. `kind: sagemaker` (commercial profile): one
model package group per line and a publish role per line namespace.

Built in two steps because the cluster's objects need the database's address (the public-endpoint
stack declares them inside the scheduler) while the security group rule and pod identities need the
cluster: `ModelRegistry(...)` before the scheduler, `connect(...)` after it.
"""

from __future__ import annotations

import functools
from typing import NotRequired, Required, TypedDict

import pulumi
import pulumi_aws as aws

# `pulumi.Input[T]` is `T | Awaitable[T] | "Output[T]"`, the last a string that `typing.get_type_hints`
# of this module's Args TypedDicts resolves in this module's namespace.
from pulumi.output import Output, T  # noqa: F401

from .schedulers import production_registry as reg
from .schedulers.slurm import rds_master_secret_arn
from .spec.storage import S3Location, parse_s3_path
from .trust import pod_identity_conditions, trust_policy


class RegistryLineArgs(TypedDict):
    name: Required[str]
    """The line."""
    namespace: Required[str]
    """Namespace its publish step runs in (its training queue's)."""


class ModelRegistryArgs(TypedDict):
    """Inputs of `ModelRegistry`."""

    kind: Required[str]
    """`mlflow` or `sagemaker`."""
    factory: Required[str]
    """The factory's name (prefixes the model package groups)."""
    region: Required[str]
    partition: NotRequired[str]
    namespace: Required[str]
    """Namespace of the MLflow server."""
    artifacts: Required[str]
    """`s3://bucket/prefix/` of the model versions."""
    lines: Required[list[RegistryLineArgs]]
    vpc_id: Required[pulumi.Input[str]]
    subnet_ids: Required[pulumi.Input[list[str]]]
    """Private subnets in at least two AZs (an RDS subnet group needs two; RDS user guide, "Working with
    a DB instance in a VPC")."""
    kms_key_arn: NotRequired[pulumi.Input[str] | None]
    tags: NotRequired[dict[str, str]]


def _artifacts(args: ModelRegistryArgs) -> S3Location:
    location = parse_s3_path(args["artifacts"])
    if location is None:
        # The spec rules refuse anything else (production_rules.registry_valid).
        raise ValueError(f"ModelRegistry: artifacts {args['artifacts']!r} is not an s3:// location")
    return location


def _secret_arn(secrets: object) -> str:
    """The managed master password's secret ARN; RDS reports one whenever it manages the password (RDS
    API DBInstance.MasterUserSecret), so an empty one is only a preview's unknown."""
    return rds_master_secret_arn(secrets) or ""


class ModelRegistry(pulumi.ComponentResource):
    """The database (MLflow) or model package groups (SageMaker) and the pod identities of the registry."""

    database_address: pulumi.Output[str] | None
    database_secret_arn: pulumi.Output[str] | None
    model_package_groups: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: ModelRegistryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aifactory:index:ModelRegistry", name, None, opts)
        self._name = name
        self._args = args
        self._partition = args.get("partition", "aws")
        self._tags = dict(args.get("tags", {}))
        self._artifact_location = _artifacts(args)
        self.database_address = None
        self.database_secret_arn = None
        self.model_package_groups = {}
        self._database_group: aws.ec2.SecurityGroup | None = None
        if args["kind"] == "mlflow":
            self._database()
        else:
            self._package_groups()

    def _database(self) -> None:
        name, args, tags = self._name, self._args, self._tags
        child = pulumi.ResourceOptions(parent=self)
        kms = args.get("kms_key_arn")
        # No inline rules: the ingress from the cluster group is added by `connect`, and a group created
        # without egress rules has none (the provider removes AWS's default allow-all egress;
        # pulumi-aws ec2.SecurityGroup `egress`), which a database that starts no connection needs.
        self._database_group = aws.ec2.SecurityGroup(
            f"{name}-db",
            description="MLflow backend store: PostgreSQL from the cluster's system nodes only",
            vpc_id=args["vpc_id"],
            tags={**tags, "Name": f"{name}-db"},
            opts=child,
        )
        subnets = aws.rds.SubnetGroup(f"{name}-db", subnet_ids=args["subnet_ids"], tags=tags, opts=child)
        db = aws.rds.Instance(
            f"{name}-db",
            engine="postgres",
            engine_version=reg.POSTGRES_ENGINE_VERSION,
            auto_minor_version_upgrade=False,
            instance_class=reg.DATABASE_INSTANCE_CLASS,
            allocated_storage=reg.DATABASE_STORAGE_GIB,
            # Storage autoscaling up to this ceiling (RDS user guide, "Managing capacity automatically with
            # Amazon RDS storage autoscaling").
            max_allocated_storage=reg.DATABASE_MAX_STORAGE_GIB,
            storage_type="gp3",
            storage_encrypted=True,
            kms_key_id=kms,
            db_name=reg.DATABASE_NAME,
            username=reg.DATABASE_USER,
            # RDS generates the password, keeps it in Secrets Manager under the factory key and rotates it
            # (RDS user guide, "Password management with Amazon RDS and AWS Secrets Manager"); it never
            # passes through Pulumi state.
            manage_master_user_password=True,
            master_user_secret_kms_key_id=kms,
            db_subnet_group_name=subnets.name,
            vpc_security_group_ids=[self._database_group.id],
            publicly_accessible=False,
            backup_retention_period=reg.BACKUP_RETENTION_DAYS,
            copy_tags_to_snapshot=True,
            # A delete must first turn deletion protection off, and then leaves a final snapshot (RDS user
            # guide, "Deleting a DB instance": deletion protection, final DB snapshot).
            deletion_protection=True,
            skip_final_snapshot=False,
            final_snapshot_identifier=f"{name}-db-final",
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )
        self.database_address = db.address
        self.database_secret_arn = db.master_user_secrets.apply(_secret_arn)

    def _package_groups(self) -> None:
        args, tags = self._args, self._tags
        for line in args["lines"]:
            group_name = reg.model_package_group_name(args["factory"], line["name"])
            # A model package group holds a line's versions; each version carries an approval status
            # (SageMaker developer guide, "Create a Model Group" and "Update the Approval Status of a Model").
            group = aws.sagemaker.ModelPackageGroup(
                f"{self._name}-{line['name']}",
                model_package_group_name=group_name,
                model_package_group_description=f"aifactory {args['factory']}: model line {line['name']}",
                tags=tags,
                opts=pulumi.ResourceOptions(parent=self, protect=True),
            )
            self.model_package_groups[line["name"]] = group.model_package_group_name

    def connect(self, cluster_name: pulumi.Input[str], cluster_security_group_id: pulumi.Input[str],
                depends_on: list[pulumi.Resource]) -> None:  # fmt: skip
        """The database's ingress from the cluster group and the pod identities, once the cluster exists."""
        if self._database_group is not None:
            self._mlflow_identity(cluster_name, cluster_security_group_id, depends_on)
        else:
            self._publish_identities(cluster_name, depends_on)
        self.register_outputs(
            {
                "database_address": self.database_address,
                "database_secret_arn": self.database_secret_arn,
                "model_package_groups": self.model_package_groups,
            }
        )

    def _mlflow_identity(
        self, cluster_name: pulumi.Input[str], cluster_sg: pulumi.Input[str], depends_on: list[pulumi.Resource]
    ) -> None:
        name, args, tags = self._name, self._args, self._tags
        child = pulumi.ResourceOptions(parent=self)
        assert self._database_group is not None and self.database_secret_arn is not None
        # The server runs on the system nodes, whose interfaces carry the EKS cluster security group only
        # (kubernetes.KubernetesScheduler._system_node_group; EKS user guide, "Customize managed nodes with
        # launch templates"): that group, and nothing else, reaches PostgreSQL.
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-db-from-cluster",
            security_group_id=self._database_group.id,
            referenced_security_group_id=cluster_sg,
            ip_protocol="tcp",
            from_port=reg.DATABASE_PORT,
            to_port=reg.DATABASE_PORT,
            description="MLflow tracking server to PostgreSQL",
            tags=tags,
            opts=child,
        )
        policy = pulumi.Output.all(self.database_secret_arn, args.get("kms_key_arn")).apply(
            lambda v: reg.policy_json(
                reg.mlflow_server_policy(self._partition, args["region"], self._artifact_location, v[0], v[1])
            )
        )
        self._pod_identity(f"{name}-mlflow", cluster_name, args["namespace"], reg.MLFLOW_NAME, policy, depends_on)

    def _publish_identities(self, cluster_name: pulumi.Input[str], depends_on: list[pulumi.Resource]) -> None:
        args = self._args
        account = aws.get_caller_identity_output().account_id
        for line in args["lines"]:
            group = reg.model_package_group_name(args["factory"], line["name"])
            policy = account.apply(functools.partial(self._publish_policy, group))
            self._pod_identity(
                f"{self._name}-{line['name']}-publish",
                cluster_name,
                line["namespace"],
                reg.publish_service_account(line["name"]),
                policy,
                depends_on,
            )

    def _publish_policy(self, group: str, account: str) -> str:
        document = reg.sagemaker_publish_policy(
            self._partition, self._args["region"], account, [group], self._artifact_location
        )
        return reg.policy_json(document)

    def _pod_identity(
        self,
        resource_name: str,
        cluster_name: pulumi.Input[str],
        namespace: str,
        service_account: str,
        policy: pulumi.Input[str],
        depends_on: list[pulumi.Resource],
    ) -> None:
        """A role only `namespace/service_account` of this cluster assumes through EKS Pod Identity (EKS user
        guide, "Create IAM role with trust policy required by EKS Pod Identity"; trust.py) and its
        association (EKS API CreatePodIdentityAssociation)."""
        tags = self._tags
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            resource_name,
            assume_role_policy=pulumi.Output.from_input(cluster_name).apply(
                lambda cluster: trust_policy(
                    "pods.eks",
                    self._partition,
                    pod_identity_conditions(cluster, namespace, service_account),
                    ["sts:AssumeRole", "sts:TagSession"],
                )
            ),
            tags=tags,
            opts=child,
        )
        aws.iam.RolePolicy(f"{resource_name}-inline", role=role.id, policy=policy, opts=child)
        aws.eks.PodIdentityAssociation(
            resource_name,
            cluster_name=cluster_name,
            namespace=namespace,
            service_account=service_account,
            role_arn=role.arn,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on),
        )
