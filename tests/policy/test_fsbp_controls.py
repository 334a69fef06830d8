"""The FSBP / CIS controls the pack covers: a compliant and a violating case per policy, through the
CrossGuard harness (as the engine calls the packed policies) and the plan runner, and the weakened
example plans of issue 16, each caught by the expected policy id."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from aifactory.policies import POLICIES, PolicyConfig, run_policies
from aifactory.policies.cluster import eks_version_supported
from aifactory.tags import TAG_DATA_REPOSITORY

from tests.policy.harness import UNKNOWN, assert_each_message_ends_with_its_fix, validate_resource, validate_stack

SOVEREIGN = PolicyConfig(profile="sovereign")
COMMERCIAL = PolicyConfig(profile="commercial")

EKS = "aws:eks/cluster:Cluster"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
INSTANCE = "aws:ec2/instance:Instance"
LT = "aws:ec2/launchTemplate:LaunchTemplate"
SG = "aws:ec2/securityGroup:SecurityGroup"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
DEFAULT_SG = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
IAM_POLICY = "aws:iam/policy:Policy"
KMS_KEY = "aws:kms/key:Key"
FSX = "aws:fsx/lustreFileSystem:LustreFileSystem"
BUCKET = "aws:s3/bucket:Bucket"
BPAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
BUCKET_LOGGING = "aws:s3/bucketLogging:BucketLogging"


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: Any, resource: Any = "*") -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


TLS_DENY = {
    "Sid": "DenyInsecureTransport",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:*",
    "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}
PRIVATE_VPC = {"endpointPublicAccess": False, "endpointPrivateAccess": True, "subnetIds": ["a", "b"]}
BLOCK_ALL = {k: True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")}
KEY = "arn:aws:kms:eu-north-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"

# (policy, config, resource type, compliant inputs, violating inputs, fragment of the message)
FSBP_CASES: list[tuple[str, PolicyConfig, str, dict[str, Any], dict[str, Any], str]] = [
    ("log-group-retention", COMMERCIAL, LOG_GROUP, {"retentionInDays": 365.0}, {"retentionInDays": 1.0}, "is 1"),
    ("log-group-retention", COMMERCIAL, LOG_GROUP, {"name": "never-expires"}, {"retentionInDays": 180.0}, "365"),
    ("flow-logs-capture-all", COMMERCIAL, FLOW_LOG, {"trafficType": "ALL"}, {"trafficType": "REJECT"}, "REJECT"),
    (
        "eks-audit-logging",
        COMMERCIAL,
        EKS,
        {"enabledClusterLogTypes": ["api", "audit", "authenticator"]},
        {"enabledClusterLogTypes": ["api"]},
        "audit",
    ),
    ("eks-audit-logging", COMMERCIAL, EKS, {"enabledClusterLogTypes": UNKNOWN}, {"version": "1.35"}, "audit"),
    ("eks-supported-version", COMMERCIAL, EKS, {"version": "1.35"}, {"version": "1.24"}, "not supported"),
    (
        "eks-secrets-encryption",
        COMMERCIAL,
        EKS,
        {"encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": KEY}}},
        {"version": "1.35"},
        "secrets",
    ),
    ("private-cluster-endpoint", COMMERCIAL, EKS, {"vpcConfig": PRIVATE_VPC}, {"vpcConfig": {}}, "private"),
    (
        "eks-public-endpoint-restricted",
        COMMERCIAL,
        EKS,
        {"vpcConfig": {"endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24"]}},
        {"vpcConfig": {"endpointPublicAccess": True}},
        "publicAccessCidrs",
    ),
    (
        "eks-public-endpoint-restricted",
        COMMERCIAL,
        EKS,
        {"vpcConfig": PRIVATE_VPC},
        {"vpcConfig": {"publicAccessCidrs": ["0.0.0.0/0"]}},
        "0.0.0.0/0",
    ),
    ("no-public-ip", COMMERCIAL, SUBNET, {"mapPublicIpOnLaunch": False}, {"mapPublicIpOnLaunch": True}, "EC2.15"),
    (
        "no-public-ip",
        COMMERCIAL,
        INSTANCE,
        {"associatePublicIpAddress": False},
        {"associatePublicIpAddress": True},
        "EC2.9",
    ),
    (
        "no-public-ip",
        COMMERCIAL,
        LT,
        {"networkInterfaces": [{"associatePublicIpAddress": "false"}]},
        {"networkInterfaces": [{"associatePublicIpAddress": "true"}]},
        "EC2.25",
    ),
    (
        "no-open-egress",
        SOVEREIGN,
        EGRESS,
        {"ipProtocol": "tcp", "fromPort": 443.0, "toPort": 443.0, "cidrIpv4": "0.0.0.0/0"},
        {"ipProtocol": "-1", "cidrIpv4": "0.0.0.0/0"},
        "HTTPS only",
    ),
    (
        "no-open-egress",
        SOVEREIGN,
        SG,
        {"egress": [{"protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "cidrBlocks": ["10.0.0.0/16"]}]},
        {"egress": [{"protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "cidrBlocks": ["0.0.0.0/0"]}]},
        "egress[0]",
    ),
    (
        "default-security-group-closed",
        COMMERCIAL,
        DEFAULT_SG,
        {"vpcId": "vpc-1"},
        {"vpcId": "vpc-1", "egress": [{"protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "cidrBlocks": ["0.0.0.0/0"]}]},
        "egress",
    ),
    (
        "iam-no-service-wildcard",
        COMMERCIAL,
        ROLE_POLICY,
        {"policy": doc(allow("ec2:Describe*"))},
        {"policy": doc(allow("ec2:*"))},
        "ec2:*",
    ),
    (
        "iam-no-service-wildcard",
        COMMERCIAL,
        ROLE,
        {"inlinePolicies": [{"policy": doc(allow("s3:GetObject", "arn:aws:s3:::b/*"))}]},
        {"inlinePolicies": [{"policy": doc(allow(["s3:*"], "arn:aws:s3:::b/*"))}]},
        "s3:*",
    ),
    (
        "kms-no-wildcard-decrypt",
        COMMERCIAL,
        IAM_POLICY,
        {"policy": doc(allow("kms:Decrypt", KEY))},
        {"policy": doc(allow("kms:Decrypt"))},
        "kms:Decrypt",
    ),
    (
        "kms-no-wildcard-decrypt",
        COMMERCIAL,
        ROLE_POLICY,
        {"policy": doc(allow("kms:Encrypt"))},
        {"policy": doc(allow("kms:ReEncrypt*"))},
        "kms:ReEncrypt*",
    ),
    (
        "no-public-principal",
        COMMERCIAL,
        ROLE,
        {
            "assumeRolePolicy": doc(
                {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "ec2.amazonaws.com"}}
            )
        },
        {"assumeRolePolicy": doc({"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": "*"})},
        "Principal '*'",
    ),
    (
        "no-public-principal",
        COMMERCIAL,
        KMS_KEY,
        {
            "policy": doc(
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": "kms:Decrypt",
                    "Resource": "*",
                    "Condition": {"StringEquals": {"kms:CallerAccount": "123456789012"}},
                }
            )
        },
        {"policy": doc({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:Decrypt", "Resource": "*"})},
        "anyone",
    ),
    (
        "no-public-principal",
        COMMERCIAL,
        "aws:sns/topicPolicy:TopicPolicy",
        {
            "arn": "arn:aws:sns:us-east-1:123456789012:alerts",
            "policy": doc(
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "aps.amazonaws.com"},
                    "Action": "sns:Publish",
                    "Resource": "arn:aws:sns:us-east-1:123456789012:alerts",
                    "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}},
                }
            ),
        },
        {
            "arn": "arn:aws:sns:us-east-1:123456789012:alerts",
            "policy": doc(
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": "sns:Publish",
                    "Resource": "arn:aws:sns:us-east-1:123456789012:alerts",
                }
            ),
        },
        "anyone",
    ),
    ("kms-key-rotation", COMMERCIAL, KMS_KEY, {"enableKeyRotation": True}, {"enableKeyRotation": False}, "rotation"),
    ("kms-key-rotation", COMMERCIAL, KMS_KEY, {"customerMasterKeySpec": "RSA_2048"}, {}, "rotation"),
    (
        "fsx-copy-tags-to-backups",
        COMMERCIAL,
        FSX,
        {"deploymentType": "PERSISTENT_2", "copyTagsToBackups": True},
        {"deploymentType": "PERSISTENT_2"},
        "copyTagsToBackups",
    ),
    (
        "fsx-copy-tags-to-backups",
        COMMERCIAL,
        FSX,
        {"deploymentType": "SCRATCH_2"},
        {"deploymentType": "PERSISTENT_1"},
        "tags",
    ),
    (
        "fsx-copy-tags-to-backups",
        COMMERCIAL,
        FSX,
        {"deploymentType": "PERSISTENT_2", "tags": {TAG_DATA_REPOSITORY: "factory-data"}},
        {"deploymentType": "PERSISTENT_2", "tags": {"team": "ml"}},
        "copyTagsToBackups",
    ),
    (
        "s3-block-public-access",
        COMMERCIAL,
        BPAB,
        {"bucket": "b", **BLOCK_ALL},
        {"bucket": "b", **BLOCK_ALL, "blockPublicPolicy": False},
        "blockPublicPolicy",
    ),
    (
        "s3-versioning",
        COMMERCIAL,
        VERSIONING,
        {"bucket": "b", "versioningConfiguration": {"status": "Enabled"}},
        {"bucket": "b", "versioningConfiguration": {"status": "Suspended"}},
        "Suspended",
    ),
    (
        "s3-tls-only",
        COMMERCIAL,
        BUCKET_POLICY,
        {"bucket": "b", "policy": doc(TLS_DENY)},
        {"bucket": "b", "policy": doc({**TLS_DENY, "Condition": {"Bool": {"aws:SecureTransport": "true"}}})},
        "TLS",
    ),
]

GOOD_BUCKET: list[tuple[str, dict[str, Any]]] = [
    (BUCKET, {"bucket": "b"}),
    (BPAB, {"bucket": "b", **BLOCK_ALL}),
    (VERSIONING, {"bucket": "b", "versioningConfiguration": {"status": "Enabled"}}),
    (SSE, {"bucket": "b", "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}]}),
    (BUCKET_POLICY, {"bucket": "b", "policy": doc(TLS_DENY)}),
    (BUCKET_LOGGING, {"bucket": "b", "targetBucket": "logs", "targetPrefix": "b/"}),
]


def without(resources: list[tuple[str, dict[str, Any]]], rtype: str) -> list[tuple[str, dict[str, Any]]]:
    return [r for r in resources if r[0] != rtype]


# (policy, config, compliant stack, violating stack, fragment)
FSBP_STACK_CASES: list[
    tuple[str, PolicyConfig, list[tuple[str, dict[str, Any]]], list[tuple[str, dict[str, Any]]], str]
] = [
    (
        "vpc-flow-logging",
        COMMERCIAL,
        [(VPC, {"cidrBlock": "10.0.0.0/16"}), (FLOW_LOG, {"vpcId": UNKNOWN, "trafficType": "ALL"})],
        [(VPC, {"cidrBlock": "10.0.0.0/16"}), (FLOW_LOG, {"subnetId": "subnet-1", "vpcId": "v", "trafficType": "ALL"})],
        "flow log",
    ),
    (
        "default-security-group-managed",
        COMMERCIAL,
        [(VPC, {"cidrBlock": "10.0.0.0/16"}), (DEFAULT_SG, {"vpcId": UNKNOWN})],
        [(VPC, {"cidrBlock": "10.0.0.0/16"})],
        "DefaultSecurityGroup",
    ),
    ("s3-bucket-public-access-blocked", COMMERCIAL, GOOD_BUCKET, without(GOOD_BUCKET, BPAB), "public access block"),
    ("s3-bucket-versioned", COMMERCIAL, GOOD_BUCKET, without(GOOD_BUCKET, VERSIONING), "versioning"),
    ("s3-bucket-tls-only", COMMERCIAL, GOOD_BUCKET, without(GOOD_BUCKET, BUCKET_POLICY), "TLS"),
    (
        "s3-kms-encryption",
        COMMERCIAL,
        GOOD_BUCKET,
        [
            *without(GOOD_BUCKET, SSE),
            (SSE, {"bucket": "b", "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]}),
        ],
        "S3.17",
    ),
    ("s3-access-logging", COMMERCIAL, GOOD_BUCKET, without(GOOD_BUCKET, BUCKET_LOGGING), "server access logging"),
]


def plan_resource(rtype: str, i: int, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"urn": f"urn:pulumi:s::aifactory::{rtype}::r{i}", "type": rtype, "name": f"r{i}", "inputs": inputs}


@pytest.mark.parametrize(
    ("policy", "config", "rtype", "good", "bad", "fragment"),
    FSBP_CASES,
    ids=[f"{c[0]}-{c[2].split(':')[-1]}-{i}" for i, c in enumerate(FSBP_CASES)],
)
def test_control_passes_compliant_and_reports_violating(
    policy: str, config: PolicyConfig, rtype: str, good: dict[str, Any], bad: dict[str, Any], fragment: str
) -> None:
    # The CrossGuard path (what `pulumi preview --policy-pack policy` runs) ...
    assert validate_resource(policy, rtype, good, base=config) == []
    messages = validate_resource(policy, rtype, bad, base=config)
    assert any(fragment in m for m in messages), messages
    assert_each_message_ends_with_its_fix(policy, messages)
    # ... and the plan runner (`aifactory plan` / `policy-check`) agree.
    found = [
        v for v in run_policies([plan_resource(rtype, 0, bad)], config.profile, config, None) if v.policy == policy
    ]
    assert [v.message for v in found] == messages
    assert not [
        v for v in run_policies([plan_resource(rtype, 0, good)], config.profile, config, None) if v.policy == policy
    ]


@pytest.mark.parametrize(
    ("policy", "config", "good", "bad", "fragment"), FSBP_STACK_CASES, ids=[c[0] for c in FSBP_STACK_CASES]
)
def test_inventory_control_passes_compliant_and_reports_violating(
    policy: str,
    config: PolicyConfig,
    good: list[tuple[str, dict[str, Any]]],
    bad: list[tuple[str, dict[str, Any]]],
    fragment: str,
) -> None:
    assert validate_stack(policy, good, base=config) == []
    messages = validate_stack(policy, bad, base=config)
    assert any(fragment in m for m in messages), messages
    assert_each_message_ends_with_its_fix(policy, messages)
    resources = [plan_resource(t, i, p) for i, (t, p) in enumerate(bad)]
    found = [v for v in run_policies(resources, config.profile, config, None) if v.policy == policy]
    assert sorted(v.message for v in found) == sorted(messages)
    assert all(v.urn for v in found)  # each names the VPC or bucket that lacks its companion


def test_every_description_begins_with_its_control_ids() -> None:
    fsbp = {c[0] for c in (*FSBP_CASES, *FSBP_STACK_CASES)} - {"no-open-egress"}
    for policy in fsbp:
        assert re.match(r"^\[[A-Za-z0-9]+\.\d+\]", POLICIES[policy].description), policy


def test_eks_version_support_ends_with_extended_support() -> None:
    assert eks_version_supported("1.35", date(2026, 12, 2))
    assert not eks_version_supported("1.31", date(2026, 11, 27))  # extended support ended 2026-11-26
    assert eks_version_supported("1.31", date(2026, 11, 26))
    assert not eks_version_supported("1.24", date(2024, 1, 1))  # not offered for new clusters


def test_advisory_where_users_differ_mandatory_in_sovereign_stacks() -> None:
    for policy in (
        "eks-secrets-encryption",
        "private-cluster-endpoint",
        "no-open-egress",
        "s3-kms-encryption",
        "s3-access-logging",
    ):
        assert POLICIES[policy].level("commercial") == "advisory", policy
        assert POLICIES[policy].level("sovereign") == "mandatory", policy


# --- the weakened example plans of issue 16 ----------------------------------------------------------


@pytest.fixture(scope="module")
def plans() -> dict[str, dict[str, Any]]:
    from aifactory.cli.planrun import plan_stack

    return {stack: plan_stack(stack).as_json() for stack in ("commercial-us", "sovereign-eu", "slurm-aws")}


def _find(plan: dict[str, Any], rtype: str, name_part: str = "") -> dict[str, Any]:
    return next(r for r in plan["resources"] if r["type"] == rtype and name_part in r["name"])


def _set_policy(rtype: str, document: str) -> Callable[[dict[str, Any]], None]:
    def edit(plan: dict[str, Any]) -> None:
        _find(plan, rtype)["inputs"]["policy"] = document

    return edit


def _trust_anyone(plan: dict[str, Any]) -> None:
    _find(plan, ROLE)["inputs"]["assumeRolePolicy"] = doc(
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": "*"}
    )


def _logs_off(plan: dict[str, Any]) -> None:
    _find(plan, EKS)["inputs"]["enabledClusterLogTypes"] = []


def _reject_only(plan: dict[str, Any]) -> None:
    _find(plan, FLOW_LOG)["inputs"]["trafficType"] = "REJECT"


def _one_day(plan: dict[str, Any]) -> None:
    _find(plan, LOG_GROUP)["inputs"]["retentionInDays"] = 1.0


def _egress_anywhere(plan: dict[str, Any]) -> None:
    rule = _find(plan, EGRESS, "runner-https")["inputs"]
    rule.update({"ipProtocol": "-1", "cidrIpv4": "0.0.0.0/0"})
    rule.pop("fromPort", None)
    rule.pop("toPort", None)


def _rotation_off(plan: dict[str, Any]) -> None:
    _find(plan, KMS_KEY)["inputs"]["enableKeyRotation"] = False


def _blocks_off(plan: dict[str, Any]) -> None:
    _find(plan, BPAB)["inputs"].update(dict.fromkeys(BLOCK_ALL, False))


def _versioning_suspended(plan: dict[str, Any]) -> None:
    _find(plan, VERSIONING)["inputs"]["versioningConfiguration"]["status"] = "Suspended"


def _public_endpoint_unencrypted(plan: dict[str, Any]) -> None:
    cluster = _find(plan, EKS)["inputs"]
    cluster["vpcConfig"]["endpointPublicAccess"] = True
    cluster.pop("encryptionConfig", None)


def _no_flow_logs(plan: dict[str, Any]) -> None:
    plan["resources"] = [r for r in plan["resources"] if r["type"] != FLOW_LOG]


def _no_tls_policy(plan: dict[str, Any]) -> None:
    plan["resources"] = [r for r in plan["resources"] if r["type"] != BUCKET_POLICY]


def _default_sg_open(plan: dict[str, Any]) -> None:
    plan["resources"] = [r for r in plan["resources"] if r["type"] != DEFAULT_SG]


# (stack, weakening, policies that must catch it)
WEAKENINGS: list[tuple[str, Callable[[dict[str, Any]], None], set[str]]] = [
    ("commercial-us", _set_policy(ROLE_POLICY, doc(allow("*"))), {"iam-no-wildcard-admin"}),
    ("commercial-us", _set_policy(ROLE_POLICY, doc(allow("ec2:*"))), {"iam-no-service-wildcard"}),
    ("commercial-us", _set_policy(ROLE_POLICY, doc(allow("kms:Decrypt"))), {"kms-no-wildcard-decrypt"}),
    ("commercial-us", _trust_anyone, {"no-public-principal"}),
    ("commercial-us", _logs_off, {"eks-audit-logging"}),
    ("commercial-us", _reject_only, {"flow-logs-capture-all"}),
    ("commercial-us", _one_day, {"log-group-retention"}),
    ("commercial-us", _egress_anywhere, {"no-open-egress"}),
    ("sovereign-eu", _egress_anywhere, {"no-open-egress"}),
    ("sovereign-eu", _rotation_off, {"kms-key-rotation"}),
    ("commercial-us", _blocks_off, {"s3-block-public-access", "s3-bucket-public-access-blocked"}),
    ("commercial-us", _versioning_suspended, {"s3-versioning", "s3-bucket-versioned"}),
    ("commercial-us", _no_tls_policy, {"s3-bucket-tls-only"}),
    (
        "commercial-us",
        _public_endpoint_unencrypted,
        {"private-cluster-endpoint", "eks-public-endpoint-restricted"},  # [EKS.3] advisory already
    ),
    ("sovereign-eu", _public_endpoint_unencrypted, {"private-cluster-endpoint", "eks-secrets-encryption"}),
    ("commercial-us", _no_flow_logs, {"vpc-flow-logging"}),
    ("commercial-us", _default_sg_open, {"default-security-group-managed"}),
]


@pytest.mark.parametrize(
    ("stack", "weaken", "expected"), WEAKENINGS, ids=[f"{s}-{w.__name__}" for s, w, _ in WEAKENINGS]
)
def test_weakened_plan_is_caught(
    stack: str, weaken: Callable[[dict[str, Any]], None], expected: set[str], plans: dict[str, dict[str, Any]]
) -> None:
    from aifactory.cli.planrun import policy_verdicts

    plan = copy.deepcopy(plans[stack])
    before = {(v["policy"], v["urn"], v["message"]) for v in policy_verdicts(plan)}
    assert not {p for p, _, _ in before} & expected - {"no-open-egress"}  # the plan meets these controls
    weaken(plan)
    new = {v["policy"] for v in policy_verdicts(plan) if (v["policy"], v["urn"], v["message"]) not in before}
    assert expected <= new, new


@pytest.mark.parametrize("stack", ["commercial-us", "sovereign-eu", "slurm-aws"])
def test_example_plans_meet_the_mandatory_controls(stack: str, plans: dict[str, dict[str, Any]]) -> None:
    from aifactory.cli.planrun import policy_verdicts

    verdicts = policy_verdicts(plans[stack])
    assert [v for v in verdicts if v["level"] == "mandatory"] == []
    if stack == "sovereign-eu":
        assert verdicts == []


def test_every_vpc_default_security_group_is_closed(plans: dict[str, dict[str, Any]]) -> None:
    for plan in plans.values():
        vpcs = [r for r in plan["resources"] if r["type"] == VPC]
        closed = [r for r in plan["resources"] if r["type"] == DEFAULT_SG]
        assert len(closed) == len(vpcs) == 1
        assert not closed[0]["inputs"].get("ingress") and not closed[0]["inputs"].get("egress")


def test_slurm_head_without_egress_sends_only_inside_the_vpc_and_to_s3(plans: dict[str, dict[str, Any]]) -> None:
    plan = plans["slurm-aws"]
    head = _find(plan, SG, "slurm-head")["inputs"]
    vpc = _find(plan, VPC)["inputs"]
    assert [r.get("cidrBlocks") for r in head["egress"] if r.get("cidrBlocks")] == [[vpc["cidrBlock"]]]
    assert [r["prefixListIds"] for r in head["egress"] if r.get("prefixListIds")] == [
        [_find(plan, "aws:ec2/vpcEndpoint:VpcEndpoint", "s3")["outputs"]["prefixListId"]]
    ]
