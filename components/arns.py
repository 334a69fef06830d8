"""Partition-aware ARNs and service names: never a hard-coded `arn:aws:`."""

from __future__ import annotations

import json
from collections.abc import Sequence


def managed_policy_arn(partition: str, name: str) -> str:
    return f"arn:{partition}:iam::aws:policy/{name}"


def service_principal(service: str, partition: str) -> str:
    """Service principal of `service` (e.g. `ec2`); the China partition uses `amazonaws.com.cn`."""
    return f"{service}.amazonaws.com.cn" if partition == "aws-cn" else f"{service}.amazonaws.com"


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
