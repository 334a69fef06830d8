"""CapacityBlockExpiry under Pulumi mocks: the rule matches the warning for the factory's reservations only,
the function runs the packaged handler in the VPC, retries end with the warning's lead, least privilege."""

from __future__ import annotations

import json
from typing import Any

from aifactory.capacity_block_expiry import EVICTION_GRACE_SECONDS, event_pattern, handler_code
from aifactory.schedulers.kubernetes_manifests import ENDING_TAINT, EXPIRY_GROUP, FLEET_LABEL, expiry_rbac

from tests.conftest import RunProgram
from tests.test_capacity_block_expiry_handler import handler_module


def register(run_program: RunProgram) -> dict[str, Any]:
    from aifactory.capacity_block_expiry import CapacityBlockExpiry

    def build() -> None:
        CapacityBlockExpiry(
            "expiry",
            {
                "cluster_name": "factory",
                "cluster_endpoint": "https://ABC.gr7.us-east-1.eks.amazonaws.com",
                "cluster_certificate_authority": "Q0E=",
                "cluster_security_group_id": "sg-cluster",
                "subnet_ids": ["subnet-a", "subnet-b"],
                "fleets": {"cr-0a1b2c3d4e5f60718": "block"},
                "kms_key_arn": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            },
        )

    plan = run_program(build, stack="test", region="us-east-1", partition="aws")
    return {r.urn.split("::")[-2].split("$")[-1]: r.state for r in plan.resources}


def test_resources_and_their_settings(run_program: RunProgram) -> None:
    regs = register(run_program)
    rule = json.loads(regs["aws:cloudwatch/eventRule:EventRule"]["eventPattern"])
    assert rule["source"] == ["aws.ec2"] and rule["detail"] == {"capacity-reservation-id": ["cr-0a1b2c3d4e5f60718"]}
    assert set(rule["detail-type"]) == set(handler_module.DETAIL_TYPES)
    function = regs["aws:lambda/function:Function"]
    assert function["runtime"] == "python3.13" and function["handler"] == "capacity_block_expiry.handler"
    assert function["vpcConfig"]["securityGroupIds"] == ["sg-cluster"]
    env = function["environment"]["variables"]
    assert json.loads(env["FLEETS"]) == {"cr-0a1b2c3d4e5f60718": "block"} and env["GRACE_SECONDS"] == "480"
    target = regs["aws:cloudwatch/eventTarget:EventTarget"]
    assert target["retryPolicy"]["maximumEventAgeInSeconds"] == 600 and "deadLetterConfig" in target
    logs = regs["aws:cloudwatch/logGroup:LogGroup"]
    assert logs["retentionInDays"] == 365 and logs["kmsKeyId"].startswith("arn:aws:kms:")
    assert regs["aws:sqs/queue:Queue"]["sqsManagedSseEnabled"] is True
    queue_policy = json.loads(regs["aws:sqs/queuePolicy:QueuePolicy"]["policy"])["Statement"][0]
    assert queue_policy["Principal"] == {"Service": "events.amazonaws.com"}
    assert "aws:SourceArn" in queue_policy["Condition"]["ArnEquals"]
    assert regs["aws:lambda/permission:Permission"]["principal"] == "events.amazonaws.com"
    assert regs["aws:eks/accessEntry:AccessEntry"]["kubernetesGroups"] == [EXPIRY_GROUP]
    actions = {a for s in json.loads(regs["aws:iam/rolePolicy:RolePolicy"]["policy"])["Statement"] for a in s["Action"]}
    assert actions == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
    }


def test_the_shipped_handler_keeps_the_drains_contract() -> None:
    assert {"key": ENDING_TAINT.key, "value": ENDING_TAINT.value, "effect": ENDING_TAINT.effect} == handler_module.TAINT
    assert handler_module.FLEET_LABEL == FLEET_LABEL
    assert "def handler(" in handler_code()
    assert EVICTION_GRACE_SECONDS == 480
    assert json.loads(event_pattern(["cr-b", "cr-a"]))["detail"]["capacity-reservation-id"] == ["cr-a", "cr-b"]


def test_rbac_allows_only_what_the_handler_calls() -> None:
    role, binding = expiry_rbac()
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["list", "patch"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]},
        {"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]},
    ]
    assert binding["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": EXPIRY_GROUP}]


def test_the_preflight_sees_the_function_reach_the_api() -> None:
    """commercial-us's handler is a VPC member of the preflight inventory, checked by reach.eks-api (and passes)."""
    from aifactory.cli.planrun import plan_stack
    from aifactory.preflight.inventory import read_inventory

    result = plan_stack("commercial-us")
    inventory = read_inventory(
        [r.as_json() for r in result.resources], region="us-east-1", partition="aws", account="123456789012"
    )
    (function,) = inventory.of_kind("function")
    assert function.name == "function commercial-us-block-expiry" and function.groups and len(function.subnets) == 2
    assert [f for f in result.preflight if f["rule"] == "reach.eks-api"] == []
