"""Role trust policies that keep each AWS service to this account's own resources.

A service assuming a role on the factory's behalf can be tricked into acting for another account's
resource (IAM user guide, "The confused deputy problem"). Where the service puts `aws:SourceArn` and
`aws:SourceAccount` in its AssumeRole request, the trust policy requires both; where it puts other
keys, those; where it puts none, the table says so and the trust stays the service principal alone.
`CONFUSED_DEPUTY` is the one table of which service principal supports what; a test reads every
role the example stacks plan against it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .arns import service_principal

Protection = Literal["source", "pod-identity-tags", "none"]


@dataclass(frozen=True)
class TrustSupport:
    protection: Protection
    source: str
    """Where AWS documents it."""


CONFUSED_DEPUTY: Mapping[str, TrustSupport] = {
    "eks": TrustSupport(
        "source",
        "EKS user guide, 'Cross-service confused deputy prevention in Amazon EKS': the cluster role's trust "
        "policy may require aws:SourceArn (the cluster ARN) and aws:SourceAccount",
    ),
    "codebuild": TrustSupport(
        "source",
        "CodeBuild user guide, 'Cross-service confused deputy prevention': aws:SourceArn (the project ARN) "
        "and aws:SourceAccount in the service role's trust policy",
    ),
    "vpc-flow-logs": TrustSupport(
        "source",
        "VPC user guide, 'IAM role for publishing flow logs to CloudWatch Logs': aws:SourceAccount and "
        "aws:SourceArn (arn:...:ec2:region:account:vpc-flow-log/*) in the trust policy",
    ),
    "pods.eks": TrustSupport(
        "pod-identity-tags",
        "EKS user guide, 'Create IAM role with trust policy required by EKS Pod Identity': conditions on the "
        "session tags EKS Pod Identity sets (aws:RequestTag/eks-cluster-name, kubernetes-namespace, "
        "kubernetes-service-account); the page documents no aws:SourceArn",
    ),
    "ssm": TrustSupport(
        "source",
        "EKS user guide, 'Prepare credentials for hybrid nodes': the hybrid nodes role trusts ssm.amazonaws.com "
        "with aws:SourceAccount and aws:SourceArn (arn:...:ssm:region:account:*) for SSM hybrid activations",
    ),
    "rolesanywhere": TrustSupport(
        "source",
        "EKS user guide, 'Prepare credentials for hybrid nodes': the hybrid nodes role trusts "
        "rolesanywhere.amazonaws.com for the trust anchor only (aws:SourceArn), with the certificate CN as "
        "the role session name",
    ),
    "ec2": TrustSupport(
        "none",
        "IAM user guide, 'Use an IAM role to grant permissions to applications running on Amazon EC2 "
        "instances': EC2 assumes an instance profile's role with no source keys, and the role cannot be "
        "passed to another account's instance (iam:PassRole stays within the account)",
    ),
    "lambda": TrustSupport(
        "none",
        "Lambda developer guide, 'Defining Lambda function permissions with an execution role': the execution "
        "role trusts lambda.amazonaws.com with no condition keys, and the role is attached only by someone "
        "with iam:PassRole in this account (whether Lambda sets aws:SourceArn when assuming it was not verified)",
    ),
}
"""Service (as `service_principal` takes it) → how its trust policy is scoped."""


def service_of(principal: str) -> str:
    """`eks.amazonaws.com` (or `.com.cn`) → `eks`."""
    for suffix in (".amazonaws.com.cn", ".amazonaws.com"):
        if principal.endswith(suffix):
            return principal[: -len(suffix)]
    return principal


def source_conditions(account: str, source_arn: str) -> dict[str, Any]:
    """Both keys: aws:SourceArn with the exact (or wildcarded) resource, aws:SourceAccount with the
    account (IAM user guide, "The confused deputy problem")."""
    return {"StringEquals": {"aws:SourceAccount": account}, "ArnLike": {"aws:SourceArn": source_arn}}


def pod_identity_conditions(cluster_name: str, namespace: str, service_account: str) -> dict[str, Any]:
    """Only this cluster's `namespace/service_account` may assume the role through Pod Identity."""
    return {
        "StringEquals": {
            "aws:RequestTag/eks-cluster-name": cluster_name,
            "aws:RequestTag/kubernetes-namespace": namespace,
            "aws:RequestTag/kubernetes-service-account": service_account,
        }
    }


def trust_policy(
    service: str,
    partition: str,
    conditions: Mapping[str, Any] | None = None,
    actions: Sequence[str] = ("sts:AssumeRole",),
) -> str:
    """A trust policy for `service` with the conditions its table row asks for (refused if missing)."""
    support = CONFUSED_DEPUTY.get(service)
    if support is None:
        raise ValueError(f"no confused-deputy entry for service {service!r}: add it to CONFUSED_DEPUTY")
    if support.protection != "none" and not conditions:
        raise ValueError(f"{service} trust policies must carry their {support.protection} conditions")
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Action": list(actions),
        "Principal": {"Service": service_principal(service, partition)},
    }
    if conditions:
        statement["Condition"] = dict(conditions)
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})
