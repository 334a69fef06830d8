"""The key-use rules: each service that encrypts with the factory's key, allowed and refused."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aifactory.preflight import preflight
from aifactory.preflight.keys import Request, allowed_actions

from tests.preflight.world import (
    ACCOUNT,
    ASG_ROLE,
    ASG_STATEMENTS,
    KEY_ARN,
    PARTITION,
    REGION,
    ROOT,
    ROOT_STATEMENT,
    eks_world,
    key_policy,
    replaced,
    res,
)


def findings(resources: list[dict[str, Any]], rule: str = "keys.service-use") -> list[str]:
    found = preflight(resources, region=REGION, partition=PARTITION, account=ACCOUNT)
    return [f"{f.subject}: {f.message}" for f in found if f.rule == rule]


def test_root_and_auto_scaling_statements_cover_the_eks_world() -> None:
    assert findings(eks_world()) == []


def test_a_policy_naming_only_root_and_logs_locks_out_auto_scaling() -> None:
    # 0.1's key policy: the account root and CloudWatch Logs; managed node groups launch with it.
    world = replaced(eks_world(), "cmk", policy=key_policy(ROOT_STATEMENT))
    found = findings(world)
    assert len(found) == 1
    assert found[0].startswith("train (autoscaling) → key 1111-2222: the key policy does not allow " + ASG_ROLE)
    assert "kms:CreateGrant" in found[0]


def test_create_grant_without_the_aws_resource_condition_still_counts() -> None:
    grant = {**ASG_STATEMENTS[1]}
    grant.pop("Condition")
    world = replaced(eks_world(), "cmk", policy=key_policy(ROOT_STATEMENT, ASG_STATEMENTS[0], grant))
    assert findings(world) == []


def test_a_condition_the_request_does_not_meet_refuses_the_grant() -> None:
    grant = {**ASG_STATEMENTS[1], "Condition": {"Bool": {"kms:GrantIsForAWSResource": "false"}}}
    world = replaced(eks_world(), "cmk", policy=key_policy(ROOT_STATEMENT, ASG_STATEMENTS[0], grant))
    assert "kms:CreateGrant" in findings(world)[0]


def test_an_explicit_deny_wins() -> None:
    deny = {"Effect": "Deny", "Principal": {"AWS": ASG_ROLE}, "Action": "kms:Decrypt", "Resource": "*"}
    world = replaced(eks_world(), "cmk", policy=key_policy(ROOT_STATEMENT, *ASG_STATEMENTS, deny))
    assert findings(world)[0].endswith("kms:Decrypt; add a statement for it")


@pytest.mark.parametrize("service", ["eks", "fsx"])
def test_iam_principals_through_a_service_need_the_root_statement_or_a_via_service_one(service: str) -> None:
    world = replaced(eks_world(), "cmk", policy=key_policy(*ASG_STATEMENTS))
    assert any(f"({service})" in f for f in findings(world))
    via = {
        "Effect": "Allow",
        "Principal": {"AWS": "*"},
        "Action": ["kms:CreateGrant", "kms:DescribeKey"],
        "Resource": "*",
        "Condition": {
            "StringEquals": {"kms:ViaService": [f"{s}.{REGION}.amazonaws.com" for s in ("eks", "fsx")]},
            "StringLike": {"kms:CallerAccount": ACCOUNT},
        },
    }
    world = replaced(eks_world(), "cmk", policy=key_policy(*ASG_STATEMENTS, via))
    assert findings(world) == []


def _log_group_world(condition_arn: str) -> list[dict[str, Any]]:
    group_arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aifactory/f/vpc-flow-logs"
    logs = {
        "Effect": "Allow",
        "Principal": {"Service": f"logs.{REGION}.amazonaws.com"},
        "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
        "Resource": "*",
        "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": condition_arn}},
    }
    world = replaced(eks_world(), "cmk", policy=key_policy(ROOT_STATEMENT, *ASG_STATEMENTS, logs))
    return [*world, res("aws:cloudwatch/logGroup:LogGroup", "flow", outputs={"arn": group_arn}, kmsKeyId=KEY_ARN)]


def test_log_groups_need_the_logs_principal_for_their_arn() -> None:
    assert findings(_log_group_world(f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:*")) == []
    found = findings(_log_group_world(f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/other/*"))
    assert found and found[0].startswith(f"flow (logs) → key 1111-2222: the key policy does not allow logs.{REGION}")


def test_the_root_statement_does_not_extend_to_service_principals() -> None:
    request = Request(f"logs.{REGION}.amazonaws.com", "service", {})
    assert allowed_actions(json.loads(key_policy(ROOT_STATEMENT)), request, ["kms:Encrypt"], ROOT) == set()


def test_a_key_named_by_id_is_matched_to_its_arn() -> None:
    world = replaced(eks_world(), "cmk", policy=key_policy(ROOT_STATEMENT))
    world = replaced(world, "fs", kmsKeyId="1111-2222")
    assert findings(world) == [f for f in findings(world) if "(autoscaling)" in f]
    assert len(findings(world)) == 1


def _secret_world(reader_actions: list[str]) -> list[dict[str, Any]]:
    secret_arn = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:munge-abc"
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": secret_arn}]
        + ([{"Effect": "Allow", "Action": reader_actions, "Resource": KEY_ARN}] if reader_actions else []),
    }
    return [
        *eks_world(),
        res("aws:secretsmanager/secret:Secret", "munge", outputs={"arn": secret_arn}, kmsKeyId=KEY_ARN),
        res("aws:iam/rolePolicy:RolePolicy", "head", role="head-role", policy=json.dumps(policy)),
    ]


def test_secret_readers_need_decrypt_on_the_key() -> None:
    assert findings(_secret_world(["kms:Decrypt"]), "keys.secret-readers") == []
    assert findings(_secret_world([]), "keys.secret-readers") == [
        f"role head-role → secret munge-abc: it may read the secret but not kms:Decrypt with {KEY_ARN}; "
        "add kms:Decrypt on the key"
    ]
    assert findings(_secret_world(["kms:Encrypt"]), "keys.secret-readers") != []


def _runner_world(role_actions: list[str]) -> list[dict[str, Any]]:
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": role_actions, "Resource": KEY_ARN}]}
    return [
        *eks_world(),
        res(
            "aws:codebuild/project:Project",
            "runner",
            encryptionKey=KEY_ARN,
            serviceRole=f"arn:aws:iam::{ACCOUNT}:role/runner-role",
            vpcConfig={"subnets": ["subnet-a"], "securityGroupIds": ["sg-nodes"]},
        ),
        res("aws:iam/rolePolicy:RolePolicy", "runner", role="runner-role", policy=json.dumps(policy)),
    ]


def test_a_codebuild_service_role_must_be_able_to_use_the_project_key() -> None:
    assert (
        findings(_runner_world(["kms:GenerateDataKey", "kms:Decrypt", "kms:DescribeKey"]), "keys.service-roles") == []
    )
    assert findings(_runner_world(["kms:Decrypt"]), "keys.service-roles") == [
        "role runner-role of runner (codebuild) → key 1111-2222: its policies do not allow kms:GenerateDataKey, "
        "kms:DescribeKey on the key; add them, scoped to the key"
    ]


@pytest.mark.parametrize(("role", "allowed"), [(ASG_ROLE, True), (ASG_ROLE.replace("AutoScaling", "Other"), False)])
def test_a_statement_matching_the_role_by_principal_arn_counts_for_that_role_only(role: str, allowed: bool) -> None:
    statements = [
        {
            **s,
            "Principal": {"AWS": "*"},
            "Condition": {**s.get("Condition", {}), "StringEquals": {"aws:PrincipalArn": role}},
        }
        for s in ASG_STATEMENTS
    ]
    world = replaced(eks_world(), "cmk", policy=key_policy(ROOT_STATEMENT, *statements))
    assert (findings(world) == []) is allowed


MUNGE_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:aif-munge-key-AbCdEf"
HEAD_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/head-role"


def _compute_world(node_statements: list[dict[str, Any]], resource_policy: dict[str, Any] | None = None) -> list:
    """A Slurm compute node launched from a template whose profile is `node-role`, and the munge secret."""
    profile_arn = f"arn:aws:iam::{ACCOUNT}:instance-profile/node"
    world = [
        res("aws:iam/instanceProfile:InstanceProfile", "node", "node", outputs={"arn": profile_arn}, role="node-role"),
        res("aws:ec2/launchTemplate:LaunchTemplate", "lt", "lt-1", iamInstanceProfile={"arn": profile_arn}),
        res("aws:ec2/instance:Instance", "gpu-0", launchTemplate={"id": "lt-1", "version": "1"}),
        res("aws:secretsmanager/secret:Secret", "munge", outputs={"arn": MUNGE_ARN}),
        res(
            "aws:iam/rolePolicy:RolePolicy",
            "node-munge",
            role="node-role",
            policy=json.dumps({"Version": "2012-10-17", "Statement": node_statements}),
        ),
    ]
    if resource_policy is not None:
        world.append(
            res(
                "aws:secretsmanager/secretPolicy:SecretPolicy",
                "munge",
                secretArn=MUNGE_ARN,
                policy=json.dumps(resource_policy),
            )
        )
    return world


READ = {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": MUNGE_ARN}


def test_a_compute_role_that_may_read_the_munge_key_is_a_finding() -> None:
    # 0.1 granted exactly this, and the rule only checked that the reader could also decrypt.
    assert findings(_compute_world([READ]), "keys.secret-readers") == [
        "role node-role → secret aif-munge-key-AbCdEf: a compute node's role may read the secret, so any job "
        "that reaches the node's credentials can; remove the permission (the head node shares the munge key "
        "with the nodes' root)"
    ]
    wildcard = {**READ, "Action": ["secretsmanager:*"], "Resource": "*"}
    assert findings(_compute_world([wildcard]), "keys.secret-readers")


def test_an_explicit_deny_or_the_secret_policy_keeps_the_compute_role_out() -> None:
    deny = {**READ, "Effect": "Deny"}
    assert findings(_compute_world([READ, deny]), "keys.secret-readers") == []
    only_head = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["secretsmanager:GetSecretValue"],
                "Resource": MUNGE_ARN,
                "Condition": {"StringNotEquals": {"aws:PrincipalArn": HEAD_ROLE_ARN}},
            }
        ],
    }
    assert findings(_compute_world([READ], only_head), "keys.secret-readers") == []
    # A policy that excepts the compute role itself does not keep it out.
    excepting_node = json.loads(json.dumps(only_head))
    excepting_node["Statement"][0]["Condition"]["StringNotEquals"]["aws:PrincipalArn"] = (
        f"arn:aws:iam::{ACCOUNT}:role/node-role"
    )
    assert findings(_compute_world([READ], excepting_node), "keys.secret-readers")


def test_a_compute_role_without_secret_permissions_is_fine() -> None:
    assert findings(_compute_world([{**READ, "Action": ["ssm:GetParameter"]}]), "keys.secret-readers") == []
