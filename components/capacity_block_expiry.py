"""`CapacityBlockExpiry`: EC2's capacity-block expiration warning -> a Lambda function that taints, cordons
and evicts the block's nodes (templates/lambda/capacity_block_expiry.py, whose docstring has the sources).

EC2 sends the warning 40 minutes before the block ends and starts terminating its instances 10 minutes later
(EC2 user guide, "Monitor Capacity Blocks using EventBridge"); EKS scales the node group to zero at the same
40 minutes (EKS user guide, "Create a managed node group with Capacity Blocks for ML"). The fleet's CronJob
drain (kubernetes_manifests.capacity_block_drain) runs a checkpoint grace earlier from the configured
`endTime`; this handler is the event-driven second line, with EC2's own reservation id and timing, for a
drain that did not run (an `endTime` that no longer matches the block, a cluster stack not applied yet).

The function runs in the private subnets in the cluster security group (the EKS API's private endpoint
admits its members: EKS user guide, "View Amazon EKS security group requirements for clusters") and calls
no AWS API: its EKS token is presigned locally, and Lambda itself delivers its logs. So a no-egress VPC
needs no endpoint for it.
"""

import json
from importlib import resources
from typing import NotRequired, Required, TypedDict

import pulumi
import pulumi_aws as aws

# `pulumi.Input[T]` is `T | Awaitable[T] | "Output[T]"`, resolved in this module's namespace.
from pulumi.output import Output, T  # noqa: F401

from .schedulers.kubernetes_manifests import CAPACITY_BLOCK_WARNING_LEAD, EXPIRY_GROUP
from .trust import trust_policy

HANDLER_FILE = "capacity_block_expiry.py"
RUNTIME = "python3.13"
"""AWS Lambda developer guide, "Lambda runtimes": python3.13 on Amazon Linux 2023, supported (pinned so an
update of the provider's default cannot change it)."""
DETAIL_TYPES = ("Capacity Block Expiration Warning", "Capacity Block Reservation Expiration Warning")
"""The EC2 user guide's example event names its detail type both ways; the rule matches either."""
EVICTION_GRACE_SECONDS = int(CAPACITY_BLOCK_WARNING_LEAD.total_seconds()) - 120
"""SIGTERM to kill: the warning's 10 minutes before EC2 terminates, less two for the handler's own work."""
LOG_RETENTION_DAYS = 365


def handler_code() -> str:
    return (resources.files("aifactory.templates") / "lambda" / HANDLER_FILE).read_text()


def event_pattern(reservation_ids: list[str]) -> str:
    """The warning, for the factory's reservations only (EventBridge user guide, "Event patterns")."""
    return json.dumps(
        {
            "source": ["aws.ec2"],
            "detail-type": list(DETAIL_TYPES),
            "detail": {"capacity-reservation-id": sorted(reservation_ids)},
        }
    )


class CapacityBlockExpiryArgs(TypedDict):
    cluster_name: Required[pulumi.Input[str]]
    """The EKS cluster whose nodes are cordoned."""
    cluster_endpoint: Required[pulumi.Input[str]]
    """Its API endpoint."""
    cluster_certificate_authority: Required[pulumi.Input[str]]
    """Its CA (base64 PEM)."""
    cluster_security_group_id: Required[pulumi.Input[str]]
    """The cluster security group, which the function's interfaces join."""
    subnet_ids: Required[pulumi.Input[list[str]]]
    """Private subnets of the function."""
    fleets: Required[dict[str, str]]
    """Capacity-block reservation id -> the fleet it holds."""
    partition: NotRequired[str]
    """AWS partition."""
    kms_key_arn: NotRequired[pulumi.Input[str] | None]
    """The factory key, for the log group."""
    tags: NotRequired[dict[str, str]]
    """Tags of every taggable resource."""


