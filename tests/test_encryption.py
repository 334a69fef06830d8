"""The customer-managed key's policy: one statement per service that uses the key, as that service
documents it, and none for a service the stack does not use."""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest
from aifactory.cli.planrun import plan_stack
from aifactory.encryption import KEY_SERVICES, KeyService, key_policy, key_users, statements_by_sid
from aifactory.planning.factory_plan import plan_from_config

from tests.conftest import RunProgram
from tests.stackfiles import base

ACCOUNT = "123456789012"
REGION = "eu-north-1"
ASG_ROLE = f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
SLURM: dict[str, Any] = {"kind": "slurm", "partitions": [{"name": "train", "fleets": ["train"], "default": True}]}
USE = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]

# Sids by service: what each service adds to the account statement.
SIDS: dict[str, set[str]] = {
    "logs": {"CloudWatchLogsUseKey"},
    "autoscaling": {"AutoScalingUseKey", "AutoScalingAttachPersistentResources"},
    "ec2": {"Ec2EbsUseKey", "Ec2EbsAttachVolumes"},
    "eks": set(),
    "fsx": {"FsxUseKey"},
    "secretsmanager": {"SecretsManagerUseKey"},
    "rds": {"RdsUseKey"},
    "s3": {"FsxDataRepositoryUseKeyViaS3"},
    "aps": {"AmpPublishesToEncryptedTopic"},
}


def _policy(*services: KeyService, buckets: tuple[str, ...] = (), partition: str = "aws") -> dict[str, Any]:
    region = "cn-north-1" if partition == "aws-cn" else REGION
    return key_policy(partition, region, ACCOUNT, services, buckets)


def _via(statement: dict[str, Any]) -> str:
    return str(statement["Condition"]["StringEquals"]["kms:ViaService"])


# --- the pure builder, service by service -------------------------------------------------------


@pytest.mark.parametrize("service", KEY_SERVICES)
def test_each_service_adds_exactly_its_own_statements(service: KeyService) -> None:
    sids = set(statements_by_sid(_policy(service, buckets=("data",))))
    assert sids == {"AccountAdministersKey"} | SIDS[service]


def test_account_statement_enables_iam_policies() -> None:
    account = statements_by_sid(_policy())["AccountAdministersKey"]
    assert account["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert account["Action"] == "kms:*"


def test_auto_scaling_role_may_use_the_key_and_grant_only_for_aws_resources() -> None:
    by_sid = statements_by_sid(_policy("autoscaling"))
    use, grant = by_sid["AutoScalingUseKey"], by_sid["AutoScalingAttachPersistentResources"]
    # Matched by aws:PrincipalArn, not named: KMS refuses a policy naming a role that does not exist
    # yet, and the Auto Scaling role appears only with an account's first group.
    assert use["Principal"] == grant["Principal"] == {"AWS": "*"}
    as_role = {"aws:PrincipalArn": ASG_ROLE, "kms:CallerAccount": ACCOUNT}
    assert use["Action"] == USE
    assert use["Condition"] == {"StringEquals": as_role}
    assert grant["Action"] == "kms:CreateGrant"
    assert grant["Condition"] == {"StringEquals": as_role, "Bool": {"kms:GrantIsForAWSResource": "true"}}


def test_auto_scaling_role_arn_follows_the_partition() -> None:
    use = statements_by_sid(_policy("autoscaling", partition="aws-us-gov"))["AutoScalingUseKey"]
    role = use["Condition"]["StringEquals"]["aws:PrincipalArn"]
    assert role.startswith(f"arn:aws-us-gov:iam::{ACCOUNT}:role/aws-service-role/")


def test_directly_launched_instances_use_the_key_only_through_ec2_in_this_account() -> None:
    by_sid = statements_by_sid(_policy("ec2"))
    use, grant = by_sid["Ec2EbsUseKey"], by_sid["Ec2EbsAttachVolumes"]
    for statement in (use, grant):
        assert statement["Principal"] == {"AWS": "*"}
        assert statement["Condition"]["StringEquals"] == {
            "kms:ViaService": f"ec2.{REGION}.amazonaws.com",
            "kms:CallerAccount": ACCOUNT,
        }
    assert sorted(use["Action"]) == [
        "kms:Decrypt",
        "kms:DescribeKey",
        "kms:GenerateDataKeyWithoutPlaintext",
        "kms:ReEncrypt*",
    ]
    assert grant["Action"] == ["kms:CreateGrant"]
    assert grant["Condition"]["Bool"] == {"kms:GrantIsForAWSResource": "true"}


@pytest.mark.parametrize(
    ("service", "sid", "grant"),
    [("fsx", "FsxUseKey", True), ("secretsmanager", "SecretsManagerUseKey", False), ("rds", "RdsUseKey", True)],
)
def test_data_stores_use_the_key_only_through_their_service(service: KeyService, sid: str, grant: bool) -> None:
    statement = statements_by_sid(_policy(service))[sid]
    assert statement["Principal"] == {"AWS": "*"}
    assert _via(statement) == f"{service}.{REGION}.amazonaws.com"
    assert statement["Condition"]["StringEquals"]["kms:CallerAccount"] == ACCOUNT
    assert ("kms:CreateGrant" in statement["Action"]) is grant
    assert "kms:*" not in statement["Action"]


def test_fsx_gets_only_the_permissions_it_requires() -> None:
    statement = statements_by_sid(_policy("fsx"))["FsxUseKey"]
    assert sorted(statement["Action"]) == [
        "kms:CreateGrant",
        "kms:Decrypt",
        "kms:DescribeKey",
        "kms:GenerateDataKeyWithoutPlaintext",
    ]


def test_rds_only_creates_its_grant_and_describes_the_key() -> None:
    statement = statements_by_sid(_policy("rds"))["RdsUseKey"]
    assert sorted(statement["Action"]) == ["kms:CreateGrant", "kms:DescribeKey"]


def test_secrets_manager_gets_data_keys_and_decrypts_nothing_more() -> None:
    statement = statements_by_sid(_policy("secretsmanager"))["SecretsManagerUseKey"]
    assert sorted(statement["Action"]) == ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"]


def test_cloudwatch_logs_only_for_this_accounts_log_groups() -> None:
    logs = statements_by_sid(_policy("logs"))["CloudWatchLogsUseKey"]
    assert logs["Principal"] == {"Service": f"logs.{REGION}.amazonaws.com"}
    assert logs["Condition"] == {
        "ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:*"}
    }


