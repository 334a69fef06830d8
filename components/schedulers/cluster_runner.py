"""`ClusterRunner`: a CodeBuild project in the factory's private subnets that runs the
cluster-configuration stack (`cluster/Pulumi.yaml`) against a private EKS endpoint.

Why CodeBuild: a private endpoint is reachable only from inside the VPC (EKS user guide, "Cluster
API server endpoint", private endpoint). A sovereign factory has no internet egress, so neither
Pulumi Cloud nor a customer-managed Pulumi Deployments agent (which polls Pulumi Cloud) can drive
it; a CodeBuild build in the private subnets reaches everything it needs through VPC endpoints:
the state bucket through the S3 gateway endpoint (self-managed backend, `pulumi login s3://`), the
secrets key through a `kms` interface endpoint (`awskms://` secrets provider), the image through
the ECR endpoints, its logs through the `logs` endpoint, and the API server through the cluster
security group.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any, NotRequired, Required, TypedDict

import pulumi
import pulumi_aws as aws
import yaml

# `pulumi.Input[T]` is `T | Awaitable[T] | "Output[T]"`, the last a string that `typing.get_type_hints`
# of this module's Args TypedDicts resolves in this module's namespace.
from pulumi.output import Output, T  # noqa: F401

from ..arns import endpoint_service_name
from ..trust import source_conditions, trust_policy

# <account>.dkr.ecr.<region>.amazonaws.com[.cn]/<repository>[:tag][@digest] (ECR user guide,
# "Pushing a Docker image": registry URI format).
ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?/"
    r"(?P<repository>[a-z0-9][a-z0-9._/-]*?)(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?(@sha256:[a-f0-9]{64})?$"
)
BUILD_TIMEOUT_MINUTES = 120
CLUSTER_ADMIN_POLICY = "AmazonEKSClusterAdminPolicy"


class ClusterRunnerArgs(TypedDict):
    """Inputs of `ClusterRunner`."""

    stack: Required[str]
    """The cluster stack's name (the same as the infrastructure stack's)."""
    region: Required[str]
    """AWS region."""
    partition: NotRequired[str]
    """AWS partition of the region."""
    image: Required[str]
    """Runner image: pulumi CLI, the aifactory package, the kubernetes provider plugin, the AWS CLI."""
    state_bucket: Required[str]
    """S3 bucket of the self-managed Pulumi backend."""
    secrets_key_arn: Required[pulumi.Input[str]]
    """KMS key of the `awskms://` secrets provider."""
    project_dir: NotRequired[str]
    """The cluster project's directory in the image."""
    vpc_id: Required[pulumi.Input[str]]
    """The factory's VPC."""
    vpc_cidr: Required[str]
    """Its CIDR (interface endpoints and the API server ENIs are in it)."""
    subnet_ids: Required[pulumi.Input[list[str]]]
    """Private subnets the builds run in."""
    cluster_name: Required[pulumi.Input[str]]
    """The EKS cluster."""
    cluster_arn: Required[pulumi.Input[str]]
    """Its ARN (the role may only describe this cluster)."""
    cluster_security_group_id: Required[pulumi.Input[str]]
    """The cluster security group EKS attaches to the API server's ENIs."""
    kms_endpoint: NotRequired[bool]
    """Create a `kms` interface endpoint (stacks without internet egress)."""
    kms_key_arn: NotRequired[pulumi.Input[str] | None]
    """Customer-managed key for the build logs and artifacts (sovereign)."""
    tags: NotRequired[dict[str, str]]
    """Tags for every taggable resource."""


def secrets_provider_url(key_arn: str, region: str) -> str:
    """`awskms:///<key ARN>?region=<region>` (Pulumi docs, "Secrets handling": AWS KMS provider)."""
    return f"awskms:///{key_arn}?region={region}"


def backend_url(bucket: str, region: str) -> str:
    """`s3://<bucket>?region=<region>&awssdk=v2` (Pulumi docs, "State and backends": AWS S3)."""
    return f"s3://{bucket}?region={region}&awssdk=v2"


