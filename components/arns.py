"""Partition-aware ARNs and service names: never a hard-coded `arn:aws:`."""

from __future__ import annotations

import json
from collections.abc import Sequence


def managed_policy_arn(partition: str, name: str) -> str:
    return f"arn:{partition}:iam::aws:policy/{name}"


def service_principal(service: str, partition: str) -> str:
    """Service principal of `service` (e.g. `ec2`); the China partition uses `amazonaws.com.cn`."""
    return f"{service}.amazonaws.com.cn" if partition == "aws-cn" else f"{service}.amazonaws.com"


def dns_suffix(partition: str) -> str:
    """The partition's DNS suffix: `amazonaws.com.cn` in China, `amazonaws.com` elsewhere."""
    return "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"


def regional_service_host(service: str, region: str, partition: str) -> str:
    """`<service>.<region>.<suffix>`: the value of the `kms:ViaService` condition key for a service
    calling AWS KMS on a principal's behalf (KMS developer guide, "kms:ViaService"), and the
    regional service principal of CloudWatch Logs."""
    return f"{service}.{region}.{dns_suffix(partition)}"


def service_linked_role_arn(partition: str, account: str, service: str, role_name: str) -> str:
    """ARN of a service-linked role: IAM puts it under the path `/aws-service-role/<service>/`
    (IAM user guide, "Create a service-linked role"), e.g. EC2 Auto Scaling's
    `aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling` (EC2 Auto Scaling
    user guide, "Service-linked roles for Amazon EC2 Auto Scaling")."""
    return f"arn:{partition}:iam::{account}:role/aws-service-role/{service}/{role_name}"


def endpoint_service_name(region: str, partition: str, service: str) -> str:
    """VPC endpoint service name; China regions prefix it with `cn.` (VPC user guide, AWS services)."""
    prefix = "cn.com.amazonaws" if partition == "aws-cn" else "com.amazonaws"
    return f"{prefix}.{region}.{service}"


def assume_role_policy(principal: str, actions: Sequence[str] = ("sts:AssumeRole",)) -> str:
    """Trust policy that lets the service `principal` (see `service_principal`) assume a role."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": list(actions), "Principal": {"Service": principal}}],
        }
    )