def test_fsx_data_repository_role_reads_only_the_linked_bucket_through_s3() -> None:
    statement = statements_by_sid(_policy("s3", buckets=("datasets",)))["FsxDataRepositoryUseKeyViaS3"]
    condition = statement["Condition"]
    assert condition["StringEquals"] == {"kms:ViaService": f"s3.{REGION}.amazonaws.com", "kms:CallerAccount": ACCOUNT}
    assert condition["ArnLike"] == {
        "aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/s3.data-source.lustre.fsx.amazonaws.com/"
        "AWSServiceRoleForFSxS3Access_fs-*"
    }
    assert condition["StringLike"] == {
        "kms:EncryptionContext:aws:s3:arn": ["arn:aws:s3:::datasets", "arn:aws:s3:::datasets/*"]
    }


def test_s3_without_a_bucket_grants_nothing() -> None:
    assert "FsxDataRepositoryUseKeyViaS3" not in statements_by_sid(_policy("s3"))


def test_china_uses_its_dns_suffix_for_service_hosts() -> None:
    by_sid = statements_by_sid(_policy("logs", "ec2", partition="aws-cn"))
    assert by_sid["CloudWatchLogsUseKey"]["Principal"] == {"Service": "logs.cn-north-1.amazonaws.com.cn"}
    assert _via(by_sid["Ec2EbsUseKey"]) == "ec2.cn-north-1.amazonaws.com.cn"


def test_unknown_service_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown key services"):
        key_policy("aws", REGION, ACCOUNT, ["lambda"])  # type: ignore[list-item]


def test_policy_lints_clean_with_parliament() -> None:
    """parliament reads key policies too: no misspelled action, condition operator or principal.
    Left: `Resource: *` (a key policy's resource is always the key itself, KMS developer guide,
    "Key policies"), the documented encryption-context conditions on DescribeKey, and ArnLike on
    the logs context (the CloudWatch Logs user guide's own statement)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import parliament

    document = _policy(*KEY_SERVICES, buckets=("datasets",))
    findings = parliament.analyze_policy_string(json.dumps(document)).findings
    tolerated = {"RESOURCE_STAR", "UNKNOWN_CONDITION_FOR_ACTION", "MISMATCHED_TYPE"}
    assert [(f.issue, f.detail) for f in findings if f.issue not in tolerated] == []
    blocking = [f for f in findings if parliament.config.get(f.issue, {}).get("severity") in ("HIGH", "CRITICAL")]
    assert blocking == []


def test_parliament_would_catch_a_misspelled_action() -> None:
    """The lint above can fail: a typo in an action is a finding it does not tolerate."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import parliament

    document = _policy("ec2")
    document["Statement"][-1]["Action"] = ["kms:CreateGrants"]
    issues = {f.issue for f in parliament.analyze_policy_string(json.dumps(document)).findings}
    assert "UNKNOWN_ACTION" in issues


