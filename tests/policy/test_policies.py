"""Every policy passes a compliant resource and reports a broken one, through the engine-shaped harness."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from typing import Any

import pytest
from aifactory.policies import (
    POLICIES,
    ROLE_EFA,
    TAG_FACTORY,
    TAG_PROFILE,
    TAG_RESIDENCY,
    TAG_ROLE,
    PolicyConfig,
    Violation,
    registry_allowed,
    run_policies,
)
from aifactory.tags import TAG_DATA_REPOSITORY

from tests.policy.harness import (
    PREVIEW_DIAGNOSTIC,
    UNKNOWN,
    assert_each_message_ends_with_its_fix,
    validate_resource,
    validate_stack,
)

MIRROR = "123456789012.dkr.ecr.us-gov-west-1.amazonaws.com/mirror"
SOVEREIGN = PolicyConfig.from_sovereignty("sovereign", {"allowedRegions": ["us-gov-west-1"], "registryMirror": MIRROR})
COMMERCIAL = PolicyConfig(profile="commercial")
KEY = "arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
TAGS = {TAG_FACTORY: "f", TAG_PROFILE: "sovereign", TAG_RESIDENCY: "us-gov-west-1"}

LT = "aws:ec2/launchTemplate:LaunchTemplate"
INSTANCE = "aws:ec2/instance:Instance"
SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
FSX = "aws:fsx/lustreFileSystem:LustreFileSystem"
EKS = "aws:eks/cluster:Cluster"
RELEASE = "kubernetes:helm.sh/v3:Release"


def p5_interfaces() -> list[dict[str, Any]]:
    nics: list[dict[str, Any]] = [
        {
            "networkCardIndex": 0.0,
            "deviceIndex": 0.0,
            "interfaceType": "interface",
            "securityGroups": ["sg-efa"],
        },
        {
            "networkCardIndex": 0.0,
            "deviceIndex": 1.0,
            "interfaceType": "efa-only",
            "securityGroups": ["sg-efa"],
        },
    ]
    nics += [
        {
            "networkCardIndex": float(c),
            "deviceIndex": 0.0,
            "interfaceType": "efa-only",
            "securityGroups": ["sg-efa"],
        }
        for c in range(1, 32)
    ]
    return nics


def good_lt() -> dict[str, Any]:
    return {
        "instanceType": "p5.48xlarge",
        "networkInterfaces": p5_interfaces(),
        "metadataOptions": {
            "httpEndpoint": "enabled",
            "httpTokens": "required",
            "httpPutResponseHopLimit": 2.0,
        },
        "blockDeviceMappings": [
            {"deviceName": "/dev/xvda", "ebs": {"volumeType": "gp3", "encrypted": "true", "kmsKeyId": KEY}}
        ],
        "capacityReservationSpecification": {
            "capacityReservationTarget": {"capacityReservationId": "cr-0123456789abcdef0"}
        },
        "tags": TAGS,
        "tagSpecifications": [{"resourceType": "instance", "tags": TAGS}],
    }


def trust_policy() -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
    )


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


READ_FSX = {"Effect": "Allow", "Action": ["fsx:DescribeFileSystems"], "Resource": "*"}

# (policy, config, resource type, compliant inputs, broken inputs, expected fragment of the message)
CASES: list[tuple[str, PolicyConfig, str, dict[str, Any], dict[str, Any], str]] = [
    (
        "allowed-regions",
        SOVEREIGN,
        FSX,
        {"region": "us-gov-west-1", "kmsKeyId": KEY},
        {"region": "eu-west-1"},
        "region eu-west-1",
    ),
    (
        "allowed-regions",
        SOVEREIGN,
        EKS,
        {"roleArn": "arn:aws-us-gov:iam::123456789012:role/eks"},
        {"roleArn": "arn:aws:iam::123456789012:role/eks"},
        "partition aws,",
    ),
    ("customer-managed-keys", SOVEREIGN, FSX, {"kmsKeyId": KEY}, {}, "kmsKeyId is not set"),
    (
        "customer-managed-keys",
        SOVEREIGN,
        "aws:rds/instance:Instance",
        {"kmsKeyId": KEY, "manageMasterUserPassword": True, "masterUserSecretKmsKeyId": KEY},
        {"kmsKeyId": KEY, "manageMasterUserPassword": True},
        "masterUserSecretKmsKeyId is not set",
    ),
    (
        "rds-data-safety",
        COMMERCIAL,
        "aws:rds/instance:Instance",
        {
            "publiclyAccessible": False,
            "storageEncrypted": True,
            "deletionProtection": True,
            "backupRetentionPeriod": 14,
            "finalSnapshotIdentifier": "registry-final",
        },
        {"storageEncrypted": True, "deletionProtection": True, "backupRetentionPeriod": 1},
        "backupRetentionPeriod is 1",
    ),
    (
        "in-region-image-builds",
        SOVEREIGN,
        "aws:imagebuilder/component:Component",
        {"data": "inputs: [{source: 's3://artifacts/x.tar.gz', destination: /var/tmp/x.tar.gz}]"},
        {"data": "inputs: [{source: 'https://example.org/x.tar.gz', destination: /var/tmp/x.tar.gz}]"},
        "fetches https://example.org/x.tar.gz",
    ),
    (
        "customer-managed-keys",
        SOVEREIGN,
        "aws:cloudwatch/logGroup:LogGroup",
        {"kmsKeyId": KEY},
        {"kmsKeyId": "alias/aws/logs"},
        "customer-managed",
    ),
    (
        "customer-managed-keys",
        SOVEREIGN,
        "aws:secretsmanager/secret:Secret",
        {"kmsKeyId": KEY},
        {},
        "kmsKeyId",
    ),
    (
        "customer-managed-keys",
        SOVEREIGN,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        {
            "bucket": "b",
            "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY}}],
        },
        {"bucket": "b", "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]},
        "SSE-KMS",
    ),
    (
        "customer-managed-keys",
        SOVEREIGN,
        EKS,
        {"encryptionConfig": {"provider": {"keyArn": KEY}, "resources": ["secrets"]}},
        {},
        "encryptionConfig",
    ),
    (
        "customer-managed-keys",
        SOVEREIGN,
        "aws:ebs/volume:Volume",
        {"encrypted": True, "kmsKeyId": KEY},
        {"encrypted": False},
        "encrypted",
    ),
    (
        "encrypted-disks",
        SOVEREIGN,
        LT,
        good_lt(),
        {
            **good_lt(),
            "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"volumeType": "gp3", "encrypted": "true"}}],
        },
        "kmsKeyId",
    ),
    (
        "encrypted-disks",
        SOVEREIGN,
        INSTANCE,
        {"rootBlockDevice": {"volumeType": "gp3", "encrypted": True, "kmsKeyId": KEY}},
        {"rootBlockDevice": {"volumeType": "gp2", "encrypted": False}},
        "gp3",
    ),
    (
        "no-public-network",
        SOVEREIGN,
        "aws:ec2/natGateway:NatGateway",
        {"connectivityType": "private"},
        {"subnetId": "subnet-1"},
        "NAT",
    ),
    (
        "no-public-ip",
        SOVEREIGN,
        "aws:ec2/subnet:Subnet",
        {"mapPublicIpOnLaunch": False},
        {"mapPublicIpOnLaunch": True},
        "public IP",
    ),
    (
        "no-public-ip",
        SOVEREIGN,
        INSTANCE,
        {"associatePublicIpAddress": False},
        {"associatePublicIpAddress": True},
        "public IP",
    ),
    (
        "imdsv2-required",
        SOVEREIGN,
        LT,
        good_lt(),
        {**good_lt(), "metadataOptions": {"httpTokens": "optional", "httpPutResponseHopLimit": 2.0}},
        "IMDSv2",
    ),
    (
        "efa-security-group-self-only",
        SOVEREIGN,
        SG,
        {
            "tags": {TAG_ROLE: ROLE_EFA},
            "ingress": [{"protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "self": True}],
            "egress": [{"protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "self": True}],
        },
        {
            "tags": {TAG_ROLE: ROLE_EFA},
            "ingress": [
                {
                    "protocol": "-1",
                    "fromPort": 0.0,
                    "toPort": 0.0,
                    "self": True,
                    "cidrBlocks": ["10.0.0.0/16"],
                }
            ],
            "egress": [{"protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "cidrBlocks": ["0.0.0.0/0"]}],
        },
        "only itself",
    ),
    (
        "efa-security-group-self-only",
        SOVEREIGN,
        INGRESS,
        {
            "tags": {TAG_ROLE: ROLE_EFA},
            "securityGroupId": "sg-efa",
            "referencedSecurityGroupId": "sg-efa",
            "ipProtocol": "-1",
        },
        {
            "tags": {TAG_ROLE: ROLE_EFA},
            "securityGroupId": "sg-efa",
            "referencedSecurityGroupId": "sg-other",
            "ipProtocol": "-1",
        },
        "not the EFA group",
    ),
    (
        "no-open-ingress",
        COMMERCIAL,
        SG,
        {"ingress": [{"protocol": "tcp", "fromPort": 988.0, "toPort": 988.0, "cidrBlocks": ["10.0.0.0/16"]}]},
        {"ingress": [{"protocol": "tcp", "fromPort": 22.0, "toPort": 22.0, "ipv6CidrBlocks": ["::/0"]}]},
        "::/0",
    ),
    (
        "no-open-ingress",
        COMMERCIAL,
        INGRESS,
        {"cidrIpv4": "10.0.0.0/8"},
        {"cidrIpv4": "0.0.0.0/0"},
        "0.0.0.0/0",
    ),
    (
        "efa-interface-layout",
        SOVEREIGN,
        LT,
        good_lt(),
        {**good_lt(), "networkInterfaces": p5_interfaces()[:-4]},
        "no EFA interface",
    ),
    (
        # A literal name is the existing cluster group the reservation was made in (capacity.placementGroup);
        # a group output (unknown in preview) is one the deploy creates.
        "no-placement-group-on-reserved-capacity",
        COMMERCIAL,
        LT,
        {**good_lt(), "placement": {"groupName": "train-cpg"}},
        {**good_lt(), "placement": {"groupName": UNKNOWN}},
        "capacity reservation",
    ),
    (
        "no-placement-group-on-reserved-capacity",
        COMMERCIAL,
        LT,
        {"instanceMarketOptions": {"marketType": "capacity-block"}},
        {"instanceMarketOptions": {"marketType": "capacity-block"}, "placement": {"groupName": "pg-1"}},
        "capacity block",
    ),
    (
        "fsx-lustre-durability",
        COMMERCIAL,
        FSX,
        {"deploymentType": "PERSISTENT_2", "automaticBackupRetentionDays": 7.0},
        {"deploymentType": "SCRATCH_2"},
        "SCRATCH_2",
    ),
    (
        "fsx-lustre-durability",
        COMMERCIAL,
        FSX,
        {"deploymentType": "PERSISTENT_2", "automaticBackupRetentionDays": 1.0},
        {"deploymentType": "PERSISTENT_2", "automaticBackupRetentionDays": 0.0},
        "automaticBackupRetentionDays is 0",
    ),
    (
        # FSx cannot back up a file system linked to S3: the tag says it is, and the bucket is the copy.
        "fsx-lustre-durability",
        COMMERCIAL,
        FSX,
        {"deploymentType": "PERSISTENT_2", "automaticBackupRetentionDays": 0.0, "tags": {TAG_DATA_REPOSITORY: "b"}},
        {"deploymentType": "PERSISTENT_2", "automaticBackupRetentionDays": 0.0, "tags": {"team": "ml"}},
        TAG_DATA_REPOSITORY,
    ),
    (
        "private-cluster-endpoint",
        SOVEREIGN,
        EKS,
        {
            "vpcConfig": {
                "endpointPrivateAccess": True,
                "endpointPublicAccess": False,
                "subnetIds": ["a", "b"],
            }
        },
        {"vpcConfig": {"endpointPrivateAccess": True, "subnetIds": ["a", "b"]}},
        "endpointPublicAccess",
    ),
    (
        "allowed-registries",
        SOVEREIGN,
        RELEASE,
        {
            "chart": "kueue",
            "repositoryOpts": {"repo": f"oci://{MIRROR}/charts"},
            "values": {"controllerManager": {"manager": {"image": {"repository": f"{MIRROR}/kueue"}}}},
        },
        {
            "chart": "kueue",
            "repositoryOpts": {"repo": f"oci://{MIRROR}/charts"},
            "values": {"image": {"registry": "nvcr.io", "repository": "nvidia/k8s-device-plugin"}},
        },
        "nvcr.io/nvidia",
    ),
    (
        "allowed-registries",
        SOVEREIGN,
        RELEASE,
        {"chart": f"oci://{MIRROR}/charts/jobset"},
        {"chart": "oci://registry.k8s.io/jobset/charts/jobset"},
        "registry.k8s.io",
    ),
    (
        "allowed-registries",
        SOVEREIGN,
        "kubernetes:apps/v1:DaemonSet",
        {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": f"{MIRROR}/efa:v0.5.20"}]}}}},
        {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}}},
        "busybox",
    ),
    ("required-tags", SOVEREIGN, FSX, {"tags": TAGS}, {"tags": {TAG_FACTORY: "f"}}, TAG_RESIDENCY),
    (
        "required-tags",
        SOVEREIGN,
        LT,
        good_lt(),
        {**good_lt(), "tagSpecifications": [{"resourceType": "volume", "tags": {}}]},
        "tagSpecifications[0]",
    ),
    (
        "iam-no-wildcard-admin",
        COMMERCIAL,
        "aws:iam/rolePolicy:RolePolicy",
        {"role": "r", "policy": doc(READ_FSX)},
        {"role": "r", "policy": doc({"Effect": "Allow", "Action": "*:*", "Resource": "*"})},
        "every action",
    ),
    (
        "iam-no-wildcard-admin",
        COMMERCIAL,
        "aws:iam/policy:Policy",
        {"policy": doc(READ_FSX)},
        {"policy": doc({"Effect": "Allow", "Action": ["iam:PassRole"], "Resource": ["*"]})},
        "iam:PassRole",
    ),
    (
        "iam-policy-lint",
        COMMERCIAL,
        "aws:iam/role:Role",
        {"assumeRolePolicy": trust_policy(), "inlinePolicies": [{"name": "p", "policy": doc(READ_FSX)}]},
        {
            "assumeRolePolicy": trust_policy(),
            "inlinePolicies": [{"name": "p", "policy": doc({**READ_FSX, "Sid": "a"}, {**READ_FSX, "Sid": "a"})}],
        },
        "DUPLICATE_SID",
    ),
    (
        "iam-policy-lint",
        COMMERCIAL,
        "aws:s3/bucketPolicy:BucketPolicy",
        {"bucket": "b", "policy": doc(READ_FSX)},
        {"bucket": "b", "policy": "{not json"},
        "not valid JSON",
    ),
]


@pytest.mark.parametrize(
    ("policy", "config", "rtype", "good", "bad", "fragment"),
    CASES,
    ids=[f"{c[0]}-{c[2].split(':')[-1]}-{i}" for i, c in enumerate(CASES)],
)
def test_policy_passes_compliant_and_reports_broken(
    policy: str, config: PolicyConfig, rtype: str, good: dict[str, Any], bad: dict[str, Any], fragment: str
) -> None:
    assert validate_resource(policy, rtype, good, base=config) == []
    messages = validate_resource(policy, rtype, bad, base=config)
    assert messages, f"{policy} did not report {bad}"
    assert any(fragment in m for m in messages), messages
    assert_each_message_ends_with_its_fix(policy, messages)


@pytest.mark.parametrize("policy", POLICIES.ids())
def test_every_registered_policy_has_a_compliant_and_a_broken_case(policy: str) -> None:
    # Parametrized over the registry: a newly registered policy fails here until it has its cases.
    from tests.policy.test_fsbp_controls import FSBP_CASES, FSBP_STACK_CASES

    resource_cases = [*CASES, *FSBP_CASES]
    cases = resource_cases if POLICIES[policy].resource_check is not None else [*STACK_CASES, *FSBP_STACK_CASES]
    assert policy in {c[0] for c in cases}, f"{policy}: add a (compliant, broken) case to CASES or STACK_CASES"


def test_every_case_is_a_registered_policy() -> None:
    assert {c[0] for c in (*CASES, *STACK_CASES)} <= set(POLICIES.ids())


@pytest.mark.parametrize("rtype", ["aws:ec2/internetGateway:InternetGateway", "aws:ec2/eip:Eip"])
def test_internet_paths_are_forbidden_only_in_sovereign_stacks(rtype: str) -> None:
    assert validate_resource("no-public-network", rtype, {"vpcId": "vpc-1"}, base=SOVEREIGN)
    assert validate_resource("no-public-network", rtype, {"vpcId": "vpc-1"}, base=COMMERCIAL) == []


def test_commercial_disks_may_use_aws_managed_keys() -> None:
    lt = {
        **good_lt(),
        "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"volumeType": "gp3", "encrypted": "true"}}],
    }
    assert validate_resource("encrypted-disks", LT, lt, base=COMMERCIAL) == []
    assert validate_resource("encrypted-disks", LT, lt, base=SOVEREIGN)


def test_gov_and_eusc_partitions_are_allowed_when_configured() -> None:
    eusc = PolicyConfig.from_sovereignty("sovereign", {"allowedRegions": ["eusc-de-east-1"], "registryMirror": MIRROR})
    assert eusc.allowed_partitions == ("aws-eusc",)
    ok = {"roleArn": "arn:aws-eusc:iam::123456789012:role/eks", "region": "eusc-de-east-1"}
    assert validate_resource("allowed-regions", EKS, ok, base=eusc) == []
    assert validate_resource("allowed-regions", EKS, {"roleArn": "arn:aws-us-gov:iam::1:role/x"}, base=eusc)


def test_arns_inside_policy_documents_are_checked() -> None:
    policy = doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data/*"})
    messages = validate_resource("allowed-regions", "aws:iam/policy:Policy", {"policy": policy}, base=SOVEREIGN)
    assert any("partition aws," in m for m in messages)


UNKNOWN_CASES = [
    ("customer-managed-keys", FSX, {"kmsKeyId": UNKNOWN}),
    ("allowed-regions", FSX, {"region": UNKNOWN, "kmsKeyId": UNKNOWN}),
    ("imdsv2-required", LT, {"metadataOptions": UNKNOWN}),
    ("efa-interface-layout", LT, {**good_lt(), "instanceType": UNKNOWN}),
    (
        "efa-security-group-self-only",
        INGRESS,
        {"tags": {TAG_ROLE: ROLE_EFA}, "securityGroupId": UNKNOWN, "referencedSecurityGroupId": UNKNOWN},
    ),
    (
        "no-placement-group-on-reserved-capacity",
        LT,
        {
            "placement": {"groupName": "pg"},
            "instanceMarketOptions": UNKNOWN,
            "capacityReservationSpecification": UNKNOWN,
        },
    ),
    ("fsx-lustre-durability", FSX, {"deploymentType": UNKNOWN, "automaticBackupRetentionDays": UNKNOWN}),
    (
        "private-cluster-endpoint",
        EKS,
        {"vpcConfig": {"endpointPrivateAccess": UNKNOWN, "endpointPublicAccess": UNKNOWN}},
    ),
    (
        "allowed-registries",
        RELEASE,
        {"chart": "kueue", "repositoryOpts": {"repo": UNKNOWN}, "values": {"image": UNKNOWN}},
    ),
    ("required-tags", FSX, {"tags": UNKNOWN}),
    ("iam-policy-lint", "aws:iam/rolePolicy:RolePolicy", {"policy": UNKNOWN}),
    ("iam-no-wildcard-admin", "aws:iam/rolePolicy:RolePolicy", {"policy": UNKNOWN}),
]


@pytest.mark.parametrize(("policy", "rtype", "props"), UNKNOWN_CASES, ids=[c[0] for c in UNKNOWN_CASES])
def test_unknown_values_during_preview_are_not_violations(policy: str, rtype: str, props: dict[str, Any]) -> None:
    messages = validate_resource(policy, rtype, props, base=SOVEREIGN)
    # Neither a violation nor the engine's "can't run policy during preview" fallback.
    assert messages == [], messages
    assert PREVIEW_DIAGNOSTIC not in messages


def test_placement_group_output_on_reserved_capacity_is_caught_in_preview() -> None:
    # The group name is an Output of the PlacementGroup resource: unknown in preview, but set.
    lt = {
        **good_lt(),
        "placement": {"groupName": UNKNOWN},
        "capacityReservationSpecification": {"capacityReservationTarget": {"capacityReservationId": UNKNOWN}},
    }
    assert validate_resource("no-placement-group-on-reserved-capacity", LT, lt, base=COMMERCIAL)


def test_pack_config_overrides_stack_config() -> None:
    messages = validate_resource(
        "allowed-regions",
        FSX,
        {"region": "eu-west-1"},
        base=SOVEREIGN,
        pack_config={"allowedRegions": ["eu-west-1"], "allowedPartitions": ["aws"]},
    )
    assert messages == []
    assert (
        validate_resource(
            "no-public-network",
            "aws:ec2/eip:Eip",
            {"domain": "vpc"},
            base=SOVEREIGN,
            pack_config={"profile": "commercial"},
        )
        == []
    )


def test_provider_default_tags_count() -> None:
    provider = {"region": "us-gov-west-1", "defaultTags": {"tags": TAGS}}
    assert validate_resource("required-tags", FSX, {}, base=SOVEREIGN, provider_props=provider) == []
    assert validate_resource("required-tags", FSX, {}, base=SOVEREIGN)


def test_untaggable_resources_are_not_checked_for_tags() -> None:
    assert validate_resource("required-tags", "aws:iam/rolePolicy:RolePolicy", {"policy": "{}"}, base=SOVEREIGN) == []


def test_registry_prefix_matching() -> None:
    assert registry_allowed(f"oci://{MIRROR}/charts", [MIRROR])
    assert registry_allowed(f"{MIRROR}:5000/x", [MIRROR]) is True
    assert not registry_allowed(f"{MIRROR}-evil/x", [MIRROR])
    assert not registry_allowed("nginx", [MIRROR])


# --- stack policy --------------------------------------------------------------------------------


def rack(name: str, cooling: str, budget: float, power: float, nodes: Any = 1) -> dict[str, Any]:
    return {"name": name, "cooling": cooling, "budget_kw": budget, "power_kw": power, "nodes": nodes}


def factory(racks: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [("aifactory:index:AiFactory", {"placement": {"racks": racks}}), (FSX, {})]


# (policy, config, compliant stack, broken stack, expected fragment of the message)
STACK_CASES: list[tuple[str, PolicyConfig, list[tuple[str, dict[str, Any]]], list[tuple[str, dict[str, Any]]], str]] = [
    (
        "rack-power-and-cooling",
        SOVEREIGN,
        factory([rack("r1", "air", 36.0, 30.6)]),
        factory([rack("r1", "air", 36.0, 40.8)]),
        "over its 36.0 kW budget",
    ),
]


@pytest.mark.parametrize(("policy", "config", "good", "bad", "fragment"), STACK_CASES, ids=[c[0] for c in STACK_CASES])
def test_stack_policy_passes_compliant_and_reports_broken(
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


def test_rack_power_within_budget_and_cooling() -> None:
    ok = [
        rack("r1", "air", 36.0, 30.6, [{"name": "n1", "instance_type": "p4d.24xlarge"}]),
        rack("r2", "liquid", 130.0, 120.0),
    ]
    assert validate_stack("rack-power-and-cooling", factory(ok), base=SOVEREIGN) == []
    over = validate_stack("rack-power-and-cooling", factory([rack("r1", "air", 36.0, 40.8)]), base=SOVEREIGN)
    assert any("over its 36.0 kW budget" in m for m in over), over
    hot = validate_stack("rack-power-and-cooling", factory([rack("r1", "air", 60.0, 55.0)]), base=SOVEREIGN)
    assert any("air cooling removes at most 40 kW" in m for m in hot), hot


def test_rack_cooling_class_of_the_hardware(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every catalog type today is air-cooled; a liquid-cooled entry (e.g. a GB200 NVL72 node) stands in.
    from aifactory.catalog import get_instance_type
    from aifactory.policies import site

    real = get_instance_type("p5.48xlarge")
    liquid = dataclasses.replace(real, name="gb200-node", cooling="liquid")
    monkeypatch.setattr(site, "get_instance_type", lambda name: liquid if name == "gb200-node" else real)
    nodes = [{"name": "n1", "instance_type": "gb200-node"}]
    messages = validate_stack("rack-power-and-cooling", factory([rack("r1", "air", 40.0, 14.3, nodes)]), base=SOVEREIGN)
    assert any("needs liquid cooling" in m for m in messages), messages
    ok = validate_stack("rack-power-and-cooling", factory([rack("r1", "liquid", 130.0, 14.3, nodes)]), base=SOVEREIGN)
    assert ok == []


def test_rack_cooling_class_of_the_customer_s_servers() -> None:
    # GB200 NVL72 in the server catalog needs liquid cooling (NVIDIA DGX GB Rack Scale Systems User Guide).
    nodes = [{"name": "nvl-0001", "server": "gb200-nvl72"}]
    messages = validate_stack("rack-power-and-cooling", factory([rack("r1", "air", 40.0, 14.3, nodes)]), base=SOVEREIGN)
    assert any("gb200-nvl72 that needs liquid cooling" in m for m in messages), messages
    ok = validate_stack("rack-power-and-cooling", factory([rack("r1", "liquid", 130.0, 14.3, nodes)]), base=SOVEREIGN)
    assert ok == []


def test_rack_limits_are_configurable() -> None:
    messages = validate_stack(
        "rack-power-and-cooling",
        factory([rack("r1", "air", 60.0, 55.0)]),
        base=SOVEREIGN,
        pack_config={"coolingLimitsKw": {"air": 60.0, "rear-door": 75.0, "liquid": None}},
    )
    assert messages == []


# --- run_policies over plan JSON -----------------------------------------------------------------


def plan_resource(rtype: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {
        "urn": f"urn:pulumi:s::aifactory::{rtype}::{name}",
        "type": rtype,
        "name": name,
        "parent": None,
        "inputs": inputs,
    }


def test_run_policies_reports_levels_and_urns() -> None:
    resources = [
        plan_resource("aws:ec2/internetGateway:InternetGateway", "igw", {"vpcId": "vpc-1", "tags": TAGS}),
        plan_resource(
            FSX,
            "fs",
            {
                "deploymentType": "PERSISTENT_2",
                "automaticBackupRetentionDays": 7.0,
                "copyTagsToBackups": True,
                "kmsKeyId": KEY,
                "tags": {TAG_FACTORY: "f"},
            },
        ),
    ]
    placement = {"racks": [rack("r1", "air", 36.0, 40.0)]}
    found = run_policies(resources, "sovereign", SOVEREIGN, placement)
    by_policy = {v.policy: v for v in found}
    assert by_policy["no-public-network"] == Violation(
        "no-public-network", "mandatory", resources[0]["urn"], by_policy["no-public-network"].message
    )
    assert by_policy["required-tags"].level == "mandatory"  # advisory by default, mandatory when sovereign
    assert by_policy["required-tags"].urn == resources[1]["urn"]
    assert by_policy["rack-power-and-cooling"].level == "mandatory"
    assert set(by_policy) == {"no-public-network", "required-tags", "rack-power-and-cooling"}


def test_run_policies_commercial_skips_sovereign_only() -> None:
    resources = [
        plan_resource("aws:ec2/natGateway:NatGateway", "nat", {"subnetId": "s", "tags": {TAG_FACTORY: "f"}}),
        plan_resource(
            EKS,
            "eks",
            {
                "version": "1.35",
                "vpcConfig": {"endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24"]},
                "enabledClusterLogTypes": ["api", "audit"],
                "encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": KEY}},
                "tags": {TAG_FACTORY: "f"},
            },
        ),
    ]
    found = run_policies(resources, "commercial", COMMERCIAL, None)
    # No sovereign-only policy runs; a public endpoint limited to listed networks is advisory ([EKS.1]).
    assert {v.policy for v in found} == {"required-tags", "private-cluster-endpoint"}
    assert {v.level for v in found} == {"advisory"}


def test_run_policies_uses_provider_default_tags() -> None:
    resources = [
        plan_resource("pulumi:providers:aws", "aws", {"region": "us-gov-west-1", "defaultTags": {"tags": TAGS}}),
        plan_resource(
            FSX,
            "fs",
            {
                "deploymentType": "PERSISTENT_2",
                "automaticBackupRetentionDays": 7.0,
                "copyTagsToBackups": True,
                "kmsKeyId": KEY,
            },
        ),
    ]
    assert run_policies(resources, "sovereign", SOVEREIGN, None) == []


def test_run_policies_and_crossguard_agree() -> None:
    bad_lt = {
        **good_lt(),
        "placement": {"groupName": "pg"},
        "instanceMarketOptions": {"marketType": "capacity-block"},
        "metadataOptions": {"httpTokens": "optional"},
    }
    found = {v.policy for v in run_policies([plan_resource(LT, "lt", bad_lt)], "sovereign", SOVEREIGN, None)}
    harness = {p.id for p in POLICIES if p.resource_check and validate_resource(p.id, LT, bad_lt, base=SOVEREIGN)}
    assert found == harness == {"no-placement-group-on-reserved-capacity", "imdsv2-required"}


def test_importing_policies_does_not_start_the_pack() -> None:
    code = "import sys, aifactory.policies; print('pulumi_policy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"


def test_registry_levels_follow_profile() -> None:
    by_name = {p.id: p for p in POLICIES}
    assert by_name["required-tags"].level("commercial") == "advisory"
    assert by_name["required-tags"].level("sovereign") == "mandatory"
    assert not by_name["no-public-network"].applies("commercial")
    assert (
        by_name["private-cluster-endpoint"].level("commercial") == "advisory"
    )  # [EKS.1]: public with CIDRs is allowed
    assert all(p.level("sovereign") == "mandatory" for p in POLICIES)


def test_pack_defaults_come_from_stack_config() -> None:
    import pulumi

    pulumi.runtime.set_all_config(
        {
            "aifactory:profile": "sovereign",
            "aifactory:sovereignty": json.dumps({"allowedRegions": ["us-gov-west-1"], "registryMirror": MIRROR}),
        }
    )
    try:
        config = PolicyConfig.from_stack_config()
    finally:
        pulumi.runtime.set_all_config({})
    assert config == SOVEREIGN
    assert config.allowed_partitions == ("aws-us-gov",)


def test_analyzer_serves_every_policy_with_its_schema_and_level() -> None:
    # What `pulumi preview --policy-pack policy` asks first; the servicer is what PolicyPack serves.
    from aifactory.policies.crossguard import build_policies
    from pulumi_policy.policy import EnforcementLevel, _PolicyAnalyzerServicer

    servicer = _PolicyAnalyzerServicer("aifactory", "0.1.0", build_policies(COMMERCIAL), EnforcementLevel.ADVISORY)
    info = servicer.GetAnalyzerInfo(None, None)
    served = {p.name: p for p in info.policies}
    assert set(served) == set(POLICIES.ids())
    assert "allowedRegistries" in served["allowed-registries"].configSchema.properties
    levels = {name: p.enforcementLevel for name, p in served.items()}
    assert levels["required-tags"] != levels["no-open-ingress"]  # advisory vs mandatory in commercial stacks


def test_required_tags_reads_autoscaling_group_tag_lists() -> None:
    from aifactory.policies import PolicyConfig, check_required_tags

    config = PolicyConfig(profile="commercial")
    tagged = {
        "tags": [
            {"key": "aifactory:factory", "value": "f", "propagateAtLaunch": True},
            {"key": "aifactory:profile", "value": "commercial", "propagateAtLaunch": True},
        ]
    }
    assert check_required_tags("aws:autoscaling/group:Group", tagged, config) == []
    assert check_required_tags("aws:autoscaling/group:Group", {"tags": tagged["tags"][:1]}, config)


def test_instances_from_a_launch_template_inherit_its_disks() -> None:
    from aifactory.policies import PolicyConfig, check_encrypted_disks

    config = PolicyConfig(profile="sovereign")
    from_template = {"launchTemplate": {"id": "lt-0123", "version": "1"}}
    assert check_encrypted_disks("aws:ec2/instance:Instance", from_template, config) == []
    assert check_encrypted_disks("aws:ec2/instance:Instance", {}, config)
    unencrypted = {**from_template, "rootBlockDevice": {"volumeType": "gp3", "encrypted": False}}
    assert check_encrypted_disks("aws:ec2/instance:Instance", unencrypted, config)


@pytest.mark.parametrize("resource_type", ["aws:ec2/instance:Instance", "aws:ec2/launchTemplate:LaunchTemplate"])
def test_imdsv2_accepts_hop_limit_one_or_two_and_refuses_more(resource_type: str) -> None:
    # 0.1 refused hop limit 1 on launch templates: no fleet could keep pods or jobs off the node role.
    from aifactory.policies import PolicyConfig, check_imdsv2

    config = PolicyConfig(profile="commercial")

    def options(hops: int, tokens: str = "required") -> dict[str, Any]:
        return {"metadataOptions": {"httpEndpoint": "enabled", "httpTokens": tokens, "httpPutResponseHopLimit": hops}}

    assert check_imdsv2(resource_type, options(1), config) == []
    assert check_imdsv2(resource_type, options(2), config) == []
    assert check_imdsv2(resource_type, options(3), config)
    assert check_imdsv2(resource_type, options(1, tokens="optional"), config)
    assert check_imdsv2("aws:ec2/instance:Instance", {"launchTemplate": {"id": "lt-1"}}, config) == []


def test_hybrid_resources_stay_in_region() -> None:
    # The data hall's trust anchor, activation and Direct Connect association are judged like every other
    # AWS resource: their region and every ARN they name (policies/sovereignty.py).
    eu = PolicyConfig.from_sovereignty("sovereign", {"allowedRegions": ["eu-north-1"], "registryMirror": MIRROR})
    pca = "arn:aws:acm-pca:{}:123456789012:certificate-authority/12345678-1234-1234-1234-123456789012"
    anchor = "aws:rolesanywhere/trustAnchor:TrustAnchor"
    ok = {"source": {"sourceType": "AWS_ACM_PCA", "sourceData": {"acmPcaArn": pca.format("eu-north-1")}}}
    bad = {"source": {"sourceType": "AWS_ACM_PCA", "sourceData": {"acmPcaArn": pca.format("us-east-1")}}}
    assert validate_resource("allowed-regions", anchor, ok, base=eu) == []
    assert any("us-east-1" in m for m in validate_resource("allowed-regions", anchor, bad, base=eu))
    activation = "aws:ssm/activation:Activation"
    assert validate_resource("allowed-regions", activation, {"region": "eu-north-1"}, base=eu) == []
    assert validate_resource("allowed-regions", activation, {"region": "us-east-1"}, base=eu)