class CapacityBlockExpiry(pulumi.ComponentResource):
    def __init__(self, name: str, args: CapacityBlockExpiryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aifactory:index:CapacityBlockExpiry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        partition, tags = args.get("partition", "aws"), dict(args.get("tags", {}))
        function_name = name
        logs = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/lambda/{function_name}",
            retention_in_days=LOG_RETENTION_DAYS,
            kms_key_id=args.get("kms_key_arn"),
            tags=tags,
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-role",
            # The execution role of this function only by who may pass it (trust.CONFUSED_DEPUTY "lambda").
            assume_role_policy=trust_policy("lambda", partition),
            tags=tags,
            opts=child,
        )
        # Its log stream, and the interfaces of a function in a VPC: the actions of AWSLambdaVPCAccessExecutionRole
        # (Lambda developer guide, "Giving Lambda functions access to resources in an Amazon VPC"), which take
        # no resource-level permission but the create/delete ones, limited to the function's subnets' VPC by
        # the service. No other AWS action: the token is presigned locally.
        aws.iam.RolePolicy(
            f"{name}-policy",
            role=role.id,
            policy=logs.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                                "Resource": f"{arn}:*",
                            },
                            {
                                "Effect": "Allow",
                                "Action": [
                                    "ec2:CreateNetworkInterface",
                                    "ec2:DescribeNetworkInterfaces",
                                    "ec2:DeleteNetworkInterface",
                                    "ec2:AssignPrivateIpAddresses",
                                    "ec2:UnassignPrivateIpAddresses",
                                ],
                                "Resource": "*",
                            },
                        ],
                    }
                )
            ),
            opts=child,
        )
        # The role's Kubernetes identity: a group the ClusterRole `aifactory-capacity-block-expiry` binds
        # (kubernetes_manifests.expiry_rbac; EKS user guide, "Grant IAM users access to Kubernetes with EKS
        # access entries": kubernetesGroups of a STANDARD entry).
        aws.eks.AccessEntry(
            f"{name}-access",
            cluster_name=args["cluster_name"],
            principal_arn=role.arn,
            kubernetes_groups=[EXPIRY_GROUP],
            type="STANDARD",
            tags=tags,
            opts=child,
        )
        function = aws.lambda_.Function(
            f"{name}-function",
            name=function_name,
            role=role.arn,
            runtime=RUNTIME,
            handler=f"{HANDLER_FILE.removesuffix('.py')}.handler",
            code=pulumi.AssetArchive({HANDLER_FILE: pulumi.StringAsset(handler_code())}),
            timeout=int(CAPACITY_BLOCK_WARNING_LEAD.total_seconds()) // 2,
            memory_size=256,
            vpc_config=aws.lambda_.FunctionVpcConfigArgs(
                subnet_ids=args["subnet_ids"], security_group_ids=[args["cluster_security_group_id"]]
            ),
            environment=aws.lambda_.FunctionEnvironmentArgs(
                variables={
                    "FLEETS": json.dumps(dict(sorted(args["fleets"].items()))),
                    "CLUSTER_NAME": args["cluster_name"],
                    "CLUSTER_ENDPOINT": args["cluster_endpoint"],
                    "CLUSTER_CA": args["cluster_certificate_authority"],
                    "GRACE_SECONDS": str(EVICTION_GRACE_SECONDS),
                }
            ),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="Text", log_group=logs.name),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[logs]),
        )
        rule = aws.cloudwatch.EventRule(
            f"{name}-rule",
            description="EC2 capacity-block expiration warning for the factory's reservations",
            event_pattern=event_pattern(list(args["fleets"])),
            tags=tags,
            opts=child,
        )
        # Events EventBridge could not deliver; SQS-managed encryption, so EventBridge needs no key grant
        # (EventBridge user guide, "Using dead-letter queues to process undelivered events").
        dlq = aws.sqs.Queue(
            f"{name}-dlq",
            sqs_managed_sse_enabled=True,
            message_retention_seconds=14 * 24 * 3600,
            tags=tags,
            opts=child,
        )
        aws.sqs.QueuePolicy(
            f"{name}-dlq",
            queue_url=dlq.url,
            policy=pulumi.Output.all(dlq.arn, rule.arn).apply(
                lambda v: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "events.amazonaws.com"},
                                "Action": "sqs:SendMessage",
                                "Resource": v[0],
                                "Condition": {"ArnEquals": {"aws:SourceArn": v[1]}},
                            }
                        ],
                    }
                )
            ),
            opts=child,
        )
        aws.lambda_.Permission(
            f"{name}-invoke",
            action="lambda:InvokeFunction",
            function=function.name,
            principal="events.amazonaws.com",
            source_arn=rule.arn,
            opts=child,
        )
        # Retries only while they help: after the warning's 10 minutes EC2 is terminating the nodes.
        aws.cloudwatch.EventTarget(
            f"{name}-target",
            rule=rule.name,
            arn=function.arn,
            retry_policy=aws.cloudwatch.EventTargetRetryPolicyArgs(
                maximum_event_age_in_seconds=int(CAPACITY_BLOCK_WARNING_LEAD.total_seconds()),
                maximum_retry_attempts=4,
            ),
            dead_letter_config=aws.cloudwatch.EventTargetDeadLetterConfigArgs(arn=dlq.arn),
            opts=child,
        )
        self.function_name = function.name
        self.register_outputs({"function_name": function.name})