# --- which services a plan uses -------------------------------------------------------------


def _users(config: dict[str, Any]) -> frozenset[str]:
    return frozenset(key_users(plan_from_config(config, "t")).services)


def test_fleets_alone_use_auto_scaling_and_logs() -> None:
    assert _users(base(sovereign=True)) == {"logs", "autoscaling"}


def test_kubernetes_uses_auto_scaling_and_eks_but_no_secrets_manager() -> None:
    config = base(sovereign=True) | {"aifactory:scheduler": {"kind": "kubernetes", "version": "1.35"}}
    users = _users(config)
    assert {"autoscaling", "eks", "logs"} <= users
    assert not users & {"ec2", "secretsmanager", "rds"}


def test_slurm_uses_ec2_and_secrets_manager_not_auto_scaling() -> None:
    config = base(sovereign=True) | {"aifactory:scheduler": SLURM}
    users = _users(config)
    assert {"ec2", "secretsmanager", "logs"} <= users
    assert not users & {"autoscaling", "eks", "rds"}


def test_slurm_accounting_adds_rds() -> None:
    config = base(sovereign=True) | {"aifactory:scheduler": SLURM | {"accounting": "slurmdbd"}}
    assert "rds" in _users(config)


def test_persistent_storage_adds_fsx_and_scratch_does_not() -> None:
    persistent = base(sovereign=True) | {"aifactory:storage": {"capacityTiB": 4.8}}
    assert "fsx" in _users(persistent)
    scratch = base(sovereign=True) | {"aifactory:storage": {"capacityTiB": 4.8, "deploymentType": "SCRATCH_2"}}
    assert "fsx" not in _users(scratch)


def test_created_bucket_adds_s3_with_its_name() -> None:
    storage = {
        "capacityTiB": 4.8,
        "createBucket": True,
        "s3ImportPath": "s3://sov-data/train/",
        "s3ExportPath": "s3://sov-data/checkpoints/",
    }
    plan = plan_from_config(base(sovereign=True) | {"aifactory:storage": storage}, "t")
    users = key_users(plan)
    assert "s3" in users.services
    assert users.data_repository_buckets == ("sov-data",)


def test_the_managed_metrics_backend_adds_amp_publishing_and_in_cluster_does_not() -> None:
    kubernetes = base() | {
        "aifactory:scheduler": {"kind": "kubernetes", "version": "1.35"},
        "aifactory:encryption": {"customerManagedKey": True},
    }
    assert "aps" in _users(kubernetes | {"aifactory:observability": {"backend": "managed"}})
    assert "aps" not in _users(kubernetes | {"aifactory:observability": {"backend": "in-cluster"}})
    assert "aps" not in _users(kubernetes)