def runner_buildspec(stack: str, bucket: str, region: str, key_arn: str, project_dir: str) -> str:
    """The buildspec: log in to the S3 backend, select (or create) the cluster stack with the KMS
    secrets provider and run `pulumi up` non-interactively (CodeBuild user guide, "Build
    specification reference": version 0.2, `phases.build.commands`). Every value is validated by
    the spec rules and shell-quoted here."""
    q = shlex.quote
    commands = [
        f"pulumi login {q(backend_url(bucket, region))}",
        f"cd {q(project_dir)}",
        f"pulumi stack select --create --secrets-provider {q(secrets_provider_url(key_arn, region))} {q(stack)}",
        f"pulumi up --yes --non-interactive --skip-preview --stack {q(stack)}",
    ]
    spec = {
        "version": 0.2,
        "env": {
            "shell": "bash",
            "variables": {"PULUMI_SKIP_UPDATE_CHECK": "true", "PULUMI_DIY_BACKEND_NO_LEGACY_WARNING": "true"},
        },
        "phases": {"build": {"commands": commands}},
    }
    return yaml.safe_dump(spec, sort_keys=False)


def ecr_repository_arn(image: str, partition: str) -> str | None:
    """The ECR repository ARN of an ECR image, None for any other registry."""
    match = ECR_IMAGE.match(image)
    if not match:
        return None
    return f"arn:{partition}:ecr:{match['region']}:{match['account']}:repository/{match['repository']}"


def runner_policy(
    *,
    partition: str,
    region: str,
    account: str,
    log_group_arn: str,
    repository_arn: str | None,
    bucket: str,
    secrets_key_arn: str,
    cluster_arn: str,
    subnet_arns: list[str],
    encryption_key_arn: str | None = None,
) -> dict[str, Any]:
    """The runner role's only permissions."""
    statements: list[dict[str, Any]] = [
        # Build logs (CodeBuild user guide, "Allow CodeBuild to interact with other AWS services").
        {
            "Sid": "BuildLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [log_group_arn, f"{log_group_arn}:log-stream:*"],
        },
        # The self-managed backend: both stacks' state and locks under the bucket.
        {
            "Sid": "StateBucket",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": f"arn:{partition}:s3:::{bucket}",
        },
        {
            "Sid": "StateObjects",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            "Resource": f"arn:{partition}:s3:::{bucket}/*",
        },
        # The `awskms://` secrets provider encrypts the stack's data key and decrypts it.
        {
            "Sid": "SecretsKey",
            "Effect": "Allow",
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": secrets_key_arn,
        },
        # `aws eks get-token` and the provider need only the cluster's endpoint and CA.
        {"Sid": "DescribeCluster", "Effect": "Allow", "Action": ["eks:DescribeCluster"], "Resource": cluster_arn},
        # A build in a VPC: CodeBuild creates its ENI with the service role (CodeBuild user guide,
        # "Allow CodeBuild access to AWS services required to create a VPC network interface");
        # the Describe/Create/Delete actions have no resource-level permissions.
        {
            "Sid": "BuildNetworkInterfaces",
            "Effect": "Allow",
            "Action": [
                "ec2:CreateNetworkInterface",
                "ec2:DeleteNetworkInterface",
                "ec2:DescribeDhcpOptions",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeSubnets",
                "ec2:DescribeVpcs",
            ],
            "Resource": "*",
        },
        {
            "Sid": "BuildNetworkInterfacePermission",
            "Effect": "Allow",
            "Action": ["ec2:CreateNetworkInterfacePermission"],
            "Resource": f"arn:{partition}:ec2:{region}:{account}:network-interface/*",
            "Condition": {
                "StringEquals": {"ec2:AuthorizedService": "codebuild.amazonaws.com"},
                "ArnEquals": {"ec2:Subnet": subnet_arns},
            },
        },
    ]
    if encryption_key_arn is not None:
        # The project's `encryptionKey` is used as the service role (CodeBuild user guide, "Data
        # encryption": the service role must be allowed to use the customer managed key).
        statements.append(
            {
                "Sid": "ProjectKey",
                "Effect": "Allow",
                "Action": ["kms:GenerateDataKey", "kms:Decrypt", "kms:DescribeKey"],
                "Resource": encryption_key_arn,
            }
        )
    if repository_arn is not None:
        # Pulling a private ECR image with the service role (CodeBuild user guide, "Amazon ECR
        # sample": GetAuthorizationToken has no resource-level permission).
        statements += [
            {"Sid": "RegistryToken", "Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"},
            {
                "Sid": "RunnerImage",
                "Effect": "Allow",
                "Action": ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                "Resource": repository_arn,
            },
        ]
    return {"Version": "2012-10-17", "Statement": statements}


