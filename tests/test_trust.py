"""Every role the example stacks plan trusts its service only as far as the service lets a trust
policy say (confused deputy prevention, `aifactory.trust.CONFUSED_DEPUTY`)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aifactory.cli.planrun import plan_stack
from aifactory.trust import CONFUSED_DEPUTY, pod_identity_conditions, service_of, source_conditions, trust_policy

from tests.stackfiles import EXAMPLE_STACKS

STACKS = list(EXAMPLE_STACKS)


def _roles(stack: str) -> list[tuple[str, dict[str, Any]]]:
    result = plan_stack(stack)
    resources = [*result.resources, *(r for rs in result.stacks.values() for r in rs)]
    return [
        (r.name, json.loads(r.inputs["assumeRolePolicy"]))
        for r in resources
        if r.type == "aws:iam/role:Role" and isinstance(r.inputs.get("assumeRolePolicy"), str)
    ]


@pytest.fixture(scope="module")
def roles() -> dict[str, list[tuple[str, dict[str, Any]]]]:
    return {stack: _roles(stack) for stack in STACKS}


def test_every_service_principal_is_classified_and_carries_its_conditions(
    roles: dict[str, list[tuple[str, dict[str, Any]]]],
) -> None:
    # 0.1 trusted eks, codebuild, vpc-flow-logs and pods.eks with no condition at all.
    seen: set[str] = set()
    for stack, planned in roles.items():
        assert planned, stack
        for name, policy in planned:
            for statement in policy["Statement"]:
                for principal in [statement["Principal"]["Service"]]:
                    service = service_of(principal)
                    seen.add(service)
                    assert service in CONFUSED_DEPUTY, f"{stack} {name}: {service} is not in the table"
                    conditions = statement.get("Condition", {})
                    protection = CONFUSED_DEPUTY[service].protection
                    where = f"{stack} role {name} ({service})"
                    if protection == "source":
                        assert conditions["StringEquals"]["aws:SourceAccount"] == "123456789012", where
                        arn = conditions["ArnLike"]["aws:SourceArn"]
                        assert arn.split(":")[4] == "123456789012", where
                    elif protection == "pod-identity-tags":
                        tags = conditions["StringEquals"]
                        assert {
                            "aws:RequestTag/eks-cluster-name",
                            "aws:RequestTag/kubernetes-namespace",
                            "aws:RequestTag/kubernetes-service-account",
                        } <= set(tags), where
                    else:
                        assert not conditions, where
    assert {"ec2", "eks", "vpc-flow-logs", "pods.eks", "codebuild"} <= seen


def test_source_arns_name_the_resource_that_assumes_the_role(
    roles: dict[str, list[tuple[str, dict[str, Any]]]],
) -> None:
    arns = {
        name: s["Condition"]["ArnLike"]["aws:SourceArn"]
        for name, policy in roles["commercial-us"]
        for s in policy["Statement"]
        if "ArnLike" in s.get("Condition", {})
    }
    assert arns["commercial-us-eks-cluster"] == "arn:aws:eks:us-east-1:123456789012:cluster/commercial-us-eks"
    assert arns["commercial-us-network-flow-logs"] == "arn:aws:ec2:us-east-1:123456789012:vpc-flow-log/*"
    assert any(a.startswith("arn:aws:codebuild:us-east-1:123456789012:project/") for a in arns.values())


def test_a_trust_policy_without_the_conditions_its_service_supports_is_refused() -> None:
    with pytest.raises(ValueError, match="conditions"):
        trust_policy("eks", "aws")
    with pytest.raises(ValueError, match="CONFUSED_DEPUTY"):
        trust_policy("sagemaker", "aws")
    doc = json.loads(trust_policy("codebuild", "aws-cn", source_conditions("1", "arn:aws-cn:codebuild:*:1:*")))
    assert doc["Statement"][0]["Principal"] == {"Service": "codebuild.amazonaws.com.cn"}
    assert (
        pod_identity_conditions("c", "kube-system", "aws-node")["StringEquals"][
            "aws:RequestTag/kubernetes-service-account"
        ]
        == "aws-node"
    )