def test_amp_may_only_wrap_data_keys() -> None:
    statement = statements_by_sid(_policy("aps"))["AmpPublishesToEncryptedTopic"]
    assert statement["Principal"] == {"Service": "aps.amazonaws.com"}
    assert sorted(statement["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]


# --- the example stacks' planned key --------------------------------------------------------


def _planned_key_policy(stack: str) -> dict[str, Any]:
    [key] = [r for r in plan_stack(stack).resources if r.type == "aws:kms/key:Key"]
    policy = key.inputs["policy"]
    assert isinstance(policy, str), "the key policy is a plain JSON string input"
    document: dict[str, Any] = json.loads(policy)
    return document


def test_sovereign_eu_key_lets_auto_scaling_launch_its_managed_node_groups() -> None:
    """EKS managed node groups launch through EC2 Auto Scaling with root volumes under the key."""
    by_sid = statements_by_sid(_planned_key_policy("sovereign-eu"))
    grant = by_sid["AutoScalingAttachPersistentResources"]
    assert grant["Condition"]["StringEquals"]["aws:PrincipalArn"] == ASG_ROLE
    assert grant["Condition"]["Bool"] == {"kms:GrantIsForAWSResource": "true"}
    assert by_sid["AutoScalingUseKey"]["Action"] == USE
    assert "FsxUseKey" in by_sid
    # Its MLflow registry keeps its database and managed password under the key; no EBS statement.
    assert {"SecretsManagerUseKey", "RdsUseKey"} <= set(by_sid)
    assert "Ec2EbsUseKey" not in by_sid


def test_slurm_aws_key_lets_ec2_attach_its_directly_launched_volumes() -> None:
    """Slurm nodes are plain instances (no autoscaling group): EC2 creates the volume grants on the
    deployer's behalf, and the munge key is a secret under the key."""
    by_sid = statements_by_sid(_planned_key_policy("slurm-aws"))
    grant = by_sid["Ec2EbsAttachVolumes"]
    assert grant["Action"] == ["kms:CreateGrant"]
    assert grant["Condition"]["Bool"] == {"kms:GrantIsForAWSResource": "true"}
    assert _via(grant) == "ec2.eu-north-1.amazonaws.com"
    assert "SecretsManagerUseKey" in by_sid
    assert not set(by_sid) & {"AutoScalingUseKey", "AutoScalingAttachPersistentResources", "FsxUseKey"}


# --- every resource under the key has its service allowed -----------------------------------

# Which key service each key-taking input belongs to (the pulumi-aws input names, camelCase).
_KEY_INPUTS: dict[str, tuple[str, KeyService]] = {
    "aws:cloudwatch/logGroup:LogGroup": ("kmsKeyId", "logs"),
    "aws:fsx/lustreFileSystem:LustreFileSystem": ("kmsKeyId", "fsx"),
    "aws:secretsmanager/secret:Secret": ("kmsKeyId", "secretsmanager"),
    "aws:rds/instance:Instance": ("kmsKeyId", "rds"),
    "aws:sns/topic:Topic": ("kmsMasterKeyId", "aps"),
}


def _services_of_key_users(resources: list[Any], key_arn: str) -> set[str]:
    """The services the registered resources use the key with."""
    used: set[str] = set()
    launchers = {r.type for r in resources}
    for r in resources:
        text = json.dumps(r.inputs)
        if key_arn not in text:
            continue
        if r.type in _KEY_INPUTS:
            field, service = _KEY_INPUTS[r.type]
            assert r.inputs.get(field) == key_arn, r.urn
            used.add(service)
        elif r.type == "aws:eks/cluster:Cluster":
            used.add("eks")
        elif r.type == "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration":
            used.add("s3")
        elif r.type == "aws:ec2/instance:Instance":
            used.add("ec2")
        elif r.type == "aws:ec2/launchTemplate:LaunchTemplate":
            # Launched by autoscaling groups / managed node groups, or by EC2 for Slurm instances.
            if launchers & {"aws:autoscaling/group:Group", "aws:eks/nodeGroup:NodeGroup"}:
                used.add("autoscaling")
            if "aws:ec2/instance:Instance" in launchers:
                used.add("ec2")
    return used


def _allowed_services(document: dict[str, Any]) -> set[str]:
    sids = set(statements_by_sid(document))
    allowed = {service for service, own in SIDS.items() if own and own <= sids}
    return allowed | {"eks"}  # through the account statement and the deployer's IAM policy


FULL_SLURM: dict[str, Any] = base(sovereign=True) | {
    "aifactory:scheduler": SLURM | {"accounting": "slurmdbd"},
    "aifactory:storage": {
        "capacityTiB": 4.8,
        "throughputGBps": 1,
        "createBucket": True,
        "s3ImportPath": "s3://sov-data/train/",
        "s3ExportPath": "s3://sov-data/checkpoints/",
    },
}


def test_every_service_a_full_slurm_factory_uses_the_key_with_is_allowed(run_program: RunProgram) -> None:
    from aifactory.factory import AiFactory

    planned = run_program(
        lambda: AiFactory("sov", {}, plan=plan_from_config(FULL_SLURM, "sov")), FULL_SLURM, stack="sov"
    )
    [key] = planned.of_type("aws:kms/key:Key")
    document = json.loads(key.inputs["policy"])
    used = _services_of_key_users(planned.resources, key.state["arn"])
    assert {"logs", "ec2", "secretsmanager", "rds", "fsx", "s3"} <= used
    assert used <= _allowed_services(document)
    s3 = statements_by_sid(document)["FsxDataRepositoryUseKeyViaS3"]
    assert "arn:aws:s3:::sov-data" in s3["Condition"]["StringLike"]["kms:EncryptionContext:aws:s3:arn"]
    # Least privilege: nothing for services this factory does not use.
    assert not set(statements_by_sid(document)) & SIDS["autoscaling"]


@pytest.mark.parametrize("stack", ["sovereign-eu", "slurm-aws", "commercial-us", "commercial-100k"])
def test_every_service_an_example_stack_uses_the_key_with_is_allowed(stack: str) -> None:
    resources = plan_stack(stack).resources
    [key] = [r for r in resources if r.type == "aws:kms/key:Key"]
    document = json.loads(key.inputs["policy"])
    arn = next(str(r.inputs["kmsKeyId"]) for r in resources if r.type == "aws:cloudwatch/logGroup:LogGroup")
    used = _services_of_key_users(resources, arn)
    assert used and used <= _allowed_services(document)


# --- commercial stacks: `aifactory:encryption` ----------------------------------------------------


def _commercial(encryption: dict[str, Any] | None) -> dict[str, Any]:
    config = base()
    public = {"endpoint": "public", "publicAccessCidrs": ["203.0.113.0/24"]}
    config["aifactory:scheduler"] = {"kind": "kubernetes", **public}
    if encryption is not None:
        config["aifactory:encryption"] = encryption
    return config


def test_commercial_stack_without_encryption_uses_aws_managed_keys(run_program: RunProgram) -> None:
    from aifactory.factory import AiFactory

    config = _commercial(None)
    planned = run_program(lambda: AiFactory("c", {}, plan=plan_from_config(config, "c")), config, stack="c")
    assert not planned.of_type("aws:kms/key:Key")
    [cluster] = planned.of_type("aws:eks/cluster:Cluster")
    assert not cluster.inputs.get("encryptionConfig")


def test_commercial_customer_managed_key_encrypts_eks_secrets_and_volumes(run_program: RunProgram) -> None:
    from aifactory.factory import AiFactory

    config = _commercial({"customerManagedKey": True})
    planned = run_program(lambda: AiFactory("c", {}, plan=plan_from_config(config, "c")), config, stack="c")
    [key] = planned.of_type("aws:kms/key:Key")
    arn = key.state["arn"]
    [cluster] = planned.of_type("aws:eks/cluster:Cluster")
    assert cluster.inputs["encryptionConfig"] == {"provider": {"keyArn": arn}, "resources": ["secrets"]}
    document = json.loads(key.inputs["policy"])
    used = _services_of_key_users(planned.resources, arn)
    assert {"logs", "autoscaling"} <= used <= _allowed_services(document)


def test_commercial_brings_its_own_key(run_program: RunProgram) -> None:
    from aifactory.factory import AiFactory

    arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    config = _commercial({"kmsKeyArn": arn})
    planned = run_program(lambda: AiFactory("c", {}, plan=plan_from_config(config, "c")), config, stack="c")
    assert not planned.of_type("aws:kms/key:Key")
    [cluster] = planned.of_type("aws:eks/cluster:Cluster")
    assert cluster.inputs["encryptionConfig"]["provider"] == {"keyArn": arn}


@pytest.mark.parametrize(
    ("sovereign", "encryption", "path"),
    [
        (False, {"customerManagedKey": False, "kmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/abc"}, "kmsKeyArn"),
        (False, {"kmsKeyArn": "arn:aws:kms:eu-west-1:123456789012:key/abc"}, "kmsKeyArn"),
        (True, {"kmsKeyArn": "arn:aws:kms:eu-north-1:123456789012:key/abc"}, "kmsKeyArn"),
        (True, {"customerManagedKey": False}, "customerManagedKey"),
    ],
)
def test_encryption_rules_name_the_key(sovereign: bool, encryption: dict[str, Any], path: str) -> None:
    from aifactory.spec.errors import ConfigError

    config = base(sovereign)
    config["aifactory:encryption"] = encryption
    with pytest.raises(ConfigError) as caught:
        plan_from_config(config, "c")
    assert f"aifactory:encryption.{path}" in {issue.path for issue in caught.value.issues}


def test_an_mlflow_registry_adds_rds_and_secrets_manager() -> None:
    """Its backend store is RDS on the key, the managed master password a secret under the key."""
    from tests.components.test_model_registry import sovereign

    with_registry = sovereign()
    without = {k: v for k, v in with_registry.items() if k != "aifactory:production"}
    assert {"rds", "secretsmanager"} <= _users(with_registry)
    assert not {"rds", "secretsmanager"} & _users(without)