class ClusterRunner(pulumi.ComponentResource):
    """The CodeBuild project that runs `pulumi up` for the cluster-configuration stack from inside
    the VPC, with its security group, service role, log group and cluster-admin access entry."""

    project_name: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    security_group_id: pulumi.Output[str]

    def __init__(self, name: str, args: ClusterRunnerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aifactory:index:ClusterRunner", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        partition = args.get("partition", "aws")
        region = args["region"]
        tags = dict(args.get("tags", {}))
        kms_key_arn = args.get("kms_key_arn")

        group = aws.ec2.SecurityGroup(
            f"{name}-runner",
            vpc_id=args["vpc_id"],
            description="aifactory cluster-stack runner: HTTPS out only",
            tags={**tags, "Name": f"{name}-runner"},
            opts=child,
        )
        # Out: HTTPS only. The API server ENIs and interface endpoints are in the VPC; the S3
        # gateway endpoint is reached through the route table at S3's public addresses, which a
        # stack without egress has no other route to.
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-runner-https",
            security_group_id=group.id,
            cidr_ipv4="0.0.0.0/0",
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            description="HTTPS to VPC endpoints, the S3 gateway endpoint and the EKS API",
            tags=tags,
            opts=child,
        )
        # A private endpoint admits what the cluster security group admits on 443 (EKS user guide,
        # "Cluster API server endpoint": the control plane security group must allow ingress on
        # port 443 from the sources that call the private endpoint).
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-runner-to-api",
            security_group_id=args["cluster_security_group_id"],
            referenced_security_group_id=group.id,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            description="Kubernetes API from the cluster-stack runner",
            tags=tags,
            opts=child,
        )
        if args.get("kms_endpoint", False):
            self._kms_endpoint(name, args, group, tags, child)

        log_group = aws.cloudwatch.LogGroup(
            f"{name}-runner",
            name=f"/aws/codebuild/{name}",
            retention_in_days=365,
            kms_key_id=kms_key_arn,
            tags=tags,
            opts=child,
        )
        account = aws.get_caller_identity_output().account_id
        role = aws.iam.Role(
            f"{name}-runner",
            # Only this project may assume it (CodeBuild user guide, "Cross-service confused deputy
            # prevention"; trust.py).
            assume_role_policy=account.apply(
                lambda acct: trust_policy(
                    "codebuild",
                    partition,
                    source_conditions(acct, f"arn:{partition}:codebuild:{region}:{acct}:project/{name}"),
                )
            ),
            tags=tags,
            opts=child,
        )
        subnet_arns = pulumi.Output.all(account, args["subnet_ids"]).apply(
            lambda v: [f"arn:{partition}:ec2:{region}:{v[0]}:subnet/{s}" for s in v[1]]
        )
        policy = pulumi.Output.all(
            account, log_group.arn, args["secrets_key_arn"], args["cluster_arn"], subnet_arns, kms_key_arn
        ).apply(
            lambda v: json.dumps(
                runner_policy(
                    partition=partition,
                    region=region,
                    account=v[0],
                    log_group_arn=v[1],
                    repository_arn=ecr_repository_arn(args["image"], partition),
                    bucket=args["state_bucket"],
                    secrets_key_arn=v[2],
                    cluster_arn=v[3],
                    subnet_arns=v[4],
                    encryption_key_arn=v[5],
                )
            )
        )
        role_policy = aws.iam.RolePolicy(f"{name}-runner-inline", role=role.id, policy=policy, opts=child)

        # Cluster admin for the runner's role only (EKS user guide, "Grant IAM users access to
        # Kubernetes with EKS access entries"; access policy AmazonEKSClusterAdminPolicy).
        entry = aws.eks.AccessEntry(
            f"{name}-runner",
            cluster_name=args["cluster_name"],
            principal_arn=role.arn,
            type="STANDARD",
            tags=tags,
            opts=child,
        )
        aws.eks.AccessPolicyAssociation(
            f"{name}-runner",
            cluster_name=args["cluster_name"],
            principal_arn=entry.principal_arn,
            policy_arn=f"arn:{partition}:eks::aws:cluster-access-policy/{CLUSTER_ADMIN_POLICY}",
            access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
            opts=child,
        )

        buildspec = pulumi.Output.from_input(args["secrets_key_arn"]).apply(
            lambda key: runner_buildspec(
                args["stack"], args["state_bucket"], region, key, args.get("project_dir", "/opt/aifactory/cluster")
            )
        )
        ecr = ecr_repository_arn(args["image"], partition) is not None
        project = aws.codebuild.Project(
            name,
            name=name,
            description=f"aifactory: pulumi up for the cluster-configuration stack {args['stack']}",
            service_role=role.arn,
            build_timeout=BUILD_TIMEOUT_MINUTES,
            artifacts=aws.codebuild.ProjectArtifactsArgs(type="NO_ARTIFACTS"),
            # The project and stacks are in the image; the buildspec is inline (CodeBuild API
            # ProjectSource: type NO_SOURCE needs an inline buildspec).
            source=aws.codebuild.ProjectSourceArgs(type="NO_SOURCE", buildspec=buildspec),
            environment=aws.codebuild.ProjectEnvironmentArgs(
                type="LINUX_CONTAINER",
                compute_type="BUILD_GENERAL1_SMALL",
                image=args["image"],
                # A private ECR image is pulled with the service role (CodeBuild API
                # ProjectEnvironment.imagePullCredentialsType).
                image_pull_credentials_type="SERVICE_ROLE" if ecr else "CODEBUILD",
            ),
            vpc_config=aws.codebuild.ProjectVpcConfigArgs(
                vpc_id=args["vpc_id"], subnets=args["subnet_ids"], security_group_ids=[group.id]
            ),
            logs_config=aws.codebuild.ProjectLogsConfigArgs(
                cloudwatch_logs=aws.codebuild.ProjectLogsConfigCloudwatchLogsArgs(
                    status="ENABLED", group_name=log_group.name
                ),
                s3_logs=aws.codebuild.ProjectLogsConfigS3LogsArgs(status="DISABLED"),
            ),
            encryption_key=kms_key_arn,
            tags=tags,
            # The role must be able to create the build's ENI when the project is created.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role_policy]),
        )
        self.project_name = project.name
        self.role_arn = role.arn
        self.security_group_id = group.id
        self.register_outputs(
            {"project_name": self.project_name, "role_arn": self.role_arn, "security_group_id": self.security_group_id}
        )

    @staticmethod
    def _kms_endpoint(
        name: str,
        args: ClusterRunnerArgs,
        runner: aws.ec2.SecurityGroup,
        tags: dict[str, str],
        child: pulumi.ResourceOptions,
    ) -> None:
        """A `kms` interface endpoint for a VPC without egress, open on 443 to the runner only."""
        group = aws.ec2.SecurityGroup(
            f"{name}-kms-endpoint",
            vpc_id=args["vpc_id"],
            description="KMS interface endpoint: HTTPS from the cluster-stack runner",
            tags={**tags, "Name": f"{name}-kms-endpoint"},
            opts=child,
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-kms-endpoint-https",
            security_group_id=group.id,
            referenced_security_group_id=runner.id,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            description="HTTPS from the cluster-stack runner",
            tags=tags,
            opts=child,
        )
        # Private DNS makes the regional kms name resolve to the endpoint (VPC user guide,
        # "Access an AWS service using an interface VPC endpoint").
        aws.ec2.VpcEndpoint(
            f"{name}-kms",
            vpc_id=args["vpc_id"],
            service_name=endpoint_service_name(args["region"], args.get("partition", "aws"), "kms"),
            vpc_endpoint_type="Interface",
            private_dns_enabled=True,
            subnet_ids=args["subnet_ids"],
            security_group_ids=[group.id],
            tags={**tags, "Name": f"{name}-kms"},
            opts=child,
        )
